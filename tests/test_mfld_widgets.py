"""Headless tests of the MFLD panels and figures: moving a control changes the figures."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from nnrep_lite import mfld as M  # noqa: E402
from nnrep_lite.viz import mfld as V  # noqa: E402
from nnrep_lite.widgets import mfld as mw  # noqa: E402
from nnrep_lite.widgets.mfld import DensityPanel, ErrorDecompositionPanel, MFLDTrainingPanel  # noqa: E402


def test_training_panel_streams_and_reacts_to_controls():
    panel = MFLDTrainingPanel(n_data=32, n_particles=32, steps=60, update_every=20, min_update_s=0.0)
    f_before = list(panel.fig_objective.data[0].y)
    x_before = np.asarray(panel.fig_particles.data[0].x).copy()
    assert len(f_before) == 60 and "done" in panel.status.value
    frames = []
    panel.fig_particles.data[0].on_change(lambda *a: frames.append(1), "x")
    panel.controls["eta"].value = 0.05
    assert list(panel.fig_objective.data[0].y) != f_before
    assert not np.array_equal(np.asarray(panel.fig_particles.data[0].x), x_before)
    assert len(frames) >= 3  # streamed during training, not only at the end
    panel.controls["batch_size"].value = 8
    panel.controls["variance_reduction"].value = True
    assert "done" in panel.status.value
    # divergence is reported in the status line, not raised
    panel.controls["variance_reduction"].value = False
    panel.controls["steps"].value = 500
    panel.controls["lambda1"].value = 1.0
    panel.controls["eta"].value = 3.0  # contraction factor 1 - 2 lambda1 eta = -5: overflows
    assert "eta" in panel.status.value and "#D55E00" in panel.status.value


def test_streamed_redraws_are_throttled_and_the_last_step_is_always_drawn():
    panel = MFLDTrainingPanel(n_data=32, n_particles=32, steps=200, update_every=20, min_update_s=60.0)
    frames = []
    panel.fig_particles.data[0].on_change(lambda *a: frames.append(1), "x")
    panel.controls["eta"].value = 0.05
    assert len(frames) == 2  # the first streamed step and the last: 10 callbacks in all
    x, hist = panel.result
    np.testing.assert_allclose(np.asarray(panel.fig_particles.data[0].x), x[:, 1].numpy())
    assert len(panel.fig_objective.data[0].y) == 200 == len(hist["F"])
    dens = DensityPanel(n_data=100, n_particles=25, steps=100, update_every=10, min_update_s=60.0)
    shown = []
    dens.fig.data[1].on_change(lambda *a: shown.append(1), "y")
    dens.controls["lambda2"].value = 0.03
    assert len(shown) == 2  # the restart from x0 and the end of the run
    with pytest.raises(ValueError, match="min_update_s"):
        MFLDTrainingPanel(min_update_s=-1.0, auto_run=False)


def test_error_decomposition_panel_switches_terms():
    z, y = M.make_regression(32, 1, noise=0.1, generator=0)
    obj = M.Regression(z, y, lambda1=0.01)
    sizes = {
        "eta": dict(etas=[0.02, 0.04, 0.08], n_particles=500, dim=2, steps=120, burn_in=40, generator=0),
        "particles": dict(ns=[8, 32], replicas=2, eta=0.2, lambda2=0.002, steps=100, n_ref=64),
        "batch": dict(batch_sizes=[1, 32], n_particles=16, replicas=2, eta=0.2, lambda2=0.002, steps=100),
    }
    panel = ErrorDecompositionPanel(obj, sizes)
    y0 = list(panel.fig.data[-1].y)
    assert len(y0) == 3 and "slope" in panel.status.value
    panel.controls["term"].value = panel.TERMS[1]
    assert list(panel.fig.data[-1].y) != y0 and panel.fig.layout.xaxis.type == "log"
    panel.controls["term"].value = panel.TERMS[2]
    assert "SG excess" in panel.status.value


def test_error_decomposition_panel_draws_each_point_as_it_comes():
    """Each term's figure fills in point by point (the status line says how many), and the end is
    the same figure as a run that streams nothing."""
    z, y = M.make_regression(32, 1, noise=0.1, generator=0)
    obj = M.Regression(z, y, lambda1=0.01)
    sizes = {
        "eta": dict(etas=[0.02, 0.04, 0.08], n_particles=200, dim=2, steps=60, burn_in=20, generator=0),
        "particles": dict(ns=[8, 16, 32], replicas=2, eta=0.2, lambda2=0.002, steps=60, n_ref=64),
        "batch": dict(batch_sizes=[1, 4, 32], n_particles=16, replicas=2, eta=0.2, lambda2=0.002, steps=60),
    }
    panel = ErrorDecompositionPanel(obj, sizes, auto_run=False)
    statuses = []
    replace = mw._replace
    try:
        mw._replace = lambda fig, new: (statuses.append(panel.status.value), replace(fig, new))
        mw._Throttle.__call__, saved = (lambda self: True), mw._Throttle.__call__
        for term, experiment in zip(panel.TERMS, (M.gaussian_eta_bias, M.particle_number_experiment,
                                                  M.sg_excess_experiment)):
            statuses.clear()
            if panel.controls["term"].value == term:
                panel.run()
            else:
                panel.controls["term"].value = term  # a term not measured yet: measured now
            res = panel.results[term]
            shown = [s for s in statuses if "points shown" in s]
            assert len(shown) == 2, statuses  # after the first and the second of three points
            s = dict(sizes[{panel.TERMS[0]: "eta", panel.TERMS[1]: "particles", panel.TERMS[2]: "batch"}[term]])
            first = s.pop({"etas", "ns", "batch_sizes"}.intersection(s).pop())
            if experiment is M.gaussian_eta_bias:
                plain = experiment(first, **s)
            else:
                s.setdefault("burn_in", s["steps"] // 4) if experiment is M.sg_excess_experiment else None
                plain = experiment(obj, first, **s)
            key = {"eta": "measured", "particles": "error", "batch": "sg"}[
                {panel.TERMS[0]: "eta", panel.TERMS[1]: "particles", panel.TERMS[2]: "batch"}[term]]
            assert res[key] == plain[key]  # streaming changes nothing that is measured
    finally:
        mw._replace = replace
        mw._Throttle.__call__ = saved
    assert "points shown" not in panel.status.value


@pytest.mark.parametrize("problem", DensityPanel.PROBLEMS)
def test_density_panel_runs_each_problem(problem):
    panel = DensityPanel(problem=problem, n_data=100, n_particles=25, steps=50)
    before = [np.asarray(t.y).copy() for t in panel.fig.data if t.y is not None]
    panel.controls["lambda2"].value = 0.03
    after = [np.asarray(t.y) for t in panel.fig.data if t.y is not None]
    assert any(b.shape != a.shape or not np.allclose(b, a) for b, a in zip(before, after))
    panel.controls["anneal"].value = True
    assert "F =" in panel.status.value


def test_static_figures_have_titles_and_log_axes():
    res = M.gaussian_eta_bias([0.02, 0.08], n_particles=200, dim=2, steps=60, burn_in=20, generator=0)
    fig = V.eta_bias_figure(res)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert any(t.line.dash == "dash" for t in fig.data if t.mode == "lines")
    obj = M.Quadratic(0.5)
    x = M.MeanFieldNet().init_particles(50, 1, generator=0)
    g = M.proximal_gibbs(obj, x, 0.1, bounds=[[-3, 3]] * 3, points=12)
    fig = V.gibbs_figure(g, x, axis=1)
    assert fig.layout.xaxis.title.text and len(fig.data) == 2


def test_error_decomposition_panel_previews_with_shorter_runs():
    """The particle and batch terms are drawn first from runs a quarter as long (the status line
    says so), then replaced by the full-length measurement, which the preview does not change."""
    z, y = M.make_regression(32, 1, noise=0.1, generator=0)
    obj = M.Regression(z, y, lambda1=0.01)
    sizes = {
        "eta": dict(etas=[0.02, 0.04], n_particles=200, dim=2, steps=60, burn_in=20, generator=0),
        "particles": dict(ns=[8, 16], replicas=2, eta=0.2, lambda2=0.002, steps=80, n_ref=64),
        "batch": dict(batch_sizes=[1, 32], n_particles=16, replicas=2, eta=0.2, lambda2=0.002, steps=80),
    }
    panel = ErrorDecompositionPanel(obj, sizes, auto_run=False)
    seen = []
    replace = mw._replace
    try:
        mw._replace = lambda fig, new: (seen.append((panel.status.value, new)), replace(fig, new))
        panel.controls["term"].value = panel.TERMS[1]
    finally:
        mw._replace = replace
    assert any("preview: 20 of 80 steps" in st for st, _ in seen)
    short = M.particle_number_experiment(obj, [8, 16], replicas=2, eta=0.2, lambda2=0.002, steps=20, n_ref=64)
    full = M.particle_number_experiment(obj, [8, 16], replicas=2, eta=0.2, lambda2=0.002, steps=80, n_ref=64)
    drawn = [list(new.data[-1].y) for _, new in seen]
    assert list(V.particle_number_figure(short).data[-1].y) in drawn  # the preview was shown
    assert panel.results[panel.TERMS[1]]["error"] == full["error"]  # the end is the full measurement
    assert list(panel.fig.data[-1].y) == list(V.particle_number_figure(full).data[-1].y)
    assert "preview" not in panel.status.value and "slope" in panel.status.value
    plain = ErrorDecompositionPanel(obj, sizes, auto_run=False, preview=None)  # no preview: the same end
    panel.controls["term"].value = panel.TERMS[2]
    plain.controls["term"].value = plain.TERMS[2]
    assert plain.results[plain.TERMS[2]]["sg"] == panel.results[panel.TERMS[2]]["sg"]
    with pytest.raises(ValueError, match="preview"):
        ErrorDecompositionPanel(obj, sizes, auto_run=False, preview=1.5)


def test_replace_in_place_sends_only_what_changed_and_ends_equal_to_the_new_figure():
    import plotly.graph_objects as go

    from nnrep_lite.widgets._update import changed

    fig = go.FigureWidget(go.Figure(go.Scatter(x=[1, 2, 3], y=[1.0, np.nan, 2.0], name="a"),
                                    layout={"title": {"text": "one"}, "xaxis": {"type": "log", "range": [0, 1]}}))
    new = go.Figure(go.Scatter(x=[1, 2, 3], y=[1.0, np.nan, 5.0], name="a"),
                    layout={"title": {"text": "two"}, "xaxis": {"type": "log", "range": [0, 1]}})
    change = changed(fig.data[0].to_plotly_json(), new.data[0].to_plotly_json())
    assert set(change) == {"y"} and list(change["y"])[2] == 5.0  # the name, the x, the NaN: unchanged
    assert changed({"xaxis": {"type": "log", "range": [0, 1]}}, {"xaxis": {"type": "log", "range": [0, 2]}}) \
        == {"xaxis": {"range": [0, 2]}}
    assert changed({"y": np.array([1.0, np.nan])}, {"y": np.array([1.0, np.nan])}) == {}
    mw._replace(fig, new)
    assert (fig.data[0].y[0], fig.data[0].y[2]) == (1.0, 5.0) and fig.layout.title.text == "two"
    assert fig.layout.xaxis.type == "log" and tuple(fig.layout.xaxis.range) == (0, 1)
