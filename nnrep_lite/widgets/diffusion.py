"""Panels for notebooks 01 (forward/reverse diffusion) and 02 (rates)."""

from __future__ import annotations

import html
import math

import ipywidgets as w
import torch

from .. import diffusion as dm
from .._utils import as_generator, check_choice
from ..densities import randn
from ..viz import diffusion as viz
from ._layout import panel_box
from ._update import blank_trace, fill_slots

__all__ = ["ForwardPanel", "ReversePanel", "LossMonitor", "RatePanel"]


#: Control descriptions are never truncated.
LABEL = {"description_width": "initial"}
WRAP = {"flex_flow": "row wrap"}


def _error_html(exc: Exception) -> str:
    return f"<span style='color:#D55E00'><b>error:</b> {html.escape(str(exc))}</span>"


class ForwardPanel:
    """Slider t (log scale): forward samples X_t = mu_t X_0 + sigma_t Z against the exact p_t,
    and the exact score below. X_0 and Z are drawn once (common random numbers), so moving t
    shows one cloud diffusing. ``.fig``, ``.controls["t"]``, ``.widget``."""

    def __init__(self, target, *, n: int = 20000, t: float = 0.05, seed: int = 0, grid: int = 300,
                 bounds=(-1.5, 1.5), bins: int = 60):
        gen = as_generator(seed)
        self.target, self.bins, self.bounds = target, bins, bounds
        self.x0 = target.sample(n, gen).to(torch.float64)
        self.z = torch.randn(self.x0.shape, generator=gen, dtype=torch.float64)
        self.x_grid = torch.linspace(bounds[0], bounds[1], grid, dtype=torch.float64)[:, None]
        self.controls = {"t": w.FloatLogSlider(value=t, base=10, min=-3, max=1, step=0.05, description="t",
                                               continuous_update=False, readout_format=".3g",
                                               layout=w.Layout(width="95%", min_width="300px"))}
        self.status = w.HTML()
        self.fig = viz.forward_figure(self.x_grid, *self._compute(t), t=t, bins=bins, bounds=bounds)
        self.controls["t"].observe(self._on_change, names="value")
        self.widget = panel_box([self.controls["t"], self.status, self.fig])

    def _compute(self, t: float):
        mu, sig = dm.ou_mean_std(t)
        xt = mu * self.x0 + sig * self.z
        dens = self.target.diffused_density(self.x_grid, t)
        score = self.target.score(self.x_grid, t)[:, 0]
        return dens, score, xt

    def _on_change(self, _=None):
        t = float(self.controls["t"].value)
        try:
            dens, score, xt = self._compute(t)
            data = viz.forward_trace_data(self.x_grid, dens, score, xt, bins=self.bins, bounds=self.bounds)
            with self.fig.batch_update():
                for old, fresh in zip(self.fig.data, data):
                    old.x, old.y = fresh["x"], fresh["y"]
                self.fig.layout.title.text = viz.forward_title(t)
            mu, sig = dm.ou_mean_std(t)
            self.status.value = f"μ<sub>t</sub> = e<sup>−t</sup> = {mu:.4f}, σ<sub>t</sub> = {sig:.4f}"
        except Exception as exc:  # shown in the panel, never a traceback
            self.status.value = _error_html(exc)


