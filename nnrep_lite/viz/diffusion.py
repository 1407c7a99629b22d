"""Plotly figures for the diffusion notebooks (01 forward/reverse, 02 rates).

Every builder returns a ``go.FigureWidget`` (so panels can update it in place) and moves
tensors to CPU itself. Theory is drawn dashed and labelled with its formula; measured values
carry error bars over seeds; rates use log-log axes. Palette: Okabe-Ito (colour-blind safe).
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from . import style
from .style import OKABE_ITO, to_numpy

__all__ = ["PALETTE", "forward_figure", "reverse_figure", "score_error_heatmap", "loss_figure",
           "rate_figure", "bound_figure", "bias_variance_figure"]

PALETTE = OKABE_ITO
#: p_t, p_0 and sigma_t in plotly text (no LaTeX: JupyterLab 4 leaves it blank)
P_T, P_0, SIGMA_T = "p<sub>t</sub>", "p<sub>0</sub>", "σ<sub>t</sub>"
S_THETA = "s<sub>θ</sub>"


def _np(x):
    return to_numpy(x).reshape(-1)


def _hist(samples, bins: int, bounds):
    counts, edges = np.histogram(_np(samples), bins=bins, range=bounds)
    width = edges[1] - edges[0]
    return 0.5 * (edges[1:] + edges[:-1]), counts / (max(1, _np(samples).size) * width), width


def forward_figure(x_grid, density, score, samples, *, t: float, bins: int = 60,
                   bounds=(-1.5, 1.5), widget: bool = True) -> go.Figure:
    """Top: histogram of forward samples X_t against the exact p_t; bottom: exact score.
    ``widget=False``: a plain figure (a panel's update copies its data: a live figure per
    update would open a widget in the page each time)."""
    fig = style.subplots(2, widget=False, max_cols=1, shared_xaxes=True, panel_height=260, legend="below",
                         title=forward_title(t), bargap=0)
    centres, heights, width = _hist(samples, bins, bounds)
    fig.add_bar(x=centres, y=heights, width=width, name="histogram of X<sub>t</sub> (forward samples)",
                marker_color=PALETTE[5], opacity=0.6, row=1, col=1)
    fig.add_scatter(x=_np(x_grid), y=_np(density), name=f"exact {P_T}(x)", line={"color": PALETTE[0], "width": 3},
                    row=1, col=1)
    fig.add_scatter(x=_np(x_grid), y=_np(score), name=f"exact score ∇log {P_T}(x)",
                    line={"color": PALETTE[3], "width": 3}, row=2, col=1)
    fig.update_yaxes(title_text=f"{P_T}(x)", row=1, col=1)
    fig.update_yaxes(title_text=f"∇log {P_T}(x)", row=2, col=1)
    fig.update_xaxes(title_text="x", row=2, col=1)
    return style.LiveFigure(fig) if widget else fig


def forward_title(t: float) -> str:
    return f"forward OU process at t = {t:.3g}"


def forward_trace_data(x_grid, density, score, samples, *, bins: int = 60, bounds=(-1.5, 1.5)) -> list[dict]:
    """The (x, y) of :func:`forward_figure`'s three traces, in its order (histogram, p_t, score):
    what a panel's update sends, without building a figure (that took 40 of its 45 ms)."""
    centres, heights, _ = _hist(samples, bins, bounds)
    xs = _np(x_grid)
    return [{"x": centres, "y": heights}, {"x": xs, "y": _np(density)}, {"x": xs, "y": _np(score)}]


def reverse_figure(x_grid, density, samples, *, bins: int = 60, bounds=(-1.2, 1.2),
                   title: str = "reverse SDE samples vs the target p<sub>0</sub>") -> go.FigureWidget:
    """Histogram of generated samples against the exact target density (dashed)."""
    fig = style.new_figure(True, height=460, legend="right-inside", title=title, xaxis_title="x",
                           yaxis_title="density", bargap=0)
    centres, heights, width = _hist(samples, bins, bounds)
    fig.add_bar(x=centres, y=heights, width=width, name="generated samples", marker_color=PALETTE[1],
                opacity=0.7)
    fig.add_scatter(x=_np(x_grid), y=_np(density), name=f"target {P_0}(x)",
                    line=style.theory_line(color=PALETTE[0]))
    return fig


