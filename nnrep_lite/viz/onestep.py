"""Figures for notebook 06 (one gradient step): spectrum of W1, rank-one error, risk curves.

Every builder returns a ``go.Figure`` (or ``go.FigureWidget`` with ``widget=True``); theory is
drawn dashed and labelled with its formula, measurements solid or as markers.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from ..onestep.theory import (
    ACTIVATIONS,
    bulk_edge,
    hermite_coefficients,
    mp_singular_density,
    nonlinear_energy,
)
from . import style
from .style import OKABE_ITO, log_ticks
from .style import to_numpy as _to_numpy

__all__ = [
    "PALETTE",
    "alpha_colors",
    "spectrum_figure",
    "spike_vs_alpha_figure",
    "rank_one_figure",
    "risk_figure",
    "activation_figure",
    "ge_figure",
    "alpha_risk_figure",
    "alpha_risk_traces",
    "improvement_figure",
]

#: Okabe-Ito colour-blind-safe palette.
PALETTE = [OKABE_ITO[i] for i in (0, 3, 2, 4, 1, 5, 6, 7)]  # blue, vermillion first
#: ||P_{>1} f*||^2 in plotly text (no LaTeX: JupyterLab 4 leaves it blank).
FLOOR_LABEL = "‖P<sub>&gt;1</sub>f*‖²"


def _fig(widget: bool, *, height: int = 460, legend: str = "below", **layout) -> go.Figure:
    """A figure in the projector style (width follows the output area, legend inside)."""
    return style.new_figure(widget, height=height, legend=legend, **layout)


def alpha_colors(k: int) -> list[str]:
    """``k`` colours along the (colour-blind-safe, sequential) Viridis scale."""
    if k == 1:
        return [PALETTE[0]]
    return sample_colorscale("Viridis", [0.9 * i / (k - 1) for i in range(k)])


def spectrum_traces(result: dict, *, bins: int = 60) -> list[go.BaseTraceType]:
    """Traces for :func:`spectrum_figure` (used to update a FigureWidget in place)."""
    s = _to_numpy(result["singular_values"])
    psi2 = result["psi2"]
    edge = bulk_edge(psi2)
    lo = abs(1 - math.sqrt(psi2))
    grid = np.linspace(max(lo - 0.05, 0.0), edge + 0.05, 300)
    top = max(float(s[0]), result["spike_prediction"]) * 1.05 + 0.1
    ymax = float(np.max(mp_singular_density(grid, psi2))) * 1.3
    pred = result["spike_prediction"]
    return [
        go.Histogram(
            x=s, histnorm="probability density", nbinsx=bins, name="singular values of W₁",
            marker_color=PALETTE[0], opacity=0.75, xbins={"start": 0.0, "end": top, "size": (edge + 0.2) / bins},
        ),
        go.Scatter(
            x=grid, y=mp_singular_density(grid, psi2), mode="lines", name="Marchenko-Pastur (W₀)",
            line={"color": PALETTE[7], "dash": "dash"},
        ),
        go.Scatter(
            x=[edge, edge], y=[0, ymax], mode="lines", name=f"bulk edge 1+√ψ₂ = {edge:.2f}",
            line={"color": PALETTE[2], "dash": "dash"},
        ),
        go.Scatter(
            x=[pred, pred], y=[0, ymax], mode="lines",
            name=f"BBP prediction √((1+θ²)(ψ₂+θ²))/θ = {pred:.2f}",
            line={"color": PALETTE[1], "dash": "dash", "width": 3},
        ),
        go.Scatter(
            x=[float(s[0])], y=[0.05 * ymax], mode="markers", name=f"measured s₁ = {float(s[0]):.2f}",
            marker={"color": PALETTE[1], "size": 14, "symbol": "diamond"},
        ),
    ]  # fmt: skip


def spectrum_title(result: dict) -> str:
    return (
        f"Spectrum of W₁ (α = {result['alpha']:.2f}, η = N<sup>α</sup> = {result['eta']:.1f}):<br>"
        f"|⟨u₁, β*⟩| = {result['overlap']:.3f} (theory {result['overlap_prediction']:.3f})"
    )


def spectrum_figure(result: dict, *, bins: int = 60, widget: bool = False) -> go.Figure:
    """Histogram of the singular values of W1 with the MP bulk, its edge and the predicted spike.

    ``result`` is a dict from :func:`nnrep_lite.onestep.experiment`.
    """
    fig = _fig(
        widget, title=spectrum_title(result), xaxis_title="singular value s",
        yaxis_title="density", bargap=0.02, height=520, margin={"t": 95},
    )  # fmt: skip
    fig.add_traces(spectrum_traces(result, bins=bins))
    return style.fit_log_ticks(fig)


def spike_vs_alpha_figure(results: list[dict], *, widget: bool = False) -> go.Figure:
    """Top singular value s1 and overlap |<u1, beta*>| against alpha, measured vs theory."""
    al = [r["alpha"] for r in results]
    fig = style.subplots(2, widget=widget, titles=("top singular value s₁(W₁)", "overlap |⟨u₁, β*⟩|"),
                         panel_height=400)
    fig.add_trace(go.Scatter(x=al, y=[float(r["singular_values"][0]) for r in results],
                             mode="markers", marker={"size": 11, "color": PALETTE[0]},
                             name="measured s₁"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=al, y=[r["spike_prediction"] for r in results], mode="lines",
                             line={"dash": "dash", "color": PALETTE[1]},
                             name="BBP: √((1+θ²)(ψ₂+θ²))/θ"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=al, y=[r["bulk_edge"] for r in results], mode="lines",
                             line={"dash": "dot", "color": PALETTE[2]}, name="bulk edge 1+√ψ₂"),
                  row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=al, y=[r["overlap"] for r in results], mode="markers",
                             marker={"size": 11, "color": PALETTE[0], "symbol": "square"},
                             name="measured overlap"), row=1, col=2)  # fmt: skip
    fig.add_trace(go.Scatter(x=al, y=[r["overlap_prediction"] for r in results], mode="lines",
                             line={"dash": "dash", "color": PALETTE[3]},
                             name="BBP overlap prediction"), row=1, col=2)  # fmt: skip
    fig.update_yaxes(type="log", title_text="s₁", row=1, col=1)
    fig.update_yaxes(title_text="|⟨u₁, β*⟩|", range=[0, 1], row=1, col=2)
    fig.update_xaxes(title_text="α  (η = N<sup>α</sup>)")
    return style.fit_log_ticks(fig)


def rank_one_figure(curve: dict, *, widget: bool = False) -> go.Figure:
    """||G0 - A|| / ||G0|| against n on log-log with the log^2(n)/sqrt(n) reference.

    ``curve`` from :func:`nnrep_lite.onestep.rank_one_curve`; the reference is scaled to pass
    through the first measured point.
    """
    n = np.asarray(curve["n"], dtype=float)
    mean, std = np.asarray(curve["mean"]), np.asarray(curve["std"])
    ref = np.log(n) ** 2 / np.sqrt(n)
    ref = ref * mean[0] / ref[0]
    half = n**-0.5 * mean[0] / n[0] ** -0.5
    fig = _fig(
        widget, title=f"Rank-one approximation of the gradient (fitted slope {curve['slope']:.2f})",
        xaxis_title="n (proportional: d = n/ψ₁, N = ψ₂ d)", yaxis_title="‖G₀ − A‖ / ‖G₀‖",
        xaxis_type="log", yaxis_type="log",
    )  # fmt: skip
    fig.add_trace(go.Scatter(x=n, y=mean, error_y={"type": "data", "array": std}, mode="markers+lines",
                             marker={"size": 10, "color": PALETTE[0]}, name="measured (mean ± std over seeds)"))  # fmt: skip
    fig.add_trace(go.Scatter(x=n, y=ref, mode="lines", line={"dash": "dash", "color": PALETTE[1]},
                             name="C log²(n)/√n (bound)"))  # fmt: skip
    fig.add_trace(go.Scatter(x=n, y=half, mode="lines", line={"dash": "dot", "color": PALETTE[2]},
                             name="C n<sup>−1/2</sup>"))  # fmt: skip
    return style.fit_log_ticks(fig)


def risk_figure(curves: dict, *, widget: bool = False) -> go.Figure:
    """Test risk against psi1 = n/d: trained CK for each alpha, CK and NTK at init, the floor.

    ``curves`` from :func:`nnrep_lite.onestep.risk_curves`.
    """
    psi1 = np.asarray(curves["psi1"])
    fig = _fig(
        widget, title=f"Prediction risk after one step (d = {curves['d']}, N = {curves['N']}, one seed)",
        xaxis_title="ψ₁ = n/d", yaxis_title="test risk E[(f̂ − f*)²]", yaxis_type="log",
    )  # fmt: skip
    if "ck1" in curves:
        for k, (al, col) in enumerate(zip(curves["alphas"], alpha_colors(len(curves["alphas"])))):
            fig.add_trace(go.Scatter(x=psi1, y=curves["ck1"][k], mode="lines+markers", line={"color": col},
                                     name=f"trained CK α={al:.2f}"))  # fmt: skip
    styles = {"ck": ("CK at init", PALETTE[1], "dashdot"), "ntk": ("NTK at init", PALETTE[3], "dashdot")}
    for f, (label, col, dash) in styles.items():
        if f in curves:
            fig.add_trace(go.Scatter(x=psi1, y=curves[f], mode="lines+markers", name=label,
                                     line={"color": col, "dash": dash, "width": 3}, marker={"symbol": "x"}))  # fmt: skip
    floor = curves["floor"]
    fig.add_trace(go.Scatter(x=[psi1.min(), psi1.max()], y=[floor, floor], mode="lines",
                             line={"color": PALETTE[7], "dash": "dash"},
                             name=f"floor {FLOOR_LABEL} = {floor:.4f}"))  # fmt: skip
    fig.update_yaxes(**log_ticks([v for t in fig.data for v in t.y]))
    return style.fit_log_ticks(fig)


def activation_traces(activation: str, target: str) -> list[go.BaseTraceType]:
    """sigma and sigma* on [-3, 3] with mu1, mu1* and the floor in the legend."""
    import torch

    z = torch.linspace(-3, 3, 241, dtype=torch.float64)
    out = []
    for role, name, col, dash in (("student σ", activation, PALETTE[0], "solid"),
                                  ("teacher σ*", target, PALETTE[1], "dash")):  # fmt: skip
        h = hermite_coefficients(name)
        label = f"{role} = {name}: μ₁ = {h['mu1']:.3f}, ‖P<sub>&gt;1</sub>σ‖² = {h['mu2'] ** 2:.4f}"
        out.append(go.Scatter(x=z.numpy(), y=ACTIVATIONS[name].fn(z).numpy(), mode="lines",
                              line={"color": col, "dash": dash, "width": 3}, name=label))  # fmt: skip
    return out


def activation_figure(activation: str = "erf", target: str = "erf", *, widget: bool = False) -> go.Figure:
    """The student and teacher activations with their mu1 and nonlinear energy (the floor)."""
    fig = _fig(
        widget, title=f"Activations: the floor for target {target} is {FLOOR_LABEL} = {nonlinear_energy(target):.4f}",
        xaxis_title="z", yaxis_title="σ(z)", legend="inside", height=440,
    )  # fmt: skip
    fig.add_traces(activation_traces(activation, target))
    return style.fit_log_ticks(fig)


# ------------------------------------------------------------ Gaussian equivalence, regimes, tau*

#: Colours of the three weight matrices: W0, W1 at alpha = 0, W1 at alpha = 1/2 (and others).
_W_COLORS = (PALETTE[1], PALETTE[0], PALETTE[2], PALETTE[3], PALETTE[4])


def _alpha_label(alpha: float) -> str:
    if alpha == 0.5:
        return "η = √N (α = ½)"
    if alpha == 0.0:
        return "η = 1 (α = 0)"
    return f"η = N<sup>{alpha:.2f}</sup>"


def ge_figure(curve: dict, *, widget: bool = False) -> go.Figure:
    """CK ridge risk against psi1 next to the risk of its Gaussian-equivalent features.

    ``curve`` from :func:`nnrep_lite.onestep.gaussian_equivalence_curve`. Solid lines with filled
    markers: the CK (mean ± standard error over seeds); dotted lines with open markers: the
    Gaussian-equivalent model mu0 + mu1 W^T x + mu2 z on the same samples; dashed: the floor.
    """
    psi1 = np.asarray(curve["psi1"])
    S = len(curve["seeds"])
    fig = _fig(
        widget, height=540,
        title=f"Gaussian equivalence: σ(W<sup>T</sup>x) vs μ₀ + μ₁W<sup>T</sup>x + μ₂z (d = {curve['d']}, N = {curve['N']}, {S} seed{'s' if S > 1 else ''})",
        xaxis_title="ψ₁ = n/d", yaxis_title="test risk E[(f̂ − f*)²]", xaxis_type="log", yaxis_type="log",
    )  # fmt: skip
    rows = [("CK at W₀", curve["init"], None)]
    rows += [(f"CK at {_alpha_label(al)}", curve["trained"], i) for i, al in enumerate(curve["alphas"])]
    if "ntk" in curve:
        rows.append(("NTK at W₀", curve["ntk"], None))
    for k, (label, table, i) in enumerate(rows):
        col = _W_COLORS[k % len(_W_COLORS)] if not label.startswith("NTK") else PALETTE[3]
        for kind, dash, symbol in (("ck", "solid", "circle"), ("ge", "dot", "circle-open")):
            vals = table[kind] if i is None else table[kind][:, i]
            T = vals.shape[0]
            err = vals.std(0, ddof=1) / math.sqrt(T) if T > 1 else (table[f"{kind}_se"] if i is None else table[f"{kind}_se"][:, i])[0]
            name = label if kind == "ck" else f"Gaussian equiv. of {label}"
            fig.add_trace(go.Scatter(x=psi1, y=vals.mean(0), error_y={"type": "data", "array": err},
                                     mode="lines+markers", name=name, line={"color": col, "dash": dash, "width": 2.5},
                                     marker={"symbol": symbol, "size": 10, "color": col}))  # fmt: skip
    floor = curve["floor"]
    fig.add_trace(go.Scatter(x=[psi1.min(), psi1.max()], y=[floor, floor], mode="lines",
                             line=style.theory_line(color=PALETTE[7]), name=f"floor {FLOOR_LABEL} = {floor:.4f}"))  # fmt: skip
    ys = [v for t in fig.data for v in t.y]
    fig.update_yaxes(**log_ticks(ys))
    fig.update_xaxes(tickvals=list(psi1), ticktext=[f"{p:g}" for p in psi1])
    return style.fit_log_ticks(fig)


#: The three regimes of the outline slide: (alpha range, shade, statement).
REGIMES = (
    ((-math.inf, 0.0), "rgba(86,180,233,0.14)", "η = o(1)<br>does not improve<br>the representation"),
    ((0.0, 0.45), "rgba(230,159,0,0.12)", "η = Θ(1)<br>can outperform<br>the initial W"),
    ((0.45, math.inf), "rgba(0,158,115,0.16)", "η = Θ(√N): out of<br>the NTK regime, beats<br>random features"),
)


def _alpha_range(al) -> tuple[float, float]:
    return float(np.min(al)) - 0.05, max(float(np.max(al)) + 0.05, 0.75)


def alpha_risk_traces(sweep: dict) -> list[go.BaseTraceType]:
    """Traces of :func:`alpha_risk_figure`: trained CK (mean ± s.e. over seeds), initial CK, floor."""
    al = np.asarray(sweep["alphas"])
    lo, hi = _alpha_range(al)
    ck = sweep["ck_mean"]
    ck_se = sweep["ck_se"] if np.isfinite(sweep["ck_se"]) else 0.0
    floor = sweep["floor"]
    se = np.nan_to_num(sweep["ck1_se"])
    return [
        go.Scatter(x=al, y=sweep["ck1_mean"], error_y={"type": "data", "array": se}, mode="lines+markers",
                   name="trained CK at W₁ (mean ± s.e.)", line={"color": PALETTE[0], "width": 3},
                   marker={"size": 10}),
        go.Scatter(x=[lo, hi], y=[ck, ck], mode="lines", line={"color": PALETTE[1], "dash": "dashdot", "width": 3},
                   name=f"CK at W₀ = {ck:.4f} ± {ck_se:.4f}"),
        go.Scatter(x=[lo, hi], y=[floor, floor], mode="lines", line=style.theory_line(color=PALETTE[7]),
                   name=f"floor {FLOOR_LABEL} = {floor:.4f}"),
    ]  # fmt: skip


def alpha_risk_title(sweep: dict) -> str:
    S = len(sweep["ck"])
    return (f"Risk after one step against α (η = N<sup>α</sup>): ψ₁ = {sweep['psi1']:g}, "
            f"d = {sweep['d']}, N = {sweep['N']}, {S} seed{'s' if S > 1 else ''}")


def alpha_risk_figure(sweep: dict, *, widget: bool = False) -> go.Figure:
    """Trained-CK risk against alpha with the three step-size regimes shaded and labelled.

    ``sweep`` from :func:`nnrep_lite.onestep.risk_vs_alpha`; the initial CK and the floor
    ||P_{>1} f*||^2 are horizontal lines (the floor dashed: it is the theorem's bound).
    """
    al = np.asarray(sweep["alphas"])
    lo, hi = _alpha_range(al)
    fig = _fig(widget, height=600, title={"text": alpha_risk_title(sweep), "y": 0.985, "yanchor": "top"},
               xaxis_title="α  (η = N<sup>α</sup>)", yaxis_title="test risk E[(f̂ − f*)²]", yaxis_type="log",
               xaxis_range=[lo, hi], margin={"t": 150})  # fmt: skip
    for (a0, a1), shade, text in REGIMES:  # shaded bands, the slide's statements above the plot
        x0, x1 = max(a0, lo), min(a1, hi)
        if x1 <= x0:
            continue
        fig.add_vrect(x0=x0, x1=x1, fillcolor=shade, line_width=0, layer="below")
        fig.add_annotation(x=0.5 * (x0 + x1), y=1.01, xref="x", yref="paper", text=text, showarrow=False,
                           yanchor="bottom", font={"size": style.LEGEND_FONT_PX})  # fmt: skip
    fig.add_traces(alpha_risk_traces(sweep))
    fig.update_yaxes(**alpha_risk_ticks(sweep))
    return style.fit_log_ticks(fig)


def alpha_risk_ticks(sweep: dict) -> dict:
    """Log-axis ticks of :func:`alpha_risk_figure` for the values of ``sweep``."""
    return log_ticks([*np.ravel(sweep["ck1"]), float(sweep["ck_mean"]), float(sweep["floor"])])


def improvement_figure(cases: dict, *, widget: bool = False) -> go.Figure:
    """Initial CK, trained CK at eta = 1 and at eta = sqrt(N), per teacher, against tau* and the floor.

    ``cases``: teacher name -> :func:`nnrep_lite.onestep.risk_vs_alpha` result with alphas
    (0, 1/2) and an added ``"tau_star"``. One panel per teacher (two a row): bars are measured
    risks (mean ± standard error over seeds), dashed lines the floor ||P_{>1} f*||^2 and tau*.
    """
    names = list(cases)
    titles = []
    for t in names:
        c = cases[t]
        rel = "≪" if c["tau_star"] < 0.25 * c["floor"] else "≈" if c["tau_star"] < 1.25 * c["floor"] else ">"
        titles.append(f"teacher σ* = {t}: τ* = {c['tau_star']:.3f} {rel} {FLOOR_LABEL} = {c['floor']:.3f}")
    fig = style.subplots(len(names), widget=widget, titles=titles, panel_height=420, legend="below",
                         title="Improvement over the initial CK, and beyond it when τ* ≪ ‖P<sub>&gt;1</sub>f*‖²",
                         margin={"t": 110})  # fmt: skip
    cats = ["CK at W₀", "η = 1", "η = √N"]
    for k, t in enumerate(names):
        c = cases[t]
        pos = style.panel_position(k, len(names))
        al = list(np.asarray(c["alphas"]))
        idx = [al.index(0.0), al.index(0.5)]
        y = [c["ck_mean"], *(c["ck1_mean"][i] for i in idx)]
        err = np.nan_to_num([c["ck_se"], *(c["ck1_se"][i] for i in idx)])
        fig.add_trace(go.Bar(x=cats, y=y, error_y={"type": "data", "array": err}, name=f"measured ({t})",
                             marker_color=[PALETTE[1], PALETTE[0], PALETTE[2]], showlegend=False), **pos)  # fmt: skip
        fig.add_hline(y=c["floor"], line=style.theory_line(color=PALETTE[7]), **pos)
        fig.add_hline(y=c["tau_star"], line=style.theory_line(color=PALETTE[3]), **pos)
        fig.update_yaxes(title_text="test risk", rangemode="tozero", **pos)
    for label, col in ((f"floor {FLOOR_LABEL} (random features, small steps)", PALETTE[7]),
                       ("τ* (smallest risk of the large-step features)", PALETTE[3])):  # fmt: skip
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=style.theory_line(color=col), name=label))
    return style.fit_log_ticks(fig)
