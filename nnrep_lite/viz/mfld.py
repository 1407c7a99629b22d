"""Plotly figures for mean-field Langevin dynamics (notebooks 04 and 05).

Builders return ``go.Figure`` (or ``go.FigureWidget`` with ``widget=True``) and move tensors
to CPU themselves. Okabe-Ito colours; theory as dashed lines labelled with the formula.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import torch

from . import style
from .style import OKABE_ITO, log_ticks
from .style import to_numpy as _np

PALETTE = OKABE_ITO


def _fig(widget: bool, *, height: int = 440, legend: str = "below", **layout) -> go.Figure:
    """A figure in the projector style (width follows the output area, legend inside)."""
    return style.new_figure(widget, height=height, legend=legend, **layout)


def _log_ticks(fig, axis: str, *values, **where) -> None:
    """Labels at 1, 2, 5 x 10^k on a log axis (``axis`` "x" or "y") covering ``values``: plotly's
    own minor labels are drawn smaller than the projector's tick font."""
    vals = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values]) if values else []
    ticks = log_ticks(vals)
    if ticks:
        (fig.update_xaxes if axis == "x" else fig.update_yaxes)(**ticks, **where)


# ------------------------------------------------------------------ live training


def particles_figure(particles=None, *, widget=False, title="particles (w, b), colour tanh r"):
    """Scatter of the inner weights ``(w_1, b)`` of regression particles, coloured by ``tanh r``."""
    fig = _fig(widget, title=title, xaxis_title="w", yaxis_title="b", legend="none")
    fig.add_scatter(x=[], y=[], mode="markers", name="particles",
                    marker=dict(size=5, color=[], colorscale="RdBu", cmin=-1, cmax=1,
                                colorbar=dict(title="tanh r"), opacity=0.7))
    if particles is not None:
        update_particles(fig, particles)
    return style.fit_log_ticks(fig)


def update_particles(fig, particles):
    x = _np(particles)
    fig.data[0].x, fig.data[0].y, fig.data[0].marker.color = x[:, 1], x[:, -1], np.tanh(x[:, 0])


def objective_figure(*, widget=False):
    """``F(mu_k)`` against the step ``k`` on a log scale (linear convergence = a straight line
    down to the plateau)."""
    fig = _fig(widget, title="objective F(μ<sub>k</sub>)", xaxis_title="step k",
               yaxis_title="F(μ<sub>k</sub>)", yaxis_type="log", legend="none")
    fig.add_scatter(x=[], y=[], mode="lines", name="F", line=dict(color=PALETTE[0]))
    return style.fit_log_ticks(fig)


def update_objective(fig, history, trace=0):
    # arrays, not lists: plotly validates a list element by element (tens of ms at a few
    # hundred points, on every live update)
    f = np.asarray(history["F"], dtype=float)
    fig.data[trace].x, fig.data[trace].y = np.asarray(history["step"][: len(f)], dtype=float), f
    style.fit_log_ticks(fig, refit=True)


def fit_figure(z, y, *, widget=False):
    """Data ``(z_j, y_j)`` (1-D inputs, drawn sorted by z) and a line for ``f_{mu_N}`` on
    ``sorted_inputs(z)`` (update with :func:`update_fit`)."""
    z, y = _np(z).reshape(len(y), -1)[:, 0], _np(y)
    order = np.argsort(z)
    fig = _fig(widget, title="fit f<sub>μN</sub>(z)", xaxis_title="z", yaxis_title="y",
               legend="inside")
    fig.add_scatter(x=z[order], y=y[order], mode="markers", name="data", marker=dict(color=PALETTE[7], size=5))
    fig.add_scatter(x=z[order], y=np.zeros_like(z), mode="lines", name="f<sub>μN</sub>", line=dict(color=PALETTE[3], width=3))
    return style.fit_log_ticks(fig)


def sorted_inputs(z):
    """1-D inputs sorted (the x-coordinates of :func:`fit_figure`'s line), shape ``(n, 1)``."""
    z = z if isinstance(z, torch.Tensor) else torch.as_tensor(z)
    z = z.reshape(z.shape[0], -1)
    return z[torch.argsort(z[:, 0])]


def update_fit(fig, f_sorted):
    fig.data[1].y = _np(f_sorted)


# ------------------------------------------------------------------ error decomposition


