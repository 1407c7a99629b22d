"""Plotly figures for notebook 03 (B-splines, multiresolution, Besov rates, diffusion of
B-spline densities). Builders take tensors or arrays (moved to CPU here) and return
``go.FigureWidget`` when ``widget=True`` so panels can update them in place."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from . import style
from .style import OKABE_ITO
from .style import to_numpy as _np

PALETTE = OKABE_ITO
#: p_t in plotly text (no LaTeX: JupyterLab 4 leaves it blank)
P_T = "p<sub>t</sub>"


def _wrap(fig: go.Figure, widget: bool):
    return style.fit_log_ticks(style.LiveFigure(fig) if widget else fig)


# ------------------------------------------------------------------ (a) orders
def order_traces(x, curves: dict, convolution=None, current: int = 4) -> list[go.Scatter]:
    """One line per order m (the current one bold) and markers of the numerical N_(m-1) * N_1."""
    traces = []
    for m in range(1, 7):
        y = _np(curves[m]) if m in curves else np.full(len(_np(x)), np.nan)
        traces.append(go.Scatter(x=_np(x), y=y, mode="lines", name=f"N<sub>{m}</sub>",
                                 line={"color": PALETTE[(m - 1) % 8], "width": 4 if m == current else 1.5,
                                       "dash": "solid" if m == current else "dot"},
                                 visible=True if m in curves else "legendonly"))
    cx, cy = (convolution if convolution is not None else ([], []))
    traces.append(go.Scatter(x=_np(cx), y=_np(cy), mode="markers", name="numerical N<sub>m−1</sub> ∗ N<sub>1</sub>",
                             marker={"color": PALETTE[7], "size": 5, "symbol": "x"}))
    return traces


def order_title(m: int) -> str:
    return f"Cardinal B-splines N<sub>m</sub> = N<sub>m−1</sub> ∗ N<sub>1</sub>, degree m−1 (m = {m})"


def order_figure(x, curves, convolution, current: int, widget: bool = True):
    fig = style.new_figure(False, height=480, legend="right-inside", title=order_title(current),
                           xaxis_title="x", yaxis_title="N<sub>m</sub>(x)")
    fig.add_traces(order_traces(x, curves, convolution, current))
    return _wrap(fig, widget)


# ------------------------------------------------------------------ (b) decomposition
def coefficient_heatmap(coeffs, columns: int = 256):
    """log10 of the L2-normalised coefficient magnitudes, one row per level, positioned at the
    centre (j + m/2) 2^-k of each B-spline (1-D coefficients)."""
    from ..bspline import normalised_magnitudes

    mags = normalised_magnitudes(coeffs)
    edges = np.linspace(-1, 1, columns + 1)
    z = np.full((len(mags), columns), np.nan)
    m = coeffs.order
    for k, mag in enumerate(mags):
        j = np.arange(mag.numel()) + coeffs.offset(k)
        centre = (j + m / 2) / 2.0**k
        col = np.clip(np.searchsorted(edges, centre) - 1, 0, columns - 1)
        vals = np.log10(np.maximum(_np(mag).reshape(-1), 1e-16))
        row = np.full(columns, -np.inf)
        np.maximum.at(row, col, vals)  # the largest coefficient in each cell
        # a cell no centre falls in takes its nearest coefficient (the lower one on a tie), for readability
        empty = np.isneginf(row)
        if empty.any():
            mids = 0.5 * (edges[:-1] + edges[1:])[empty]
            right = np.clip(np.searchsorted(centre, mids), 0, centre.size - 1)
            left = np.clip(right - 1, 0, centre.size - 1)
            pick = np.where(np.abs(centre[left] - mids) <= np.abs(centre[right] - mids), left, right)
            row[empty] = vals[pick]
        z[k] = row
    return 0.5 * (edges[1:] + edges[:-1]), np.arange(len(mags)), z


def decomposition_figure(x, f_vals, approx_vals, heat, curves, *, s: float, d: int, n_terms: int,
                         widget: bool = True):
    """Top, full width: coefficient magnitudes per level (a heatmap); below, left: f and its
    N-term reconstruction; right: N-term and linear errors on log-log with the N^(-s/d) line
    (the legend sits under these two)."""
    fig = style.subplots(3, titles=("log₁₀ |α<sub>kj</sub>| ‖N<sub>kj</sub>‖ by level",
                                    "f and its N-term approximation", "L2 error vs number of terms N"),
                         specs=[{"colspan": 2}, None, {}, {}], panel_height=330, legend="below")
    pos = {2: (1, 1), 1: (2, 1), 3: (2, 2)}  # trace panel -> (row, col)
    for tr, panel in decomposition_traces(x, f_vals, approx_vals, heat, curves, s=s, d=d, n_terms=n_terms):
        fig.add_trace(tr, row=pos[panel][0], col=pos[panel][1])
    fig.update_xaxes(title_text="position", row=1, col=1)
    fig.update_yaxes(title_text="level k", row=1, col=1)
    fig.update_xaxes(title_text="x", row=2, col=1)
    fig.update_xaxes(title_text="N", type="log", row=2, col=2)
    fig.update_yaxes(title_text="‖f − f<sub>N</sub>‖₂", type="log", row=2, col=2)
    return _wrap(fig, widget)


def decomposition_traces(x, f_vals, approx_vals, heat, curves, *, s, d, n_terms):
    ns = np.asarray(curves["ns"], dtype=float)
    ref_n = np.geomspace(max(1.0, ns.min()), ns.max(), 20)
    anchor = curves["n_term"][0] if curves["n_term"] else 1.0
    ref = anchor * (ref_n / ref_n[0]) ** (-s / d)
    hx, hy, hz = heat
    return [
        (go.Scatter(x=_np(x), y=_np(f_vals), name="f", line={"color": PALETTE[7], "width": 2}), 1),
        (go.Scatter(x=_np(x), y=_np(approx_vals), name=f"best {n_terms}-term", line={"color": PALETTE[3], "width": 2}), 1),
        (go.Heatmap(x=hx, y=hy, z=hz, colorscale="Viridis", showscale=False, name="coefficients"), 2),
        (go.Scatter(x=ns, y=curves["n_term"], mode="lines+markers", name=f"N-term (slope {curves['n_term_slope']:.2f})",
                    line={"color": PALETTE[0]}), 3),
        (go.Scatter(x=curves["linear_n"], y=curves["linear"], mode="lines+markers",
                    name=f"linear, levels ≤ L (slope {curves['linear_slope']:.2f})", line={"color": PALETTE[1]}), 3),
        (go.Scatter(x=ref_n, y=ref, mode="lines", name=f"N<sup>−s/d</sup>, s/d = {s / d:.2f}",
                    line=style.theory_line(color=PALETTE[7])), 3),
    ]


# ------------------------------------------------------------------ (c) 1-D diffusion
def _diffusion_hist(samples, bins, bounds):
    counts, edges = np.histogram(_np(samples).reshape(-1), bins=bins, range=bounds)
    width = edges[1] - edges[0]
    return 0.5 * (edges[1:] + edges[:-1]), counts / max(1, _np(samples).size) / width, width


def diffusion_trace_data(x, density, score, samples, *, bins: int = 60, bounds=(-2.0, 2.0)) -> list[dict]:
    """The (x, y) of :func:`diffusion_figure`'s three traces, in its order (histogram, p_t, score):
    what a panel's update sends, without building and validating new traces."""
    centres, heights, _ = _diffusion_hist(samples, bins, bounds)
    xs = _np(x)
    return [{"x": centres, "y": heights}, {"x": xs, "y": _np(density)}, {"x": xs, "y": _np(score)}]


