"""Panels for notebooks 01 (forward/reverse diffusion) and 02 (rates)."""

from __future__ import annotations

import html
import math

import ipywidgets as w
import torch

from .. import diffusion as dm
from .._utils import as_generator
from ..viz import diffusion as viz

__all__ = ["ForwardPanel", "ReversePanel", "LossMonitor", "RatePanel"]


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
                                               continuous_update=False, readout_format=".3g")}
        self.status = w.HTML()
        self.fig = viz.forward_figure(self.x_grid, *self._compute(t), t=t, bins=bins, bounds=bounds)
        self.controls["t"].observe(self._on_change, names="value")
        self.widget = w.VBox([self.controls["t"], self.status, self.fig])

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
            new = viz.forward_figure(self.x_grid, dens, score, xt, t=t, bins=self.bins, bounds=self.bounds)
            with self.fig.batch_update():
                for old, fresh in zip(self.fig.data, new.data):
                    old.x, old.y = fresh.x, fresh.y
                self.fig.layout.title.text = new.layout.title.text
            mu, sig = dm.ou_mean_std(t)
            self.status.value = f"μ_t = e^(−t) = {mu:.4f}, σ_t = {sig:.4f}"
        except Exception as exc:  # shown in the panel, never a traceback
            self.status.value = _error_html(exc)


class ReversePanel:
    """Sliders steps, t_max, t_min and menus method/grid: reverse-SDE samples with ``score_fn``
    (default the exact ``target.score``) against p_0, with the measured histogram TV and the
    two error terms that no score can remove: truncation :math:`\\sqrt{KL(p_T\\|N)/2}\\approx
    e^{-T}\\sqrt{E|X_0|^2}/2` and early stopping :math:`TV(p_0, p_{t_{min}})` (1-D)."""

    def __init__(self, target, score_fn=None, *, n: int = 20000, steps: int = 100, t_max: float = 8.0,
                 t_min: float = 1e-3, method: str = "euler", grid: str = "geometric", seed: int = 0,
                 bins: int = 40, plot_bins: int = 60):
        self.target, self.score_fn = target, score_fn or target.score
        self.n, self.seed, self.bins, self.plot_bins = n, seed, bins, plot_bins
        self._es_cache: dict = {}
        self._runs: dict = {}  # control setting -> (samples, result, status): same seed, same samples
        self.m2 = float((target.sample(4096, as_generator(seed + 1)).to(torch.float64) ** 2).sum(1).mean())
        self.x_grid = torch.linspace(-1.2, 1.2, 400, dtype=torch.float64)[:, None]
        self.controls = {
            "steps": w.IntSlider(value=steps, min=5, max=400, step=5, description="steps", continuous_update=False),
            "t_max": w.FloatSlider(value=t_max, min=0.5, max=10.0, step=0.5, description="t_max",
                                   continuous_update=False),
            "t_min": w.FloatLogSlider(value=t_min, base=10, min=-4, max=-0.5, step=0.25, description="t_min",
                                      continuous_update=False, readout_format=".1e"),
            "method": w.Dropdown(options=list(dm.sampling.SDE_METHODS), value=method, description="method"),
            "grid": w.Dropdown(options=["geometric", "uniform"], value=grid, description="time grid"),
        }
        self.status = w.HTML()
        self.result: dict = {}
        samples = self._measure()
        self.fig = viz.reverse_figure(self.x_grid, target.density(self.x_grid), samples, bins=plot_bins)
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.widget = w.VBox([w.HBox([self.controls[k] for k in ("steps", "t_max", "t_min")]),
                              w.HBox([self.controls["method"], self.controls["grid"]]), self.status, self.fig])

    def _measure(self):
        c = {k: v.value for k, v in self.controls.items()}
        key = tuple(sorted(c.items()))
        if key in self._runs:  # the same setting again (a slider moved back): no resampling
            samples, self.result, self.status.value = self._runs[key]
            return samples
        samples = dm.reverse_sde_sample(self.score_fn, self.n, self.target.dim, t_max=float(c["t_max"]),
                                        t_min=float(c["t_min"]), steps=int(c["steps"]), method=c["method"],
                                        grid=c["grid"], generator=as_generator(self.seed), device="cpu",
                                        dtype=torch.float64)
        tv = dm.tv_distance(samples, self.target, bins=self.bins)
        tm = float(c["t_min"])
        if tm not in self._es_cache and self.target.dim == 1:
            self._es_cache[tm] = dm.early_stopping_tv(self.target, tm)
        mu2 = math.exp(-2 * float(c["t_max"]))
        kl_t = 0.5 * (mu2 * self.m2 - self.target.dim * (mu2 + math.log1p(-mu2)))
        self.result = {"tv": tv, "early_stopping_tv": self._es_cache.get(tm, float("nan")),
                       "truncation_tv": math.sqrt(max(kl_t, 0.0) / 2), **c}
        r = self.result
        self.status.value = (f"measured TV = <b>{tv:.4f}</b> &nbsp; | &nbsp; truncation √(KL(p_T‖N)/2) = "
                             f"{r['truncation_tv']:.2e} &nbsp; | &nbsp; early stopping TV(p_0, p_t_min) = "
                             f"{r['early_stopping_tv']:.4f} &nbsp; (histogram, {self.bins} bins, n = {self.n})")
        if len(self._runs) >= 32:  # bounded: drop the oldest setting
            self._runs.pop(next(iter(self._runs)))
        self._runs[key] = (samples, dict(self.result), self.status.value)
        return samples

    def _on_change(self, _=None):
        try:
            samples = self._measure()
            # only the histogram changes (a rebuilt figure cost ~80 ms in plotly)
            centres, heights, _ = viz._hist(samples, self.plot_bins, (-1.2, 1.2))
            with self.fig.batch_update():
                self.fig.data[0].x, self.fig.data[0].y = centres, heights
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
    label to ``{"rows": rows, "theory": {est: (slope, label)}, "metric": "TV" or "W1"}``."""

    def __init__(self, experiments: dict):
        if not experiments:
            raise ValueError("experiments={} is invalid: must hold at least one finished experiment")
        self.experiments = experiments
        first = next(iter(experiments))
        ests = sorted({r["estimator"] for e in experiments.values() for r in e["rows"]})
        self.controls = {
            "experiment": w.Dropdown(options=list(experiments), value=first, description="experiment"),
            "estimators": w.SelectMultiple(options=ests, value=tuple(ests), description="estimators"),
        }
        self.status = w.HTML()
        self.fits: dict = {}
        self.fig = self._figure()
        for c in self.controls.values():
            c.observe(self._on_change, names="value")
        self.widget = w.VBox([w.HBox(list(self.controls.values())), self.status, self.fig])

    def _figure(self):
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
                               title=str(self.controls["experiment"].value))

    def _on_change(self, _=None):
        try:
            new = self._figure()
            with self.fig.batch_update():
                self.fig.data = ()
                for tr in new.data:
                    self.fig.add_trace(tr)
                self.fig.layout.title.text = new.layout.title.text
                self.fig.layout.yaxis.title.text = new.layout.yaxis.title.text
        except Exception as exc:
            self.status.value = _error_html(exc)