def eta_bias_figure(result, *, widget=False):
    """Stationary variance bias against eta (log-log): simulation with error bars, exact dashed."""
    eta = np.asarray(result["eta"])
    fig = _fig(widget, title="time discretization: Var<sub>η</sub> − λ<sub>2</sub>/(2λ<sub>1</sub>)",
               xaxis_title="η", yaxis_title="stationary bias", xaxis_type="log", yaxis_type="log")
    fig.add_scatter(x=eta, y=result["exact"], mode="lines", line=dict(dash="dash", color=PALETTE[7]),
                    name="exact: λ<sub>2</sub>/(2λ<sub>1</sub>(1−λ<sub>1</sub>η)) − λ<sub>2</sub>/(2λ<sub>1</sub>)")
    fig.add_scatter(x=eta, y=result["measured"], mode="markers", marker=dict(size=10, color=PALETTE[0]),
                    error_y=dict(type="data", array=2 * np.asarray(result["stderr"])),
                    name=f"simulated ({_slope_label(result['fit'])})")
    _log_ticks(fig, "x", eta)
    _log_ticks(fig, "y", result["exact"], [m for m in result["measured"] if m > 0])
    return style.fit_log_ticks(fig)


def particle_number_figure(result, *, widget=False):
    """Stationary ``E||f_{mu_N} - f_{mu*}||^2`` against N (log-log) with a dashed ``C/N`` line."""
    ns = np.asarray(result["ns"], float)
    err = np.asarray(result["error"])
    fig = _fig(widget, title="particles: E‖f<sub>μN</sub> − f<sub>μ*</sub>‖² at stationarity",
               xaxis_title="N", yaxis_title="E‖f<sub>μN</sub> − f<sub>μ*</sub>‖²",
               xaxis_type="log", yaxis_type="log")
    c = np.exp(np.mean(np.log(err * ns)))
    fig.add_scatter(x=ns, y=c / ns, mode="lines", line=dict(dash="dash", color=PALETTE[7]), name="C/N")
    fig.add_scatter(x=ns, y=err, mode="markers", marker=dict(size=10, color=PALETTE[0]),
                    error_y=dict(type="data", array=2 * np.asarray(result["error_sem"])),
                    name=f"measured ({_slope_label(result['fit'])})")
    _log_ticks(fig, "x", ns)
    _log_ticks(fig, "y", err, c / ns)
    return style.fit_log_ticks(fig)


def chaos_curves_figure(result, *, widget=False):
    """The replica-mean prediction error over time for each N: uniform in time = flat curves."""
    fig = _fig(widget, title="uniform in time: error curves per N", xaxis_title="step k",
               yaxis_title="‖f<sub>μN,k</sub> − f<sub>μ*</sub>‖²", yaxis_type="log")
    for i, (n_part, (t, curves)) in enumerate(result["curves"].items()):
        fig.add_scatter(x=t, y=curves.mean(0), mode="lines", name=f"N={n_part}",
                        line=dict(color=PALETTE[i % len(PALETTE)]))
    return style.fit_log_ticks(fig)


def plateau_figure(result, *, widget=False):
    """The plateau of ``F`` against N (with error bars) next to the reference run's plateau."""
    ns = np.asarray(result["ns"], float)
    fig = _fig(widget, title="plateau of F against N", xaxis_title="N",
               yaxis_title="tail mean of F(μ<sub>N</sub>)", xaxis_type="log")
    ref = result["reference"]["F_plateau"]
    fig.add_scatter(x=[ns.min(), ns.max()], y=[ref, ref], mode="lines",
                    line=dict(dash="dash", color=PALETTE[7]), name="reference run (large N)")
    fig.add_scatter(x=ns, y=result["F_plateau"], mode="markers", marker=dict(size=10, color=PALETTE[2]),
                    error_y=dict(type="data", array=2 * np.asarray(result["F_plateau_sem"])), name="measured")
    return style.fit_log_ticks(fig)


def _resolved_split(xs, ys, sems, ok):
    """(resolved x, y, 2 s.e.) and (unresolved x, 3 s.e. level) for a log plot."""
    xs, ys, sems = (np.asarray(v, float) for v in (xs, ys, sems))
    ok = np.asarray(ok, bool)
    return (xs[ok], ys[ok], 2 * sems[ok]), (xs[~ok & (sems > 0)], 3 * sems[~ok & (sems > 0)])


