"""B-spline engine: closed forms, references (scipy, quadrature, autograd) at float64."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from scipy.interpolate import BSpline

from nnrep_lite.bspline import (
    BsplineDensity,
    besov_sequence_norm,
    bspline_cdf,
    cardinal_bspline,
    cardinal_bspline_derivative,
    decompose,
    diffused_bspline,
    diffused_bspline_grad,
    fit_loglog_slope,
    n_term_approximation,
    n_term_errors,
    reconstruct,
    refinement_mask,
    tensor_bspline,
)
from nnrep_lite.bspline.multiresolution import l2_norm

F64 = torch.float64


# ------------------------------------------------------------------ cardinal B-splines
@pytest.mark.parametrize("order", range(1, 9))
def test_cardinal_matches_scipy(order):
    # N_1 = 1_[0, 1) here, scipy closes the last knot: compare off the knots for order 1
    x = np.linspace(-1.5, order + 1.5, 3001) + (1e-9 if order == 1 else 0.0)
    ref = np.nan_to_num(BSpline.basis_element(np.arange(order + 1), extrapolate=False)(x))
    ours = cardinal_bspline(torch.tensor(x), order).numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", range(1, 9))
def test_partition_of_unity_integral_and_refinement(order):
    x = torch.linspace(0.0, 1.0, 201, dtype=F64)[:-1]
    total = sum(cardinal_bspline(x + j, order) for j in range(order))
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-13)
    integral = sum(integrate.quad(lambda u: float(cardinal_bspline(torch.tensor([u], dtype=F64), order)[0]), i, i + 1,
                                  epsabs=1e-14)[0] for i in range(order))
    assert abs(integral - 1.0) < 1e-12
    y = torch.linspace(-0.5, order + 0.5, 777, dtype=F64)
    refined = sum(r * cardinal_bspline(2 * y - l, order) for l, r in enumerate(refinement_mask(order)))
    torch.testing.assert_close(refined, cardinal_bspline(y, order), rtol=0, atol=1e-13)


@pytest.mark.parametrize("order", range(2, 9))
def test_derivative_matches_scipy(order):
    x = np.linspace(0.013, order - 0.013, 997)
    spl = BSpline.basis_element(np.arange(order + 1), extrapolate=False)
    ours = cardinal_bspline_derivative(torch.tensor(x), order).numpy()
    np.testing.assert_allclose(ours, spl.derivative()(x), rtol=0, atol=1e-11)


def test_tensor_bspline_is_product():
    x = torch.rand(50, 2, dtype=F64) * 2 - 1
    ours = tensor_bspline(x, 3, level=[2, 1], shift=[-3, -1])
    ref = cardinal_bspline(4 * x[:, 0] + 3, 3) * cardinal_bspline(2 * x[:, 1] + 1, 3)
    torch.testing.assert_close(ours, ref)


def test_output_keeps_dtype():
    x32 = torch.linspace(0, 4, 11, dtype=torch.float32)
    assert cardinal_bspline(x32, 4).dtype == torch.float32
    assert diffused_bspline(x32, 0.1, order=4, level=0, shift=0).dtype == torch.float32
    assert cardinal_bspline(0.5, 2).dtype == F64


# ------------------------------------------------------------------ diffused B-spline
def _quad_reference(x, t, m, a, b):
    mu, s = math.exp(-t), math.sqrt(-math.expm1(-2 * t))

    def f(y):
        u = 2.0**a * y - b
        val = float(cardinal_bspline(torch.tensor([u], dtype=F64), m)[0])
        return val * math.exp(-((x - mu * y) ** 2) / (2 * s * s)) / (s * math.sqrt(2 * math.pi))

    lo, hi = b / 2.0**a, (b + m) / 2.0**a
    # break points: the knots and the Gaussian's centre (else quad misses it at small t)
    pts = sorted({(b + k) / 2.0**a for k in range(m + 1)} | ({x / mu} if lo < x / mu < hi else set()))
    return sum(integrate.quad(f, p, q, epsabs=0, epsrel=1e-13, limit=200)[0] for p, q in zip(pts[:-1], pts[1:]))


@pytest.mark.parametrize("order", [1, 2, 4, 6])
@pytest.mark.parametrize("level", [0, 3, 8, 10])
def test_diffused_bspline_against_quadrature(order, level):
    shift = -(2**level) // 2
    xs = np.linspace(-3.0, 3.0, 25)
    for t in [1e-5, 1e-3, 0.1, 1.0, 10.0]:
        ours = diffused_bspline(torch.tensor(xs), t, order=order, level=level, shift=shift).numpy()
        ref = np.array([_quad_reference(x, t, order, level, shift) for x in xs])
        sup = ref.max()
        big = ref > 1e-12 * sup
        rel = np.abs(ours - ref)[big] / ref[big]
        assert rel.max() < 1e-8, (t, rel.max())
        if (~big).any():
            assert np.abs(ours - ref)[~big].max() < 1e-12 * sup


def test_diffused_bspline_limits():
    x = torch.linspace(-1, 5, 301, dtype=F64)
    at0 = diffused_bspline(x, 0.0, order=4, level=0, shift=0)
    torch.testing.assert_close(at0, cardinal_bspline(x, 4))
    tiny = diffused_bspline(x, 1e-9, order=4, level=0, shift=0)
    assert (tiny - at0).abs().max() < 1e-3
    # t tensor broadcast with x, and the OU limit: E -> phi(x) * (mass 2^-a) as t -> inf
    t = torch.full_like(x, 30.0)
    far = diffused_bspline(x, t, order=4, level=2, shift=0)
    torch.testing.assert_close(far, torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi) / 4, rtol=1e-8, atol=0)


@pytest.mark.parametrize("order", [1, 2, 4, 6])
@pytest.mark.parametrize("t", [1e-4, 0.02, 0.7, 5.0])
def test_diffused_grad_finite_differences(order, t):
    x = torch.linspace(-2.5, 2.5, 201, dtype=F64)
    kw = dict(order=order, level=3, shift=-4)
    h = 1e-6
    fd = (diffused_bspline(x + h, t, **kw) - diffused_bspline(x - h, t, **kw)) / (2 * h)
    g = diffused_bspline_grad(x, t, **kw)
    scale = g.abs().max()
    assert ((fd - g).abs() / (g.abs() + 1e-6 * scale)).max() < 1e-4


# ------------------------------------------------------------------ densities
@pytest.fixture(scope="module")
def dens2():
    return BsplineDensity.random_besov(1.5, 2, max_level=3, terms_per_level=12, generator=7)


def test_density_normalised_and_bin_masses(dens2):
    e = torch.linspace(-1, 1, 33, dtype=F64)
    masses = dens2.bin_masses(e)
    assert abs(float(masses.sum()) - 1.0) < 1e-12
    # a cell's exact mass against Gauss-Legendre quadrature of the density (exact for splines)
    xi, w = np.polynomial.legendre.leggauss(6)
    lo, hi = float(e[5]), float(e[6])
    nodes = torch.tensor(lo + (xi + 1) * (hi - lo) / 2)
    lo2, hi2 = float(e[20]), float(e[21])
    nodes2 = torch.tensor(lo2 + (xi + 1) * (hi2 - lo2) / 2)
    grid = torch.stack(torch.meshgrid(nodes, nodes2, indexing="ij"), -1).reshape(-1, 2)
    vals = dens2.density(grid).reshape(6, 6)
    wt = torch.tensor(w) * (hi - lo) / 2
    wt2 = torch.tensor(w) * (hi2 - lo2) / 2
    # the cell is inside one knot interval of every component only if knots align: 1/32 grid
    # refines all levels <= 4, so GL with 6 nodes is exact
    assert abs(float(wt @ vals @ wt2) - float(masses[5, 20])) < 1e-14


def test_density_dense_and_sparse_paths_agree(dens2):
    x = torch.rand(400, 2, dtype=F64) * 2.4 - 1.2
    fast = dens2.density(x)
    grids, dens2._level_grids = dens2._level_grids, None
    try:
        slow = dens2.density(x)
    finally:
        dens2._level_grids = grids
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-14)


def test_sampler_matches_exact_cdf():
    d = BsplineDensity(levels=[[1], [2], [3]], shifts=[[-2], [0], [2]], weights=[1.0, 2.0, 0.5], order=4)
    x = d.sample(20000, generator=3)[:, 0].numpy()

    def cdf(v):
        v = torch.as_tensor(np.atleast_1d(v), dtype=F64)
        z = v.unsqueeze(-1) * 2.0 ** d.levels[:, 0].to(F64) - d.shifts[:, 0].to(F64)
        return (bspline_cdf(z, 4) @ d.mixture_probs).numpy()

    assert stats.kstest(x, cdf).pvalue > 1e-5
    # 2-D: each marginal against its exact CDF, and determinism
    d2 = BsplineDensity.random_besov(1.0, 2, max_level=3, terms_per_level=8, generator=1)
    s = d2.sample(20000, generator=5)
    assert torch.equal(s, d2.sample(20000, generator=5))
    for i in range(2):
        def cdf_i(v, i=i):
            v = torch.as_tensor(np.atleast_1d(v), dtype=F64)
            z = v.unsqueeze(-1) * 2.0 ** d2.levels[:, i].to(F64) - d2.shifts[:, i].to(F64)
            return (bspline_cdf(z, 4) @ d2.mixture_probs).numpy()
        assert stats.kstest(s[:, i].numpy(), cdf_i).pvalue > 1e-5


def test_diffused_density_integrates_to_one_and_matches_1d_factor():
    d = BsplineDensity(levels=[[2], [1]], shifts=[[-1], [-2]], weights=[1.0, 1.0], order=3)
    for t in [1e-3, 0.3, 3.0]:
        knots = (np.arange(-8, 9) / 4 * math.exp(-t)).tolist()  # the diffused knots mu_t * j / 4
        val = integrate.quad(lambda v, t=t: float(d.diffused_density(torch.tensor([[v]], dtype=F64), t)[0]),
                             -12, 12, points=knots, limit=400, epsabs=1e-14, epsrel=1e-13)[0]
        assert abs(val - 1.0) < 1e-11
    x = torch.linspace(-2, 2, 9, dtype=F64).unsqueeze(-1)
    direct = (d.weights[0] * diffused_bspline(x[:, 0], 0.2, order=3, level=2, shift=-1)
              + d.weights[1] * diffused_bspline(x[:, 0], 0.2, order=3, level=1, shift=-2))
    torch.testing.assert_close(d.diffused_density(x, 0.2), direct, rtol=1e-12, atol=0)


@pytest.mark.parametrize("t", [1e-3, 0.05, 1.0])
def test_score_finite_differences(dens2, t):
    x = dens2.sample(200, generator=2) + 0.05 * torch.randn(200, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    score = dens2.score(x, t)
    h = 1e-6
    for i in range(2):
        e = torch.zeros(2, dtype=F64)
        e[i] = h
        fd = (dens2.log_diffused_density(x + e, t) - dens2.log_diffused_density(x - e, t)) / (2 * h)
        assert ((fd - score[:, i]).abs() / (1 + score[:, i].abs())).max() < 1e-5


@pytest.mark.parametrize("t", [0.05, 0.5, 2.0])
def test_score_against_autograd_of_quadrature(dens2, t):
    """Independent reference: p_t = int p_0(y) phi(x - mu y) dy by Gauss-Legendre on the
    finest knot intervals (fine enough for sigma_t >= 0.3), differentiated by autograd."""
    xi, w = np.polynomial.legendre.leggauss(16)
    edges = np.linspace(-1, 1, 2**4 + 1)
    nodes = torch.tensor(np.concatenate([a + (xi + 1) * (b - a) / 2 for a, b in zip(edges[:-1], edges[1:])]))
    wts = torch.tensor(np.concatenate([w * (b - a) / 2 for a, b in zip(edges[:-1], edges[1:])]))
    grid = torch.stack(torch.meshgrid(nodes, nodes, indexing="ij"), -1).reshape(-1, 2)
    p0 = dens2.density(grid) * (wts[:, None] * wts[None, :]).reshape(-1)
    mu, s2 = math.exp(-t), -math.expm1(-2 * t)
    x = (torch.rand(30, 2, dtype=F64, generator=torch.Generator().manual_seed(4)) * 3 - 1.5).requires_grad_(True)
    diff = x[:, None, :] - mu * grid[None]
    pt = (p0 * torch.exp(-(diff**2).sum(-1) / (2 * s2))).sum(-1) / (2 * math.pi * s2)
    (ref,) = torch.autograd.grad(torch.log(pt).sum(), x)
    torch.testing.assert_close(dens2.score(x.detach(), t), ref, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(dens2.diffused_density(x.detach(), t), pt.detach(), rtol=1e-8, atol=0)


def test_score_finite_far_from_support_and_dtype():
    d = BsplineDensity.random_besov(1.0, 1, max_level=4, generator=0)
    x = torch.tensor([[-40.0], [3.0], [0.1]], dtype=torch.float32)
    s = d.score(x, 1e-4)
    assert s.dtype == torch.float32 and torch.isfinite(s).all()
    sigma2 = -math.expm1(-2e-4)
    # far left of the support the score points back: about -(x - mu * (-1)) / sigma^2
    assert abs(float(s[0, 0]) - (-(-40.0 + math.exp(-1e-4)) / sigma2)) / abs(float(s[0, 0])) < 1e-2


# ------------------------------------------------------------------ multiresolution
def test_decompose_reproduces_splines_and_smooth_functions():
    d = BsplineDensity.random_besov(1.0, 1, max_level=5, terms_per_level=10**6, generator=2)
    c = decompose(d.density, order=4, max_level=6)
    x = torch.linspace(-1, 1, 513, dtype=F64).unsqueeze(-1)
    torch.testing.assert_close(reconstruct(c, x), d.density(x), rtol=0, atol=1e-10)
    c2 = decompose(lambda z: torch.exp(-z[:, 0] ** 2 - 0.5 * z[:, 1]), order=4, max_level=5, dim=2)
    y = torch.rand(300, 2, dtype=F64) * 2 - 1
    assert (reconstruct(c2, y) - torch.exp(-y[:, 0] ** 2 - 0.5 * y[:, 1])).abs().max() < 1e-6


def test_n_term_and_l2_norm():
    f = lambda z: torch.abs(z[:, 0]) ** 0.6  # noqa: E731
    c = decompose(f, order=3, max_level=7)
    full, err0 = n_term_approximation(c, c.n_terms())
    assert err0 == 0.0
    errs = n_term_errors(c, [1, 4, 16, 64])
    assert bool((errs[1:] <= errs[:-1] + 1e-15).all())
    # the exact L2 norm against quadrature of the reconstruction
    quad = integrate.quad(lambda v: float(reconstruct(c, torch.tensor([[v]], dtype=F64))[0]) ** 2, -1, 1,
                          points=np.linspace(-1, 1, 2**7 + 1)[1:-1].tolist(), limit=500, epsabs=1e-13)[0]
    assert abs(l2_norm(c) - math.sqrt(quad)) < 1e-9


def test_besov_sequence_norm_direct():
    c = decompose(lambda z: torch.sin(3 * z[:, 0]), order=4, max_level=4)
    s, p, q = 1.3, 1.5, 2.0
    terms = [2 ** (s * k) * (2.0 ** (-k) * float((ck.abs() ** p).sum())) ** (1 / p) for k, ck in enumerate(c.coeffs)]
    assert abs(besov_sequence_norm(c, s=s, p=p, q=q, dim=1) - sum(t**q for t in terms) ** (1 / q)) < 1e-12
    assert besov_sequence_norm(c, s=s, p=p, q=float("inf")) == pytest.approx(max(terms), rel=1e-14)


def test_n_term_rate_matches_smoothness():
    """Best N-term error of a random Besov function of smoothness s: slope within 0.3 of -s/d."""
    s = 1.0
    d = BsplineDensity.random_besov(s, 1, max_level=10, terms_per_level=10**6, generator=0)
    c = decompose(d.density, order=4, max_level=10)
    ns = [16, 32, 64, 128, 256, 512]
    slope = fit_loglog_slope(ns, n_term_errors(c, ns))
    assert abs(slope - (-s)) < 0.3, slope
    d2 = BsplineDensity.random_besov(s, 2, max_level=6, terms_per_level=10**6, generator=0)
    c2 = decompose(d2.density, order=4, max_level=6, dim=2)
    ns2 = [64, 128, 256, 512, 1024, 2048, 4096]
    slope2 = fit_loglog_slope(ns2, n_term_errors(c2, ns2))
    assert abs(slope2 - (-s / 2)) < 0.3, slope2


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cardinal_bspline(0.5, 0), "order"),
        (lambda: cardinal_bspline(0.5, 9), "order"),
        (lambda: diffused_bspline(0.1, 0.1, order=4, level=-1, shift=0), "level"),
        (lambda: diffused_bspline(0.1, -0.1, order=4, level=0, shift=0), "t="),
        (lambda: diffused_bspline(0.1, float("nan"), order=4, level=0, shift=0), "t="),
        (lambda: diffused_bspline_grad(0.1, 0.1, order=0, level=0, shift=0), "order"),
        (lambda: BsplineDensity([[0]], [[0]], [-1.0], order=1), "weights"),
        (lambda: BsplineDensity([[0]], [[0]], [1.0], order=4), "support"),
        (lambda: BsplineDensity([[1, 1]], [[0]], [1.0], order=2), "shape"),
        (lambda: BsplineDensity([[-1]], [[0]], [1.0], order=2), "levels"),
        (lambda: BsplineDensity([[1]], [[0]], [1.0, 2.0], order=2), "weights"),
        (lambda: BsplineDensity([[1]], [[-1]], [1.0], order=2).sample(0), "n="),
        (lambda: BsplineDensity([[1]], [[-1]], [1.0], order=2).score(torch.zeros(3, 2), 0.1), "x.shape"),
        (lambda: BsplineDensity([[1]], [[-1]], [1.0], order=2).score(torch.zeros(3, 1), 0.0), "t="),
        (lambda: BsplineDensity.random_besov(-1.0, 1), "smoothness"),
        (lambda: BsplineDensity.random_besov(1.0, 0), "dim"),
        (lambda: decompose(lambda z: z[:, 0], order=4, max_level=-1), "max_level"),
        (lambda: decompose(lambda z: z[:, 0], order=4, max_level=9, dim=2), "max_level"),
        (lambda: besov_sequence_norm(decompose(lambda z: z[:, 0], max_level=2), s=1, p=0.0, q=2), "p="),
        (lambda: n_term_approximation(decompose(lambda z: z[:, 0], max_level=2), -1), "n_terms"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_density_at_rounded_knots():
    """x = -2e-17 (linspace rounding of 0) must not fall between the pieces."""
    d = BsplineDensity.random_besov(1.0, 1, max_level=5, terms_per_level=10**6, generator=0)
    x = torch.tensor([[-2.0816681711721685e-17], [0.0], [2e-17]], dtype=F64)
    vals = d.density(x)
    assert (vals - vals[1]).abs().max() < 1e-12
    grids, d._level_grids = d._level_grids, None
    try:
        torch.testing.assert_close(d.density(x), vals)
    finally:
        d._level_grids = grids


# ---------------------------------------------------------------- log G dispatch (issue 6)
def test_nm_gauss_rule_matches_bspline_moments():
    """The N_m-weighted Gauss rule reproduces the moments of the sum of m uniforms."""
    import numpy as np

    from nnrep_lite.bspline.diffused import _nm_gauss_rule

    for m in (1, 2, 4, 6, 8):
        u, w = _nm_gauss_rule(m, 12)
        assert abs(w.sum() - 1.0) < 1e-14
        assert abs((w * u).sum() - m / 2) < 1e-13
        assert abs((w * (u - m / 2) ** 2).sum() - m / 12) < 1e-13
        assert abs((w * (u - m / 2) ** 4).sum() - (m / 80 + m * (m - 1) / 48)) < 1e-12
        assert np.all((u > 0) & (u < m))


def _legendre_reference(z, tau, m, nodes):
    """log G and d/dz log G by the per-piece Gauss-Legendre rule in its plain form (explicit
    differences, max-shifted log-sum-exp): the reference for the product-form rules."""
    from nnrep_lite.bspline.diffused import _LOG_SQRT_2PI, _gl_rule

    u, logw = _gl_rule(m, str(z.device), nodes)
    diff = z.unsqueeze(-1) - u
    expo = logw - diff * diff / (2.0 * (tau * tau).unsqueeze(-1))
    top = expo.max(dim=-1, keepdim=True).values
    e = torch.exp(expo - top)
    total = e.sum(-1)
    return (torch.log(total) + top.squeeze(-1) - torch.log(tau) - _LOG_SQRT_2PI,
            -(e * diff).sum(-1) / (total * tau * tau))


@pytest.mark.parametrize("order", [1, 2, 4, 6, 8])
def test_log_g_dispatch_matches_references(order):
    """Every tier of log_g (N_m-weighted rules, per-piece rules, closed form) against a
    64-node-per-piece Legendre rule where that is accurate (tau >= 0.3, tilt <= 8) and the closed
    form elsewhere, across tau from 0.2 to 500 and 60 tau^2 beyond the support."""
    from nnrep_lite.bspline.diffused import _log_g_closed, log_g

    for tau in (0.05, 0.09, 0.12, 0.2, 0.31, 0.5, 0.7, 1.0, 2.0, 5.0, 50.0, 500.0):
        z = torch.linspace(-60 * tau**2, order + 60 * tau**2, 3001, dtype=torch.float64)
        tt = torch.full_like(z, tau)
        got, dgot = log_g(z, tt, order)
        quad, dquad = _legendre_reference(z, tt, order, 64)
        closed, dclosed = _log_g_closed(z, tt, order)
        tilt = ((z - order / 2).abs() - order / 2).clamp_min(0) / tau**2
        use_quad = (tilt <= 8) & (tau >= 0.3)
        ref = torch.where(use_quad, quad, closed)
        dref = torch.where(use_quad, dquad, dclosed)
        assert ((got - ref).abs() / ref.abs().clamp_min(1)).max() < 1e-11, tau
        assert ((dgot - dref).abs() / (dref.abs() + 1 / tau)).max() < 1e-9, tau


@pytest.mark.parametrize("dim", [1, 2])
def test_levelwise_score_matches_per_component_logsumexp(dim):
    """Scalar t, d <= 2: the level-wise matrix-product path (tabulated factors) against the
    per-component log-sum-exp, including points far outside the support."""
    dens = BsplineDensity.random_besov(1.5, dim, generator=0)
    x = dens.sample(2000, generator=1) + 0.05 * torch.randn(2000, dim, dtype=torch.float64,
                                                             generator=torch.Generator().manual_seed(2))
    x = torch.cat([x, torch.tensor([[-40.0] * dim, [3.0] * dim, [0.999] * dim, [1e4] * dim], dtype=torch.float64)])
    for t in (1e-4, 1e-3, 1e-2, 0.1, 1.0, 5.0):
        lp, sc, rows = dens._levelwise(x, t, True)  # called directly: 1-D uses it for many points
        assert not rows.any()
        lp2, sc2 = dens._log_and_score_terms(x, dens._time(t, x.shape[0], x.device), True)
        assert ((lp - lp2).abs() / lp2.abs().clamp_min(1)).max() < 1e-10, t
        assert ((sc - sc2).abs() / (sc2.abs() + 1)).max() < 1e-8, t
        torch.testing.assert_close(dens.score(x, torch.full((x.shape[0],), t, dtype=torch.float64)), sc,
                                   rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("sparse", [False, True])
def test_levelwise_recomputes_rows_where_a_group_underflows(sparse, monkeypatch):
    """Two far-apart fine components: at small t the dense group's row-scaled sum underflows
    between them (the row's largest factors have no weight); those rows are redone per
    component. Per component (the sparse form, the default for such a group) the row scale
    comes from the components' own factors and the point between them needs no redoing; both
    give the per-component log-sum-exp."""
    if not sparse:
        monkeypatch.setattr(BsplineDensity, "_SPARSE_RATIO", 10**12)
    dens = BsplineDensity([[8, 8], [8, 8]], [[-256, -256], [200, 200]], [1.0, 1.0])
    assert (dens._level_groups()[0][4] is not None) == sparse
    x = torch.tensor([[-0.99, -0.99], [0.0, 0.0], [0.8, 0.8], [5.0, -5.0]], dtype=torch.float64)
    t = 1e-4
    logp, _, rows = dens._levelwise(x, t, True)
    if sparse:  # the far point (5, -5) may still be flagged: it is far from everything
        assert rows.tolist()[:3] == [False] * 3
    else:
        assert rows.tolist() == [False, True, False, True]
    lp, sc = dens.log_density_and_score(x, t)
    lp2, sc2 = dens._log_and_score_terms(x, dens._time(t, 4, x.device), True)
    torch.testing.assert_close(lp, lp2, rtol=1e-10, atol=0)
    torch.testing.assert_close(sc, sc2, rtol=1e-8, atol=1e-8)
    assert torch.isfinite(sc).all()


def test_log_g_table_matches_direct():
    """LogGTable against log_g at 400001 points: over [-30, m + 30] where a table of <= 65536
    nodes meets the midpoint checks, over a narrower range for the narrowest Gaussians; through
    both entry points (z, and points x shifts)."""
    from nnrep_lite.bspline.diffused import log_g
    from nnrep_lite.bspline.log_g_table import LogGTable

    for m in (1, 2, 4, 6):
        for tau, width in ((0.05, 1.0), (0.3, 10.0), (1.0, 30.0), (3.0, 30.0), (50.0, 30.0)):
            table = LogGTable.build(-width, m + width, tau, m, budget=65536)
            assert table is not None, (m, tau)
            z = torch.linspace(-width, m + width, 400_001, dtype=torch.float64)
            a, da = table(z)
            b, db = log_g(z, torch.full_like(z, tau), m)
            assert ((a - b).abs() / b.abs().clamp_min(1)).max() < 3e-12, (m, tau)
            assert ((da - db).abs() / (db.abs() + 1 / tau)).max() < 1e-9, (m, tau)
            xs = torch.linspace(0.0, m / 2, 101, dtype=torch.float64)
            c = min(3, int(width))  # xs - k stays inside the table's range
            shifts = torch.arange(-c, c + 1)
            sv, sd = table.at_shifts(xs, -c, 2 * c + 1, shift=0.5, scale=2.0)
            if table.q is not None:  # located once (as the level-wise score does for many blocks)
                lv, ld = table.at_shifts(xs, -c, 2 * c + 1, shift=0.5, scale=2.0, located=table.locate(xs))
                assert torch.equal(lv, sv) and torch.equal(ld, sd)
            cv, cd = table(xs.unsqueeze(1) - shifts.to(torch.float64))
            torch.testing.assert_close(sv, cv + 0.5, rtol=1e-14, atol=1e-12)
            torch.testing.assert_close(sd, 2.0 * cd, rtol=1e-14, atol=1e-12)
    # outside its range a table refuses rather than extrapolating
    with pytest.raises(ValueError, match="range"):
        table.at_shifts(torch.tensor([0.0], dtype=torch.float64), -40, 3)
    # a table that cannot meet the checks within its budget is refused, not returned inexact
    assert LogGTable.build(-30.0, 31.0, 0.05, 1, budget=65536) is None
