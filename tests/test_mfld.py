"""Tests for nnrep_lite.mfld: closed forms and autograd at float64, exact OU stationarity,
SG/SVRG unbiasedness, argument validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from nnrep_lite._utils import DivergenceError, as_generator
from nnrep_lite.mfld import (
    GaussianMixtureTarget,
    KSDVariational,
    LogisticPosterior,
    MeanFieldNet,
    MMDDensity,
    Quadratic,
    Regression,
    ReplicatedRegression,
    chaos_w2,
    fit_slope,
    free_energy,
    gaussian_eta_bias,
    knn_entropy,
    make_regression,
    mfld,
    particle_number_experiment,
    proximal_gibbs,
    proximal_gibbs_gap,
    svrg_gradient,
    w2_distance,
)
from nnrep_lite.mfld.langevin import _all_finite

F64 = torch.float64
gen = as_generator  # gen(seed): a fresh CPU generator seeded with it


def autograd_first_variation_grad(obj, x, batch=None):
    """N * dF(mu_N)/dX^i by autograd of a value (V-statistic objectives)."""
    x = x.clone().requires_grad_(True)
    if batch is None:
        val = obj.value(x)
    else:  # the batch loss: the data average restricted to the batch
        val = batch_value(obj, x, batch)
    (g,) = torch.autograd.grad(val, x)
    return g * x.shape[0]


def batch_value(obj, x, batch):
    if isinstance(obj, Regression):
        f = obj.model.forward(x, obj.z[batch])
        return 0.5 * ((f - obj.y[batch]) ** 2).mean() + obj.lambda1 * (x * x).sum(1).mean()
    sub = MMDDensity(obj.data[batch], bandwidth=obj.bandwidth, smoothing=obj.smoothing, lambda1=obj.lambda1)
    return sub.value(x)


# ------------------------------------------------------------------ models and objectives


def test_meanfield_net_matches_explicit_formula():
    net = MeanFieldNet()
    x = torch.randn(7, 4, generator=gen(0), dtype=F64)
    z = torch.randn(5, 2, generator=gen(1), dtype=F64)
    explicit = torch.stack(
        [torch.mean(torch.tanh(x[:, 0]) * torch.tanh(x[:, 1:3] @ zj + x[:, 3])) for zj in z]
    )
    torch.testing.assert_close(net(x, z), explicit, rtol=1e-13, atol=1e-13)
    assert net(x, z).abs().max() <= 1.0
    erf = MeanFieldNet("erf")
    torch.testing.assert_close(
        erf(x, z), (torch.tanh(x[:, :1]) * torch.erf(x[:, 1:3] @ z.T + x[:, 3:])).mean(0)
    )


@pytest.mark.parametrize("activation,input_dim", [("tanh", 1), ("tanh", 2), ("erf", 2)])
def test_regression_gradient_matches_autograd(activation, input_dim):
    z, y = make_regression(9, input_dim, generator=3)
    obj = Regression(z, y, lambda1=0.03, model=MeanFieldNet(activation))
    x = torch.randn(6, input_dim + 2, generator=gen(4), dtype=F64)
    torch.testing.assert_close(
        obj.first_variation_grad(x), autograd_first_variation_grad(obj, x), rtol=1e-10, atol=1e-12
    )
    batch = torch.tensor([0, 3, 7])
    torch.testing.assert_close(
        obj.first_variation_grad(x, batch),
        autograd_first_variation_grad(obj, x, batch),
        rtol=1e-10,
        atol=1e-12,
    )
    # first_variation is the potential whose gradient the loop follows
    pts = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(obj.first_variation(x.detach(), pts).sum(), pts)
    torch.testing.assert_close(obj.first_variation_grad(x), g, rtol=1e-10, atol=1e-12)
    # value is the squared loss written out
    f = obj.predict(x)
    want = 0.5 * ((f - y) ** 2).mean() + 0.03 * (x * x).sum(1).mean()
    torch.testing.assert_close(obj.value(x), want)


@pytest.mark.parametrize("dim,smoothing", [(1, 0.0), (1, 0.3), (2, 0.2)])
def test_mmd_gradient_matches_autograd(dim, smoothing):
    data = torch.randn(11, dim, generator=gen(5), dtype=F64)
    obj = MMDDensity(data, bandwidth=0.7, smoothing=smoothing, lambda1=0.02)
    x = torch.randn(8, dim, generator=gen(6), dtype=F64)
    torch.testing.assert_close(
        obj.first_variation_grad(x), autograd_first_variation_grad(obj, x), rtol=1e-10, atol=1e-12
    )
    batch = torch.tensor([1, 2, 9, 10])
    torch.testing.assert_close(
        obj.first_variation_grad(x, batch),
        autograd_first_variation_grad(obj, x, batch),
        rtol=1e-10,
        atol=1e-12,
    )
    pts = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(obj.first_variation(x.detach(), pts).sum(), pts)
    torch.testing.assert_close(obj.first_variation_grad(x), g, rtol=1e-10, atol=1e-12)


def test_mmd_value_matches_direct_formula_and_quadrature():
    data = torch.tensor([[-0.4], [0.1], [0.9]], dtype=F64)
    x = torch.tensor([[0.0], [0.5]], dtype=F64)
    s, tau = 0.6, 0.35
    # no smoothing: the V-statistic MMD^2 with the Gaussian kernel
    k = lambda a, b: np.exp(-((a - b) ** 2) / (2 * s * s))  # noqa: E731
    xa, da = x[:, 0].numpy(), data[:, 0].numpy()
    direct = k(xa[:, None], xa[None]).mean() - 2 * k(xa[:, None], da[None]).mean() + k(da[:, None], da[None]).mean()
    assert float(MMDDensity(data, bandwidth=s).value(x)) == pytest.approx(direct, rel=1e-12)
    # smoothing: the Gaussian-Gaussian convolutions against Gauss-Hermite quadrature
    nodes, w = np.polynomial.hermite_e.hermegauss(80)  # E f(e), e ~ N(0, 1)
    w = w / w.sum()
    e = tau * nodes
    k1 = lambda a, b: float(np.sum(w * k(a + e, b)))  # noqa: E731
    k2 = lambda a, b: float(np.sum(w[:, None] * w[None] * k(a + e[:, None], b + e[None])))  # noqa: E731
    quad = (
        np.mean([[k2(a, b) for b in xa] for a in xa])
        - 2 * np.mean([[k1(a, b) for b in da] for a in xa])
        + k(da[:, None], da[None]).mean()
    )
    assert float(MMDDensity(data, bandwidth=s, smoothing=tau).value(x)) == pytest.approx(quad, rel=1e-7)


def test_gmm_target_score_and_hessian_match_autograd():
    target = GaussianMixtureTarget([[-1.0, 0.5], [1.2, -0.3]], [0.5, 0.8], [0.3, 0.7])
    x = torch.randn(5, 2, generator=gen(7), dtype=F64)
    xr = x.clone().requires_grad_(True)
    (s,) = torch.autograd.grad(target.log_density(xr).sum(), xr)
    torch.testing.assert_close(target.score(x), s)
    jac = torch.stack([torch.autograd.functional.hessian(lambda v: target.log_density(v[None])[0], xi) for xi in x])
    torch.testing.assert_close(target.score_jacobian(x), jac)
    post = LogisticPosterior.synthetic(15, generator=1)
    xr = x.clone().requires_grad_(True)
    (s,) = torch.autograd.grad(post.log_density(xr).sum(), xr)
    torch.testing.assert_close(post.score(x), s)
    jac = torch.stack([torch.autograd.functional.hessian(lambda v: post.log_density(v[None])[0], xi) for xi in x])
    torch.testing.assert_close(post.score_jacobian(x), jac)


@pytest.mark.parametrize("kind", ["gmm", "logistic", "callable"])
def test_ksd_gradient_matches_autograd(kind):
    if kind == "gmm":
        target = GaussianMixtureTarget([[-1.0, 0.0], [1.0, 0.5]], [0.4, 0.6])
    elif kind == "logistic":
        target = LogisticPosterior.synthetic(12, generator=2)
    else:
        gmm = GaussianMixtureTarget([[0.0, 0.0]], [0.7])
        target = gmm.score  # plain callable: Jacobian through torch.func
    obj = KSDVariational(target, bandwidth=0.8, lambda1=0.01)
    x = torch.randn(7, 2, generator=gen(8), dtype=F64)
    torch.testing.assert_close(
        obj.first_variation_grad(x), autograd_first_variation_grad(obj, x), rtol=1e-9, atol=1e-11
    )
    pts = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(obj.first_variation(x.detach(), pts).sum(), pts)
    torch.testing.assert_close(obj.first_variation_grad(x), g, rtol=1e-9, atol=1e-11)


def test_stein_kernel_has_zero_mean_under_target():
    """Stein's identity: E_{x~p} u_p(x, x') = 0 for every x' (1-D quadrature)."""
    target = GaussianMixtureTarget([[-1.0], [1.5]], [0.3, 0.5], [0.4, 0.6])
    obj = KSDVariational(target, bandwidth=0.5)
    for xp in (-0.7, 0.2, 1.9):
        y = torch.tensor([[xp]], dtype=F64)

        def integrand(t, y=y):
            x = torch.tensor([[t]], dtype=F64)
            return float(obj.stein_kernel(x, y)[0, 0] * target.density(x)[0])

        val, err = integrate.quad(integrand, -8, 8, epsabs=1e-12, limit=200)
        assert abs(val) < 1e-9