def _fit_text(fit, *, digits=2) -> str:
    lo, hi = fit["interval"]
    band = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) else " (two points: no interval)"
    return f"{fit['slope']:.{digits}f}{band}"


def sg_factor_figure(result, *, widget=False):
    """The SG excess of the F plateau against the theorem's factor (n−B)/(B(n−1)), log-log:
    resolved points with 2 s.e. bars, unresolved ones at their 3 s.e. level (open), the fitted
    line and the bound's shape (linear in the factor, slope 1)."""
    n = result["n"]
    keep = [i for i, b in enumerate(result["batch_sizes"]) if b < n]
    f = [result["factor"][i] for i in keep]
    (x, y, err), (xu, yu) = _resolved_split(f, [result["sg"][i] for i in keep],
                                            [result["sg_sem"][i] for i in keep],
                                            [result["sg_resolved"][i] for i in keep])
    fit = result["fit"]
    title = "stochastic gradient: excess of the F plateau over full-gradient MFLD"
    fig = _fig(widget, title=title, xaxis_title="(n−B)/(B(n−1))", yaxis_title="F<sub>SG</sub> − F<sub>full</sub>",
               xaxis_type="log", yaxis_type="log", height=480)
    bs = [result["batch_sizes"][i] for i, ok in zip(keep, [result["sg_resolved"][i] for i in keep]) if ok]
    fig.add_scatter(x=x, y=y, mode="markers+text", text=[f"B={b}" for b in bs], textposition="top right",
                    marker=dict(size=11, color=PALETTE[3]), error_y=dict(type="data", array=err),
                    name="measured (2 s.e.)")
    if len(xu):
        fig.add_scatter(x=xu, y=yu, mode="markers", marker=dict(size=11, color=PALETTE[3], symbol="circle-open"),
                        name="below resolution (3 s.e. shown)")
    if fit is not None:
        xx = np.array([min(f), max(f)])
        fig.add_scatter(x=xx, y=np.exp(fit["intercept"]) * xx ** fit["slope"], mode="lines",
                        line=dict(color=PALETTE[3]), name=f"fit: slope {_fit_text(fit)}")
        c = np.exp(np.mean(np.log(y) - np.log(x)))
        fig.add_scatter(x=xx, y=c * xx, mode="lines", line=style.theory_line(color=PALETTE[7]),
                        name="bound: ∝ (n−B)√(ηλ<sub>2</sub>)/(B(n−1)), slope 1")
    _log_ticks(fig, "x", f)
    _log_ticks(fig, "y", y, yu)
    return style.fit_log_ticks(fig)


def sg_eta_figure(result, *, widget=False):
    """The SG excess at one batch size against η (same time horizon), log-log, with the fitted
    slope next to the bound's √η."""
    e = np.asarray(result["etas"], float)
    (x, y, err), (xu, yu) = _resolved_split(e, result["eta_excess"], result["eta_sem"], result["eta_resolved"])
    fig = _fig(widget, title=f"stochastic-gradient excess against η (B = {result['eta_batch']})",
               xaxis_title="η", yaxis_title="F<sub>SG</sub> − F<sub>full</sub>", xaxis_type="log",
               yaxis_type="log", height=440)
    fig.add_scatter(x=x, y=y, mode="markers", marker=dict(size=11, color=PALETTE[0]),
                    error_y=dict(type="data", array=err), name="measured (2 s.e.)")
    if len(xu):
        fig.add_scatter(x=xu, y=yu, mode="markers", marker=dict(size=11, color=PALETTE[0], symbol="circle-open"),
                        name="below resolution")
    fit = result["eta_fit"]
    if fit is not None and len(x):
        xx = np.array([e.min(), e.max()])
        fig.add_scatter(x=xx, y=np.exp(fit["intercept"]) * xx ** fit["slope"], mode="lines",
                        line=dict(color=PALETTE[0]), name=f"fit: slope {_fit_text(fit)}")
        c = np.exp(np.mean(np.log(y) - 0.5 * np.log(x)))
        fig.add_scatter(x=xx, y=c * np.sqrt(xx), mode="lines", line=style.theory_line(color=PALETTE[7]),
                        name="bound: ∝ √(ηλ<sub>2</sub>), slope ½")
    _log_ticks(fig, "x", e)
    _log_ticks(fig, "y", y, yu)
    return style.fit_log_ticks(fig)


