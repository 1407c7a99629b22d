"""Panels for notebook 03: B-spline orders, multiresolution decomposition and N-term rates,
diffusion of a B-spline density (1-D and 2-D) with its exact score."""

from __future__ import annotations

import html
import math

import ipywidgets as w
import numpy as np
import torch

from .. import bspline as bs
from .._utils import as_generator
from ..viz import bspline as viz
from ._layout import panel_box

#: Control descriptions are never truncated.
LABEL = {"description_width": "initial"}
WRAP = {"flex_flow": "row wrap"}


def _error_html(exc: Exception) -> str:
    return f"<span style='color:#D55E00'>error: {html.escape(str(exc))}</span>"


def _replace(fig, traces):
    with fig.batch_update():
        for old, new in zip(fig.data, traces):
            old.update(new.to_plotly_json(), overwrite=True)


class OrderPanel:
    """(a) N_m for m = 1..6 as repeated convolutions of the box; slider: order."""

    def __init__(self, order: int = 4, points: int = 601):
        self.x = torch.linspace(-0.5, 6.5, points, dtype=torch.float64)
        self.controls = {"order": w.IntSlider(value=order, min=1, max=6, description="order m", style=LABEL)}
        self.status = w.HTML()
        self.fig = viz.order_figure(*self._compute(order), current=order)
        self.controls["order"].observe(self._on_change, names="value")
        self.widget = panel_box([self.controls["order"], self.status, self.fig])

    def _compute(self, m: int):
        curves = {k: bs.cardinal_bspline(self.x, k) for k in range(1, m + 1)}
        conv = None
        if m >= 2:  # numerical convolution on the grid: (N_{m-1} * N_1)(x)
            dx = float(self.x[1] - self.x[0])
            box = ((self.x >= 0) & (self.x < 1)).double().numpy()
            prev = curves[m - 1].numpy()
            full = np.convolve(prev, box)[: len(self.x)] * dx
            shift = int(round(0.5 / dx))  # the grid starts at -0.5
            vals = np.concatenate([full[shift:], np.zeros(shift)])
            conv = (self.x.numpy()[::15], vals[::15])
        return self.x, curves, conv

    def _on_change(self, change=None):
        m = int(self.controls["order"].value)
        try:
            x, curves, conv = self._compute(m)
        except ValueError as exc:
            self.status.value = _error_html(exc)
            return
        _replace(self.fig, viz.order_traces(x, curves, conv, current=m))
        self.fig.layout.title.text = viz.order_title(m)
        if conv is not None:
            ref = bs.cardinal_bspline(torch.as_tensor(conv[0]), m).numpy()
            self.status.value = (f"max |N<sub>{m}</sub> − N<sub>{m - 1}</sub> ∗ N<sub>1</sub>| on the grid: "
                                 f"{np.abs(ref - conv[1]).max():.1e} (grid step)")


class DecompositionPanel:
    """(b) Multiresolution decomposition of a chosen function; N-term error vs N (log-log)."""

    def __init__(self, function: str = "random Besov", smoothness: float = 1.0, max_level: int = 8,
                 n_terms: int = 32, order: int = 4, seed: int = 0, points: int = 801):
        self.order = order
        self.x = torch.linspace(-1, 1, points, dtype=torch.float64)
        self.controls = {
            "function": w.Dropdown(options=list(bs.EXAMPLES), value=function, description="f", style=LABEL),
            "smoothness": w.FloatSlider(value=smoothness, min=0.25, max=3.0, step=0.25, description="s",
                                        continuous_update=False, style=LABEL),
            "max_level": w.IntSlider(value=max_level, min=3, max=10, description="max level K",
                                     continuous_update=False, style=LABEL),
            "n_terms": w.IntSlider(value=n_terms, min=1, max=512, description="N terms", continuous_update=False,
                                   style=LABEL),
            "seed": w.IntText(value=seed, description="seed", style=LABEL, layout=w.Layout(width="160px")),
        }
        self.status = w.HTML()
        self._cache: dict = {}
        self.result = self._compute()
        r = self.result
        self.fig = viz.decomposition_figure(self.x, r["f"], r["approx"], r["heat"], r["curves"], s=r["s"], d=1,
                                            n_terms=r["n_terms"])
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.widget = panel_box([w.HBox([self.controls["function"], self.controls["smoothness"]], layout=w.Layout(**WRAP)),
                              w.HBox([self.controls["max_level"], self.controls["n_terms"], self.controls["seed"]],
                                     layout=w.Layout(**WRAP)),
                              self.status, self.fig])

    def _decomposition(self):
        c = self.controls
        key = (c["function"].value, float(c["smoothness"].value), int(c["max_level"].value), int(c["seed"].value))
        if key not in self._cache:
            f, s = bs.example_function(key[0], smoothness=key[1], order=self.order, max_level=key[2],
                                       generator=as_generator(key[3]))
            coeffs = bs.decompose(f, order=self.order, max_level=key[2])
            ns = [2**i for i in range(0, key[2] + 1)]
            curves = bs.approximation_curves(coeffs, ns)
            fit_ns = [n for n in ns if 16 <= n <= 2 ** (key[2] - 1)]  # as in bs.n_term_rate
            fit = bs.approximation_curves(coeffs, fit_ns) if len(fit_ns) >= 2 else curves
            curves["n_term_slope"] = fit["n_term_slope"]
            self._cache = {key: (f, s, coeffs, curves, viz.coefficient_heatmap(coeffs))}
        return self._cache[key]

    def _compute(self):
        f, s, coeffs, curves, heat = self._decomposition()
        total = sum(c.numel() for c in coeffs.coeffs)
        self.controls["n_terms"].max = total  # the slider spans every term of this decomposition
        n = min(int(self.controls["n_terms"].value), total)
        approx, err = bs.n_term_approximation(coeffs, n)
        xs = self.x.unsqueeze(-1)
        self.status.value = (f"N = {n}: ‖f − f<sub>N</sub>‖₂ = {err:.3e}; fitted N-term slope {curves['n_term_slope']:.2f}, "
                             f"linear slope {curves['linear_slope']:.2f}, theory −s/d = {-s:.2f} (linear rate)")
        return {"f": f(xs), "approx": bs.reconstruct(approx, xs), "heat": heat, "curves": curves, "s": s,
                "n_terms": n, "error": err}

    def _on_change(self, change=None):
        try:
            self.result = r = self._compute()
        except (ValueError, TypeError) as exc:
            self.status.value = _error_html(exc)
            return
        traces = viz.decomposition_traces(self.x, r["f"], r["approx"], r["heat"], r["curves"], s=r["s"], d=1,
                                          n_terms=r["n_terms"])
        _replace(self.fig, [tr for tr, _ in traces])
        viz.style.fit_log_ticks(self.fig, refit=True)  # the error curves' range moves with s and K


