"""ipywidgets panels for notebooks 04 and 05 (mean-field Langevin dynamics).

- :class:`MFLDTrainingPanel`: live training of the mean-field network; sliders for eta, N,
  lambda1, lambda2, B and a variance-reduction toggle; the figures stream through ``callback``.
- :class:`ErrorDecompositionPanel`: one measured term of the error decomposition at a time.
- :class:`BatchComplexityPanel`: the measured gradient cost against B for a target accuracy eps
  (a slider over the measured eps), next to the predicted optimal batch B*.
- :class:`GLDPanel`: gradient Langevin dynamics on a double well, particles against the grid
  Fokker-Planck solution and the Gibbs density, with a beta slider and a time slider.
- :class:`DensityPanel`: MMD density estimation (1-D / 2-D) and KSD variational inference, with
  the temperature lambda2 and an annealing toggle.
"""

from __future__ import annotations

import html
import math
import time

import ipywidgets as W
import torch

from .. import mfld as M
from .._utils import check_real
from ..viz import mfld as V
from ._layout import panel_box
from ._update import changed


def _status(kind: str, text: str) -> str:
    colour = {"ok": "#009E73", "busy": "#E69F00", "error": "#D55E00"}[kind]
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


_LABEL = {"description_width": "70px"}


def _slider_layout() -> W.Layout:
    """Sliders get a usable width (the projector's output area is about 850 px wide)."""
    return W.Layout(width="95%", min_width="300px", max_width="700px")


def _slope_text(fit: dict, theory: float) -> str:
    """``slope s ± se (theory t)``; no interval from a fit without residual degrees of freedom."""
    se = fit.get("stderr", math.nan)
    interval = f" ± {se:.3f}" if math.isfinite(se) else " (two points: no interval)"
    return f"slope {fit['slope']:.3f}{interval} (theory {theory:g})"


def _replace(fig, new):
    """Swap the traces and layout of a FigureWidget for those of ``new``: in place, one message
    and one redraw, when the traces are of the same types (else all replaced)."""
    layout = new.layout.to_plotly_json()
    traces = [{k: v for k, v in t.to_plotly_json().items() if k != "uid"} for t in new.data]
    # in place only where nothing of the old figure would be left over (update merges)
    same = len(fig.data) == len(traces) and all(
        old.type == fresh.get("type") and set(old.to_plotly_json()) - {"uid"} <= set(fresh)
        for old, fresh in zip(fig.data, traces))
    old_layout = fig.layout.to_plotly_json()
    if same and set(old_layout) <= set(layout):
        # only what changed goes through plotly's validation (a whole layout: 0.2 s of it)
        with fig.batch_update():
            for old, fresh in zip(fig.data, traces):
                change = changed(old.to_plotly_json(), fresh)
                if change:
                    old.update(change)
            change = changed(old_layout, layout)
            if change:
                fig.layout.update(change)
        return
    fig.data = ()
    fig.add_traces(list(new.data))
    fig.layout = new.layout


class _Throttle:
    """Lets a streamed redraw through at most every ``interval`` seconds (the first always).

    The panels' runs take a tenth of a second to seconds: streaming every ``update_every``
    steps of a short run sent 16 redraws that no screen shows apart (each costs milliseconds of
    plotly validation and a message to the browser), while a long run still streams.
    """

    def __init__(self, interval: float):
        self.interval = check_real("min_update_s", interval, low=0.0)
        self.last = -math.inf

    def reset(self) -> None:
        self.last = -math.inf

    def __call__(self) -> bool:
        now = time.perf_counter()
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