def batch_size_figure(result, *, widget=False):
    """Stationary excess of F over full-gradient MFLD against the gradient cost per step
    (full-data gradients), SG at every B and SVRG at its batches: equal cost = same x."""
    fig = _fig(widget, title="SG and SVRG at equal gradient cost",
               xaxis_title="gradient cost per step (full-data gradients)",
               yaxis_title="F − F<sub>full</sub>", xaxis_type="log", yaxis_type="log", height=460)
    n = result["n"]
    rows = [(c, e, s, b) for c, e, s, b in zip(result["sg_cost"], result["sg"], result["sg_sem"],
                                               result["batch_sizes"]) if b < n and e > 0]
    if rows:
        c, e, s, b = map(list, zip(*rows))
        fig.add_scatter(x=c, y=e, mode="lines+markers+text", text=[f"B={v}" for v in b], textposition="top right",
                        marker=dict(size=10, color=PALETTE[3]), line=dict(color=PALETTE[3]),
                        error_y=dict(type="data", array=2 * np.asarray(s)), name="SG")
    rows = [(c, e, s, b) for c, e, s, b in zip(result.get("svrg_cost", []), result.get("svrg", []),
                                               result.get("svrg_sem", []), result.get("svrg_batches", []))]
    if rows:
        c, e, s, b = map(list, zip(*rows))
        e = [max(v, 3 * sv) for v, sv in zip(e, s)]  # unresolved: at the resolution level
        fig.add_scatter(x=c, y=e, mode="markers+text", text=[f"B={v}" for v in b], textposition="bottom right",
                        marker=dict(size=12, color=PALETTE[0], symbol="diamond"),
                        error_y=dict(type="data", array=2 * np.asarray(s)),
                        name=f"SVRG (anchor every {result['svrg_period']} steps)")
    vals = [v for tr in fig.data for v in np.ravel(tr.y) if v is not None and v > 0]
    costs = [v for tr in fig.data for v in np.ravel(tr.x) if v is not None and v > 0]
    _log_ticks(fig, "x", costs)
    _log_ticks(fig, "y", vals)
    return style.fit_log_ticks(fig)


def svrg_profile_figure(profile, *, widget=False):
    """Per-sample variance of the SG and SVRG gradient estimators against the anchor's age."""
    fig = _fig(widget, title="SVRG: its estimator variance grows with the anchor's age",
               xaxis_title="steps since the anchor (age)", yaxis_title="per-sample gradient variance",
               yaxis_type="log", height=440)
    age = np.asarray(profile["age"])
    fig.add_scatter(x=age, y=profile["sg"], mode="lines+markers", marker=dict(color=PALETTE[3]),
                    line=dict(color=PALETTE[3]), name="SG: a<sub>j</sub>(X<sub>k</sub>)")
    fig.add_scatter(x=age[1:], y=profile["svrg"][1:], mode="lines+markers", marker=dict(color=PALETTE[0]),
                    line=dict(color=PALETTE[0]), name="SVRG: a<sub>j</sub>(X<sub>k</sub>) − a<sub>j</sub>(X̃)")
    _log_ticks(fig, "y", profile["sg"], profile["svrg"][1:])
    return style.fit_log_ticks(fig)


# ------------------------------------------------------------------ proximal Gibbs, densities


def gibbs_figure(gibbs, particles, *, axis=0, widget=False, title="proximal Gibbs measure",
                 axis_names=("r", "w", "b")):
    """1-D marginal (axis ``axis``) of the proximal Gibbs density on its grid against a histogram
    of the particles' coordinate. ``axis_names``: the coordinates' names (regression particles
    ``(r, w, b)``; others get ``x<sub>i</sub>``)."""
    dens = _np(gibbs["density"])
    axes = [_np(a) for a in gibbs["axes"]]
    other = tuple(i for i in range(dens.ndim) if i != axis)
    cell_other = np.prod([a[1] - a[0] for i, a in enumerate(axes) if i != axis]) if other else 1.0
    marg = dens.sum(axis=other) * cell_other if other else dens
    x = _np(particles)[:, axis]
    fig = _fig(widget, title=title, xaxis_title=axis_names[axis] if len(axes) == len(axis_names) else f"x<sub>{axis + 1}</sub>",
               yaxis_title="density")
    fig.add_histogram(x=x, histnorm="probability density", name="particles", marker_color=PALETTE[5], opacity=0.6)
    fig.add_scatter(x=axes[axis], y=marg, mode="lines", line=dict(dash="dash", color=PALETTE[3], width=3),
                    name="p<sub>μ</sub> ∝ exp(−(δF/δμ)/λ<sub>2</sub>)")
    return style.fit_log_ticks(fig)


