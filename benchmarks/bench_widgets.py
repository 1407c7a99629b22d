"""Widget latency: the kernel-side time of one control change in each panel class.

``widget_update_latency``: every panel class in ``nnrep_lite/widgets/*.py`` that has controls is
built at its default sizes (the constructor defaults; where a constructor needs inputs, the
``default``-profile inputs and sizes of the notebook that uses it: ForwardPanel n = 20000,
ReversePanel n = 5000 and 100 steps on notebook 01's target), then one of its main controls is
moved to positions it has not shown before (spread over the given range, or over the whole
slider when that range has too few positions) and each assignment ``control.value = v`` (which runs the observer:
recompute and ``fig.batch_update``) is timed until a live figure of the panel first sends new
data to the page (a panel that previews or streams sends its first result before its callback
returns: what the lecturer first sees, as ``browser_update_latency`` times it; a change that
sends nothing counts its whole callback); the callbacks' full durations are kept beside
(``end_median_s``). Then every other control of the panel the same
way at its own fresh positions (a toggle flipped once, a button pressed, a number box given new
values). Per control the median over 20 changes (quick: 5, and in both modes at most
``budget_s`` seconds of changes per control, at least 3 changes); a panel's figure is its
slowest control's median, and ``ratio`` is the worst panel's over a 150 ms budget. Target 1. Moving back and forth
between two values (where panels reuse what they computed) is reported as
``revisit_median_s``. Panels run on the CPU
(they are interactive figures; ``device`` is recorded only).
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import pkgutil
import statistics
import tempfile
import time

import torch

BUDGET_S = 0.150


def _notebook01_target():
    from nnrep_lite.bspline import BsplineDensity

    return BsplineDensity.random_besov(1.5, 1, max_level=4, terms_per_level=6, generator=0)


def _rate_experiments():
    from nnrep_lite.diffusion import rate_experiment

    target = _notebook01_target()
    rows = rate_experiment(target, [50, 200, 800], seeds=[0, 1], estimators=("kde", "empirical"), metric="w1",
                           smoothness=1.5, n_eval=500, progress=False, cache=False)
    rows_tv = rate_experiment(target, [50, 200, 800], seeds=[0, 1], estimators=("kde",), metric="tv",
                              smoothness=1.5, n_eval=2000, progress=False, cache=False)
    return {"W1": {"rows": rows, "metric": "W1", "theory": {"kde": (-0.4, "n^{-s/(2s+d)}")}},
            "TV": {"rows": rows_tv, "metric": "TV"}}


def _decomposition_inputs():
    from nnrep_lite import mfld as M

    z, y = M.make_regression(256, 1, noise=0.1, generator=0)  # notebook 04, default profile
    obj = M.Regression(z, y, lambda1=0.01)
    sizes = {
        "eta": dict(etas=[0.01, 0.02, 0.04], n_particles=500, dim=2, steps=150, burn_in=50, generator=0),
        "particles": dict(ns=[16, 64], replicas=3, eta=0.2, lambda2=0.002, steps=300, n_ref=256),
        "batch": dict(batch_sizes=[1, 16, 256], n_particles=32, replicas=2, eta=0.2, lambda2=0.002, steps=300),
    }
    return (obj, sizes), {}


def _complexity_inputs():
    from nnrep_lite import mfld as M

    z, y = M.make_regression(128, 1, noise=0.2, generator=0)
    obj = M.Regression(z, y, lambda1=0.01)
    results = {eps: M.batch_complexity_experiment(obj, [16, 64, 128], eps=eps, alpha=0.05, lambda2=0.002,
                                                  plateau=0.03, eta_max=0.2, horizon=20, n_particles=16,
                                                  replicas=2, max_steps=2000)
               for eps in (1e-2, 2e-2)}
    return (results,), {}


# (module, class) -> (factory of (args, kwargs), control name, two values to alternate)
SPECS = {
    ("bspline", "OrderPanel"): (None, "order", (3, 5)),
    ("bspline", "DecompositionPanel"): (None, "n_terms", (16, 64)),
    ("bspline", "DiffusionPanel"): (None, "t", (0.02, 0.2)),
    ("bspline", "Density2DPanel"): (None, "t", (0.01, 0.1)),
    ("diffusion", "ForwardPanel"): (lambda: ((_notebook01_target(),), {"n": 20000}), "t", (0.02, 0.2)),
    ("diffusion", "ReversePanel"): (lambda: ((_notebook01_target(),), {"n": 5000, "steps": 100}), "t_min",
                                    (1e-3, 1e-2)),
    ("diffusion", "RatePanel"): (lambda: ((_rate_experiments(),), {}), "experiment", ("TV", "W1")),
    ("mfld", "MFLDTrainingPanel"): (None, "eta", (0.1, 0.2)),
    ("mfld", "ErrorDecompositionPanel"): (_decomposition_inputs, "term", None),
    ("mfld", "DensityPanel"): (None, "lambda2", (1e-3, 1e-2)),
    ("mfld", "BatchComplexityPanel"): (_complexity_inputs, "eps", None),
    ("mfld", "GLDPanel"): (None, "beta", (2.0, 4.0)),
    ("onestep", "SpikePanel"): (None, "alpha", (0.2, 0.4)),
    ("onestep", "AlphaRiskPanel"): (None, "psi1", None),  # notebook 06 default: d = 128, 2 seeds
}


def panel_classes() -> list[tuple[str, str, type]]:
    """Every class defined in nnrep_lite/widgets/*.py whose name ends in ``Panel``."""
    import nnrep_lite.widgets as pkg

    out = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"nnrep_lite.widgets.{info.name}")
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and name.endswith("Panel"):
                out.append((info.name, name, cls))
    return out


def _positions(ctrl, lo, hi) -> list:
    """The slider's positions between lo and hi (snapped to its step), in order."""
    import ipywidgets as W
    import numpy as np

    if isinstance(ctrl, W.FloatLogSlider):
        e_lo, e_hi = math.log(lo, ctrl.base), math.log(hi, ctrl.base)
        k = np.arange(math.ceil(e_lo / ctrl.step - 1e-9), math.floor(e_hi / ctrl.step + 1e-9) + 1)
        return [float(ctrl.base ** (i * ctrl.step)) for i in k]
    k = np.arange(math.ceil(lo / ctrl.step - 1e-9), math.floor(hi / ctrl.step + 1e-9) + 1)
    if isinstance(ctrl, W.IntSlider):
        return [int(i * ctrl.step) for i in k]
    return [float(i * ctrl.step) for i in k]


def fresh_values(ctrl, values, count: int) -> list:
    """Up to ``count`` positions of ``ctrl`` it has not shown (not its current value), spread
    over the range of the two ``values`` or, when that range has too few positions, over the
    whole slider; a dropdown's other options, each once (a second visit would show a setting
    seen before, which a panel may keep: not what the record times)."""
    import ipywidgets as W

    slider = isinstance(ctrl, (W.FloatLogSlider, W.FloatSlider, W.IntSlider))
    if not slider:
        opts = list(values or ctrl.options)
        first = opts.index(ctrl.value) + 1 if ctrl.value in opts else 0
        return [o for o in opts[first:] + opts[:first] if o != ctrl.value][:count]
    if values is None:  # no range given (a panel's other sliders): the whole slider
        values = (ctrl.base ** ctrl.min, ctrl.base ** ctrl.max) if isinstance(ctrl, W.FloatLogSlider) else (
            ctrl.min, ctrl.max)
    lo, hi = min(values), max(values)
    pos = [p for p in _positions(ctrl, lo, hi) if not math.isclose(p, ctrl.value, rel_tol=1e-9)]
    if len(pos) < count:
        whole = (ctrl.base ** ctrl.min, ctrl.base ** ctrl.max) if isinstance(ctrl, W.FloatLogSlider) else (
            ctrl.min, ctrl.max)
        pos = [p for p in _positions(ctrl, *whole) if not math.isclose(p, ctrl.value, rel_tol=1e-9)]
    if len(pos) > count:
        step = len(pos) / count
        pos = [pos[int(i * step)] for i in range(count)]
    return pos


_CLICK = object()  # a button press, not a value


def control_values(ctrl, values, count: int) -> list:
    """Positions for any control: :func:`fresh_values` for sliders and option lists, the other
    state of a toggle or checkbox, new numbers for a number box, presses of a button."""
    import ipywidgets as W

    if isinstance(ctrl, W.Button):
        return [_CLICK] * min(count, 2)
    if isinstance(ctrl, (W.ToggleButton, W.Checkbox)):
        return [not ctrl.value]  # a second flip would show a state seen before
    if isinstance(ctrl, (W.IntText, W.BoundedIntText, W.FloatText, W.BoundedFloatText)):
        now = ctrl.value
        cand = [now * 2 if now else 1, now + 1, now // 2 if isinstance(now, int) else now / 2]
        lo, hi = getattr(ctrl, "min", None), getattr(ctrl, "max", None)
        cand = [min(max(v, lo if lo is not None else v), hi if hi is not None else v) for v in cand]
        return [v for i, v in enumerate(cand) if v != now and v not in cand[:i]][:count]
    if isinstance(ctrl, W.SelectMultiple):
        opts = list(ctrl.options)
        return [tuple(opts[: k + 1]) for k in range(len(opts)) if tuple(opts[: k + 1]) != tuple(ctrl.value)][:count]
    return fresh_values(ctrl, values, count)


_SENT: list[float] = []  # when a live figure sent an update to the page (see _figure_clock)
_ENDS: list[float] = []  # the matching end of each timed change (the callback returned)


class _figure_clock:
    """Stamp every message a live figure sends to the page (restyle, relayout, update, traces
    added or deleted): the kernel-side moment the new data leaves for the browser. A panel that
    previews or streams sends its first result long before its callback returns; that first
    send is what the lecturer first sees, as in the browser benchmark."""

    NAMES = ("_send_addTraces_msg", "_send_deleteTraces_msg", "_send_moveTraces_msg", "_send_relayout_msg",
             "_send_restyle_msg", "_send_update_msg")

    def __enter__(self):
        from plotly.basewidget import BaseFigureWidget

        self.saved = {n: getattr(BaseFigureWidget, n) for n in self.NAMES}
        for n, f in self.saved.items():
            def stamped(*a, _f=f, **k):
                _SENT.append(time.perf_counter())
                return _f(*a, **k)
            setattr(BaseFigureWidget, n, stamped)
        return self

    def __exit__(self, *exc):
        from plotly.basewidget import BaseFigureWidget

        for n, f in self.saved.items():
            setattr(BaseFigureWidget, n, f)
        return False


def _timed_changes(ctrl, seq, changes: int, budget_s: float) -> list[float]:
    """Per change the time until a live figure first sent new data (the whole callback where
    no figure sent anything); the callbacks' full durations are appended to ``_ENDS``."""
    times, spent = [], 0.0
    for v in seq:
        if len(times) >= changes or (len(times) >= 3 and spent >= budget_s):
            break
        if v is not _CLICK and v == ctrl.value:
            continue
        _SENT.clear()
        with _figure_clock():
            t0 = time.perf_counter()
            if v is _CLICK:
                ctrl.click()
            else:
                ctrl.value = v
            dt = time.perf_counter() - t0
        times.append(_SENT[0] - t0 if _SENT else dt)
        _ENDS.append(dt)
        spent += dt
    return times


def measure_panel(cls, factory, control: str, values, changes: int, budget_s: float) -> dict:
    """Median time of a control change at positions not shown before (``fresh``: what a lecturer
    moving a slider meets) and, for reference, moving back and forth between two values
    (``revisit``: panels reuse work for a setting they have shown)."""
    args, kwargs = factory() if factory else ((), {})
    t0 = time.perf_counter()
    panel = cls(*args, **kwargs)
    build_s = time.perf_counter() - t0
    ctrl = panel.controls[control]
    _ENDS.clear()
    fresh = _timed_changes(ctrl, fresh_values(ctrl, values, changes), changes, budget_s)
    fresh_end = list(_ENDS)
    pair = values if values is not None else tuple(ctrl.options)[:2]
    back_forth = [pair[i % 2] for i in range(2 * changes + 2)]
    revisit = _timed_changes(ctrl, back_forth, changes, budget_s / 4)
    others = {}
    for name, other in panel.controls.items():  # every other control, at its own fresh positions
        if name == control or not hasattr(other, "value") and not hasattr(other, "click"):
            continue
        seq = control_values(other, None, changes)
        _ENDS.clear()
        times = _timed_changes(other, seq, changes, budget_s / 2)
        others[name] = {"median_s": statistics.median(times) if times else None, "changes": len(times),
                        "end_median_s": statistics.median(_ENDS) if _ENDS else None}
    status = getattr(getattr(panel, "status", None), "value", "")
    every = {control: statistics.median(fresh), **{k: v["median_s"] for k, v in others.items()
                                                   if v["median_s"] is not None}}
    slowest = max(every, key=every.get)
    return {"median_s": every[slowest], "slowest_control": slowest, "changes": len(fresh),
            "control": control, "main_median_s": statistics.median(fresh), "controls": others,
            "main_end_median_s": statistics.median(fresh_end) if fresh_end else None,
            "revisit_median_s": statistics.median(revisit) if revisit else None,
            "build_s": build_s, "error_shown": "error" in str(status).lower()}


def records(quick: bool = False, device: str = "cpu") -> list[dict]:
    from benchmarks._timing import record

    changes = 5 if quick else 20
    budget_s = 6.0 if quick else 60.0
    per_panel, skipped = {}, []
    old_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as cache:
        old_cache = os.environ.get("NNREP_CACHE_DIR")
        os.environ["NNREP_CACHE_DIR"] = cache
        try:
            for modname, clsname, cls in panel_classes():
                spec = SPECS.get((modname, clsname))
                if spec is None:
                    skipped.append(f"{modname}.{clsname} (no benchmark spec: add one to SPECS)")
                    continue
                factory, control, values = spec
                per_panel[f"{modname}.{clsname}"] = measure_panel(cls, factory, control, values, changes, budget_s)
        finally:
            torch.set_num_threads(old_threads)  # notebooks' panels may pin one thread
            if old_cache is None:
                os.environ.pop("NNREP_CACHE_DIR", None)
            else:
                os.environ["NNREP_CACHE_DIR"] = old_cache
    worst = max(per_panel, key=lambda k: per_panel[k]["median_s"])
    ours = per_panel[worst]["median_s"]
    return [record("widget_update_latency", ours, BUDGET_S, 1.0,
                   "150 ms budget per control change (worst panel's median)",
                   {"worst_panel": worst, "changes_per_panel": changes, "max_seconds_per_panel": budget_s,
                    "panels": per_panel, "skipped": skipped, "device": "cpu (panels)", "requested_device": device})]


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(records(quick=True), indent=1, default=str))
