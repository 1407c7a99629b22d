"""The N-term diffused B-spline approximation: closed forms and adaptive quadrature at float64."""

import functools
import math

import numpy as np
import pytest
import torch
from scipy import integrate

from nnrep_lite.bspline import (
    BsplineDensity,
    density_coefficients,
    diffusion_quadrature,
    n_term_density,
    n_term_diffusion_errors,
    n_term_grid,
    n_term_rate_fits,
    reconstruct,
)

F64 = torch.float64


@pytest.fixture(scope="module")
def small():
    """A dense random Besov density with levels 1..3 (19 components)."""
    return BsplineDensity.random_besov(1.0, 1, order=4, max_level=3, terms_per_level=10**6, generator=3)


def test_density_coefficients_reconstruct_the_density(small):
    x = torch.linspace(-1.2, 1.2, 601, dtype=F64).unsqueeze(-1)
    coeffs = density_coefficients(small)
    assert coeffs.order == 4 and coeffs.dim == 1 and coeffs.max_level == 3
    assert coeffs.n_terms() == small.n_components
    inside = x[:, 0].abs() <= 1
    torch.testing.assert_close(reconstruct(coeffs, x)[inside], small.density(x)[inside], rtol=0, atol=1e-13)
    d2 = BsplineDensity.random_besov(1.0, 2, order=3, max_level=2, terms_per_level=5, generator=1)
    g = torch.rand(200, 2, dtype=F64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    torch.testing.assert_close(reconstruct(density_coefficients(d2), g), d2.density(g), rtol=0, atol=1e-13)


def test_n_term_density_keeps_the_largest_terms_and_its_error_is_exact(small):
    n = 7
    tr = n_term_density(small, n)
    assert tr.n_terms == n and tr.density.n_components == n
    # the kept terms: the n largest c_j ||N_{k_j, s_j}||_2 = c_j 2^{-k_j/2} ||N_m||_2 (supports inside)
    mag = small.weights * 2.0 ** (-small.levels[:, 0].to(F64) / 2)
    top = set(torch.topk(mag, n).indices.tolist())
    kept = {(int(k), int(s)) for k, s in zip(tr.density.levels[:, 0], tr.density.shifts[:, 0])}
    assert kept == {(int(small.levels[j, 0]), int(small.shifts[j, 0])) for j in top}
    # mass = int p_0^(N) and the t = 0 error, against adaptive quadrature with the knots as breaks
    assert tr.mass == pytest.approx(float(small.weights[list(top)].mul(2.0 ** -small.levels[list(top), 0].to(F64)).sum()),
                                    rel=1e-14)

    def diff(x):
        xs = torch.tensor([[x]], dtype=F64)
        return float(small.density(xs) - tr.mass * tr.density.density(xs))

    knots = np.arange(-8, 9) / 8.0
    ref = sum(integrate.quad(lambda x: diff(x) ** 2, a, b, epsabs=1e-15, epsrel=1e-12)[0]
              for a, b in zip(knots[:-1], knots[1:]))
    assert tr.l2_error == pytest.approx(math.sqrt(ref), rel=1e-9)
    full = n_term_density(small, small.n_components)
    assert full.l2_error < 1e-14 and full.mass == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("t", [1e-5, 1e-3, 0.1, 2.0])
def test_quadrature_integrates_moments_of_p_t_exactly(small, t):
    x, w = diffusion_quadrature(t, max_level=3)
    assert x.dtype == F64 and w.shape == x.shape
    p = small.diffused_density(x.unsqueeze(-1), t)
    mu, var = math.exp(-t), -math.expm1(-2 * t)
    # mixture moments of p_0: component j is (s_j + sum of 4 U[0,1]) / 2^{k_j}
    scale = 2.0 ** small.levels[:, 0].to(F64)
    mean_j = (small.shifts[:, 0].to(F64) + 2.0) / scale
    m2_j = mean_j**2 + (4 / 12) / scale**2
    m1, m2 = float(small.mixture_probs @ mean_j), float(small.mixture_probs @ m2_j)
    assert float((p * w).sum()) == pytest.approx(1.0, abs=1e-12)
    assert float((x * p * w).sum()) == pytest.approx(mu * m1, abs=1e-12)
    assert float((x * x * p * w).sum()) == pytest.approx(mu**2 * m2 + var, abs=1e-12)


def test_errors_match_adaptive_quadrature(small):
    t, ns = 0.02, [3, 9]
    got = n_term_diffusion_errors(small, ns, [t])
    assert got["density_l2"].dtype == F64 and got["density_l2"].shape == (1, 2)
    assert got["mass"][0] == pytest.approx(1.0, abs=1e-12)
    mu, sigma = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
    breaks = np.concatenate([[-mu - 12 * sigma], mu * np.arange(-8, 9) / 8.0, [mu + 12 * sigma]])
    for j, n in enumerate(ns):
        tr = n_term_density(small, n)

        @functools.cache
        def parts(x, tr=tr):
            xs = torch.tensor([[x]], dtype=F64)
            lp, sp = small.log_density_and_score(xs, t)
            lq, sq = tr.density.log_density_and_score(xs, t)
            p = math.exp(float(lp))
            return p, tr.mass * math.exp(float(lq)), float(sq[0, 0] - sp[0, 0])

        def quad(f):
            return sum(integrate.quad(f, a, b, epsabs=1e-14, epsrel=1e-11, limit=200)[0]
                       for a, b in zip(breaks[:-1], breaks[1:]))

        den = math.sqrt(quad(lambda x: (parts(x)[0] - parts(x)[1]) ** 2))
        sc = quad(lambda x: parts(x)[0] * parts(x)[2] ** 2)
        assert float(got["density_l2"][0, j]) == pytest.approx(den, rel=1e-8)
        assert float(got["score"][0, j]) == pytest.approx(sc, rel=1e-8)


def test_small_t_density_error_tends_to_the_exact_t0_error_and_full_expansion_has_none(small):
    got = n_term_diffusion_errors(small, [2, 5, small.n_components], [1e-8])
    torch.testing.assert_close(got["density_l2"][0, :2], got["l2_t0"][:2], rtol=1e-4, atol=0)
    assert float(got["density_l2"][0, 2]) < 1e-12 and float(got["score"][0, 2]) < 1e-12


def test_rate_fits_recover_a_power_law_in_the_window():
    ns = [4, 8, 16, 32, 64, 128, 256]
    ts = [1e-3, 1.0]
    sigma2 = torch.tensor([-math.expm1(-2 * t) for t in ts], dtype=F64)
    n = torch.tensor(ns, dtype=F64)
    errors = {"ns": ns, "ts": ts, "n_total": 1024, "dim": 1, "sigma2": sigma2,
              "density_l2": 3.0 * n.pow(-1.5).expand(2, -1), "score": n.pow(-3.0) / sigma2.unsqueeze(1)}
    fits = n_term_rate_fits(errors, min_n_sigma=2.0, min_n=8, max_fraction=0.25)
    # t = 1e-3: sigma = 0.0447, N sigma >= 2 from N = 45; t = 1: N in [8, 256]
    assert fits[0]["window"] == [64, 128, 256] and fits[1]["window"] == [8, 16, 32, 64, 128, 256]
    for row in fits:
        assert row["score"]["slope"] == pytest.approx(-3.0, abs=1e-12)
        assert row["density"]["slope"] == pytest.approx(-1.5, abs=1e-12)
    few = n_term_rate_fits(errors, min_n=100)
    assert few[0]["score"] is None and few[0]["window"] == [128, 256]


def test_n_term_grid_is_log_spaced_and_bounded():
    grid = n_term_grid(2017, points=12)
    assert grid[0] == 4 and grid[-1] == 504 and len(grid) == 12
    ratios = np.diff(np.log(grid))
    assert ratios.min() > 0 and ratios.max() < 2 * ratios.min() + 0.2


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda d: n_term_density(d, 0), "n_terms"),
        (lambda d: n_term_density(d, 10**6), "n_terms"),
        (lambda d: diffusion_quadrature(0.0, max_level=3), "t="),
        (lambda d: diffusion_quadrature(0.1, max_level=-1), "max_level"),
        (lambda d: diffusion_quadrature(0.1, max_level=3, nodes=1), "nodes"),
        (lambda d: diffusion_quadrature(0.1, max_level=3, width=0.5), "width"),
        (lambda d: n_term_diffusion_errors(d, [0], [0.1]), "ns="),
        (lambda d: n_term_diffusion_errors(d, [2], [-0.1]), "ts="),
        (lambda d: n_term_diffusion_errors(d, [2], [float("nan")]), "ts="),
        (lambda d: n_term_diffusion_errors(d, [], [0.1]), "ns and ts"),
        (lambda d: n_term_diffusion_errors(BsplineDensity.random_besov(1.0, 2, max_level=2, terms_per_level=3,
                                                                       generator=0), [2], [0.1]), "dim"),
        (lambda d: n_term_grid(100, points=1), "points"),
        (lambda d: n_term_grid(100, fraction=0.0), "fraction"),
        (lambda d: n_term_rate_fits({"ns": [1], "ts": [1], "score": 0, "density_l2": 0, "n_total": 1},
                                    min_n_sigma=-1.0), "min_n_sigma"),
        (lambda d: n_term_rate_fits({"ns": [1], "ts": [1], "score": 0, "density_l2": 0, "n_total": 1},
                                    max_fraction=2.0), "max_fraction"),
    ],
)
def test_bad_input_names_the_parameter(small, call, match):
    with pytest.raises(ValueError, match=match):
        call(small)