def diffusion_traces(x, density, score, samples, *, bins: int = 60, bounds=(-2.0, 2.0)):
    centres, heights, width = _diffusion_hist(samples, bins, bounds)
    return [
        (go.Bar(x=centres, y=heights, width=width, name="forward samples X<sub>t</sub>",
                marker_color=PALETTE[5], opacity=0.6), 1),
        (go.Scatter(x=_np(x), y=_np(density), name=f"exact {P_T}", line={"color": PALETTE[0], "width": 3}), 1),
        (go.Scatter(x=_np(x), y=_np(score), name=f"exact score ∇log {P_T}", line={"color": PALETTE[3], "width": 3}), 2),
    ]


def diffusion_figure(x, density, score, samples, *, t: float, widget: bool = True):
    fig = style.subplots(2, max_cols=1, shared_xaxes=True, panel_height=270, legend="below",
                         title=diffusion_title(t), bargap=0)
    for tr, row in diffusion_traces(x, density, score, samples):
        fig.add_trace(tr, row=row, col=1)
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_yaxes(title_text=f"∇log {P_T}", row=2, col=1)
    fig.update_xaxes(title_text="x", row=2, col=1)
    return _wrap(fig, widget)


def diffusion_title(t: float) -> str:
    mu, sigma = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
    return f"OU forward process at t = {t:.3g}: X<sub>t</sub> = {mu:.3f} X<sub>0</sub> + {sigma:.3f} Z"