# ------------------------------------------------------------------ the loop


def test_quadratic_stationary_variance_exact_for_discrete_chain():
    """OU chain: per-coordinate variance lambda2 / (2 lambda1 (1 - lambda1 eta)), N = 20000."""
    lam1, lam2, eta = 1.0, 0.3, 0.4
    obj = Quadratic(lam1)
    tail = []
    x0 = torch.zeros(20000, 2, dtype=F64)
    mfld(obj, x0, eta=eta, lambda2=lam2, steps=150, generator=0, progress=False,
         callback=lambda info: tail.append(info["particles"].var(0)) if info["step"] > 50 else None,
         callback_every=2)
    measured = float(torch.stack(tail).mean())
    want = obj.stationary_variance(lam2, eta)
    assert measured == pytest.approx(want, rel=0.03)
    # the continuous-time value lambda2/(2 lambda1) is 40% off here: the test discriminates
    assert abs(measured - lam2 / (2 * lam1)) > 0.2 * want


def test_gaussian_eta_bias_slope_one_and_matches_exact():
    out = gaussian_eta_bias([0.02, 0.04, 0.08, 0.16], n_particles=2000, dim=4, steps=250,
                            burn_in=80, generator=0)
    assert 0.85 <= out["fit"]["slope"] <= 1.15
    for m, se, ex in zip(out["measured"], out["stderr"], out["exact"]):
        assert abs(m - ex) < 6 * se + 1e-3 * ex