def score_error_heatmap(xs, ts, error, *, title: str | None = None) -> go.FigureWidget:
    """Heatmap of the score error over (x, t); ``error`` has shape (len(ts), len(xs))."""
    err = error.detach().cpu().numpy() if hasattr(error, "detach") else np.asarray(error)
    fig = style.new_figure(True, height=480, legend="none",
                           title=title or f"learned vs exact score: {SIGMA_T} |{S_THETA}(x,t) − ∇log {P_T}(x)|")
    fig.add_trace(go.Heatmap(x=_np(xs), y=_np(ts), z=err, colorscale="Cividis",
                             colorbar={"title": {"text": f"{SIGMA_T} |{S_THETA} − ∇log {P_T}|", "side": "right"}}))
    fig.update_yaxes(type="log", title_text="t (log scale)", **style.log_ticks(_np(ts)))
    fig.update_xaxes(title_text="x")
    return fig


def loss_figure() -> go.FigureWidget:
    """An empty DSM-loss curve; append points with ``fig.data[0]``."""
    fig = style.new_figure(True, height=360, legend="none", title="denoising score matching loss",
                           xaxis_title="Adam step", yaxis_title=f"E {SIGMA_T}²|{S_THETA} + Z/{SIGMA_T}|²")
    fig.add_trace(go.Scatter(x=[], y=[], mode="lines", name="DSM loss", line={"color": PALETTE[0]}))
    return fig


def _floor_limits(floor: dict):
    mean = np.asarray(floor["mean"], float)
    sd = np.asarray(floor.get("sd", 0.0), float)
    return np.maximum(mean - 2 * sd, 0.5 * mean), mean + 2 * sd


def floor_band_traces(ns, floor: dict, *, color: str = "rgba(120,120,120,0.25)") -> list[go.Scatter]:
    """A band from ``floor["mean"] - 2 floor["sd"]`` to ``+ 2 sd``, named ``floor["label"]``:
    horizontal over ``ns`` when mean and sd are numbers (the Monte Carlo floor of a sampled
    metric: errors there are the metric's), or following n when the floor holds lists
    ``"n"``, ``"mean"``, ``"sd"`` (a floor that depends on n, e.g. the optimisation floor of a
    training budget that grows with n), with a dotted line through the means."""
    lo, hi = _floor_limits(floor)
    if "n" in floor:
        x = [float(v) for v in floor["n"]]
        mid = [go.Scatter(x=x, y=np.asarray(floor["mean"], float), mode="lines", showlegend=False,
                          hoverinfo="skip", name="floor (mean)", line={"color": "rgba(90,90,90,0.8)", "dash": "dot"})]
    else:
        ns = np.asarray(ns, float)
        x = [float(ns.min()), float(ns.max())]
        lo, hi, mid = [float(lo)] * 2, [float(hi)] * 2, []
    return [go.Scatter(x=x, y=lo, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip",
                       name="floor (low)"),
            go.Scatter(x=x, y=hi, mode="lines", line={"width": 0}, fill="tonexty", fillcolor=color,
                       name=floor.get("label", "histogram floor")), *mid]


def rate_figure(summary: dict, fits: dict | None = None, theory: dict | None = None, *,
                metric: str = "TV", title: str = "", floor: dict | None = None,
                widget: bool = True) -> go.Figure:
    """Log-log error vs n: per estimator the mean over seeds with ±1 s.d. error bars, the fitted
    line (solid, slope and 95% interval in the legend), and theory lines (dashed, labelled with
    their formula) anchored at the estimator's first point.

    summary: ``{est: {"n": [...], "mean": [...], "std": [...]}}`` (see ``diffusion.summarize``);
    fits: ``{est: fit_rate(...)}``; theory: ``{est: (slope, label)}``; floor: ``{"mean", "sd",
    "label"}`` of the histogram-TV floor of the sampled estimators, drawn as a grey band (±2 s.d.),
    or with lists ``"n"``, ``"mean"``, ``"sd"``: a band that follows n (:func:`floor_band_traces`).
    ``widget=False``: a plain figure (for a panel's update, which copies its data).
    """
    fig = style.new_figure(widget, height=500, legend="below", title=title or f"{metric} vs n (log-log)")
    all_n = [n for s in summary.values() for n in s["n"]]
    if floor is not None and summary:
        fig.add_traces(floor_band_traces(all_n, floor))
    for i, (est, s) in enumerate(summary.items()):
        c = PALETTE[i % len(PALETTE)]
        ns, mean = np.asarray(s["n"], float), np.asarray(s["mean"], float)
        fig.add_scatter(x=ns, y=mean, mode="markers", name=f"{est} (mean ± s.d. over seeds)",
                        marker={"color": c, "size": 10},
                        error_y={"type": "data", "array": np.asarray(s["std"], float), "visible": True})
        if fits and est in fits:
            f = fits[est]
            lo, hi = f["ci"]
            fig.add_scatter(x=ns, y=np.exp(f["intercept"]) * ns ** f["slope"], mode="lines",
                            name=f"{est} fit: slope {f['slope']:.2f} [{lo:.2f}, {hi:.2f}]",
                            line={"color": c})
        if theory and est in theory:
            slope, label = theory[est]
            fig.add_scatter(x=ns, y=mean[0] * (ns / ns[0]) ** slope, mode="lines", name=label,
                            line=style.theory_line(color=c))
    all_y = [v for s in summary.values() for m, sd in zip(s["mean"], s["std"]) for v in (m - sd, m + sd)]
    if floor is not None:
        lo, hi = _floor_limits(floor)
        all_y += [float(v) for v in np.concatenate([np.ravel(lo), np.ravel(hi)])]
    fig.update_xaxes(type="log", title_text="n (training samples)", **style.log_ticks(all_n))
    fig.update_yaxes(type="log", title_text=f"{metric}(p̂, {P_0})", **style.log_ticks(all_y))
    return fig