def test_mixed_level_components_are_refused():
    d = BsplineDensity([[1, 2]], [[-2, -4]], [1.0], order=4)
    with pytest.raises(ValueError, match="same level"):
        density_coefficients(d)


def test_figures_have_plain_labels_and_follow_the_output_width(small):
    from nnrep_lite.viz import bspline as viz
    from nnrep_lite.viz import style

    ns, ts = [4, 6, 8, 10, 12], [1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0]
    errors = n_term_diffusion_errors(small, ns, ts)
    fits = n_term_rate_fits(errors, min_n=4, max_fraction=0.7)
    curves = viz.nterm_figure(errors, fits, s=1.0, t_check=0.1)
    heat = viz.nterm_heatmap_figure(errors, s=1.0)
    for fig in (curves, heat):
        assert style.latex_in_labels(fig) == [] and style.fixed_width(fig) is None
    names = [tr.name for tr in curves.data]
    assert sum(n.startswith("t = ") and "exact" not in n for n in names) == 2 * 5  # five times, two panels
    assert any("N<sup>−2s/d</sup>" in n and "t = 0.1" in n for n in names)
    assert curves.layout.xaxis.type == "log" and curves.layout.yaxis2.type == "log"
    z = np.asarray(heat.data[0].z)
    assert z.shape == (len(ts), len(ns)) and np.isfinite(z).all()