class MFLDTrainingPanel:
    """Live MFLD training of ``f_mu(z) = mean_i tanh(r_i) tanh(w_i z + b_i)`` on 1-D data.

    Moving a control retrains from the same initial seed; figures update every
    ``update_every`` steps through the loop's ``callback`` (particles, ``F`` on a log scale,
    the fit), but at most every ``min_update_s`` seconds, and always at the last step. Library
    errors (e.g. divergence for too large eta) appear in the status line.
    """

    def __init__(self, *, n_data: int = 128, n_particles: int = 256, eta: float = 0.2,
                 lambda1: float = 0.01, lambda2: float = 0.002, steps: int = 400,
                 update_every: int = 25, min_update_s: float = 0.1, noise: float = 0.1, seed: int = 0,
                 auto_run: bool = True):
        self.seed = seed
        self.update_every = update_every
        self._throttle = _Throttle(min_update_s)
        self.z, self.y = M.make_regression(n_data, 1, noise=noise, generator=seed)
        self.z_sorted = V.sorted_inputs(self.z)
        batches = sorted({2**k for k in range(int(math.log2(n_data)) + 1)} | {n_data})
        slider = dict(continuous_update=False, style=_LABEL, layout=_slider_layout())
        menu = dict(style=_LABEL, layout=W.Layout(width="200px"))
        self.controls = {
            "eta": W.FloatLogSlider(value=eta, base=10, min=-3, max=0.5, step=0.05, description="η", **slider),
            # menus, not selection sliders: a selection slider's readout can be typed into in the
            # browser, and a typed number that is not an option was shown but not applied
            "n_particles": W.Dropdown(options=[2**k for k in range(3, 13)], value=n_particles,
                                      description="N", **menu),
            "lambda1": W.FloatLogSlider(value=lambda1, base=10, min=-4, max=0, step=0.1, description="λ₁", **slider),
            "lambda2": W.FloatLogSlider(value=lambda2, base=10, min=-5, max=-1, step=0.1, description="λ₂", **slider),
            "batch_size": W.Dropdown(options=batches, value=n_data, description="B", **menu),
            "variance_reduction": W.ToggleButton(value=False, description="variance reduction (SVRG)",
                                                 layout=W.Layout(width="240px")),
            "steps": W.IntSlider(value=steps, min=50, max=5000, step=50, description="steps", **slider),
        }
        self.run_button = W.Button(description="train", button_style="primary")
        self.status = W.HTML()
        self.fig_particles = V.particles_figure(widget=True)
        self.fig_objective = V.objective_figure(widget=True)
        self.fig_fit = V.fit_figure(self.z, self.y, widget=True)
        for c in self.controls.values():
            c.observe(lambda _change: self.run(), names="value")
        self.run_button.on_click(lambda _b: self.run())
        c = self.controls
        # figures stacked: two side by side would be under 400 px each in an 850 px output area
        self.widget = panel_box([
            c["eta"], c["lambda1"], c["lambda2"], c["steps"],
            W.HBox([c["n_particles"], c["batch_size"], c["variance_reduction"], self.run_button],
                   layout=W.Layout(flex_flow="row wrap")),
            self.status, self.fig_objective, self.fig_particles, self.fig_fit,
        ])
        self.result = None
        if auto_run:
            self.run()

    def _callback(self, info):
        if not (self._throttle() or info["step"] >= self.controls["steps"].value):
            return
        hist = info["history"]
        x = info["particles"]
        with self.fig_objective.batch_update(), self.fig_particles.batch_update(), self.fig_fit.batch_update():
            V.update_objective(self.fig_objective, hist)
            V.update_particles(self.fig_particles, x)
            V.update_fit(self.fig_fit, self.objective.predict(x, self.z_sorted))
        self.status.value = _status("busy", f"step {info['step']}: F = {info['F']:.5g}")

    def run(self):
        c = {k: w.value for k, w in self.controls.items()}
        try:
            self.objective = M.Regression(self.z, self.y, lambda1=c["lambda1"])
            x0 = self.objective.model.init_particles(c["n_particles"], 1, generator=self.seed)
            bs = None if c["batch_size"] >= self.objective.n_data else c["batch_size"]
            self._throttle.reset()
            vr = "svrg" if c["variance_reduction"] and bs is not None else None
            x, hist = M.mfld(self.objective, x0, eta=c["eta"], lambda2=c["lambda2"], steps=c["steps"],
                             batch_size=bs, variance_reduction=vr, generator=self.seed + 1,
                             callback=self._callback, callback_every=self.update_every, progress=False)
        except ValueError as exc:
            self.status.value = _status("error", str(exc))
            return None
        self.result = (x, hist)
        self.status.value = _status(
            "ok", f"done: F = {hist['F'][-1]:.5g} after {c['steps']} steps, "
            f"{hist['wall_time']:.2f} s, {hist['grad_evals_total']:.1f} full-gradient evaluations")
        return self.result


