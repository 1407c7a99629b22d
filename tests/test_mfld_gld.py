"""GLD and its grid Fokker-Planck operator: mass conservation, the Gibbs stationary state, the
OU spectral gap, the exact stationary variance of the particles, Eyring-Kramers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from nnrep_lite.mfld import gld as G
from nnrep_lite.viz import mfld as V


def test_fokker_planck_conserves_mass_and_relaxes_to_gibbs():
    grid = G.FokkerPlanckGrid(G.double_well(1.0), 2.0, [(-2.2, 2.2)], 120)
    assert np.abs(np.asarray(grid.Q.sum(0))).max() < 1e-10  # every column sums to 0: conservative
    m0 = grid.cell_masses_of(lambda c: np.exp(-((c[:, 0] + 1) ** 2) / 0.08))
    m = grid.masses(m0, [0.0, 0.5, 5.0, 200.0])
    np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-10)
    np.testing.assert_allclose(m[0], m0, atol=1e-12)
    np.testing.assert_allclose(m[-1], grid.gibbs_mass, atol=1e-8)  # stationary state: the grid Gibbs measure
    assert G.tv(m[1], grid.gibbs_mass) > G.tv(m[2], grid.gibbs_mass) > G.tv(m[3], grid.gibbs_mass)


def test_stationary_state_is_exp_minus_beta_L_over_Z_to_grid_accuracy():
    beta, dw = 2.0, G.double_well(1.0)
    z = quad(lambda x: math.exp(-beta * (x * x - 1) ** 2), -2.2, 2.2, epsabs=1e-13)[0]
    errs = []
    for points in (50, 100, 200):
        grid = G.FokkerPlanckGrid(dw, beta, [(-2.2, 2.2)], points)
        x = grid.axes[0]
        exact = np.exp(-beta * (x * x - 1) ** 2) / z
        errs.append(np.abs(grid.gibbs_density() - exact).max())
    assert errs[-1] < 1e-6 and errs[0] > errs[1] > errs[2]


@pytest.mark.parametrize("a, dim, points", [(2.0, 1, 400), (1.0, 2, 40)])
def test_spectral_gap_of_a_quadratic_is_the_ou_rate(a, dim, points):
    grid = G.FokkerPlanckGrid(G.quadratic(a, dim), 1.5, [(-5.0, 5.0)] * dim, points)
    h = float(grid.h[0])
    assert grid.spectral_gap() == pytest.approx(a, rel=0.5 * h * h + 1e-6)
    assert grid.eigenvalues(1)[0] == pytest.approx(0.0, abs=1e-9)


def test_gld_particles_on_a_quadratic_have_the_exact_stationary_variance():
    a, beta, eta, n = 1.5, 2.0, 0.1, 40000
    v = G.gld_stationary_variance(a, beta, eta)
    assert v == pytest.approx(2 / (beta * a * (2 - eta * a)))
    x0 = math.sqrt(v) * torch.randn(n, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x, _ = G.gld(G.quadratic(a), x0, beta=beta, eta=eta, steps=300, generator=1)
    se = v * math.sqrt(2 / n)
    assert abs(float(x.var()) - v) < 5 * se
    assert abs(float(x.var()) - 1 / (beta * a)) > 5 * se  # the continuous-time variance is not it


def test_double_well_gap_follows_eyring_kramers_and_particles_follow_fokker_planck():
    dw = G.double_well(1.0)
    ratios = [G.FokkerPlanckGrid(dw, b, [(-2.2, 2.2)], 150).spectral_gap() / G.kramers_gap(dw, b) for b in (4, 6, 8)]
    assert all(0.8 < r < 1.1 for r in ratios) and abs(ratios[-1] - 1) < abs(ratios[0] - 1)
    r = G.gld_experiment(dw, beta=2.0, eta=0.01, time=20, n_particles=8000, x0_mean=[-1.0], x0_std=0.2,
                         bounds=[(-2.2, 2.2)], points=50, snapshots=20, seed=0)
    assert r["tv_final"] < r["tv_floor"]["mean"] + 0.03
    assert np.abs(r["tv_particles"] - r["tv_fp"]).max() < 0.06
    assert r["fp_rate"] == pytest.approx(r["gap"], rel=0.05)
    with pytest.raises(ValueError, match="beta"):
        G.FokkerPlanckGrid(dw, -1.0, [(-2, 2)], 10)


def test_gld_panel_previews_a_new_beta_then_shows_the_full_run():
    from nnrep_lite.widgets.mfld import GLDPanel

    small = dict(n_particles=400, time=2.0, eta=0.01, points=30, snapshots=5, seed=1)
    a, b = GLDPanel(**small), GLDPanel(preview=False, **small)
    notes, titles = [], []
    show = a.show
    a.show = lambda note=None: (notes.append(note), titles.append(a.fig_tv.layout.title.text), show(note))[2]
    a.controls["beta"].value = 4.0
    b.controls["beta"].value = 4.0
    assert len(notes) == 2 and "Fokker-Planck solution" in notes[0] and notes[1] is None
    assert [tr.y.tolist() if hasattr(tr.y, "tolist") else list(tr.y) for tr in a.fig.data] == \
           [tr.y.tolist() if hasattr(tr.y, "tolist") else list(tr.y) for tr in b.fig.data]
    assert a.status.value == b.status.value and "#009E73" in a.status.value
    assert a.fig_tv.layout.title.text == b.fig_tv.layout.title.text and "nan" not in a.fig_tv.layout.title.text
    assert [list(t.y) for t in a.fig_tv.data] == [list(t.y) for t in b.fig_tv.data]
    notes.clear()
    a.controls["beta"].value = 3.0  # computed before (the first beta): no preview
    assert notes == [None]


def test_gld_experiment_without_particles_is_the_same_grid_solution():
    from nnrep_lite.mfld import gld as G

    kw = dict(beta=2.5, eta=0.01, time=3.0, n_particles=300, x0_mean=[-1.0], x0_std=0.2,
              bounds=[(-2.2, 2.2)], points=30, snapshots=7, seed=2)
    full = G.gld_experiment(G.double_well(1.0), **kw)
    grid = G.gld_experiment(G.double_well(1.0), particles=False, **kw)
    np.testing.assert_array_equal(grid["times"], full["times"])  # the same snapshot times
    np.testing.assert_allclose(grid["tv_fp"], full["tv_fp"], rtol=1e-12)
    assert grid["gap"] == full["gap"] and grid["tv_floor"] == full["tv_floor"]
    assert np.isnan(grid["tv_particles"]).all() and grid["particles"] is None and not grid["has_particles"]
    assert "nan" not in V.gld_tv_figure(grid).layout.title.text + V.gld_density_title(grid)


def test_replace_updates_in_place_only_when_nothing_is_left_over():
    import plotly.graph_objects as go

    from nnrep_lite.viz.style import LiveFigure
    from nnrep_lite.widgets.mfld import _replace

    fig = LiveFigure(go.Figure([go.Scatter(x=[0, 1], y=[1, 2], name="a")], layout=dict(title_text="one")))
    first = fig.data[0]
    _replace(fig, go.Figure([go.Scatter(x=[0, 1], y=[3, 4], name="b")], layout=dict(title_text="two")))
    assert fig.data[0] is first and list(fig.data[0].y) == [3, 4] and fig.layout.title.text == "two"
    # a new figure without the old trace's error bars, or with other trace types: all replaced
    fig.data[0].error_y = dict(array=[0.1, 0.1])
    _replace(fig, go.Figure([go.Scatter(x=[0, 1], y=[5, 6])]))
    assert fig.data[0].error_y.array is None and list(fig.data[0].y) == [5, 6]
    _replace(fig, go.Figure([go.Bar(x=[0], y=[1])]))
    assert [t.type for t in fig.data] == ["bar"]