def density_1d_figure(data, grid, density, *, widget=False, title="MMD density estimate"):
    """Histogram of 1-D data against the estimated density ``g * mu_N`` on a grid."""
    fig = _fig(widget, title=title, xaxis_title="x", yaxis_title="density")
    fig.add_histogram(x=_np(data).ravel(), histnorm="probability density", name="data",
                      marker_color=PALETTE[7], opacity=0.35, nbinsx=40)
    fig.add_scatter(x=_np(grid).ravel(), y=_np(density), mode="lines", name="g * μ<sub>N</sub>",
                    line=dict(color=PALETTE[0], width=3))
    return style.fit_log_ticks(fig)


def density_2d_figure(data, axes, density, particles=None, *, widget=False, title="2-D density"):
    """Contours of a density on a grid with the data (grey) and the particles (blue) on top."""
    fig = _fig(widget, title=title, xaxis_title="x<sub>1</sub>", yaxis_title="x<sub>2</sub>", height=540)
    fig.add_contour(x=_np(axes[0]), y=_np(axes[1]), z=_np(density).T, colorscale="Viridis",
                    contours_coloring="lines", showscale=False, name="density")
    if data is not None:
        d = _np(data)
        fig.add_scatter(x=d[:, 0], y=d[:, 1], mode="markers", name="data",
                        marker=dict(size=3, color=PALETTE[7], opacity=0.3))
    p = _np(particles) if particles is not None else np.zeros((0, 2))
    fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="markers", name="particles",
                    marker=dict(size=5, color=PALETTE[3], opacity=0.6))
    return style.fit_log_ticks(fig)


def regression_eta_figure(result, *, widget=False):
    """The regression's measured eta-dependence: tail-mean F against eta (error bars: 2 s.e.)."""
    fig = _fig(widget, title="regression: plateau of F against η (measured)",
               xaxis_title="η", yaxis_title="tail mean of F(μ<sub>N</sub>)", xaxis_type="log")
    fig.add_scatter(x=result["eta"], y=result["F"], mode="lines+markers", marker=dict(size=10, color=PALETTE[4]),
                    line=dict(color=PALETTE[4]), error_y=dict(type="data", array=2 * np.asarray(result["F_sem"])),
                    name="measured F plateau")
    return style.fit_log_ticks(fig)


def density_snapshots_figure(data, grid, snapshots, *, true_density=None, widget=False,
                             title="MMD density estimation as training runs"):
    """Histogram of 1-D data, the true density (dashed) and ``g * mu_N`` at several steps.
    ``snapshots``: list of ``(step, density on grid)``."""
    fig = _fig(widget, title=title, xaxis_title="x", yaxis_title="density")
    fig.add_histogram(x=_np(data).ravel(), histnorm="probability density", name="data",
                      marker_color=PALETTE[7], opacity=0.25, nbinsx=40)
    g = _np(grid).ravel()
    if true_density is not None:
        fig.add_scatter(x=g, y=_np(true_density), mode="lines", name="true density p(x)",
                        line=dict(dash="dash", color=PALETTE[7], width=2))
    for i, (step, dens) in enumerate(snapshots):
        fig.add_scatter(x=g, y=_np(dens), mode="lines", name=f"g * μ<sub>N</sub>, step {step}",
                        line=dict(color=PALETTE[i % 6], width=2 + (i == len(snapshots) - 1)))
    return style.fit_log_ticks(fig)