class DiffusionPanel:
    """(c) A 1-D B-spline density under the OU process: slider t (log scale)."""

    def __init__(self, density: bs.BsplineDensity | None = None, t: float = 0.05, n_samples: int = 20000,
                 seed: int = 0, points: int = 801):
        self.density = density or bs.BsplineDensity.random_besov(1.5, 1, max_level=4, generator=seed)
        self.x0 = self.density.sample(n_samples, generator=seed)
        self.noise = torch.randn(self.x0.shape, generator=as_generator(seed + 1), dtype=torch.float64)
        self.x = torch.linspace(-2, 2, points, dtype=torch.float64).unsqueeze(-1)
        self.controls = {"t": w.FloatLogSlider(value=t, base=10, min=-3, max=0.5, step=0.05, description="t",
                                               readout_format=".3g", layout=w.Layout(width="95%", min_width="300px"))}
        self.status = w.HTML()
        self.fig = viz.diffusion_figure(*self._compute(t), t=t)
        self.controls["t"].observe(self._on_change, names="value")
        self.widget = panel_box([self.controls["t"], self.status, self.fig])

    def _compute(self, t: float):
        mu, sigma = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
        samples = mu * self.x0 + sigma * self.noise  # the same noise for every t: a smooth movie
        logp, score = self.density.log_density_and_score(self.x, t)  # one pass for both
        return self.x[:, 0], logp.exp(), score[:, 0], samples

    def _on_change(self, change=None):
        t = float(self.controls["t"].value)
        try:
            data = viz.diffusion_trace_data(*self._compute(t))
        except ValueError as exc:
            self.status.value = _error_html(exc)
            return
        with self.fig.batch_update():  # new values in the same traces: one message, no validation of new traces
            for old, fresh in zip(self.fig.data, data):
                old.x, old.y = fresh["x"], fresh["y"]
            self.fig.layout.title.text = viz.diffusion_title(t)


class Density2DPanel:
    """(d) A 2-D tensor-product B-spline density p_t as a heatmap with its score field."""

    def __init__(self, density: bs.BsplineDensity | None = None, t: float = 0.02, grid: int = 81,
                 arrows: int = 15, seed: int = 0):
        self.density = density or bs.BsplineDensity.random_besov(1.5, 2, max_level=3, terms_per_level=20,
                                                                 generator=seed)
        self.g = torch.linspace(-1.3, 1.3, grid, dtype=torch.float64)
        mesh = torch.stack(torch.meshgrid(self.g, self.g, indexing="ij"), -1)
        self.points = mesh.reshape(-1, 2)
        a = torch.linspace(-1.1, 1.1, arrows, dtype=torch.float64)
        self.arrow_xy = torch.stack(torch.meshgrid(a, a, indexing="ij"), -1).reshape(-1, 2)
        self._cache: dict = {}
        self.controls = {"t": w.FloatLogSlider(value=t, base=10, min=-3, max=0.5, step=0.05, description="t",
                                               readout_format=".3g", continuous_update=False,
                                               layout=w.Layout(width="95%", min_width="300px"))}
        self.status = w.HTML()
        self.fig = viz.density2d_figure(self.g, *self._compute(t), t=t)
        self.controls["t"].observe(self._on_change, names="value")
        self.widget = panel_box([self.controls["t"], self.status, self.fig])

    def _compute(self, t: float):
        if t not in self._cache:  # the density is fixed: p_t and the score depend on t only
            if len(self._cache) >= 64:
                self._cache.pop(next(iter(self._cache)))
            dens = self.density.diffused_density(self.points, t).reshape(len(self.g), len(self.g))
            self._cache[t] = (dens, self.arrow_xy, self.density.score(self.arrow_xy, t))
        return self._cache[t]

    def _on_change(self, change=None):
        t = float(self.controls["t"].value)
        try:
            traces = viz.density2d_traces(self.g, *self._compute(t), scale=0.08)
        except ValueError as exc:
            self.status.value = _error_html(exc)
            return
        _replace(self.fig, traces)
        self.fig.layout.title.text = viz.density2d_title(t)