# ------------------------------------------------------------------ (d) 2-D density and score
def density2d_traces(grid, density, arrows_xy, arrows_uv, scale: float):
    """Heatmap of p_t and the score field as line segments (one trace, NaN-separated)."""
    g = _np(grid)
    xy, uv = _np(arrows_xy), _np(arrows_uv)
    norm = np.linalg.norm(uv, axis=1).max() or 1.0
    seg = uv / norm * scale
    xs = np.column_stack([xy[:, 0], xy[:, 0] + seg[:, 0], np.full(len(xy), np.nan)]).ravel()
    ys = np.column_stack([xy[:, 1], xy[:, 1] + seg[:, 1], np.full(len(xy), np.nan)]).ravel()
    tips = xy + seg
    return [
        go.Heatmap(x=g, y=g, z=_np(density).T, colorscale="Viridis", colorbar={"title": {"text": P_T}}, name=P_T),
        go.Scatter(x=xs, y=ys, mode="lines", line={"color": "white", "width": 1.5}, name="score direction"),
        go.Scatter(x=tips[:, 0], y=tips[:, 1], mode="markers", marker={"color": "white", "size": 3},
                   name="arrow tips", showlegend=False),
    ]


def density2d_figure(grid, density, arrows_xy, arrows_uv, *, t: float, scale: float = 0.08,
                     widget: bool = True):
    fig = style.new_figure(False, height=620, legend="none", title=density2d_title(t),
                           xaxis_title="x₁", yaxis_title="x₂")
    fig.add_traces(density2d_traces(grid, density, arrows_xy, arrows_uv, scale))
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return _wrap(fig, widget)


def density2d_title(t: float) -> str:
    return f"2-D tensor-product density {P_T} and ∇log {P_T}, t = {t:.3g}"


# ------------------------------------------------------------------ (e) N-term diffused approximation
#: s<sub>t</sub><sup>(N)</sup> and the score error in plotly text
S_N = "s<sub>t</sub><sup>(N)</sup>"
SCORE_ERROR = f"∫{P_T}|{S_N} − ∇log {P_T}|²"
DENSITY_ERROR = f"‖{P_T} − {P_T}<sup>(N)</sup>‖₂"


def _shown_times(ts, most: int = 5) -> list[int]:
    """Indices of at most ``most`` times, spread evenly in log t (all when there are few)."""
    if len(ts) <= most:
        return list(range(len(ts)))
    logs = np.log10(np.asarray(ts, dtype=float))
    want = np.linspace(logs.min(), logs.max(), most)
    return sorted({int(np.argmin(np.abs(logs - w))) for w in want})


def _slope_text(fit) -> str:
    if fit is None:
        return "no fit: under 3 N in the window"
    lo, hi = fit["ci"]
    return f"slope {fit['slope']:.2f} [{lo:.2f}, {hi:.2f}]".replace("-", "−")


