"""Floor-free TV (quadrature of 1/2 |p_hat - p|), the histogram floor, and the 1-D KDE fast path."""

import math

import pytest
import torch
from scipy import integrate

from nnrep_lite import diffusion as dm
from nnrep_lite.bspline import BsplineDensity
from nnrep_lite.densities import GaussianMixture


def test_density_tv_matches_scipy_quad():
    a = GaussianMixture([[-0.3], [0.4]], [[0.02], [0.05]], [0.6, 0.4])
    b = GaussianMixture([[-0.2], [0.5]], [[0.03], [0.04]], [0.5, 0.5])

    def f(x):
        xx = torch.tensor([[x]], dtype=torch.float64)
        return abs(float(a.density(xx)[0]) - float(b.density(xx)[0]))

    ref = 0.5 * integrate.quad(f, -4, 4, points=[-0.3, 0.0, 0.4], limit=400, epsabs=1e-13)[0]
    got = dm.density_tv(a, b, bounds=(-4, 4), cells=2048)
    assert got == pytest.approx(ref, rel=1e-6)


def test_density_tv_of_a_kde_against_a_bspline_target_and_its_outside_mass():
    target = BsplineDensity.random_besov(1.0, 1, max_level=4, generator=0)
    data = target.sample(300, 1)
    k = dm.kde(data, bandwidth=0.1)
    wide = dm.density_tv(k, target, bounds=(-2.0, 2.0), cells=4096)
    # on [-1, 1] only, the KDE mass outside enters through the outside term: the same TV
    assert dm.density_tv(k, target, bounds=(-1.0, 1.0), cells=4096) == pytest.approx(wide, rel=1e-5)
    assert dm.density_tv(target, target) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="bounds"):
        dm.density_tv(k, target, bounds=(1.0, -1.0))


def test_windowed_kde_density_equals_the_mixture_at_float64():
    data = torch.randn(3000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.4
    k = dm.kde(data, bandwidth=0.03)
    x = torch.linspace(-2, 2, 777, dtype=torch.float64)[:, None]
    for t in (0.0, 0.01, 0.5):
        ref = GaussianMixture.diffused_density(k, x, t)
        assert torch.allclose(k.diffused_density(x, t), ref, rtol=1e-12, atol=1e-14)
    assert torch.allclose(k.density(x), GaussianMixture.density(k, x), rtol=1e-12, atol=1e-14)


def test_histogram_floor_matches_exact_samples():
    target = BsplineDensity.random_besov(1.0, 1, max_level=4, generator=0)
    masses = target.bin_masses(dm.bin_edges(40))
    n = 5000
    mean, sd = dm.histogram_tv_floor(masses, n)
    tvs = torch.tensor([dm.tv_distance(target.sample(n, 100 + i), target) for i in range(40)])
    assert abs(float(tvs.mean()) - mean) < 4 * sd / math.sqrt(40) + 0.002
    assert float(tvs.std()) == pytest.approx(sd, rel=0.4)


def test_rate_experiment_kde_rows_use_quadrature(tmp_path, monkeypatch):
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    target = BsplineDensity.random_besov(1.0, 1, max_level=4, generator=0)
    rows = dm.rate_experiment(target, [100, 400], seeds=[0], metric="tv", estimators=("kde",),
                              smoothness=1.0, progress=False)
    assert {r["tv_method"] for r in rows} == {"quadrature"}
    hist = dm.rate_experiment(target, [100, 400], seeds=[0], metric="tv", estimators=("kde",),
                              smoothness=1.0, progress=False, tv_method="histogram", n_eval=2000)
    assert {r["tv_method"] for r in hist} == {"histogram"}
    assert all(h["error"] != r["error"] for h, r in zip(hist, rows))
    with pytest.raises(ValueError, match="tv_method"):
        dm.rate_experiment(target, [100], seeds=[0], estimators=("kde",), smoothness=1.0, tv_method="x")


def test_rate_figure_draws_the_floor_as_a_band():
    from nnrep_lite.viz import diffusion as viz
    from nnrep_lite.viz import style

    summary = {"diffusion": {"n": [100, 1000], "mean": [0.1, 0.05], "std": [0.01, 0.01]}}
    fig = viz.rate_figure(summary, floor={"mean": 0.02, "sd": 0.003, "label": "histogram floor"})
    band = [tr for tr in fig.data if tr.name == "histogram floor"]
    assert len(band) == 1 and band[0].fill == "tonexty"
    assert band[0].y[0] == pytest.approx(0.026) and fig.data[0].y[0] == pytest.approx(0.014)
    assert style.latex_in_labels(fig) == []


class _Uniform:
    """U[0, 1] on a line in the plane (direction (0.6, 0.8)), or on the line itself (dim 1)."""

    def __init__(self, dim):
        self.dim = dim

    def sample(self, n, generator):
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64)
        return u if self.dim == 1 else u * torch.tensor([[0.6, 0.8]], dtype=torch.float64)


@pytest.mark.parametrize("dim", [1, 2])
def test_w1_floor_matches_the_brownian_bridge_formula(dim):
    """Two exact samples of size m of U[0, 1]: E W1 -> 2 (pi m)^(-1/2) int sqrt(F(1 - F)) dx =
    sqrt(pi) / (4 sqrt(m)), on the line and on a line in the plane alike (exact OT there)."""
    m = 400
    mean, sd = dm.w1_floor(_Uniform(dim), m, repeats=60 if dim == 1 else 20, generator=0)
    exact = math.sqrt(math.pi) / (4 * math.sqrt(m))
    assert mean == pytest.approx(exact, rel=0.12)
    assert 0 < sd < mean
    # the same draws, the same estimator: the floor is what w1_distance reports for a perfect sampler
    g = torch.Generator().manual_seed(0)
    first = dm.w1_distance(_Uniform(dim).sample(m, g), _Uniform(dim).sample(m, g))
    two = dm.w1_floor(_Uniform(dim), m, repeats=2, generator=0)
    g = torch.Generator().manual_seed(0)
    pair = [dm.w1_distance(_Uniform(dim).sample(m, g), _Uniform(dim).sample(m, g)) for _ in range(2)]
    assert first == pytest.approx(pair[0]) and two[0] == pytest.approx(sum(pair) / 2)
    with pytest.raises(ValueError, match="repeats"):
        dm.w1_floor(_Uniform(dim), m, repeats=1)


def test_w1_floor_falls_like_one_over_root_n():
    small = dm.w1_floor(_Uniform(1), 250, repeats=80, generator=1)[0]
    big = dm.w1_floor(_Uniform(1), 4000, repeats=80, generator=2)[0]
    assert big / small == pytest.approx(0.25, rel=0.15)