class ReversePanel:
    """Sliders steps, t_max, t_min and menus method/grid: reverse-SDE samples with ``score_fn``
    (default the exact ``target.score``) against p_0, with the measured histogram TV and the
    two error terms that no score can remove: truncation :math:`\\sqrt{KL(p_T\\|N)/2}\\approx
    e^{-T}\\sqrt{E|X_0|^2}/2` and early stopping :math:`TV(p_0, p_{t_{min}})` (1-D).

    The sampler runs on one time grid from ``t_max`` down to the floor of the t_min slider
    (1e-4, or t_min if smaller) with ``steps`` steps (geometric or uniform), and t_min stops it
    early: the chain runs the grid steps down to the last grid time above t_min and one last,
    shorter step lands exactly on t_min. Moving t_min therefore changes only where the chain
    stops, not the steps before it (the early-stopping error alone changes), and the panel
    reuses the chain it has computed: a t_min change costs at most the grid steps not yet
    computed. The other controls restart the chain. A t_min on a grid time gives exactly
    :func:`~nnrep_lite.diffusion.reverse_sde_sample` on that part of the grid (tested).
    A change that restarts the chain first draws a preview (the status line says so), then the
    exact chain: for a 1-D target the same chain (n samples, the same noise) with the score read
    from a :class:`~nnrep_lite.diffusion.TabulatedScore` built once with the panel (40-60x
    cheaper than the exact score; the two chains' TVs agree to about 1e-3), otherwise the exact
    chain for ``preview_n`` samples (``preview_n=0``: no preview)."""

    def __init__(self, target, score_fn=None, *, n: int = 20000, steps: int = 100, t_max: float = 8.0,
                 t_min: float = 1e-3, method: str = "euler", grid: str = "geometric", seed: int = 0,
                 bins: int = 40, plot_bins: int = 60, preview_n: int = 500):
        self.target, self.score_fn = target, score_fn or target.score
        self.preview_n = int(preview_n)
        self.n, self.seed, self.bins, self.plot_bins = n, seed, bins, plot_bins
        self._es_cache: dict = {}
        self._runs: dict = {}  # control setting -> (samples, result, status): same seed, same samples
        self._chain: dict | None = None  # the chain on the current grid (states, scores, noises)
        self.m2 = float((target.sample(4096, as_generator(seed + 1)).to(torch.float64) ** 2).sum(1).mean())
        self.x_grid = torch.linspace(-1.2, 1.2, 400, dtype=torch.float64)[:, None]
        self.controls = {
            "steps": w.IntSlider(value=steps, min=5, max=400, step=5, description="steps", continuous_update=False,
                                 style=LABEL),
            "t_max": w.FloatSlider(value=t_max, min=0.5, max=10.0, step=0.5, description="t_max",
                                   continuous_update=False, style=LABEL),
            "t_min": w.FloatLogSlider(value=t_min, base=10, min=-4, max=-0.5, step=0.25, description="t_min",
                                      continuous_update=False, readout_format=".1e", style=LABEL),
            "method": w.Dropdown(options=list(dm.sampling.SDE_METHODS), value=method, description="method",
                                 style=LABEL),
            "grid": w.Dropdown(options=["geometric", "uniform"], value=grid, description="time grid",
                               style=LABEL),
        }
        self.t_floor = min(10.0 ** self.controls["t_min"].min, float(t_min))
        self._table = None
        if target.dim == 1 and self.preview_n > 0:
            self._table = dm.TabulatedScore(self.score_fn, t_min=self.t_floor,
                                            t_max=max(self.controls["t_max"].max, float(t_max)),
                                            nx=768, nt=96)
        self.status = w.HTML()
        self.result: dict = {}
        samples = self._measure()
        self.fig = viz.reverse_figure(self.x_grid, target.density(self.x_grid), samples, bins=plot_bins)
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.widget = panel_box([w.HBox([self.controls[k] for k in ("steps", "t_max", "t_min")], layout=w.Layout(**WRAP)),
                              w.HBox([self.controls["method"], self.controls["grid"]], layout=w.Layout(**WRAP)),
                              self.status, self.fig])

    def _key(self, c: dict) -> tuple:
        return (float(c["t_max"]), int(c["steps"]), c["grid"], c["method"])

    def _new_chain(self, c: dict, n: int, score_fn=None) -> dict:
        check_choice("method", c["method"], dm.sampling.SDE_METHODS)
        ts = dm.time_grid(float(c["t_max"]), self.t_floor, int(c["steps"]), c["grid"]).tolist()
        gen = as_generator(self.seed)
        y0 = randn((n, self.target.dim), generator=gen, device="cpu", dtype=torch.float64)
        return {"key": self._key(c), "ts": ts, "ys": [y0], "scores": [], "noises": [], "gen": gen, "n": n,
                "score_fn": score_fn or self.score_fn}

    def _sample(self, c: dict, chain: dict | None = None):
        """Samples at t_min and the number of steps taken, from the chain on the grid of
        (t_max, steps, grid, method), computed as far as needed and kept (or from ``chain``,
        e.g. a preview's)."""
        t_max, t_min = float(c["t_max"]), float(c["t_min"])
        dm.training._check_times(t_min, t_max)  # the sampler's checks (steps and grid: by the grid below)
        ch = chain if chain is not None else self._chain
        if ch is None or ch["key"] != self._key(c):
            ch = self._chain = self._new_chain(c, self.n)
        ts = ch["ts"]
        if t_min < ts[-1]:  # below this grid's floor (a t_min under the slider's range)
            raise ValueError(f"t_min={t_min:g} is invalid: must be >= {ts[-1]:g}")
        last = max(k for k in range(len(ts)) if ts[k] >= t_min)  # the last grid time at or above t_min
        exact = math.isclose(ts[last], t_min, rel_tol=1e-12)
        while len(ch["ys"]) <= last:  # the grid steps not computed yet
            k = len(ch["ys"]) - 1
            self._score_and_noise(ch, k)
            ch["ys"].append(dm.sde_update(ch["ys"][k], ch["scores"][k], ts[k] - ts[k + 1], ch["noises"][k],
                                          c["method"], step=k + 1))
        if exact:
            return ch["ys"][last], last
        # the last, shorter step: the score and noise of grid step `last`, a step of ts[last] - t_min
        self._score_and_noise(ch, last)
        return dm.sde_update(ch["ys"][last], ch["scores"][last], ts[last] - t_min, ch["noises"][last], c["method"],
                             step=last + 1), last + 1

    def _score_and_noise(self, ch: dict, k: int) -> None:
        """The score at the k-th grid state and the k-th noise draw (in the sampler's order)."""
        if len(ch["scores"]) == k:
            y = ch["ys"][k]
            ch["scores"].append(dm.sampling._score(ch["score_fn"], y, ch["ts"][k], ch["n"], self.target.dim))
            ch["noises"].append(randn(y.shape, generator=ch["gen"], device=y.device, dtype=y.dtype))

    def _measure(self, draw=None):
        """Samples for the controls' setting, then their TV and error terms in the status line;
        ``draw(samples)`` (the histogram) is called before those are computed (the early
        stopping TV is a quadrature: up to 0.14 s for a small new t_min)."""
        c = {k: v.value for k, v in self.controls.items()}
        key = tuple(sorted(c.items()))
        if key in self._runs:  # the same setting again (a slider moved back): no resampling
            samples, self.result, self.status.value = self._runs[key]
            if draw is not None:
                draw(samples)
            return samples
        samples, taken = self._sample(c)
        if draw is not None:
            draw(samples)
        tv = dm.tv_distance(samples, self.target, bins=self.bins)
        tm = float(c["t_min"])
        if tm not in self._es_cache and self.target.dim == 1:
            self._es_cache[tm] = dm.early_stopping_tv(self.target, tm)
        mu2 = math.exp(-2 * float(c["t_max"]))
        kl_t = 0.5 * (mu2 * self.m2 - self.target.dim * (mu2 + math.log1p(-mu2)))
        self.result = {"tv": tv, "early_stopping_tv": self._es_cache.get(tm, float("nan")),
                       "truncation_tv": math.sqrt(max(kl_t, 0.0) / 2), "steps_taken": taken, **c}
        r = self.result
        self.status.value = (f"measured TV = <b>{tv:.4f}</b> &nbsp; | &nbsp; truncation √(KL(p_T‖N)/2) = "
                             f"{r['truncation_tv']:.2e} &nbsp; | &nbsp; early stopping TV(p<sub>0</sub>, p<sub>t_min</sub>) = "
                             f"{r['early_stopping_tv']:.4f} &nbsp; (histogram, {self.bins} bins, n = {self.n}; "
                             f"{taken} steps to t_min)")
        if len(self._runs) >= 32:  # bounded: drop the oldest setting
            self._runs.pop(next(iter(self._runs)))
        self._runs[key] = (samples, dict(self.result), self.status.value)
        return samples

    def _draw(self, samples) -> None:
        # only the histogram changes (a rebuilt figure cost ~80 ms in plotly)
        centres, heights, _ = viz._hist(samples, self.plot_bins, (-1.2, 1.2))
        with self.fig.batch_update():
            self.fig.data[0].x, self.fig.data[0].y = centres, heights

    def _preview(self, c: dict) -> None:
        """A change that restarts the chain at n samples takes about a second (the exact score,
        ``steps`` times): first a preview, drawn and said to be one in the status line (the
        same chain with the tabulated score for a 1-D target, else the exact chain for
        ``preview_n`` samples), then the exact one. A t_min below the part of the chain computed
        so far previews the same way when more than 5 grid steps are missing."""
        if self.preview_n <= 0:
            return
        if tuple(sorted(c.items())) in self._runs:
            return  # shown before
        ch = self._chain
        if ch and ch["key"] == self._key(c):  # only t_min moved: fast unless many steps are missing
            missing = sum(1 for t in ch["ts"] if t >= float(c["t_min"])) - len(ch["ys"])
            if missing <= 5:
                return
        if self._table is not None:
            samples, taken = self._sample(c, self._new_chain(c, self.n, self._table))
            what = f"tabulated score, n = {self.n}"
        elif self.n >= 4 * self.preview_n:
            samples, taken = self._sample(c, self._new_chain(c, self.preview_n))
            what = f"{self.preview_n} samples"
        else:
            return
        self.status.value = (f"<i>preview ({what}, {taken} steps); computing the exact score for n = {self.n} "
                             f"(measured TV when done)…</i>")
        self._draw(samples)

    def _on_change(self, _=None):
        try:
            self._preview({k: v.value for k, v in self.controls.items()})
            self._measure(draw=self._draw)
        except Exception as exc:
            self.status.value = _error_html(exc)