def temperature_figure(lambda2s, entropies, values, *, widget=False):
    """kNN entropy of the particles and final F against the temperature lambda2 (log x)."""
    fig = style.subplots(2, widget=widget, titles=("entropy of the particles", "objective F"),
                         panel_height=400, title="effect of the temperature λ<sub>2</sub>",
                         margin={"t": 90})
    fig.add_scatter(x=lambda2s, y=entropies, mode="lines+markers", name="Ĥ<sub>kNN</sub>(μ<sub>N</sub>)",
                    marker=dict(color=PALETTE[0], size=9), row=1, col=1)
    fig.add_scatter(x=lambda2s, y=values, mode="lines+markers", name="F(μ<sub>N</sub>)",
                    marker=dict(color=PALETTE[3], size=9), row=1, col=2)
    _log_ticks(fig, "x", lambda2s)
    _log_ticks(fig, "y", values, row=1, col=2)
    fig.update_xaxes(type="log", title_text="λ<sub>2</sub>")
    fig.update_yaxes(title_text="Ĥ<sub>kNN</sub>", row=1, col=1)
    fig.update_yaxes(title_text="F(μ<sub>N</sub>)", type="log", row=1, col=2)
    return style.fit_log_ticks(fig)


def curves_figure(curves, *, widget=False, title="objective F(μ<sub>k</sub>)", log_y=True):
    """Several ``(name, steps, values)`` curves on one plot (log y)."""
    fig = _fig(widget, title=title, xaxis_title="step k", yaxis_title="F(μ<sub>k</sub>)",
               yaxis_type="log" if log_y else "linear")
    for i, (name, steps, vals) in enumerate(curves):
        fig.add_scatter(x=list(steps), y=list(vals), mode="lines", name=name, line=dict(color=PALETTE[i % 8]))
    return style.fit_log_ticks(fig)


# ------------------------------------------------------------------ complexity: the optimal batch


def complexity_traces(result) -> list:
    """Traces of :func:`complexity_figure` (a panel swaps them in place)."""
    b = np.asarray(result["batch_sizes"], float)
    cost = np.asarray(result["cost"], float)
    ok = np.isfinite(cost)
    top = float(cost[ok].max()) if ok.any() else 1.0
    low = float(cost[ok].min()) if ok.any() else 1.0
    traces = [go.Scatter(x=b[ok], y=cost[ok], mode="lines+markers", marker=dict(size=10, color=PALETTE[0]),
                         line=dict(color=PALETTE[0]), name="measured cost to reach F<sub>full</sub> + ε")]
    if (~ok).any():
        traces.append(go.Scatter(x=b[~ok], y=np.full((~ok).sum(), top), mode="markers",
                                 marker=dict(size=11, color=PALETTE[0], symbol="triangle-up-open"),
                                 name="not reached within the step budget"))
    if result["best"] is not None:
        traces.append(go.Scatter(x=[result["best"]], y=[low], mode="markers",
                                 marker=dict(size=16, color=PALETTE[3], symbol="star"),
                                 name=f"measured best B = {result['best']}"))
    pred = result["predicted"]
    traces.append(go.Scatter(x=[pred, pred], y=[low / 1.5, top * 1.5], mode="lines",
                             line=style.theory_line(color=PALETTE[7]),
                             name=f"B* = min(n, √(α/(λ<sub>2</sub>ε))) = {pred:.0f}"))
    return traces


def complexity_title(result) -> str:
    return (f"gradient cost of SG-MFLD to reach accuracy ε = {result['eps']:g}"
            f" (α = {result['alpha']:.3f} measured)")


def complexity_figure(result, *, widget=False):
    """Total gradient cost (steps × B / n, full-data gradients) to reach ``F_full + eps`` against
    B (log-log), eta per B from the iteration-complexity formula, with the predicted B*."""
    fig = _fig(widget, title=complexity_title(result), xaxis_title="mini-batch size B",
               yaxis_title="gradient cost (full-data gradients)", xaxis_type="log", yaxis_type="log",
               height=460)
    fig.add_traces(complexity_traces(result))
    _log_ticks(fig, "x", result["batch_sizes"])
    _log_ticks(fig, "y", [c for c in result["cost"] if np.isfinite(c)])
    return style.fit_log_ticks(fig)


# ------------------------------------------------------------------ GLD and its Fokker-Planck equation


def _slope_label(fit) -> str:
    """A legend's slope, or what it waits for (a figure drawn while its points come in)."""
    slope = fit["slope"] if fit else math.nan
    return f"slope {slope:.2f}" if math.isfinite(slope) else "slope: from 2 points"