def test_lambda2_zero_is_particle_gradient_descent():
    z, y = make_regression(20, 1, generator=1)
    obj = Regression(z, y, lambda1=0.01)
    x0 = MeanFieldNet().init_particles(10, 1, generator=2)
    xs, hist = mfld(obj, x0, eta=0.3, lambda2=0.0, steps=25, progress=False)
    x = x0.clone()
    for _ in range(25):
        x = x - 0.3 * obj.first_variation_grad(x)
    torch.testing.assert_close(xs, x, rtol=1e-12, atol=1e-14)
    assert len(hist["F"]) == 25 and hist["grad_evals"][-1] == 25
    assert hist["F"][-1] < hist["F"][0]


def test_sg_with_full_batch_equals_full_gradient_and_is_deterministic():
    z, y = make_regression(16, 2, generator=1)
    obj = Regression(z, y, lambda1=0.01)
    x0 = MeanFieldNet().init_particles(12, 2, generator=2)
    a, ha = mfld(obj, x0, eta=0.2, lambda2=0.01, steps=20, generator=5, progress=False)
    b, hb = mfld(obj, x0, eta=0.2, lambda2=0.01, steps=20, batch_size=16, generator=5, progress=False)
    assert torch.equal(a, b) and ha["F"] == hb["F"]
    c, _ = mfld(obj, x0, eta=0.2, lambda2=0.01, steps=20, batch_size=4, generator=5, progress=False)
    d, _ = mfld(obj, x0, eta=0.2, lambda2=0.01, steps=20, batch_size=4, generator=5, progress=False)
    assert torch.equal(c, d) and not torch.equal(a, c)


