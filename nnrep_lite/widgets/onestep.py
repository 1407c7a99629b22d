"""Panel for notebook 06: the spike in the spectrum of W1 as the step size eta = N^alpha grows."""

from __future__ import annotations

import html
import math

import ipywidgets as w

from .. import onestep as os1
from .._utils import as_generator
from ..viz import onestep as viz
from ._layout import panel_box

__all__ = ["SpikePanel", "AlphaRiskPanel"]

#: Control descriptions are never truncated.
LABEL = {"description_width": "initial"}


def _slider_layout() -> w.Layout:
    """Sliders get a usable width (the projector's output area is about 850 px wide)."""
    return w.Layout(width="95%", min_width="300px")


def _measured(panel, **kwargs) -> bool:
    """Run ``panel._measure(**kwargs)``; on bad input show the message in its status line (the
    figure keeps its last state) and return False."""
    try:
        panel._measure(**kwargs)
    except (ValueError, TypeError, RuntimeError) as exc:
        panel.status.value = f"<span style='color:#D55E00'>error: {html.escape(str(exc))}</span>"
        return False
    return True


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
        label = LABEL
        self.controls = {
            "alpha": w.FloatSlider(value=alpha, min=0.0, max=0.6, step=0.05,
                                   description="α (step size η = N^α)", continuous_update=False,
                                   readout_format=".2f", style=label, layout=_slider_layout()),
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
        rows = [c["alpha"], w.HBox([c["activation"], c["target"], c["seed"]], layout=w.Layout(flex_flow="row wrap"))]
        self.widget = panel_box([*rows, self.status, self.fig, self.act_fig])

    def _draw(self):
        c = self.controls
        key = (c["activation"].value, c["target"].value, int(c["seed"].value))
        if key not in self._cache:
            gen = as_generator(key[2])
            W0, a, beta = os1.init_params(self.d, self.N, generator=gen)
            X, y, _ = os1.sample_teacher(self.n, beta, target=key[1], noise=self.noise, generator=gen)
            G0 = os1.negative_gradient(X, y, W0, a, activation=key[0])
            old = next(iter(self._cache.items()), None)  # W0 W0^T depends on the seed only
            A = old[1][4].A if old is not None and old[0][2] == key[2] else None
            self._cache = {key: (W0, a, beta, G0, os1.StepGram(W0, G0, A=A))}
        return key, self._cache[key]

    def _measure(self):
        (act, tgt, _), (W0, a, beta, G0, gram) = self._draw()
        alpha = float(self.controls["alpha"].value)
        eta = float(self.N) ** alpha
        # W1 = W0 + eta sqrt(N) G0: its Gram matrix from three products kept per draw, then
        # eigvalsh and inverse iteration for u1 (no product of W per alpha: live at d = 512)
        s, u1 = gram.spectrum_and_top_vector(eta * math.sqrt(self.N))
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
        if not _measured(self):
            return
        traces = viz.spectrum_traces(self.result, bins=self.bins)
        with self.fig.batch_update():
            for old, new in zip(self.fig.data, traces):
                old.update(new.to_plotly_json())
            self.fig.layout.title.text = viz.spectrum_title(self.result)
        # a new draw was drawn from one Gram product; the other two now, so that α moves stay cheap
        next(iter(self._cache.values()))[4].complete()
        if change is not None and change.get("owner") in (self.controls["alpha"], self.controls["seed"]):
            return  # the activation figure depends on the two activations only
        act_traces = viz.activation_traces(self.controls["activation"].value, self.controls["target"].value)
        with self.act_fig.batch_update():
            for old, new in zip(self.act_fig.data, act_traces):
                old.update(new.to_plotly_json())


class AlphaRiskPanel:
    """The three step-size regimes: trained-CK risk against alpha (eta = N^alpha), a slider for psi1.

    Each move of psi1 reruns :func:`nnrep_lite.onestep.risk_vs_alpha` (``seeds`` draws of
    size d, N = psi2 d, n = psi1 d) and updates the figure in place. ``.widget`` is the
    container, ``.controls`` the controls, ``.fig`` the FigureWidget, ``.sweep`` the last result.
    """

    def __init__(
        self,
        *,
        d: int = 128,
        psi1: float = 8.0,
        psi1_options=(1.0, 2.0, 4.0, 8.0, 16.0),
        psi2: float = 2.0,
        alphas=(-0.5, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
        seeds=(0, 1),
        lam: float = 1e-3,
        noise: float = 0.1,
        activation: str = "erf",
        target: str = "erf",
    ):
        options = [float(p) for p in psi1_options]
        if float(psi1) not in options:
            raise ValueError(f"psi1={psi1!r} is invalid: must be one of {options}")
        self._kw = {"d": d, "psi2": psi2, "seeds": tuple(seeds), "lam": lam, "noise": noise,
                    "activation": activation, "target": target}  # fmt: skip
        self.alphas = tuple(alphas)
        self.controls = {
            "psi1": w.SelectionSlider(options=options, value=float(psi1), description="ψ₁ = n/d",
                                      continuous_update=False, style=LABEL, layout=_slider_layout()),
        }  # fmt: skip
        self.status = w.HTML()
        self.sweep = None
        self._measure()
        self.fig = viz.alpha_risk_figure(self.sweep, widget=True)
        self.controls["psi1"].observe(self._on_change, names="value")
        self.widget = panel_box([self.controls["psi1"], self.status, self.fig])

    def _measure(self, live: bool = False):
        """The sweep at the slider's psi1; ``live``: the first seeds' result is drawn as soon as
        it is measured (the status line says how many seeds it holds), then the mean over all."""
        psi1 = float(self.controls["psi1"].value)
        n_seeds = len(self._kw["seeds"])

        def partial(info):
            if live and info["index"] + 1 < n_seeds:
                self.sweep = info["result"]
                self._draw(note=f" (seed {info['index'] + 1} of {n_seeds}; the rest running…)")

        self.sweep = os1.risk_vs_alpha(self.alphas, psi1=psi1, **self._kw, callback=partial)
        self.status.value = self._status_text()

    def _status_text(self, note: str = "") -> str:
        sw = self.sweep
        return (f"α = {sw['alphas'][0]:.1f}: risk / initial CK = {sw['ratio_mean'][0]:.3f}; "
                f"α = {sw['alphas'][-1]:.1f}: risk / floor = {sw['ck1_mean'][-1] / sw['floor']:.3f}{note}")

    def _on_change(self, change=None):
        if _measured(self, live=True):
            self._draw()

    def _draw(self, note: str = ""):
        if note:
            self.status.value = self._status_text(note)
        with self.fig.batch_update():
            for old, new in zip(self.fig.data, viz.alpha_risk_traces(self.sweep)):
                old.update(new.to_plotly_json())
            self.fig.layout.title.text = viz.alpha_risk_title(self.sweep)
            self.fig.update_yaxes(**viz.alpha_risk_ticks(self.sweep))
