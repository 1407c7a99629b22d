"""Gaussian equivalence, the step-size regimes and tau* (nnrep_lite.onestep.equivalence)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnrep_lite import onestep as os1

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _numpy_ridge_risk(F, y, F_test, f_test, lam):
    """Reference: a_hat = (F^T F + n lam / P I)^{-1} F^T y with numpy, float64."""
    n, P = F.shape
    a = np.linalg.solve(F.T @ F + n * lam / P * np.eye(P), F.T @ y)
    return float(np.mean((F_test @ a - f_test) ** 2))


# ------------------------------------------------------------------ coefficients


def test_gaussian_coefficients_at_unit_radius_are_the_hermite_constants():
    for name in os1.ACTIVATIONS:
        h = os1.hermite_coefficients(name)
        m0, m1, m2 = os1.gaussian_coefficients(name, torch.ones(3, dtype=F64))
        np.testing.assert_allclose(m0.numpy(), h["mu0"], rtol=0, atol=1e-14)
        np.testing.assert_allclose(m1.numpy(), h["mu1"], rtol=0, atol=1e-14)
        np.testing.assert_allclose(m2.numpy(), h["mu2"], rtol=0, atol=1e-12)


def test_gaussian_coefficients_erf_closed_form_at_any_radius():
    """u ~ N(0, r^2): E[erf(u)] = 0, E[g erf(r g)] = (2/sqrt(pi)) r / sqrt(1 + 2 r^2) (Stein),
    E[erf(u)^2] = (2/pi) arcsin(2 r^2 / (1 + 2 r^2))."""
    r = torch.tensor([0.25, 0.5, 1.0, 1.5, 2.0], dtype=F64)  # column norms of W0 and W1
    m0, m1, m2 = os1.gaussian_coefficients("erf", r)
    rn = r.numpy()
    mu1 = 2 / math.sqrt(math.pi) * rn / np.sqrt(1 + 2 * rn**2)
    second = 2 / math.pi * np.arcsin(2 * rn**2 / (1 + 2 * rn**2))
    np.testing.assert_allclose(m0.numpy(), 0.0, atol=1e-15)
    # 200-node Gauss-Hermite; erf(r g) steepens with r (at r = 3 the rule is good to 1e-6 only)
    np.testing.assert_allclose(m1.numpy(), mu1, rtol=1e-10)
    np.testing.assert_allclose(m2.numpy() ** 2, second - mu1**2, rtol=1e-8)


def test_gaussian_coefficients_relu_closed_form():
    """relu(r g): mu0 = r/sqrt(2 pi), mu1 = r/2, E[relu^2] = r^2/2 (exact on the split rule)."""
    r = torch.tensor([0.5, 1.0, 1.7], dtype=F64)
    m0, m1, m2 = os1.gaussian_coefficients("relu", r)
    rn = r.numpy()
    np.testing.assert_allclose(m0.numpy(), rn / math.sqrt(2 * math.pi), rtol=1e-12)
    np.testing.assert_allclose(m1.numpy(), rn / 2, rtol=1e-12)
    np.testing.assert_allclose(m2.numpy() ** 2, rn**2 * (0.5 - 1 / (2 * math.pi) - 0.25), rtol=1e-10)


# ------------------------------------------------------------------ features


@pytest.mark.parametrize("name", ["erf", "relu"])
def test_gaussian_equivalent_features_have_the_stated_moments(name):
    """Columns of sqrt(N) phi_GE: mean mu0(r_i), E[phi u_i / r_i] = mu1(r_i), variance
    E[sigma(r g)^2] - mu0^2, and mutually independent noise. Monte Carlo with n = 200000
    samples at float64; tolerance 6 standard errors of each estimate."""
    n, d = 200_000, 4
    W = torch.tensor([[1.0, 0.0, 0.3], [0.0, 0.5, 0.3], [0.0, 0.5, -1.2], [0.0, 0.0, 0.0]], dtype=F64)
    X = torch.randn(n, d, generator=_gen(1), dtype=F64)
    F = os1.gaussian_equivalent_features(X, W, activation=name, generator=2) * math.sqrt(3)
    r = W.norm(dim=0)
    m0, m1, m2 = os1.gaussian_coefficients(name, r)
    g = (X @ W) / r  # standardised pre-activations
    second = m2**2 + m0**2 + m1**2
    sd = torch.sqrt(second - m0**2)
    np.testing.assert_array_less((F.mean(0) - m0).abs(), 6 * sd / math.sqrt(n))
    np.testing.assert_array_less(((F * g).mean(0) - m1).abs(), 6 * 2 * sd / math.sqrt(n))
    np.testing.assert_allclose(F.var(0).numpy(), (second - m0**2).numpy(), rtol=6 * math.sqrt(2 / n) * 3)
    # the noise part of distinct neurons is independent: the covariance is the linear part's
    C = torch.cov(F.T)
    lin = m1[:, None] * m1[None, :] * ((W.T @ W) / (r[:, None] * r[None, :]))
    off = ~torch.eye(3, dtype=torch.bool)
    np.testing.assert_array_less((C - lin)[off].abs(), 6 * 2 * sd.max() ** 2 / math.sqrt(n))


def test_gaussian_equivalent_features_dtype_device_and_determinism():
    W0, a, beta = os1.init_params(8, 12, generator=0)
    X, _, _ = os1.sample_teacher(20, beta, generator=0)
    F1 = os1.gaussian_equivalent_features(X, W0, generator=5)
    F2 = os1.gaussian_equivalent_features(X, W0, generator=5)
    assert F1.shape == (20, 12) and F1.dtype == torch.float32 and F1.device == X.device
    assert torch.equal(F1, F2)
    F64_ = os1.gaussian_equivalent_features(X.double(), W0.double(), generator=5)
    assert F64_.dtype == F64
    torch.testing.assert_close(F64_.float(), F1, rtol=1e-5, atol=1e-6)


def test_gaussian_equivalence_matches_numpy_ridge():
    """CK risk = numpy ridge on sigma(X W)/sqrt(N); GE risk = numpy ridge on the GE features
    drawn in the documented order (training noise, then test noise) from the same seed."""
    lam = 1e-2
    for n, N in ((40, 25), (30, 60)):  # primal and kernel forms
        W0, a, beta = os1.init_params(10, N, generator=3, dtype=F64)
        X, y, _ = os1.sample_teacher(n, beta, generator=_gen(4))
        Xt, _, ft = os1.sample_teacher(50, beta, noise=0.0, generator=_gen(5))
        res = os1.gaussian_equivalence(X, y, Xt, ft, W0, lam=lam, generator=7)
        Phi = (torch.erf(X @ W0) / math.sqrt(N)).numpy()
        Phit = (torch.erf(Xt @ W0) / math.sqrt(N)).numpy()
        assert res["ck"] == pytest.approx(_numpy_ridge_risk(Phi, y.numpy(), Phit, ft.numpy(), lam), rel=1e-9)
        g = _gen(7)
        G = os1.gaussian_equivalent_features(X, W0, generator=g).numpy()
        Gt = os1.gaussian_equivalent_features(Xt, W0, generator=g).numpy()
        assert res["ge"] == pytest.approx(_numpy_ridge_risk(G, y.numpy(), Gt, ft.numpy(), lam), rel=1e-9)
        assert res["gap"] == pytest.approx(res["ge"] - res["ck"], abs=1e-15)
        assert res["rel_gap"] == pytest.approx(abs(res["gap"]) / res["ck"])
        assert 0 < res["ck_se"] < res["ck"] and 0 < res["gap_se"]


def test_ridge_predict_matches_ridge_risk():
    g = _gen(0)
    F, y, Ft, ft = (torch.randn(*s, generator=g, dtype=F64) for s in ((30, 8), (30,), (9, 8), (9,)))
    pred = os1.ridge_predict(F, y, Ft, lam=0.1)
    assert os1.ridge_risk(F, y, Ft, ft, lam=0.1) == pytest.approx(float(((pred - ft) ** 2).mean()), rel=1e-14)


def test_gaussian_equivalence_holds_at_init_and_breaks_after_a_large_step():
    """d = 64, psi1 = 8, psi2 = 2, erf/erf, seeds 0-2. At W0 the CK risk and its
    Gaussian-equivalent risk agree within 15% (measured 1-6%); after the eta = sqrt(N) step
    the trained CK beats its own linearisation by more than 5 standard errors."""
    c = os1.gaussian_equivalence_curve([8.0], d=64, alphas=(0.5,), seeds=(0, 1, 2), n_test=1024)
    assert abs(c["init"]["rel_gap"][0]) < 0.15
    tr = c["trained"]
    assert tr["rel_gap"][0, 0] > 5 * tr["rel_gap_se"][0, 0] > 0
    assert tr["ge_mean"][0, 0] > c["floor"] > tr["ck_mean"][0, 0]
    assert c["init"]["ck"].shape == (3, 1) and tr["ck"].shape == (3, 1, 1)


# ------------------------------------------------------------------ regimes


def test_trained_ck_equals_initial_ck_as_alpha_goes_to_minus_infinity():
    res = os1.experiments(60, 12, 24, alphas=[os1.ALPHA_MIN, -20.0, 0.0], features=("ck", "ck1"),
                          generator=0, n_test=50, dtype=F64, spectrum=False, rank_one=False)  # fmt: skip
    assert res[0]["risk"]["ck1"] == res[0]["risk"]["ck"]  # eta = N^-50: W1 = W0 exactly
    assert res[1]["risk"]["ck1"] == pytest.approx(res[1]["risk"]["ck"], rel=1e-12)
    assert res[2]["risk"]["ck1"] != res[2]["risk"]["ck"]
    sw = os1.risk_vs_alpha([os1.ALPHA_MIN, 0.5], psi1=2.0, d=12, seeds=(0, 1), n_test=50)
    np.testing.assert_array_equal(sw["ratio"][:, 0], 1.0)
    assert sw["ck1"].shape == (2, 2) and sw["ck"].shape == (2,)
    assert sw["ck1_se"][0] == pytest.approx(sw["ck_se"])


def test_risk_vs_alpha_matches_experiment_on_each_seed():
    sw = os1.risk_vs_alpha([-0.5, 0.5], psi1=2.0, d=10, seeds=(3,), n_test=40)
    r = os1.experiment(20, 10, 20, alpha=0.5, features=("ck", "ck1"), generator=3, n_test=40)
    assert sw["ck1"][0, 1] == r["risk"]["ck1"] and sw["ck"][0] == r["risk"]["ck"]
    assert np.isnan(sw["ck1_se"]).all()  # one seed: no standard error


# ------------------------------------------------------------------ tau*


def test_tau_star_closed_forms():
    """Odd student (erf, tanh): the learned features E[sigma(xi + theta z)] are odd, so tau* is the
    energy of the even part of sigma*: 0 for erf, 0.2^2 for the hermite teacher, 1/4 for relu
    (mean^2 + even part |z|/2). Relu student: the odd part of E[relu(xi + t)] is exactly t/2,
    so only He3 of the hermite teacher is out of reach: tau* = 0.1^2."""
    assert os1.tau_star("erf", "erf") < 1e-12
    assert os1.tau_star("tanh", "erf") < 1e-12
    assert os1.tau_star("erf", "hermite") == pytest.approx(0.04, abs=1e-10)
    assert os1.tau_star("erf", "relu") == pytest.approx(0.25, abs=1e-8)
    # Gauss-Hermite in xi over relu's kink: about 1e-5 (the odd part t/2 is exact)
    assert os1.tau_star("relu", "hermite") == pytest.approx(0.01, abs=2e-5)
    info = os1.learned_feature_floor("erf", "hermite")
    assert info["floor"] == pytest.approx(0.05) and info["ratio"] == pytest.approx(0.8)


# ------------------------------------------------------------------ bad input


def test_equivalence_bad_inputs():
    W0, a, beta = os1.init_params(4, 5, generator=0)
    X, y, f = os1.sample_teacher(6, beta, generator=0)
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="^X is invalid"):
        os1.gaussian_equivalent_features(bad, W0)
    with pytest.raises(ValueError, match="W.shape"):
        os1.gaussian_equivalent_features(X, W0.T)
    with pytest.raises(ValueError, match="^radius"):
        os1.gaussian_coefficients("erf", torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="^lam="):
        os1.gaussian_equivalence(X, y, X, f, W0, lam=float("inf"))
    with pytest.raises(ValueError, match="y_train"):
        os1.gaussian_equivalence(X, y[:3], X, f, W0, lam=1e-3)
    with pytest.raises(ValueError, match="^alpha="):
        os1.risk_vs_alpha([-60.0], psi1=1.0, d=4)
    with pytest.raises(ValueError, match="^seeds="):
        os1.risk_vs_alpha([0.0], psi1=1.0, d=4, seeds=())
    with pytest.raises(ValueError, match="^psi1="):
        os1.gaussian_equivalence_curve([0.0], d=4)
    with pytest.raises(ValueError, match="^target="):
        os1.tau_star("erf", "sin")
    with pytest.raises(ValueError, match="^thetas="):
        os1.learned_feature_floor(thetas=0)


def test_ntk_gaussian_equivalence_matches_explicit_kernels():
    """NTK risk = ntk_risk; GE risk = numpy kernel ridge with the GE kernel
    (X X^T / d) * (H H^T / N), H the GE of sigma'(X W) drawn train-then-test from the seed."""
    lam = 1e-2
    d, N, n, m = 6, 15, 25, 40
    W0, a, beta = os1.init_params(d, N, generator=1, dtype=F64)
    X, y, _ = os1.sample_teacher(n, beta, generator=_gen(2))
    Xt, _, ft = os1.sample_teacher(m, beta, noise=0.0, generator=_gen(3))
    res = os1.ntk_gaussian_equivalence(X, y, Xt, ft, W0, lam=lam, generator=9)
    assert res["ck"] == pytest.approx(os1.ntk_risk(X, y, Xt, ft, W0, lam=lam), rel=1e-10)
    g = _gen(9)
    H = os1.gaussian_equivalent_features(X, W0, generator=g, derivative=True).numpy() * math.sqrt(N)
    Ht = os1.gaussian_equivalent_features(Xt, W0, generator=g, derivative=True).numpy() * math.sqrt(N)
    Xn, Xtn = X.numpy(), Xt.numpy()
    K = (Xn @ Xn.T / d) * (H @ H.T / N)
    Kt = (Xtn @ Xn.T / d) * (Ht @ H.T / N)
    c = np.linalg.solve(K + n * lam / N * np.eye(n), y.numpy())
    assert res["ge"] == pytest.approx(float(np.mean((Kt @ c - ft.numpy()) ** 2)), rel=1e-9)
    # the coefficients of sigma' at unit radius: erf' = (2/sqrt(pi)) exp(-u^2) has
    # E = 2/sqrt(3 pi) (= mu1 of erf, Stein) and E[g erf'(g)] = 0
    m0, m1, _ = os1.gaussian_coefficients("erf", torch.ones(1, dtype=F64), derivative=True)
    assert float(m0) == pytest.approx(2 / math.sqrt(3 * math.pi), rel=1e-13) and abs(float(m1)) < 1e-15