def test_batch_and_svrg_estimators_are_unbiased_exactly_over_all_batches():
    z, y = make_regression(6, 1, generator=3)
    obj = Regression(z, y, lambda1=0.02)
    x = torch.randn(5, 3, generator=gen(1), dtype=F64)
    anchor = x + 0.3 * torch.randn(5, 3, generator=gen(2), dtype=F64)
    anchor_grad = obj.first_variation_grad(anchor)
    full = obj.first_variation_grad(x)
    batches = [torch.tensor(c) for c in itertools.combinations(range(6), 2)]
    sg_mean = torch.stack([obj.first_variation_grad(x, b) for b in batches]).mean(0)
    svrg_mean = torch.stack([svrg_gradient(obj, x, anchor, anchor_grad, b) for b in batches]).mean(0)
    torch.testing.assert_close(sg_mean, full, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(svrg_mean, full, rtol=1e-12, atol=1e-14)


def test_svrg_unbiased_over_drawn_batches_and_lower_variance():
    z, y = make_regression(40, 1, generator=3)
    obj = Regression(z, y, lambda1=0.02)
    x = torch.randn(8, 3, generator=gen(1), dtype=F64)
    anchor = x + 0.05 * torch.randn(8, 3, generator=gen(2), dtype=F64)
    anchor_grad = obj.first_variation_grad(anchor)
    full = obj.first_variation_grad(x)
    g = gen(9)
    draws = [obj.draw_batch(5, g, "cpu") for _ in range(2000)]
    assert all(len(set(b.tolist())) == 5 for b in draws)  # without replacement
    sv = torch.stack([svrg_gradient(obj, x, anchor, anchor_grad, b) for b in draws])
    sg = torch.stack([obj.first_variation_grad(x, b) for b in draws])
    for est in (sv, sg):
        se = est.std(0) / math.sqrt(len(draws))
        assert bool(((est.mean(0) - full).abs() <= 5 * se + 1e-12).all())
    assert float(sv.var(0).sum()) < 0.1 * float(sg.var(0).sum())


def test_svrg_and_sg_runs_record_gradient_cost():
    z, y = make_regression(32, 1, generator=3)
    obj = Regression(z, y, lambda1=0.01)
    x0 = MeanFieldNet().init_particles(16, 1, generator=2)
    _, h = mfld(obj, x0, eta=0.2, lambda2=0.01, steps=16, batch_size=8, variance_reduction="svrg",
                svrg_period=4, generator=1, progress=False)
    assert h["grad_evals"][-1] == pytest.approx(4 * 1.0 + 16 * 2 * 8 / 32)
    _, h = mfld(obj, x0, eta=0.2, lambda2=0.01, steps=16, batch_size=8, generator=1, progress=False)
    assert h["grad_evals"][-1] == pytest.approx(16 * 8 / 32)
    assert len(h["F"]) == 16 and len(h["time"]) == 16


def test_dtype_kept_and_callback_called():
    obj = Quadratic(0.5)
    x0 = torch.randn(30, 2, generator=gen(0), dtype=torch.float32)
    calls = []
    xs, h = mfld(obj, x0, eta=0.1, lambda2=0.1, steps=23, generator=0, callback=calls.append,
                 callback_every=5, progress=False)
    assert xs.dtype == torch.float32 and xs.device == x0.device
    assert [c["step"] for c in calls] == [5, 10, 15, 20, 23]
    assert {"particles", "F", "time", "grad_evals"} <= set(calls[0])
    assert not torch.equal(xs, x0)  # input not modified, output moved
    assert torch.equal(x0, torch.randn(30, 2, generator=gen(0), dtype=torch.float32))


def test_divergence_names_eta():
    obj = Quadratic(1.0)
    with pytest.raises(DivergenceError, match="eta"):
        mfld(obj, torch.ones(4, 1, dtype=F64), eta=5.0, lambda2=0.0, steps=2000, progress=False)
    assert issubclass(DivergenceError, ValueError)


def test_all_finite_is_the_elementwise_test():
    big = torch.full((4,), 3e38, dtype=torch.float32)  # finite, but its sum overflows
    assert _all_finite(big) and not math.isfinite(float(big.sum()))
    assert _all_finite(torch.randn(50, 3))
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.randn(50, 3)
        x[7, 1] = bad
        assert not _all_finite(x)
    pair = torch.tensor([float("inf"), -float("inf"), 1.0])  # the sum is NaN, not +-inf
    assert not _all_finite(pair)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"eta": 0.0}, "eta"),
        ({"eta": -1.0}, "eta"),
        ({"lambda2": -0.1}, "lambda2"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 21}, "batch_size"),
        ({"variance_reduction": "saga"}, "variance_reduction"),
        ({"variance_reduction": "svrg"}, "batch_size"),
    ],
)
def test_bad_loop_arguments(kwargs, match):
    z, y = make_regression(20, 1, generator=1)
    obj = Regression(z, y, lambda1=0.01)
    x0 = MeanFieldNet().init_particles(4, 1, generator=2)
    args = {"eta": 0.1, "lambda2": 0.01, "steps": 3, "progress": False} | kwargs
    with pytest.raises(ValueError, match=match):
        mfld(obj, x0, **args)


