"""The least-favourable density of the minimax lower bound: positivity, unit mass, bump count and
level, a Besov norm bounded uniformly in n, argument checks."""

import math

import numpy as np
import pytest
import torch

from nnrep_lite import diffusion as dm
from nnrep_lite.bspline import besov_sequence_norm, reconstruct

NS = [2, 8, 125, 1000, 8000, 64000, 2**20]


def _grid(points=40001):
    return torch.linspace(-1.0, 1.0, points, dtype=torch.float64)[:, None]


@pytest.mark.parametrize("n", [125, 4000, 64000])
@pytest.mark.parametrize("s", [0.5, 1.0, 2.0])
def test_positive_with_unit_mass(n, s):
    p = dm.least_favourable_density(n, s, generator=n)
    xq, wq = np.polynomial.legendre.leggauss(8)  # exact for the cubic pieces of width 2^-(k+3)
    cells = 2 ** (p.level + 4)
    lo = torch.linspace(-1.0, 1.0, cells + 1, dtype=torch.float64)
    half = (lo[1] - lo[0]) / 2
    x = ((lo[:-1] + half)[:, None] + half * torch.as_tensor(xq)).reshape(-1, 1)
    w = (half * torch.as_tensor(wq)).repeat(cells)
    vals = p.density(x)
    assert float((vals * w).sum()) == pytest.approx(1.0, abs=1e-12)
    inner = p.density(torch.linspace(-0.5, 0.5, 4001, dtype=torch.float64)[:, None])
    z = 13 / 8
    assert float(inner.min()) >= (1 - p.bump_coefficient) / z - 1e-12  # bounded below where the bumps are
    assert float(p.density(_grid()).min()) >= 0.0
    assert bool((p.weights >= 0).all())


@pytest.mark.parametrize("n", NS)
def test_level_and_number_of_bumps(n):
    s = 1.0
    p = dm.least_favourable_density(n, s, generator=0)
    k = round(math.log2(n) / (2 * s + 1))
    assert p.level == k == dm.least_favourable_level(n, s)
    assert p.n_bumps == 2**k == p.signs.numel()
    assert set(p.signs.tolist()) <= {-1.0, 1.0}
    assert p.bump_coefficient == pytest.approx(p.amplitude * 2.0 ** (-k * s))
    assert int(p.levels.max()) == int(p.levels.min()) == k + 3
    # 2 bump B-splines per bump at level k + 3 (at k = 0 that is the base's level 3: subtract it)
    bumps = p.besov_coefficients[k + 3]
    if k == 0:
        bumps = bumps - torch.where(bumps != 0, torch.full_like(bumps, 1 / 1.625), torch.zeros_like(bumps))
    assert int((bumps.abs() > 1e-15).sum()) == 2 * 2**k


def test_the_density_is_base_plus_signed_bumps():
    n, s = 4000, 1.0
    p = dm.least_favourable_density(n, s, generator=3)
    x = _grid()
    assert torch.allclose(p.density(x), reconstruct(p.besov_coefficients, x), rtol=0, atol=1e-13)
    q = dm.least_favourable_density(n, s, generator=4)
    # flipping signs moves only the bump region [-1/2, 1/2]; each flipped bump changes TV by the same amount
    out = x[:, 0].abs() > 0.5
    assert torch.allclose(p.density(x)[out], q.density(x)[out], atol=1e-14)
    flips = int((p.signs != q.signs).sum())
    # TV = sum over flipped bumps of |2 a psi| / (2Z) integrated: a ||psi||_1 2^-k / Z per flip, ||psi||_1 = 1/4
    tv = dm.density_tv(p, q, cells=4096, nodes=8)
    expected = flips * p.bump_coefficient * 0.25 * 2.0 ** (-p.level) / (13 / 8)
    assert tv == pytest.approx(expected, rel=1e-9)