def test_ntk_gaussian_equivalence_holds_at_init():
    c = os1.gaussian_equivalence_curve([4.0], d=48, alphas=(), seeds=(0, 1), ntk_seeds=2, n_test=512)
    assert c["ntk"]["ck"].shape == (2, 1)
    assert abs(c["ntk"]["rel_gap"][0]) < 0.05  # measured below 1% at d = 48-256
    with pytest.raises(ValueError, match="^ntk_seeds="):
        os1.gaussian_equivalence_curve([4.0], d=8, seeds=(0,), ntk_seeds=2)


def test_memory_guard_refuses_the_new_feature_and_kernel_matrices(monkeypatch):
    from nnrep_lite._utils import MemoryBudgetError

    W0, a, beta = os1.init_params(8, 16, generator=0)
    X, y, f = os1.sample_teacher(64, beta, generator=0)
    monkeypatch.setenv("NNREP_MAX_MEMORY", "1K")
    for call in (lambda: os1.gaussian_equivalent_features(X, W0),
                 lambda: os1.gaussian_equivalence(X, y, X, f, W0, lam=1e-3),
                 lambda: os1.ntk_gaussian_equivalence(X, y, X, f, W0, lam=1e-3)):  # fmt: skip
        with pytest.raises(MemoryBudgetError, match="reduce n or N"):
            call()


def test_curves_follow_dtype_and_are_deterministic():
    kw = {"d": 8, "seeds": (1,), "n_test": 40}
    a = os1.gaussian_equivalence_curve([2.0], alphas=(0.5,), dtype=F64, **kw)
    b = os1.gaussian_equivalence_curve([2.0], alphas=(0.5,), dtype=F64, **kw)
    assert a["trained"]["ck"][0, 0, 0] == b["trained"]["ck"][0, 0, 0]
    assert a["init"]["ge"][0, 0] == b["init"]["ge"][0, 0]
    c = os1.gaussian_equivalence_curve([2.0], alphas=(0.5,), **kw)  # float32: the same draws
    assert c["init"]["ck"][0, 0] == pytest.approx(a["init"]["ck"][0, 0], rel=1e-3)
    s64 = os1.risk_vs_alpha([0.0], psi1=2.0, dtype=F64, **kw)
    s32 = os1.risk_vs_alpha([0.0], psi1=2.0, **kw)
    assert s64["ck1"][0, 0] == pytest.approx(s32["ck1"][0, 0], rel=1e-3)