def gld_density_traces(result, index: int = -1) -> list:
    """Traces of :func:`gld_density_figure` at snapshot ``index`` (a panel swaps them in place)."""
    grid = result["grid"]
    x, h = grid.axes[0], grid.h[0]
    return [
        go.Bar(x=x, y=result["particle_masses"][index] / h, width=h, name="GLD particles",
               marker_color=PALETTE[5], opacity=0.65),
        go.Scatter(x=x, y=result["fp_masses"][index] / h, mode="lines", line=dict(color=PALETTE[0], width=3),
                   name="Fokker-Planck p<sub>t</sub> (grid)"),
        go.Scatter(x=x, y=grid.gibbs_density(), mode="lines", line=style.theory_line(color=PALETTE[3]),
                   name="Gibbs exp(−βL)/Z"),
    ]


def gld_density_title(result, index: int = -1) -> str:
    t = result["times"][index]
    if not result.get("has_particles", True):  # a preview: the grid solution alone
        return (f"GLD at β = {result['beta']:g}, t = {t:.1f}: TV to Gibbs {result['tv_fp'][index]:.3f}"
                " (Fokker-Planck; particles running)")
    return (f"GLD at β = {result['beta']:g}, t = {t:.1f}: TV to Gibbs {result['tv_particles'][index]:.3f}"
            f" (particles), {result['tv_fp'][index]:.3f} (Fokker-Planck)")


def gld_density_figure(result, index: int = -1, *, widget=False):
    """1-D GLD: the particles' histogram, the grid Fokker-Planck density and the Gibbs density."""
    fig = _fig(widget, title=gld_density_title(result, index), xaxis_title="x", yaxis_title="density",
               height=440, bargap=0)
    fig.add_traces(gld_density_traces(result, index))
    return style.fit_log_ticks(fig)


def gld_tv_figure(result, *, widget=False):
    """TV to the Gibbs measure over time (log y): particles, Fokker-Planck, the spectral-gap rate
    and the particles' Monte-Carlo floor."""
    t = np.asarray(result["times"])
    rate = (f"measured rate {result['rate']:.4f}" if result.get("has_particles", True)
            else "particles running")
    fig = _fig(widget, title=f"decay to the Gibbs measure: {rate}, spectral gap {result['gap']:.4f}",
               xaxis_title="time t", yaxis_title="TV(p<sub>t</sub>, Gibbs)", yaxis_type="log", height=440)
    fig.add_scatter(x=t[1:], y=result["tv_particles"][1:], mode="markers", marker=dict(size=8, color=PALETTE[5]),
                    name="GLD particles (histogram)")
    fig.add_scatter(x=t[1:], y=result["tv_fp"][1:], mode="lines", line=dict(color=PALETTE[0], width=3),
                    name="Fokker-Planck (grid)")
    i = max(1, len(t) // 4)
    fig.add_scatter(x=t[i:], y=result["tv_fp"][i] * np.exp(-result["gap"] * (t[i:] - t[i])), mode="lines",
                    line=style.theory_line(color=PALETTE[3]), name="∝ exp(−gap · t)")
    floor = result["tv_floor"]["mean"]
    fig.add_scatter(x=[t[1], t[-1]], y=[floor, floor], mode="lines", line=dict(color=PALETTE[7], dash="dot"),
                    name="Monte-Carlo floor (exact Gibbs draws)")
    fig.update_yaxes(range=[math.log10(max(min(result["tv_fp"][1:].min(), floor) / 2, 1e-6)), 0.1])
    return style.fit_log_ticks(fig)


def gld_gap_figure(betas, gaps, kramers, *, barrier: float, widget=False):
    """The spectral gap of the Fokker-Planck operator against β (log y) with the Eyring-Kramers
    rate: metastability, the gap (and the log-Sobolev constant) degrades like exp(−β · barrier)."""
    fig = _fig(widget, title="metastability: the spectral gap collapses like exp(−β · barrier)",
               xaxis_title="inverse temperature β", yaxis_title="spectral gap", yaxis_type="log", height=440)
    fig.add_scatter(x=betas, y=gaps, mode="lines+markers", marker=dict(size=10, color=PALETTE[0]),
                    line=dict(color=PALETTE[0]), name="grid Fokker-Planck operator")
    fig.add_scatter(x=betas, y=kramers, mode="lines", line=style.theory_line(color=PALETTE[3]),
                    name=f"Eyring-Kramers: (√(L″(±1)|L″(0)|)/π) exp(−β · {barrier:g})")
    _log_ticks(fig, "y", gaps, kramers)
    return style.fit_log_ticks(fig)
