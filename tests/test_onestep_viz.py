"""Figures and the panel of notebook 06 (headless)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

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


def _all_figures():
    """Every figure builder and panel of notebook 06 at small sizes."""
    from nnrep_lite.widgets.onestep import AlphaRiskPanel

    res = os1.experiments(64, 32, 64, alphas=[0.0, 0.5], features=(), generator=0, n_test=1)
    curves = os1.risk_curves([1.0, 2.0], [0.0, 0.5], d=12, seed=0, n_test=32)
    ge = os1.gaussian_equivalence_curve([1.0, 2.0], d=12, seeds=(0, 1), n_test=32, ntk_seeds=1)
    sweep = os1.risk_vs_alpha([-0.5, 0.0, 0.5], psi1=2.0, d=12, seeds=(0, 1), n_test=32)
    cases = {}
    for t in ("erf", "hermite"):
        cases[t] = os1.risk_vs_alpha([0.0, 0.5], psi1=2.0, d=12, seeds=(0,), n_test=32, target=t)
        cases[t]["tau_star"] = os1.tau_star("erf", t)
    spike = SpikePanel(n=64, d=32, N=64, alpha=0.4)
    regimes = AlphaRiskPanel(d=12, psi1=2.0, psi1_options=(1.0, 2.0), seeds=(0,), alphas=(-0.5, 0.0, 0.5))
    return {
        "spectrum": viz.spectrum_figure(res[1]), "spike_vs_alpha": viz.spike_vs_alpha_figure(res),
        "rank_one": viz.rank_one_figure(os1.rank_one_curve([32, 64], seeds=2)),
        "risk": viz.risk_figure(curves), "activation": viz.activation_figure("relu", "hermite"),
        "ge": viz.ge_figure(ge), "alpha_risk": viz.alpha_risk_figure(sweep),
        "improvement": viz.improvement_figure(cases), "spike_panel": spike.fig,
        "spike_panel_act": spike.act_fig, "regime_panel": regimes.fig,
    }  # fmt: skip


def test_every_figure_is_in_the_projector_style():
    from nnrep_lite.viz import style

    for name, fig in _all_figures().items():
        assert style.latex_in_labels(fig) == [], name
        assert style.fixed_width(fig) is None, name
        texts = " ".join(t for _, t in style.figure_texts(fig))
        for raw in ("P_{", "_{", "^α", "N^"):
            assert raw not in texts, (name, raw)
        assert fig.layout.font.size >= style.TICK_FONT_PX, name


def test_regime_figure_shades_three_regimes_and_panel_moves_with_psi1():
    from nnrep_lite.widgets.onestep import AlphaRiskPanel

    sweep = os1.risk_vs_alpha([-0.5, 0.0, 0.5], psi1=2.0, d=12, seeds=(0,), n_test=32)
    fig = viz.alpha_risk_figure(sweep)
    assert len(fig.layout.shapes) == 3 and len(fig.layout.annotations) == 3
    assert any("o(1)" in a.text for a in fig.layout.annotations)
    assert any("√N" in a.text for a in fig.layout.annotations)
    assert fig.layout.yaxis.type == "log"
    panel = AlphaRiskPanel(d=12, psi1=2.0, psi1_options=(1.0, 2.0), seeds=(0,), alphas=(-0.5, 0.0, 0.5))
    fig = panel.fig
    before = list(fig.data[0].y)
    panel.controls["psi1"].value = 1.0
    assert panel.fig is fig and list(fig.data[0].y) != before  # updated in place
    assert "ψ₁ = 1" in fig.layout.title.text
    assert panel.controls["psi1"].layout.width == "95%"
    assert panel.controls["psi1"].style.description_width == "initial"


def test_spike_panel_slider_is_wide_and_labelled():
    panel = SpikePanel(n=64, d=32, N=64)
    slider = panel.controls["alpha"]
    assert slider.layout.width == "95%" and slider.style.description_width == "initial"
    assert slider.description.startswith("α")


def test_regime_panel_is_deterministic():
    from nnrep_lite.widgets.onestep import AlphaRiskPanel

    kw = {"d": 10, "psi1": 2.0, "psi1_options": (1.0, 2.0), "seeds": (4,), "alphas": (-0.5, 0.5)}
    a, b = AlphaRiskPanel(**kw), AlphaRiskPanel(**kw)
    assert list(a.fig.data[0].y) == list(b.fig.data[0].y)
    a.controls["psi1"].value = 1.0
    b.controls["psi1"].value = 1.0
    assert list(a.fig.data[0].y) == list(b.fig.data[0].y)
    with pytest.raises(ValueError, match=r"^psi1=3.0"):
        AlphaRiskPanel(**{**kw, "psi1": 3.0})


def test_alpha_risk_panel_draws_the_first_seed_then_the_mean():
    from nnrep_lite.widgets.onestep import AlphaRiskPanel

    kw = dict(d=12, psi1=2.0, psi1_options=(1.0, 2.0), alphas=(-0.5, 0.0, 0.5))
    panel = AlphaRiskPanel(seeds=(0, 1), **kw)
    drawn = []
    draw = panel._draw
    panel._draw = lambda note="": (drawn.append((note, panel.sweep["seeds_done"])), draw(note))
    panel.controls["psi1"].value = 1.0
    assert [d[1] for d in drawn] == [1, 2] and "seed 1 of 2" in drawn[0][0] and drawn[1][0] == ""
    plain = os1.risk_vs_alpha(kw["alphas"], psi1=1.0, d=12, seeds=(0, 1))
    np.testing.assert_allclose(panel.sweep["ck1_mean"], plain["ck1_mean"], rtol=1e-12)
    fresh = viz.alpha_risk_figure(plain)
    assert [list(t.y) for t in panel.fig.data] == [list(t.y) for t in fresh.data]
    assert "seed" not in panel.status.value  # the end: the mean over both seeds
    np.testing.assert_array_equal(panel.sweep["ck1"], plain["ck1"])