def test_bad_objective_arguments():
    z, y = make_regression(5, 1, generator=1)
    with pytest.raises(ValueError, match="lambda1"):
        Regression(z, y, lambda1=-0.1)
    with pytest.raises(ValueError, match="lambda1"):
        Quadratic(-1.0)
    with pytest.raises(ValueError, match="lambda1"):
        MMDDensity(z, bandwidth=1.0, lambda1=-1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        MMDDensity(z, bandwidth=0.0)
    with pytest.raises(ValueError, match="particles"):  # dimension mismatch
        mfld(Regression(z, y, lambda1=0.0), torch.zeros(4, 5, dtype=F64), eta=0.1, lambda2=0.0,
             steps=1, progress=False)
    with pytest.raises(ValueError, match="batch_size"):  # no data to batch
        mfld(Quadratic(1.0), torch.zeros(4, 2, dtype=F64), eta=0.1, lambda2=0.0, steps=1,
             batch_size=2, progress=False)
    with pytest.raises(ValueError, match="activation"):
        MeanFieldNet("relu")


# ------------------------------------------------------------------ diagnostics


@pytest.mark.parametrize("d", [1, 2])
def test_knn_entropy_gaussian(d):
    cov = np.diag([0.5, 2.0][:d])
    x = torch.randn(4000, d, generator=gen(d), dtype=F64) * torch.tensor(np.sqrt(np.diag(cov)))
    want = stats.multivariate_normal(np.zeros(d), cov).entropy()
    # KL estimator: bias O(1/N), sd ~ 1.3 sqrt(d/N) -> 0.03 at N = 4000
    assert knn_entropy(x) == pytest.approx(want, abs=0.08)
    assert knn_entropy(x, k=3) == pytest.approx(want, abs=0.08)


def test_free_energy_is_F_minus_lambda2_entropy():
    obj = Quadratic(0.5)
    x = torch.randn(500, 2, generator=gen(1), dtype=F64)
    assert free_energy(obj, x, 0.3) == pytest.approx(float(obj.value(x)) - 0.3 * knn_entropy(x))
    assert free_energy(obj, x, 0.0) == pytest.approx(float(obj.value(x)))


def test_proximal_gibbs_of_quadratic_is_gaussian_and_gap_is_kl():
    lam1, lam2 = 0.5, 0.4
    v = lam2 / (2 * lam1)
    obj = Quadratic(lam1)
    s2 = 0.25
    x = math.sqrt(s2) * torch.randn(4000, 1, generator=gen(3), dtype=F64)
    g = proximal_gibbs(obj, x, lam2, bounds=[[-6, 6]], points=401)
    grid = g["axes"][0]
    torch.testing.assert_close(g["density"], torch.tensor(stats.norm.pdf(grid.numpy(), scale=math.sqrt(v))),
                               rtol=1e-6, atol=1e-9)
    kl = 0.5 * (s2 / v - 1 - math.log(s2 / v))
    gap = proximal_gibbs_gap(obj, x, lam2, bounds=[[-6, 6]], points=401)
    assert gap == pytest.approx(kl, abs=0.05)


def test_w2_and_chaos_against_sorted_matching():
    a = torch.randn(50, 1, generator=gen(1), dtype=F64)
    b = 0.5 + torch.randn(50, 1, generator=gen(2), dtype=F64)
    want = math.sqrt(float(((a.sort(0).values - b.sort(0).values) ** 2).mean()))
    assert w2_distance(a, b) == pytest.approx(want, rel=1e-10)
    runs = torch.stack([a, b])
    out = chaos_w2(runs, b)
    assert out["empirical"] == pytest.approx(0.5 * want, rel=1e-10)
    assert out["marginal"] >= 0


def test_fit_slope_recovers_power_law():
    xs = np.array([1.0, 2.0, 4.0, 8.0])
    assert fit_slope(xs, 3 * xs**-1.0)["slope"] == pytest.approx(-1.0, abs=1e-12)


def test_particle_number_error_decreases_like_one_over_n():
    """The 1/N term on a tiny regression: the slope is measured (4 replicas), band [-1.5, -0.5]."""
    z, y = make_regression(32, 1, generator=0)
    obj = Regression(z, y, lambda1=0.01)
    out = particle_number_experiment(obj, [8, 32, 128], replicas=4, eta=0.2, lambda2=0.002,
                                     steps=600, every=5, n_ref=1024)
    assert -1.5 <= out["fit"]["slope"] <= -0.5
    assert out["error"][0] > out["error"][-1]


def test_replicated_regression_equals_independent_copies():
    z, y = make_regression(12, 2, generator=0)
    obj = Regression(z, y, lambda1=0.02)
    rep = ReplicatedRegression(obj, 3)
    x = torch.randn(15, 4, generator=gen(1), dtype=F64)
    parts = x.reshape(3, 5, 4)
    for batch in (None, torch.tensor([1, 4, 7])):
        want = torch.cat([obj.first_variation_grad(p, batch) for p in parts])
        torch.testing.assert_close(rep.first_variation_grad(x, batch), want, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(rep.replica_values(x), torch.stack([obj.value(p) for p in parts]))
    torch.testing.assert_close(rep.value(x), rep.replica_values(x).mean())
    with pytest.raises(ValueError, match="replicas"):
        rep.first_variation_grad(x[:14])


def test_sg_excess_decreases_with_batch_size():
    """Common random numbers (batches have their own stream): SG vs full at the same noise."""
    from nnrep_lite.mfld import sg_excess_experiment, sg_factor

    z, y = make_regression(32, 1, generator=0, noise=0.2)
    obj = Regression(z, y, lambda1=0.01)
    out = sg_excess_experiment(obj, [1, 8, 32], n_particles=16, replicas=6, eta=0.2, lambda2=0.002,
                               steps=300, burn_in=100, every=5, etas=[0.2, 0.4], svrg_batches=[1])
    assert out["sg"][-1] == 0.0 and out["factor"] == [sg_factor(32, b) for b in (1, 8, 32)]
    assert out["sg"][0] > out["sg"][1] > 0
    assert out["sg_resolved"][0] and out["sg"][0] > 3 * out["sg_sem"][0]
    assert out["sg_cost"][0] == pytest.approx(1 / 32)
    # SVRG: 2 batch gradients a step and a full one every round(sqrt(n)) = 6 steps
    assert out["svrg_period"] == 6
    assert out["svrg_cost"][0] == pytest.approx(2 / 32 + 50 / 300)
    assert out["svrg"][0] < out["sg"][0]
    assert out["eta_excess"][0] == out["sg"][0] and out["eta_steps"] == [300, 150]


def test_history_free_energy_and_progress_bar():
    obj = Quadratic(0.5)
    x0 = torch.randn(200, 2, generator=gen(0), dtype=F64)
    xs, h = mfld(obj, x0, eta=0.1, lambda2=0.2, steps=30, generator=0, free_energy_every=10, progress=True)
    assert h["free_energy_step"] == [0, 10, 20]
    assert h["free_energy"][0] == pytest.approx(free_energy(obj, x0, 0.2))
    assert h["wall_time"] > 0 and h["grad_evals_total"] == 30


def test_annealed_schedule_is_geometric_and_matches_plain_run_at_one_stage():
    from nnrep_lite.mfld import annealed_mfld

    obj = Quadratic(0.5)
    x0 = torch.randn(50, 1, generator=gen(0), dtype=F64)
    _, h = annealed_mfld(obj, x0, eta=0.1, lambda2_start=1.0, lambda2_end=0.01, steps=30, stages=3, generator=1)
    assert sorted(set(h["lambda2"]), reverse=True) == pytest.approx([1.0, 0.1, 0.01])
    assert h["step"] == list(range(30))
    a, _ = annealed_mfld(obj, x0, eta=0.1, lambda2_start=0.3, lambda2_end=0.3, steps=20, stages=1, generator=4)
    b, _ = mfld(obj, x0, eta=0.1, lambda2=0.3, steps=20, generator=4, progress=False)
    assert torch.equal(a, b)
