"""Figures and the panel of notebook 06 (headless)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from nnrep_lite import onestep as os1
from nnrep_lite.viz import onestep as viz
from nnrep_lite.widgets.onestep import SpikePanel


def test_spectrum_and_alpha_figures():
    res = os1.experiments(200, 100, 200, alphas=[0.0, 0.5], features=(), generator=0, n_test=1)
    fig = viz.spectrum_figure(res[1])
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert any("BBP" in n for n in names) and any("bulk edge" in n for n in names)
    dashed = [t for t in fig.data if getattr(t, "line", None) is not None and t.line.dash == "dash"]
    assert len(dashed) >= 2  # theory dashed
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text
    fig2 = viz.spike_vs_alpha_figure(res)
    assert len(fig2.data) == 5


def test_rank_one_and_risk_figures():
    curve = os1.rank_one_curve([32, 64], seeds=2)
    fig = viz.rank_one_figure(curve)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(fig.data[0].error_y.array, curve["std"])
    curves = os1.risk_curves([1.0, 2.0], [0.0, 0.5], d=16, seed=0, n_test=64)
    fig = viz.risk_figure(curves)
    assert len(fig.data) == 2 + 2 + 1  # two alphas, CK, NTK, floor
    assert fig.data[-1].y[0] == curves["floor"]
    assert viz.activation_figure("tanh", "relu").data[1].name.startswith("teacher")


def test_panel_updates_in_place_and_reports_errors():
    panel = SpikePanel(n=128, d=64, N=128, alpha=0.0)
    fig = panel.fig
    before = fig.data[4].x[0]
    panel.controls["alpha"].value = 0.5
    assert panel.fig is fig  # updated in place
    after = fig.data[4].x[0]
    assert after > 2 * before  # the spike left the bulk
    assert after == float(panel.result["singular_values"][0])
    assert "0.50" in fig.layout.title.text
    old_name = panel.act_fig.data[1].name
    panel.controls["target"].value = "relu"
    assert panel.act_fig.data[1].name != old_name
    panel.controls["seed"].value = -3  # bad input: shown in the status line, not raised
    assert "seed" in panel.status.value and "error" in panel.status.value