def bound_figure(values: dict, *, title: str = "Girsanov bound vs measured error") -> go.FigureWidget:
    """Bars of named error terms (e.g. measured TV, sqrt(KL bound / 2), early stopping)."""
    names = list(values)
    fig = style.new_figure(True, height=420, legend="none", title=title)
    fig.add_trace(go.Bar(x=names, y=[values[k] for k in names],
                           marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(names))],
                           text=[f"{values[k]:.3g}" for k in names], textposition="outside"))
    top = max([v for v in values.values() if math.isfinite(v)] + [1e-3])
    fig.update_yaxes(title_text="total variation", range=[0, 1.25 * top])
    return fig


def bias_variance_figure(result: dict, *, predicted: float | None = None, title: str = "",
                         widget: bool = True) -> go.Figure:
    """Error of the N-term projection estimator against N at fixed n (log-log), from
    :func:`nnrep_lite.diffusion.bias_variance_experiment`: the measured integrated squared error
    (mean ± s.d. over seeds), the exact bias², variance and their sum (dashed: formulas), the
    measured best N and, if given, the ``predicted`` best N = n<sup>d/(2s+d)</sup> (dotted line)."""
    terms = [t["n_terms"] for t in result["terms"]]
    n = result["terms"][0]["n"]
    ise = [[r["ise"] for r in result["rows"] if r["n_terms"] == t] for t in terms]
    fig = style.new_figure(widget, height=480, legend="below",
                           title=title or f"bias against variance: projection estimator, n = {n}")
    fig.add_scatter(x=terms, y=[float(np.mean(e)) for e in ise], mode="markers", name="measured ‖p̂<sub>N</sub> − p‖² (mean ± s.d.)",
                    marker={"color": PALETTE[0], "size": 10},
                    error_y={"type": "data", "array": [float(np.std(e, ddof=1)) if len(e) > 1 else 0.0 for e in ise],
                             "visible": True})
    for i, (key, label) in enumerate((("bias2", "bias² = ‖P<sub>N</sub>p − p‖² (exact)"),
                                      ("variance", "variance (tr(G<sup>−1</sup>M) − c<sup>T</sup>Gc)/n (exact)"),
                                      ("mise", "bias² + variance"))):
        fig.add_scatter(x=terms, y=[t[key] for t in result["terms"]], mode="lines", name=label,
                        line=style.theory_line(color=PALETTE[i + 1]))
    ys = [v for t in result["terms"] for v in (t["bias2"], t["variance"]) if v > 0]
    lo, hi = min(ys), max(ys)
    for x, label, dash in ((result["best_n_terms"], f"measured best N = {result['best_n_terms']}", "solid"),
                           (predicted, f"n<sup>d/(2s+d)</sup> = {predicted:.1f}" if predicted else "", "dot")):
        if x:
            fig.add_scatter(x=[x, x], y=[lo, hi], mode="lines", name=label, line={"color": "#555555", "dash": dash})
    fig.update_xaxes(type="log", title_text="N (B-spline terms)", **style.log_ticks(terms))
    fig.update_yaxes(type="log", title_text="integrated squared error", **style.log_ticks(ys))
    return fig
