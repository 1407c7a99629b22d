"""Panel for notebook 06: the spike in the spectrum of W1 as the step size eta = N^alpha grows."""

from __future__ import annotations

import html
import math

import ipywidgets as w
import torch

from .. import onestep as os1
from .._utils import as_generator
from ..viz import onestep as viz

__all__ = ["SpikePanel"]

#: Sliders get a usable width (the projector's output area is about 850 px wide).
SLIDER_LAYOUT = w.Layout(width="95%", min_width="300px")
ROW_LAYOUT = w.Layout(flex_flow="row wrap")


class SpikePanel:
    """Slider for alpha, menus for the student and teacher activations, and a seed.

    One draw (W0, a, beta*, X, y) and its gradient G0 are cached per (activation, target,
    seed): moving alpha only forms W1 = W0 + N^alpha sqrt(N) G0 and its singular values.
    ``.widget`` is the container, ``.controls`` the ipywidgets controls, ``.fig`` (spectrum) and
    ``.act_fig`` (activations) the FigureWidgets, ``.result`` the last measurement.
    """

    def __init__(
        self,
        *,
        n: int = 1024,
        d: int = 512,
        N: int = 1024,
        alpha: float = 0.3,
        noise: float = 0.1,
        activation: str = "erf",
        target: str = "erf",
        seed: int = 0,
        bins: int = 60,
    ):
        self.n, self.d, self.N, self.noise, self.bins = n, d, N, noise, bins
        self._cache: dict = {}
        names = list(os1.ACTIVATIONS)
        label = {"description_width": "initial"}
        self.controls = {
            "alpha": w.FloatSlider(value=alpha, min=0.0, max=0.6, step=0.05,
                                   description="α (step size η = N^α)", continuous_update=False,
                                   readout_format=".2f", style=label, layout=SLIDER_LAYOUT),
            "activation": w.Dropdown(options=names, value=activation, description="student σ",
                                     style=label, layout=w.Layout(width="220px")),
            "target": w.Dropdown(options=names, value=target, description="teacher σ*",
                                 style=label, layout=w.Layout(width="220px")),
            "seed": w.IntText(value=seed, description="seed", style=label,
                              layout=w.Layout(width="160px")),
        }  # fmt: skip
        self.status = w.HTML()
        self.result = None
        self._measure()
        self.fig = viz.spectrum_figure(self.result, bins=bins, widget=True)
        self.act_fig = viz.activation_figure(activation, target, widget=True)
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        c = self.controls
        rows = [c["alpha"], w.HBox([c["activation"], c["target"], c["seed"]], layout=ROW_LAYOUT)]
        self.widget = w.VBox([*rows, self.status, self.fig, self.act_fig])

    def _draw(self):
        c = self.controls
        key = (c["activation"].value, c["target"].value, int(c["seed"].value))
        if key not in self._cache:
            gen = as_generator(key[2])
            W0, a, beta = os1.init_params(self.d, self.N, generator=gen)
            X, y, _ = os1.sample_teacher(self.n, beta, target=key[1], noise=self.noise, generator=gen)
            G0 = os1.negative_gradient(X, y, W0, a, activation=key[0])
            self._cache = {key: (W0, a, beta, G0)}
        return key, self._cache[key]

    def _measure(self):
        (act, tgt, _), (W0, a, beta, G0) = self._draw()
        alpha = float(self.controls["alpha"].value)
        eta = float(self.N) ** alpha
        W1 = W0 + eta * math.sqrt(self.N) * G0
        s = os1.singular_values(W1)
        u1, _ = os1.top_left_singular_vector(W1, generator=torch.Generator().manual_seed(1))
        psi1, psi2 = self.n / self.d, self.N / self.d
        kw = {"eta": eta, "psi1": psi1, "psi2": psi2, "activation": act, "target": tgt,
              "noise": self.noise, "a_norm": float(a.norm())}  # fmt: skip
        self.result = {
            "alpha": alpha, "eta": eta, "psi1": psi1, "psi2": psi2, "singular_values": s,
            "overlap": os1.spike_overlap(u1, beta), "bulk_edge": os1.bulk_edge(psi2),
            "spike_prediction": os1.spike_prediction(**kw), "overlap_prediction": os1.overlap_prediction(**kw),
        }  # fmt: skip
        r = self.result
        self.status.value = (
            f"s₁ = {float(s[0]):.3f} (BBP {r['spike_prediction']:.3f}), s₂ = {float(s[1]):.3f}, "
            f"bulk edge {r['bulk_edge']:.3f}; overlap {r['overlap']:.3f} (theory {r['overlap_prediction']:.3f})"
        )

    def _on_change(self, change=None):
        try:
            self._measure()
        except (ValueError, TypeError, RuntimeError) as exc:
            self.status.value = f"<span style='color:#D55E00'>error: {html.escape(str(exc))}</span>"
            return
        traces = viz.spectrum_traces(self.result, bins=self.bins)
        act_traces = viz.activation_traces(self.controls["activation"].value, self.controls["target"].value)
        with self.fig.batch_update():
            for old, new in zip(self.fig.data, traces):
                old.update(new.to_plotly_json())
            self.fig.layout.title.text = viz.spectrum_title(self.result)
        with self.act_fig.batch_update():
            for old, new in zip(self.act_fig.data, act_traces):
                old.update(new.to_plotly_json())