def test_besov_norm_bounded_uniformly_in_n():
    for s in (0.5, 1.0, 2.0):
        sup, l2 = [], []
        for n in NS[:-1]:
            p = dm.least_favourable_density(n, s, generator=1)
            sup.append(dm.besov_sup_norm(p.besov_coefficients, s=s))
            l2.append(besov_sequence_norm(p.besov_coefficients, s=s, p=2.0, q=float("inf")))
            # B^s_{inf,inf}: the base's level-3 coefficients 1/Z give 2^{3s}/Z, the bumps' c 2^{-ks}/Z at
            # level k + 3 give c 2^{3s}/Z; at k = 0 both sit on level 3: (1 + c) 2^{3s}/Z
            bound = 2 ** (3 * s) / (13 / 8) * (1 + p.amplitude if p.level == 0 else 1.0)
            assert sup[-1] == pytest.approx(bound, rel=1e-12)
        assert max(sup) <= 2 ** (3 * s) * 1.9 / (13 / 8) * (1 + 1e-12)
        assert max(l2) <= 2 ** (3 * s) * 1.9 / (13 / 8)  # B^s_{2,inf} bounded as well
        # the bump level alone: 2^{(k+3)s} c 2^{-ks} / Z = c 2^{3s} / Z, the same at every n
        p = dm.least_favourable_density(NS[-2], s, generator=1)
        lev = p.level + 3
        top = 2 ** (lev * s) * float(p.besov_coefficients[lev].abs().max())
        assert top == pytest.approx(p.amplitude * 2 ** (3 * s) / (13 / 8), rel=1e-12)


def test_signs_follow_the_generator():
    a = dm.least_favourable_density(8000, 1.0, generator=5)
    b = dm.least_favourable_density(8000, 1.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.signs, b.signs) and torch.equal(a.weights, b.weights)
    assert dm.fingerprint(a) != dm.fingerprint(dm.least_favourable_density(8000, 1.0, generator=6))


def test_kde_rate_experiment_accepts_it():
    p = dm.least_favourable_density(500, 1.0, generator=0)
    rows = dm.rate_experiment(p, [500], seeds=[0], estimators=("kde",), smoothness=1.0, cache=False, progress=False)
    assert rows[0]["tv_method"] == "quadrature" and 0 < rows[0]["error"] < 0.2


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=1, smoothness=1.0), "n"),
    (dict(n=100, smoothness=0.0), "smoothness"),
    (dict(n=100, smoothness=3.0), "smoothness"),
    (dict(n=100, smoothness=1.0, dim=2), "dim"),
    (dict(n=100, smoothness=1.0, amplitude=1.0), "amplitude"),
    (dict(n=100, smoothness=1.0, amplitude=0.0), "amplitude"),
    (dict(n=2**40, smoothness=1.0), "n"),
])
def test_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        dm.least_favourable_density(**kwargs)


def test_experiment_rows_and_the_bumps_bias():
    rows = dm.least_favourable_experiment([250, 4000], 1.0, seeds=[0, 1], cache=False)
    kde_rows = [r for r in rows if r["estimator"] == "kde"]
    bias_rows = [r for r in rows if r["estimator"] == "kde bias (bumps)"]
    assert len(kde_rows) == len(bias_rows) == 4
    for r, b in zip(kde_rows, bias_rows):
        assert (r["n"], r["seed"], r["level"]) == (b["n"], b["seed"], b["level"])
        assert r["level"] == dm.least_favourable_level(r["n"], 1.0)
        # h spans many bump widths: the KDE flattens the bumps, bias ~ ||f_omega||_1 / 2 = c 2^{-ks} / (8 Z)
        half_l1 = 0.9 * 2.0 ** (-r["level"]) / (8 * 13 / 8)
        assert 0.8 * half_l1 < b["error"] < 1.1 * half_l1  # (at most 2 half_l1: |phi*f - f| <= |phi*f| + |f|)
        assert b["error"] < r["error"]


def test_smoothing_by_diffusion_is_the_gaussian_convolution():
    from nnrep_lite.diffusion.least_favourable import _smoothed

    p = dm.least_favourable_density(1000, 1.0, generator=2)
    h = 0.05
    y = torch.linspace(-1.0, 1.0, 400001, dtype=torch.float64)
    py = p.density(y[:, None])
    x = torch.tensor([-0.7, -0.3, 0.0, 0.12, 0.45, 0.98], dtype=torch.float64)
    ref = torch.stack([torch.trapezoid(py * torch.exp(-0.5 * ((xx - y) / h) ** 2), y) for xx in x])
    ref = ref / (h * math.sqrt(2 * math.pi))
    assert torch.allclose(_smoothed(p, h)(x[:, None]), ref, rtol=1e-9, atol=1e-12)