class LossMonitor:
    """A live DSM-loss plot: pass ``monitor.callback`` to ``train_score(callback=...)``."""

    def __init__(self):
        self.fig = viz.loss_figure()
        self.widget = self.fig

    def callback(self, info: dict) -> None:
        with self.fig.batch_update():
            tr = self.fig.data[0]
            tr.x = tuple(tr.x or ()) + (info["step"],)
            tr.y = tuple(tr.y or ()) + (info["loss"],)


class RatePanel:
    """Choose one of several finished rate experiments (rows from ``rate_experiment``) and the
    estimators to show; re-plots from the stored rows (never retrains). ``experiments`` maps a
    label to ``{"rows": rows, "theory": {est: (slope, label)}, "metric": "TV" or "W1"}`` and
    optionally ``"floor": {"mean", "sd", "label"}`` (the histogram floor, drawn as a band)."""

    def __init__(self, experiments: dict):
        if not experiments:
            raise ValueError("experiments={} is invalid: must hold at least one finished experiment")
        self.experiments = experiments
        first = next(iter(experiments))
        ests = sorted({r["estimator"] for e in experiments.values() for r in e["rows"]})
        self.controls = {
            "experiment": w.Dropdown(options=list(experiments), value=first, description="experiment",
                                     style=LABEL, layout=w.Layout(width="420px")),
            "estimators": w.SelectMultiple(options=ests, value=tuple(ests), description="estimators",
                                           style=LABEL, rows=min(4, max(2, len(ests)))),
        }
        self.status = w.HTML()
        self.fits: dict = {}
        self.fig = self._figure(widget=True)
        # blank slots up to the most traces any choice draws (3 per estimator, 3 for a floor band):
        # a change of experiment then fills the same traces in one message, never a delete and an add
        slots = 3 * len(ests) + 3
        if slots > len(self.fig.data):
            self.fig.add_traces([blank_trace() for _ in range(slots - len(self.fig.data))])
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.widget = panel_box([w.HBox(list(self.controls.values()), layout=w.Layout(**WRAP)), self.status, self.fig])

    def _figure(self, widget: bool = False):
        exp = self.experiments[self.controls["experiment"].value]
        keep = set(self.controls["estimators"].value)
        summary = {k: v for k, v in dm.summarize(exp["rows"]).items() if k in keep}
        self.fits = {}
        for est in summary:
            rows = [r for r in exp["rows"] if r["estimator"] == est]
            try:
                self.fits[est] = dm.fit_rate([r["n"] for r in rows], [r["error"] for r in rows])
            except ValueError:
                pass
        theory = {k: v for k, v in exp.get("theory", {}).items() if k in keep}
        text = " &nbsp; ".join(f"{e}: slope {f['slope']:.2f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}]"
                               + (f" (theory {theory[e][0]:.2f})" if e in theory else "")
                               for e, f in self.fits.items())
        self.status.value = text
        return viz.rate_figure(summary, self.fits, theory, metric=exp.get("metric", "TV"),
                               title=str(self.controls["experiment"].value), floor=exp.get("floor"),
                               widget=widget)

    def _on_change(self, _=None):
        try:
            new = self._figure()
            traces = [t.to_plotly_json() for t in new.data]
            if len(traces) > len(self.fig.data) or any(t.get("type", "scatter") != "scatter" for t in traces):
                self.fig.data = ()  # not expected (slots for every choice): new traces, several messages
                self.fig.add_traces(list(new.data))
            with self.fig.batch_update():  # one message: the same trace slots, what changed in them
                fill_slots(self.fig, traces)
                self.fig.layout.title.text = new.layout.title.text
                self.fig.layout.yaxis.title.text = new.layout.yaxis.title.text
                for axis in ("xaxis", "yaxis"):  # the ticks follow the estimators shown
                    self.fig.layout[axis].tickvals = new.layout[axis].tickvals
                    self.fig.layout[axis].ticktext = new.layout[axis].ticktext
        except Exception as exc:
            self.status.value = _error_html(exc)