class ErrorDecompositionPanel:
    """Measure one term of the MFLD error decomposition, chosen in a dropdown.

    ``sizes``: dict of the experiments' sizes (``eta`` for :func:`~nnrep_lite.mfld.gaussian_eta_bias`
    kwargs, ``particles`` and ``batch`` for the regression experiments); the notebook passes
    its profile's sizes. ``preview`` in (0, 1): the particle and batch terms (tenths of a second
    of MFLD runs before their first point) are first measured with that fraction of the steps
    (runs and burn-in alike: a shorter time average, not yet quite stationary), drawn point by
    point with the status line saying so, and then at full length, drawn when it is done (the
    status line counts its points); ``None``: no preview, the full run is drawn point by point.
    """

    TERMS = ("time (η, Gaussian case)", "particles (1/N)", "stochastic gradient (B)")

    def __init__(self, objective: M.Regression, sizes: dict, *, auto_run: bool = True,
                 preview: float | None = 0.25):
        self.objective, self.sizes = objective, sizes
        self.preview = None if preview is None else check_real("preview", preview, low=0.0, high=1.0,
                                                               low_open=True, high_open=True)
        self.controls = {"term": W.Dropdown(options=self.TERMS, value=self.TERMS[0], description="term",
                                            style=_LABEL, layout=W.Layout(width="360px"))}
        self.run_button = W.Button(description="measure", button_style="primary")
        self.status = W.HTML()
        self.fig = V.eta_bias_figure({"eta": [], "exact": [], "measured": [], "stderr": [],
                                      "fit": {"slope": float("nan")}}, widget=True)
        # switching terms shows a term's last measurement; the button measures again
        self.controls["term"].observe(lambda _c: self.run(reuse=True), names="value")
        self.run_button.on_click(lambda _b: self.run())
        self.widget = panel_box([W.HBox([self.controls["term"], self.run_button]), self.status, self.fig])
        self.results: dict = {}
        self._shown: dict = {}
        if auto_run:
            self.run()

    def _measure(self, term: str, s: dict, partial):
        """One term's experiment at sizes ``s``: (result, figure, status text)."""
        s = dict(s)
        if term == self.TERMS[0]:
            etas = s.pop("etas")
            res = M.gaussian_eta_bias(etas, **s, partial=lambda r: partial(r, "eta", len(etas)))
            return res, V.eta_bias_figure(res), _slope_text(res["fit"], 1)
        if term == self.TERMS[1]:
            ns = s.pop("ns")
            res = M.particle_number_experiment(self.objective, ns, **s, partial=lambda r: partial(r, "ns", len(ns)))
            return res, V.particle_number_figure(res), _slope_text(res["fit"], -1)
        bs = s.pop("batch_sizes")
        res = M.sg_excess_experiment(self.objective, bs, **s, partial=lambda r: partial(r, "sg", len(bs)))
        msg = "SG excess " + ", ".join(f"B={b}: {e:.2e}" for b, e in zip(res["batch_sizes"], res["sg"]))
        if res["fit"] is not None:
            msg += f"; slope in (n−B)/(B(n−1)) {V._fit_text(res['fit'])} (bound: 1)"
        return res, V.sg_factor_figure(res), msg

    def _sizes(self, term: str, fraction: float | None = None) -> dict:
        s = dict(self.sizes[{self.TERMS[0]: "eta", self.TERMS[1]: "particles", self.TERMS[2]: "batch"}[term]])
        if term == self.TERMS[2]:
            s.setdefault("burn_in", s["steps"] // 4)
        if fraction is not None:
            steps = s["steps"]
            s["steps"] = max(10, round(fraction * steps))
            if "burn_in" in s:
                s["burn_in"] = min(s["steps"] - 1, round(s["burn_in"] * s["steps"] / steps))
        return s

    def run(self, reuse: bool = False):
        term = self.controls["term"].value
        if reuse and term in self._shown:
            res, new, msg = self._shown[term]
            _replace(self.fig, new)
            self.status.value = _status("ok", msg)
            return res
        self.status.value = _status("busy", f"measuring {term} ...")
        figure = {self.TERMS[0]: V.eta_bias_figure, self.TERMS[1]: V.particle_number_figure,
                  self.TERMS[2]: V.sg_factor_figure}[term]
        throttle = _Throttle(0.1)
        full = self._sizes(term)
        preview = self.preview is not None and term != self.TERMS[0] and self._sizes(term, self.preview)["steps"] < full["steps"]

        def partial(res, key, total, what=""):  # each point as it is measured: the figure fills in
            if throttle():
                _replace(self.fig, figure(res))
                self.status.value = _status("busy", f"measuring {term}{what}: {len(res[key])} of {total} points shown ...")

        try:
            if preview:
                short = self._sizes(term, self.preview)
                what = f" (preview: {short['steps']} of {full['steps']} steps per run)"
                _res, new, msg = self._measure(term, short, lambda r, k, t: partial(r, k, t, what))
                _replace(self.fig, new)
                self.status.value = _status("busy", f"preview shown ({short['steps']} of {full['steps']} steps per "
                                                    f"run: {msg}); measuring at {full['steps']} steps ...")

                def progress(res, key, total):
                    self.status.value = _status("busy", f"preview shown ({short['steps']} steps per run); measuring "
                                                        f"at {full['steps']} steps: {len(res[key])} of {total} points ...")

                res, new, msg = self._measure(term, full, progress)
            else:
                res, new, msg = self._measure(term, full, partial)
        except ValueError as exc:
            self.status.value = _status("error", str(exc))
            return None
        self.results[term] = res
        self._shown[term] = (res, new, msg)
        _replace(self.fig, new)
        self.status.value = _status("ok", msg)
        return res


class BatchComplexityPanel:
    """The optimal mini-batch size: ``results`` maps each target accuracy eps to a
    :func:`~nnrep_lite.mfld.complexity.batch_complexity_experiment` result (measured in the
    notebook); the eps slider shows its cost curve, measured best B and predicted B*."""

    def __init__(self, results: dict, *, eps: float | None = None):
        if not results:
            raise ValueError("results is invalid: must hold at least one eps")
        self.results = dict(sorted(results.items()))
        options = list(self.results)
        eps = options[len(options) // 2] if eps is None else eps
        if eps not in self.results:
            raise ValueError(f"eps={eps!r} is invalid: must be one of {options}")
        self.controls = {"eps": W.SelectionSlider(options=options, value=eps, description="ε",
                                                  continuous_update=False, style=_LABEL,
                                                  layout=_slider_layout())}
        self.status = W.HTML()
        self.fig = V.complexity_figure(self.results[eps], widget=True)
        self.controls["eps"].observe(lambda _c: self.update(), names="value")
        self.widget = panel_box([self.controls["eps"], self.status, self.fig])
        self.update()

    def update(self):
        r = self.results[self.controls["eps"].value]
        with self.fig.batch_update():
            self.fig.data = ()
            self.fig.add_traces(V.complexity_traces(r))
            self.fig.layout.title.text = V.complexity_title(r)
            V._log_ticks(self.fig, "y", [c for c in r["cost"] if math.isfinite(c)])
        best = "none reached" if r["best"] is None else str(r["best"])
        self.status.value = _status("ok", f"ε = {r['eps']:g}: measured best B = {best}, "
                                          f"predicted B* = {r['predicted']:.0f}")
        return r


class GLDPanel:
    """GLD on a 1-D double well: move β (recomputes particles, the grid Fokker-Planck solution and
    the spectral gap; each β is computed once, after a preview of the grid solution alone,
    drawn first and said so in the status line; ``preview=False``: none) or the time t (scrubs
    the run's snapshots)."""

    def __init__(self, *, beta: float = 3.0, barrier: float = 1.0, n_particles: int = 4000, eta: float = 0.01,
                 time: float = 40.0, points: int = 60, snapshots: int = 40, seed: int = 0,
                 preview: bool = True):
        from ..mfld import gld as G

        self.preview = bool(preview)
        self._G = G
        self.potential = G.double_well(barrier)
        self.sizes = dict(eta=eta, time=time, n_particles=n_particles, points=points, snapshots=snapshots, seed=seed)
        slider = dict(continuous_update=False, style=_LABEL, layout=_slider_layout())
        self.controls = {
            "beta": W.FloatSlider(value=beta, min=0.5, max=6.0, step=0.5, description="β", **slider),
            "t": W.IntSlider(value=snapshots, min=0, max=snapshots, step=1, description="snapshot", **slider),
        }
        self.status = W.HTML()
        self._cache: dict = {}
        self.result = self._compute(beta)
        self.fig = V.gld_density_figure(self.result, widget=True)
        self.fig_tv = V.gld_tv_figure(self.result, widget=True)
        self.controls["beta"].observe(lambda _c: self.run(), names="value")
        self.controls["t"].observe(lambda _c: self.show(), names="value")
        self.widget = panel_box([self.controls["beta"], self.controls["t"], self.status, self.fig, self.fig_tv])
        self.show()

    def _compute(self, beta, particles: bool = True):
        key = round(float(beta), 6)
        s = self.sizes
        if not particles or key not in self._cache:
            result = self._G.gld_experiment(
                self.potential, beta=beta, eta=s["eta"], time=s["time"], n_particles=s["n_particles"],
                x0_mean=[-1.0], x0_std=0.2, bounds=[(-2.2, 2.2)], points=s["points"], snapshots=s["snapshots"],
                seed=s["seed"], particles=particles)
            if not particles:  # a preview: not kept
                return result
            self._cache[key] = result
        return self._cache[key]

    def run(self):
        beta = self.controls["beta"].value
        try:
            n = self.sizes["n_particles"]
            if round(float(beta), 6) not in self._cache and self.preview:
                # a new beta takes about half a second (n particles, time/eta steps): first the
                # grid Fokker-Planck solution alone (a tenth of that), said so below
                self.result = self._compute(beta, particles=False)
                self.show(note=f"Fokker-Planck solution; running {n} particles…")
                _replace(self.fig_tv, V.gld_tv_figure(self.result))
            self.result = self._compute(beta)
        except ValueError as exc:
            self.status.value = _status("error", str(exc))
            return None
        _replace(self.fig_tv, V.gld_tv_figure(self.result))
        return self.show()

    def show(self, note: str | None = None):
        r = self.result
        i = min(self.controls["t"].value, len(r["times"]) - 1)
        with self.fig.batch_update():
            for trace, new in zip(self.fig.data, V.gld_density_traces(r, i)):
                trace.y = new.y
            self.fig.layout.title.text = V.gld_density_title(r, i)
        rate = f"{r['rate']:.4f}" if r.get("has_particles", True) else "(particles running)"
        text = f"β = {r['beta']:g}: spectral gap {r['gap']:.4f}, measured decay rate {rate}, t = {r['times'][i]:.1f}"
        self.status.value = _status("busy", f"{text} ({note})") if note else _status("ok", text)
        return r


class DensityPanel:
    """MMD density estimation and KSD variational inference with MFLD particles.

    ``problem``: "MMD 1-D" (a two-bump mixture), "MMD 2-D" (a ring of Gaussians), "KSD mixture"
    (a 2-D Gaussian mixture target), "KSD logistic" (a Bayesian logistic-regression posterior).
    ``lambda2`` is the temperature; with ``anneal`` on it decays geometrically to lambda2/100.
    The particles stream every ``update_every`` steps, at most every ``min_update_s`` seconds;
    the end of a run is always drawn.
    """

    PROBLEMS = ("MMD 1-D", "MMD 2-D", "KSD mixture", "KSD logistic")

    def __init__(self, *, n_data: int = 400, n_particles: int = 200, steps: int = 300,
                 lambda2: float = 1e-3, update_every: int = 25, min_update_s: float = 0.1, seed: int = 0,
                 problem: str = "MMD 1-D", auto_run: bool = True):
        self.seed, self.n_data, self.update_every = seed, n_data, update_every
        self._throttle = _Throttle(min_update_s)
        slider = dict(continuous_update=False, style=_LABEL, layout=_slider_layout())
        self.controls = {
            "problem": W.Dropdown(options=self.PROBLEMS, value=problem, description="problem",
                                  style=_LABEL, layout=W.Layout(width="260px")),
            "lambda2": W.FloatLogSlider(value=lambda2, base=10, min=-5, max=-0.5, step=0.1, description="λ₂", **slider),
            "anneal": W.ToggleButton(value=False, description="anneal λ₂ → λ₂/100", layout=W.Layout(width="200px")),
            "n_particles": W.Dropdown(options=[25, 50, 100, 200, 400, 800], value=n_particles,
                                      description="N", style=_LABEL, layout=W.Layout(width="200px")),
            "steps": W.IntSlider(value=steps, min=50, max=3000, step=50, description="steps", **slider),
        }
        self.run_button = W.Button(description="run", button_style="primary")
        self.status = W.HTML()
        self.fig = V.density_1d_figure([0.0], [0.0], [0.0], widget=True)
        for c in self.controls.values():
            c.observe(lambda _c: self.run(), names="value")
        self.run_button.on_click(lambda _b: self.run())
        c = self.controls
        self.widget = panel_box([c["lambda2"], c["steps"],
                              W.HBox([c["problem"], c["n_particles"], c["anneal"], self.run_button],
                                     layout=W.Layout(flex_flow="row wrap")),
                              self.status, self.fig])
        self.result = None
        self._fig_problem = None  # the problem whose traces the figure shows
        # the evaluation grids of the figures (1-D curve; 2-D contours: axes and points)
        self._grid_1d = torch.linspace(-3, 3, 300, dtype=torch.float64)[:, None]
        axes = [torch.linspace(-3, 3, 80, dtype=torch.float64)] * 2
        self._grid_2d = axes, torch.stack([m.reshape(-1) for m in torch.meshgrid(*axes, indexing="ij")], 1)
        if auto_run:
            self.run()

    # problems -----------------------------------------------------------------
    def build(self, problem: str):
        """``(objective, data or None, target or None, eta, init_scale, dim)`` for a problem."""
        g = torch.Generator().manual_seed(self.seed)
        if problem == "MMD 1-D":
            gm = M.GaussianMixtureTarget([[-1.0], [1.2]], [0.09, 0.2], [0.4, 0.6])
            data = gm.sample(self.n_data, generator=g)
            return M.MMDDensity(data, bandwidth=0.3, smoothing=0.2, lambda1=1e-3), data, None, 0.5, 1.0, 1
        if problem == "MMD 2-D":
            ang = torch.arange(6, dtype=torch.float64) * (2 * math.pi / 6)
            gm = M.GaussianMixtureTarget(torch.stack([1.5 * ang.cos(), 1.5 * ang.sin()], 1), 0.04)
            data = gm.sample(self.n_data, generator=g)
            return M.MMDDensity(data, bandwidth=0.4, smoothing=0.15, lambda1=1e-3), data, None, 1.0, 1.0, 2
        if problem == "KSD mixture":
            gm = M.GaussianMixtureTarget([[-1.5, 0.0], [1.5, 0.5]], [0.3, 0.5], [0.5, 0.5])
            return M.KSDVariational(gm, bandwidth=0.5, lambda1=1e-3), None, gm, 0.05, 1.0, 2
        post = M.LogisticPosterior.synthetic(30, generator=self.seed)
        return M.KSDVariational(post, bandwidth=0.5, lambda1=1e-3), None, post, 0.02, 0.5, 2

    def _figure(self, problem, obj, data, target, x):
        if problem == "MMD 1-D":
            return V.density_1d_figure(data, self._grid_1d, obj.smoothed_density(x, self._grid_1d),
                                       title="MMD: g * μ_N against the data")
        axes, pts = self._grid_2d
        if problem == "MMD 2-D":
            dens = obj.smoothed_density(x, pts).reshape(80, 80)
            return V.density_2d_figure(data, axes, dens, x, title="MMD: g * μ_N (contours), data, particles")
        logp = target.log_density(pts)
        dens = torch.exp(logp - logp.max()).reshape(80, 80)
        return V.density_2d_figure(None, axes, dens, x, title="KSD: target (contours) and particles")

    def run(self):
        c = {k: w.value for k, w in self.controls.items()}
        problem = c["problem"]
        try:
            obj, data, target, eta, scale, dim = self.build(problem)
            self._obj = obj
            self._throttle.reset()
            x0 = scale * torch.randn(c["n_particles"], dim, generator=torch.Generator().manual_seed(self.seed + 1),
                                     dtype=torch.float64)
            if self._fig_problem == problem:
                # same problem: the figure's traces stay; only the particles' part restarts
                self._stream(problem, {"particles": x0, "step": 0, "F": math.nan})
            else:
                _replace(self.fig, self._figure(problem, obj, data, target, x0))
                self._fig_problem = problem
            cb = lambda info: self._stream(problem, info)  # noqa: E731
            if c["anneal"]:
                x, hist = M.annealed_mfld(obj, x0, eta=eta, lambda2_start=c["lambda2"],
                                          lambda2_end=c["lambda2"] / 100, steps=c["steps"],
                                          generator=self.seed + 2, callback=cb, callback_every=self.update_every)
            else:
                x, hist = M.mfld(obj, x0, eta=eta, lambda2=c["lambda2"], steps=c["steps"],
                                 generator=self.seed + 2, callback=cb, callback_every=self.update_every,
                                 progress=False)
        except ValueError as exc:
            self.status.value = _status("error", str(exc))
            return None
        if self._fig_problem == problem:  # same traces: only what the particles change
            self._show_particles(problem, x, contours=True)
        else:
            _replace(self.fig, self._figure(problem, obj, data, target, x))
            self._fig_problem = problem
        self.result = {"problem": problem, "objective": obj, "particles": x, "history": hist,
                       "data": data, "target": target}
        self.status.value = _status("ok", f"{problem}: F = {hist['F'][-1]:.4g} after {c['steps']} steps")
        return self.result

    def _show_particles(self, problem, x, *, contours: bool = False):
        """Update the traces in place for particles ``x`` (a rebuilt figure costs tens of ms in
        plotly): the density estimate for MMD 1-D, else the particles, and with ``contours``
        the estimate's contours for MMD 2-D (the end of a run: they cost an 80 x 80 grid)."""
        with self.fig.batch_update():
            if problem == "MMD 1-D":
                self.fig.data[1].y = V._np(self._obj.smoothed_density(x, self._grid_1d.to(x.dtype)))
                return
            if contours and problem == "MMD 2-D":
                self.fig.data[0].z = V._np(self._obj.smoothed_density(x, self._grid_2d[1]).reshape(80, 80)).T
            p = V._np(x)
            self.fig.data[-1].x, self.fig.data[-1].y = p[:, 0], p[:, 1]

    def _stream(self, problem, info):
        if not self._throttle():
            return
        self._show_particles(problem, info["particles"])
        self.status.value = _status("busy", f"step {info['step']}: F = {info['F']:.4g}")