def nterm_figure(errors: dict, fits: list[dict], *, s: float, d: int = 1, t_check: float | None = None):
    """The N-term diffused B-spline errors against N on log-log axes, one curve per t (at most
    five, spread in log t): left the L2 error of p_t^(N), right the p_t-weighted score error.
    Filled markers are the N inside each fit window (legend: fitted slope and 95% interval);
    dashed: the theory rates N^(−s/d) and N^(−2s/d) / σ_t² anchored at the first windowed point
    of ``t_check`` (default: the first time with a fit); grey: the exact t = 0 error.

    ``errors``: from :func:`nnrep_lite.bspline.n_term_diffusion_errors`; ``fits``: from
    :func:`nnrep_lite.bspline.n_term_rate_fits`. Returns a static ``go.Figure``.
    """
    ns = np.asarray(errors["ns"], dtype=float)
    ts = list(errors["ts"])
    den, score = _np(errors["density_l2"]), _np(errors["score"])
    fig = style.subplots(2, titles=(f"density: {DENSITY_ERROR}", f"score: {SCORE_ERROR}"), panel_height=400,
                         legend="below", title="N-term diffused B-spline approximation of p<sub>t</sub> and its score")
    fig.add_trace(go.Scatter(x=ns, y=_np(errors["l2_t0"]), mode="lines", name="t = 0 (exact L2 error)",
                             line={"color": "#999999", "width": 2}), row=1, col=1)
    shown = _shown_times(ts)
    for c_i, i in enumerate(shown):
        color = PALETTE[c_i % 7]
        window = set(fits[i]["window"]) if fits[i]["density"] is not None else set()
        inside = np.array([int(n) in window for n in ns])
        for col, (vals, key) in enumerate(((den, "density"), (score, "score")), start=1):
            name = f"t = {ts[i]:.3g}: {_slope_text(fits[i][key])}"
            fig.add_trace(go.Scatter(x=ns, y=vals[i], mode="lines+markers", name=name, legendgroup=f"t{i}",
                                     line={"color": color, "width": 2},
                                     marker={"color": color, "size": [10 if k else 6 for k in inside],
                                             "symbol": ["circle" if k else "circle-open" for k in inside]}),
                          row=1, col=col)
    check = _check_index(ts, fits, t_check)
    if check is not None and fits[check]["window"]:
        nw = np.asarray(fits[check]["window"], dtype=float)
        first = int(np.nonzero(ns == nw[0])[0][0])
        for col, (vals, slope, label) in enumerate(
                ((den, -s / d, f"theory N<sup>−s/d</sup>, s/d = {s / d:.3g}"),
                 (score, -2 * s / d, f"theory N<sup>−2s/d</sup>/σ<sub>t</sub>², 2s/d = {2 * s / d:.3g}")), start=1):
            fig.add_trace(go.Scatter(x=nw, y=vals[check, first] * (nw / nw[0]) ** slope, mode="lines",
                                     name=f"{label} (at t = {ts[check]:.3g})",
                                     line=style.theory_line(color=PALETTE[7])), row=1, col=col)
    fig.update_xaxes(type="log", title_text="N (terms kept)", **style.log_ticks(ns))
    fig.update_yaxes(type="log", title_text=DENSITY_ERROR, row=1, col=1, **style.log_ticks(den[shown]))
    fig.update_yaxes(type="log", title_text=SCORE_ERROR, row=1, col=2, **style.log_ticks(score[shown]))
    return fig


def _check_index(ts, fits, t_check):
    if t_check is not None:
        return int(np.argmin(np.abs(np.log(np.asarray(ts, dtype=float)) - math.log(t_check))))
    return next((i for i, f in enumerate(fits) if f["score"] is not None), None)


def nterm_heatmap_figure(errors: dict, *, s: float, d: int = 1, min_n_sigma: float = 2.0):
    """Heatmap over (N, t) of log₁₀(σ_t² N^(2s/d) × score error): flat where the score error
    follows N^(−2s/d) / σ_t²; the dashed line N σ_t^d = ``min_n_sigma`` is the lower edge of the
    fit window (left of it the kept levels are finer than σ_t no longer: pre-asymptotic).
    Returns a static ``go.Figure``."""
    ns = np.asarray(errors["ns"], dtype=float)
    ts = np.asarray(errors["ts"], dtype=float)
    sigma2 = _np(errors["sigma2"])
    score = _np(errors["score"])
    z = np.log10(np.maximum(score * sigma2[:, None] * ns[None, :] ** (2 * s / d), 1e-300))
    fig = style.new_figure(False, height=480, legend="below",
                           title=f"σ<sub>t</sub>² N<sup>2s/d</sup> × score error over (N, t), 2s/d = {2 * s / d:.3g}")
    fig.add_trace(go.Heatmap(x=ns, y=ts, z=z, colorscale="Cividis", name="normalised score error",
                             colorbar={"title": {"text": "log₁₀(σ<sub>t</sub>² N<sup>2s/d</sup> × error)",
                                                 "side": "right"}}))
    t_line = np.geomspace(ts.min(), ts.max(), 60)
    n_line = min_n_sigma / np.sqrt(-np.expm1(-2 * t_line)) ** d
    keep = (n_line >= ns.min()) & (n_line <= ns.max())
    power = "" if d == 1 else f"<sup>{d}</sup>"
    fig.add_trace(go.Scatter(x=n_line[keep], y=t_line[keep], mode="lines",
                             name=f"N σ<sub>t</sub>{power} = {min_n_sigma:g}: lower edge of the fit window",
                             line=style.theory_line(color=PALETTE[3])))
    fig.update_xaxes(type="log", title_text="N (terms kept)", **style.log_ticks(ns))
    fig.update_yaxes(type="log", title_text="t (log scale)", **style.log_ticks(ts))
    return fig
