"""Tests for nnrep_lite.onestep: one gradient step, spike, CK / NTK / trained-CK ridge risk."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from nnrep_lite import onestep as os1
from nnrep_lite.onestep import model as model_mod
from nnrep_lite.onestep import ridge as ridge_mod

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ Hermite constants


def test_erf_constants_closed_form():
    h = os1.hermite_coefficients("erf")
    assert h["mu0"] == pytest.approx(0.0, abs=1e-14)
    assert h["mu1"] == pytest.approx(2 / math.sqrt(3 * math.pi), rel=1e-13)
    assert h["second_moment"] == pytest.approx(2 / math.pi * math.asin(2 / 3), rel=1e-13)
    floor = 2 / math.pi * math.asin(2 / 3) - 4 / (3 * math.pi)
    assert os1.nonlinear_energy("erf") == pytest.approx(floor, rel=1e-12)
    assert os1.nonlinear_energy("erf") == pytest.approx(0.040146, abs=5e-7)


def test_relu_and_hermite_closed_forms():
    h = os1.hermite_coefficients("relu")
    assert h["mu0"] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-12)
    assert h["mu1"] == pytest.approx(0.5, rel=1e-12)
    assert h["second_moment"] == pytest.approx(0.5, rel=1e-12)
    assert os1.nonlinear_energy("relu") == pytest.approx(0.25 - 1 / (2 * math.pi), rel=1e-11)
    c1, c2, c3 = os1.theory.HERMITE_MIX
    h = os1.hermite_coefficients("hermite")
    assert h["mu0"] == pytest.approx(0.0, abs=1e-13)
    assert h["mu1"] == pytest.approx(c1, rel=1e-13)
    assert os1.nonlinear_energy("hermite") == pytest.approx(c2**2 + c3**2, rel=1e-12)


@pytest.mark.parametrize("name", ["tanh", "erf"])
def test_hermite_against_adaptive_quadrature(name):
    fn = {"tanh": np.tanh, "erf": special.erf}[name]
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    ref = [integrate.quad(lambda z, k=k: z**k * fn(z) ** (1 + (k == 2) * 0) * phi(z), -40, 40,
                          epsabs=1e-14, epsrel=1e-13, limit=200)[0] for k in (0, 1)]  # fmt: skip
    m2 = integrate.quad(lambda z: fn(z) ** 2 * phi(z), -40, 40, epsabs=1e-14, limit=200)[0]
    h = os1.hermite_coefficients(name)
    assert h["mu0"] == pytest.approx(ref[0], abs=1e-12)
    assert h["mu1"] == pytest.approx(ref[1], rel=1e-11)
    assert h["second_moment"] == pytest.approx(m2, rel=1e-11)


@pytest.mark.parametrize("name", list(os1.ACTIVATIONS))
def test_activation_derivatives_match_autograd(name):
    act = os1.get_activation(name)
    z = torch.linspace(-3, 3, 61, dtype=F64).add_(1e-3).requires_grad_(True)
    (g,) = torch.autograd.grad(act.fn(z).sum(), z)
    torch.testing.assert_close(act.prime(z.detach()), g, rtol=1e-12, atol=1e-12)
    for inplace, ref in ((act.prime_, g), (act.fn_, act.fn(z.detach()))):
        w = z.detach().clone()
        out = inplace(w)  # the in-place forms overwrite their argument with the same values
        assert out.data_ptr() == w.data_ptr()
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ gradient step


@pytest.mark.parametrize("name", list(os1.ACTIVATIONS))
def test_gradient_matches_autograd_float64(name, monkeypatch):
    monkeypatch.setattr(model_mod, "CHUNK_ENTRIES", 70)  # several chunks of samples
    g = _gen(1)
    n, d, N = 37, 9, 13
    W0, a, beta = os1.init_params(d, N, generator=g, dtype=F64)
    X, y, _ = os1.sample_teacher(n, beta, target="tanh", noise=0.3, generator=g)
    act = os1.get_activation(name)
    W = W0.clone().requires_grad_(True)
    loss = ((y - act.fn(X @ W) @ a / math.sqrt(N)) ** 2).sum() / (2 * n)
    (grad,) = torch.autograd.grad(loss, W)
    eta = 3.7
    W1, G0 = os1.one_step(X, y, W0, a, eta=eta, activation=name)
    torch.testing.assert_close(G0, -grad, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(W1, W0 - eta * math.sqrt(N) * grad, rtol=1e-11, atol=1e-13)
    assert W1.dtype == F64 and G0.shape == (d, N)


def test_one_step_keeps_dtype_and_device():
    g = _gen(2)
    W0, a, beta = os1.init_params(6, 10, generator=g, dtype=torch.float32)
    X, y, _ = os1.sample_teacher(20, beta, generator=g)
    W1, G0 = os1.one_step(X, y, W0, a, eta=2.0)
    assert W1.dtype == torch.float32 and W1.device == X.device and G0.dtype == torch.float32


def test_rank_one_gradient_formula():
    g = _gen(3)
    n, d, N = 50, 8, 12
    W0, a, beta = os1.init_params(d, N, generator=g, dtype=F64)
    X, y, _ = os1.sample_teacher(n, beta, generator=g)
    A = os1.rank_one_gradient(X, y, a, activation="erf")
    mu1 = 2 / math.sqrt(3 * math.pi)
    ref = mu1 / (n * math.sqrt(N)) * np.outer(X.numpy().T @ y.numpy(), a.numpy())
    np.testing.assert_allclose(A.numpy(), ref, rtol=1e-12)
    assert torch.linalg.matrix_rank(A) == 1


def test_rank_one_error_decreases_like_inverse_sqrt_n():
    """Proportional regime n = 2d = N: ||G0 - A|| / ||G0|| ~ n^{-1/2} up to logs (Prop. 2).

    Two seeds per n; the measured slope over n = 128..1024 is about -0.53 (-0.51 up to 4096),
    the band [-0.8, -0.3] leaves room for the log factors and seed noise (std of the mean
    error about 5% at n = 128, giving a slope std of about 0.04).
    """
    ns = [128, 256, 512, 1024]
    errs = []
    for n in ns:
        e = []
        for seed in range(2):
            g = _gen(seed)
            W0, a, beta = os1.init_params(n // 2, n, generator=g)
            X, y, _ = os1.sample_teacher(n, beta, generator=g)
            G0 = os1.negative_gradient(X, y, W0, a)
            e.append(os1.rank_one_error(G0, X, y, a))
        errs.append(np.mean(e))
    slope = np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert -0.8 < slope < -0.3, (slope, errs)
    assert errs[-1] < errs[0]


def test_operator_norm_matches_numpy():
    M = torch.randn(7, 11, generator=_gen(4), dtype=F64)
    assert os1.operator_norm(M) == pytest.approx(np.linalg.norm(M.numpy(), 2), rel=1e-12)


# ------------------------------------------------------------------ ridge


def _numpy_ridge_risk(Ftr, ytr, Fte, fte, lam):
    n, P = Ftr.shape
    a = np.linalg.solve(Ftr.T @ Ftr / n + lam / P * np.eye(P), Ftr.T @ ytr / n)
    return np.mean((Fte @ a - fte) ** 2)


@pytest.mark.parametrize("n,P", [(40, 15), (15, 40)])
def test_ridge_risk_matches_numpy_solve(n, P):
    g = _gen(5)
    Ftr = torch.randn(n, P, generator=g, dtype=F64)
    Fte = torch.randn(23, P, generator=g, dtype=F64)
    ytr = torch.randn(n, generator=g, dtype=F64)
    fte = torch.randn(23, generator=g, dtype=F64)
    for lam in [1e-3, 0.5]:
        got = os1.ridge_risk(Ftr, ytr, Fte, fte, lam=lam)
        ref = _numpy_ridge_risk(Ftr.numpy(), ytr.numpy(), Fte.numpy(), fte.numpy(), lam)
        assert got == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("n", [60, 25])  # primal (n >= N) and kernel (n < N) paths
@pytest.mark.parametrize("name", ["erf", "relu"])
def test_ck_risk_equals_explicit_features(n, name, monkeypatch):
    monkeypatch.setattr(ridge_mod, "CHUNK_ENTRIES", 200)
    monkeypatch.setattr(model_mod, "CHUNK_ENTRIES", 200)
    monkeypatch.setattr(ridge_mod, "BLOCK", 7)  # blocked Cholesky (primal) and lower kernel rows
    g = _gen(6)
    d, N = 7, 40
    W, _, beta = os1.init_params(d, N, generator=g, dtype=F64)
    X, y, _ = os1.sample_teacher(n, beta, generator=g)
    Xt, _, ft = os1.sample_teacher(31, beta, noise=0.0, generator=g)
    act = os1.get_activation(name)
    Phi = act.fn(X @ W) / math.sqrt(N)
    Phit = act.fn(Xt @ W) / math.sqrt(N)
    ref = _numpy_ridge_risk(Phi.numpy(), y.numpy(), Phit.numpy(), ft.numpy(), 1e-2)
    got = os1.ck_risk(X, y, Xt, ft, W, lam=1e-2, activation=name)
    assert got == pytest.approx(ref, rel=1e-9)


def test_ntk_kernel_and_risk_equal_explicit_features(monkeypatch):
    monkeypatch.setattr(ridge_mod, "CHUNK_ENTRIES", 150)
    monkeypatch.setattr(model_mod, "CHUNK_ENTRIES", 150)  # chunks of neurons and of test points
    monkeypatch.setattr(ridge_mod, "BLOCK", 8)  # lower kernel rows: 4 blocks, a ragged last one
    g = _gen(7)
    n, d, N = 30, 4, 9
    W, _, beta = os1.init_params(d, N, generator=g, dtype=F64)
    X, y, _ = os1.sample_teacher(n, beta, generator=g)
    Xt, _, ft = os1.sample_teacher(17, beta, noise=0.0, generator=g)
    act = os1.get_activation("erf")

    def feats(Z):  # phi(x) = vec(x sigma'(W^T x)^T) / sqrt(d N), N d columns
        S = act.prime(Z @ W)
        return (Z[:, :, None] * S[:, None, :]).reshape(len(Z), d * N) / math.sqrt(d * N)

    torch.testing.assert_close(os1.ntk_kernel(Xt, X, W), feats(Xt) @ feats(X).T, rtol=1e-12, atol=1e-14)
    lam = 1e-2
    ref = _numpy_ridge_risk(feats(X).numpy(), y.numpy(), feats(Xt).numpy(), ft.numpy(), lam * d)
    assert os1.ntk_risk(X, y, Xt, ft, W, lam=lam) == pytest.approx(ref, rel=1e-8)


# ------------------------------------------------------------------ spectrum


def test_singular_values_and_top_vector_match_svd():
    g = _gen(8)
    W0, a, beta = os1.init_params(60, 120, generator=g, dtype=F64)
    W = W0 + 3.0 * torch.outer(beta, a / a.norm())
    U, S, _ = torch.linalg.svd(W, full_matrices=False)
    torch.testing.assert_close(os1.singular_values(W), S, rtol=1e-12, atol=1e-12)
    u1, iters = os1.top_left_singular_vector(W, generator=g)
    assert iters < 500
    assert abs(float(u1 @ U[:, 0])) == pytest.approx(1.0, abs=1e-9)
    assert os1.spike_overlap(u1, beta) == pytest.approx(abs(float(U[:, 0] @ beta)), abs=1e-8)


@pytest.mark.parametrize(("d", "N"), [(60, 120), (120, 60)])
def test_gram_spectrum_and_top_vector_match_svd(d, N):
    """The panel's one-eigh spectrum against LAPACK's SVD at float64, both orientations."""
    g = _gen(9)
    W0, a, beta = os1.init_params(d, N, generator=g, dtype=F64)
    W = W0 + 3.0 * torch.outer(beta, a / a.norm())
    U, S, _ = torch.linalg.svd(W, full_matrices=False)
    s, u1 = os1.spectrum_and_top_vector(W)
    assert s.dtype == F64 and s.shape == S.shape and u1.shape == (d,)
    torch.testing.assert_close(s, S, rtol=1e-9, atol=1e-9)
    assert abs(float(u1 @ U[:, 0])) == pytest.approx(1.0, abs=1e-9)
    # float32 weights come back as float32, still matching the float64 SVD to float32 accuracy
    s32, _ = os1.spectrum_and_top_vector(W.float())
    assert s32.dtype == torch.float32
    torch.testing.assert_close(s32.double(), S, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def paper_size_spectra():
    """One shared draw at d = 1024, N = 2048, n = 2048 for three step sizes (no ridge)."""
    return os1.experiments(
        2048, 1024, 2048, alphas=[0.2, 0.3, 0.5], features=(), generator=0, n_test=1,
        rank_one=False,
    )  # fmt: skip


def test_spike_matches_bbp_prediction_at_d1024(paper_size_spectra):
    """Top singular value within 7% of the rank-one prediction (prototype: ~4% under)."""
    for r in paper_size_spectra:
        s = r["singular_values"]
        pred = r["spike_prediction"]
        assert pred > r["bulk_edge"] * 1.2  # above the BBP threshold for alpha >= 0.2
        assert abs(float(s[0]) / pred - 1) < 0.07, (r["alpha"], float(s[0]), pred)
        # the rest stays in the Marchenko-Pastur bulk: edge 1 + sqrt(psi2)
        assert abs(float(s[1]) / r["bulk_edge"] - 1) < 0.05


def test_overlap_matches_prediction_at_d1024(paper_size_spectra):
    """|<u1, beta*>| against the BBP cosine times the cosine of X^T y with beta*.

    Fluctuations of the overlap are O(1/sqrt(d)) ~ 0.03; tolerance 0.06 absolute.
    """
    for r in paper_size_spectra:
        assert r["overlap"] == pytest.approx(r["overlap_prediction"], abs=0.06)
        assert r["overlap"] > 0.6


def test_no_spike_below_threshold():
    r = os1.experiment(400, 200, 400, alpha=0.0, features=(), generator=1, n_test=1)
    assert r["theta"] < 2 ** 0.25
    assert float(r["singular_values"][0]) == pytest.approx(r["bulk_edge"], rel=0.05)
    assert r["overlap"] < 0.3  # a bulk vector: overlap O(1/sqrt(d))


def test_spike_prediction_regimes():
    edge = os1.bulk_edge(2.0)
    assert os1.spike_prediction(eta=0.0, psi1=1.0, psi2=2.0) == pytest.approx(edge)
    big = os1.spike_prediction(eta=1e3, psi1=1.0, psi2=2.0)
    theta = os1.spike_theta(eta=1e3, psi1=1.0)
    assert big == pytest.approx(theta, rel=1e-5)  # s1 ~ theta for a large spike
    # continuity at the threshold theta = psi2^(1/4): the formula equals the bulk edge there
    t = 2.0**0.25
    assert math.sqrt((1 + t**2) * (2 + t**2)) / t == pytest.approx(edge, rel=1e-12)
    assert os1.overlap_prediction(eta=0.0, psi1=1.0, psi2=2.0) == 0.0


# ------------------------------------------------------------------ experiments


def test_experiment_risks_floor_and_feature_learning():
    """d = 128, psi2 = 2, psi1 = 16, erf/erf, lambda = 1e-3 (the paper's figure, scaled down).

    CK and NTK stay above the floor ||P_{>1} f*||^2 = 0.0401 (they learn only the linear part);
    alpha = 1/2 beats alpha = 0 and the floor. Over seeds 0-4: ck1(alpha=1/2) in [0.021, 0.027],
    ck1(alpha=0) >= 0.071, NTK in [0.043, 0.048]. Risk estimates on 2048 test points have a
    relative std of about 3%, so the NTK gets a 5% tolerance below the floor.
    """
    res = os1.experiments(2048, 128, 256, alphas=[0.0, 0.5], generator=0)
    floor = os1.nonlinear_energy("erf")
    r0, r5 = res
    assert r0["risk"]["ck"] > floor and r0["risk"]["ck1"] > floor
    assert r0["risk"]["ntk"] > 0.95 * floor
    assert r5["risk"]["ck1"] < 0.85 * floor
    assert r5["risk"]["ck1"] < 0.5 * r0["risk"]["ck1"]
    assert r0["risk"]["ck"] == r5["risk"]["ck"]  # shared across alphas


def test_experiment_is_deterministic_and_matches_experiments():
    kw = {"lam": 1e-3, "noise": 0.1, "n_test": 100}
    one = os1.experiment(90, 30, 60, alpha=0.3, generator=11, **kw)
    again = os1.experiment(90, 30, 60, alpha=0.3, generator=11, **kw)
    many = os1.experiments(90, 30, 60, alphas=[0.1, 0.3], generator=11, **kw)
    assert one["risk"] == again["risk"] and one["overlap"] == again["overlap"]
    assert torch.equal(one["singular_values"], many[1]["singular_values"])
    assert one["risk"] == many[1]["risk"]
    first = os1.experiment(90, 30, 60, alpha=0.1, generator=11, **kw)  # not the last alpha of many
    assert first["risk"] == many[0]["risk"]
    assert torch.equal(first["singular_values"], many[0]["singular_values"])
    assert len(one["singular_values"]) >= 5
    assert one["singular_values"].dtype == torch.float32
    d64 = os1.experiment(90, 30, 60, alpha=0.3, generator=11, dtype=F64, **kw)
    assert d64["singular_values"].dtype == F64
    for f in ("ck", "ntk", "ck1"):  # float32 and float64 agree on the same draw
        assert d64["risk"][f] == pytest.approx(one["risk"][f], rel=1e-3)


def test_experiment_equals_its_parts_on_the_same_draw():
    """experiment fits CK and NTK before drawing the test set (so the NTK kernel is never held
    next to it); the test set must still be the draw after the ridge batch: the risks equal
    the public risk functions on draws made in the documented order."""
    kw = {"lam": 1e-3, "noise": 0.1}
    res = os1.experiment(120, 20, 50, alpha=0.4, generator=3, n_test=70, dtype=F64, **kw)
    g = _gen(3)
    W0, a, beta = os1.init_params(20, 50, generator=g, dtype=F64)
    X, y, _ = os1.sample_teacher(120, beta, generator=g)
    X2, y2, _ = os1.sample_teacher(120, beta, generator=g)
    X3, _, f3 = os1.sample_teacher(70, beta, noise=0.0, generator=g)
    W1, _ = os1.one_step(X, y, W0, a, eta=50**0.4)
    assert res["risk"]["ck"] == pytest.approx(os1.ck_risk(X2, y2, X3, f3, W0, lam=1e-3), rel=1e-12)
    assert res["risk"]["ntk"] == pytest.approx(os1.ntk_risk(X2, y2, X3, f3, W0, lam=1e-3), rel=1e-12)
    assert res["risk"]["ck1"] == pytest.approx(os1.ck_risk(X2, y2, X3, f3, W1, lam=1e-3), rel=1e-10)


@pytest.mark.parametrize("target", ["tanh", "relu", "hermite"])
def test_activation_menu_runs(target):
    r = os1.experiment(200, 40, 80, alpha=0.5, activation="tanh", target=target, generator=0,
                       n_test=200)  # fmt: skip
    assert r["floor"] == pytest.approx(os1.nonlinear_energy(target))
    assert all(math.isfinite(v) and v >= 0 for v in r["risk"].values())


def test_risk_curves_shapes():
    out = os1.risk_curves([1.0, 4.0], [0.0, 0.5], d=32, seed=0, n_test=200, spectrum=True)
    assert out["ck1"].shape == (2, 2) and out["ck"].shape == (2,) and out["ntk"].shape == (2,)
    assert np.all(np.isfinite(out["ck1"])) and out["floor"] == pytest.approx(0.040146, abs=1e-6)
    assert np.all(out["top_singular"][1] > out["top_singular"][0])


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"n": 0}, "n"),
        ({"d": 0}, "d"),
        ({"N": 0}, "N"),
        ({"alpha": -60.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"lam": -1.0}, "lam"),
        ({"noise": -0.1}, "noise"),
        ({"activation": "gelu"}, "activation"),
        ({"target": "sin"}, "target"),
        ({"features": ("ck", "rf")}, "features"),
        ({"n_test": 0}, "n_test"),
    ],
)
def test_experiment_bad_input(kwargs, name):
    args = {"n": 10, "d": 5, "N": 6, "alpha": 0.2, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}="):
        os1.experiment(args.pop("n"), args.pop("d"), args.pop("N"), **args)


def test_unknown_activation_lists_the_menu():
    with pytest.raises(ValueError, match="erf.*tanh.*relu.*hermite"):
        os1.hermite_coefficients("gelu")
    with pytest.raises(TypeError, match="n="):
        os1.experiment(10.5, 5, 6, alpha=0.1)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="eta"):
        os1.spike_prediction(eta=-1.0, psi1=1.0, psi2=2.0)
    with pytest.raises(ValueError, match="psi2"):
        os1.spike_prediction(eta=1.0, psi1=1.0, psi2=0.0)
    with pytest.raises(ValueError, match="lam"):
        os1.ridge_risk(torch.ones(3, 2), torch.ones(3), torch.ones(2, 2), torch.ones(2), lam=-1)
    W0, a, beta = os1.init_params(4, 5, generator=0)
    X, y, _ = os1.sample_teacher(6, beta, generator=0)
    with pytest.raises(ValueError, match="eta"):
        os1.one_step(X, y, W0, a, eta=-1.0)
    with pytest.raises(ValueError, match="W0.shape"):
        os1.one_step(X, y, W0.T, a, eta=1.0)
    with pytest.raises(ValueError, match="dtype"):
        os1.experiment(10, 5, 6, alpha=0.1, dtype=torch.float16)


@pytest.mark.parametrize("psi2", [2.0, 0.5])
def test_marchenko_pastur_density(psi2):
    """Integrates to 1, E[s^2] = max(psi2, 1) (the Frobenius norm), and matches the sample CDF.

    Eigenvalues of Wishart matrices are rigid (fluctuations O(1/d) in the bulk), so the empirical
    CDF at d = 400 is within 0.02 of the limit.
    """
    edge = os1.bulk_edge(psi2)
    mass = integrate.quad(lambda s: os1.mp_singular_density(np.array([s]), psi2)[0], 0, edge + 1,
                          limit=200, points=[abs(1 - math.sqrt(psi2)), edge])[0]  # fmt: skip
    m2 = integrate.quad(lambda s: s * s * os1.mp_singular_density(np.array([s]), psi2)[0], 0,
                        edge + 1, limit=200, points=[abs(1 - math.sqrt(psi2)), edge])[0]  # fmt: skip
    assert mass == pytest.approx(1.0, abs=1e-7)
    assert m2 == pytest.approx(max(psi2, 1.0), rel=1e-7)
    d = 400
    W0, _, _ = os1.init_params(d, round(psi2 * d), generator=0, dtype=F64)
    s = os1.singular_values(W0).numpy()
    for q in (0.25, 0.5, 0.75):
        x = np.quantile(s, q)
        cdf = integrate.quad(lambda t: os1.mp_singular_density(np.array([t]), psi2)[0], 0, x,
                             limit=200)[0]  # fmt: skip
        assert cdf == pytest.approx(q, abs=0.02)


def test_rank_one_curve_helper():
    out = os1.rank_one_curve([64, 256], seeds=2)
    assert out["errors"].shape == (2, 2) and out["slope"] < 0
    np.testing.assert_allclose(out["mean"], out["errors"].mean(axis=1))


def test_non_finite_gradient_raises_divergence_error():
    from nnrep_lite import DivergenceError

    W0, a, beta = os1.init_params(4, 5, generator=0)
    X, y, _ = os1.sample_teacher(6, beta, generator=0)
    y[2] = float("inf")
    with pytest.raises(DivergenceError, match="step 1"):
        os1.one_step(X, y, W0, a, eta=1.0)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("block", [7, 10**9])  # several blocks (a ragged last one) and one block
def test_solve_spd_matches_numpy(dtype, block, monkeypatch):
    monkeypatch.setattr(ridge_mod, "BLOCK", block)
    g = _gen(9)
    A = torch.randn(30, 20, generator=g, dtype=F64)
    M = (A @ A.T).to(dtype)
    b = torch.randn(30, generator=g, dtype=F64).to(dtype)
    ref = np.linalg.solve(M.double().numpy() + 0.1 * np.eye(30), b.double().numpy())
    upper = torch.full_like(M, torch.nan).triu_(1)  # NaN above the diagonal: only the lower triangle is read
    got = os1.solve_spd(M.tril() + upper, b, 0.1, overwrite=True)
    assert got.dtype == dtype
    tol = 1e-10 if dtype == F64 else 1e-3
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=tol, atol=tol)
    keep = M.clone()
    os1.solve_spd(M, b, 0.1)  # overwrite=False leaves M untouched
    assert torch.equal(M, keep)
    with pytest.raises(ValueError, match="lam"):
        os1.solve_spd(-torch.eye(3, dtype=dtype), torch.ones(3, dtype=dtype), 0.0, overwrite=True)


@pytest.mark.parametrize("block", [1, 4, 5, 64])
def test_lower_block_cholesky_matches_torch_float64(block):
    """The lower block rows hold K's lower triangle; the in-place blocked factor equals
    torch.linalg.cholesky and the two triangular sweeps solve (K + shift I) x = b."""
    g = _gen(10)
    n = 23
    A = torch.randn(n, n + 3, generator=g, dtype=F64)
    K = A @ A.T
    starts = ridge_mod._block_starts(n, block)
    assert starts[0] == 0 and starts[-1] == n and all(e - s <= block for s, e in zip(starts, starts[1:]))
    rows = ridge_mod._lower_rows(n, starts, dtype=F64, device="cpu")
    assert sum(R.numel() for R in rows) <= n * (n + block) / 2
    for R, s, e in zip(rows, starts[:-1], starts[1:]):
        R.copy_(K[s:e, :e])
    ridge_mod._cholesky_rows_(rows, starts, 0.5)
    L = torch.linalg.cholesky(K + 0.5 * torch.eye(n, dtype=F64))
    for R, s, e in zip(rows, starts[:-1], starts[1:]):
        torch.testing.assert_close(R.tril(s), L[s:e, :e], rtol=1e-12, atol=1e-12)
    b = torch.randn(n, generator=g, dtype=F64)
    x = ridge_mod._solve_rows(rows, starts, b)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(K.numpy() + 0.5 * np.eye(n), b.numpy()), rtol=1e-11)


@pytest.mark.parametrize("shape", [(64, 160), (160, 64)])
def test_step_gram_matches_the_direct_spectrum_for_every_step(shape):
    from nnrep_lite.onestep import StepGram, spectrum_and_top_vector

    gen = torch.Generator().manual_seed(3)
    W0 = torch.randn(shape, generator=gen, dtype=torch.float64) / shape[0] ** 0.5
    beta = torch.randn(shape[0], 1, generator=gen, dtype=torch.float64)
    G0 = beta @ torch.randn(1, shape[1], generator=gen, dtype=torch.float64) / shape[1] \
        + 0.01 * torch.randn(shape, generator=gen, dtype=torch.float64)
    sg = StepGram(W0, G0)
    for c in (0.0, 0.5, 3.0, 40.0):
        s, u = sg.spectrum_and_top_vector(c)
        s_ref, u_ref = spectrum_and_top_vector(W0 + c * G0)
        torch.testing.assert_close(s, s_ref, rtol=1e-10, atol=1e-10 * float(s_ref[0]))
        if c >= 3.0:  # a separated spike: the same top vector up to sign
            assert abs(float(u @ u_ref)) == pytest.approx(1.0, abs=1e-9)
    # A kept from an earlier draw of the same W0 gives the same result
    kept = StepGram(W0, G0, A=sg.A)
    s2, _ = kept.spectrum_and_top_vector(3.0)
    torch.testing.assert_close(s2, sg.spectrum_and_top_vector(3.0)[0], rtol=1e-12, atol=1e-12)
    assert kept.complete().A is sg.A  # kept, not formed again
    # the first step asked for is formed from one product; B is then derived from it: the same values
    for first in (3.0, 0.5, -2.0):
        lazy = StepGram(W0, G0)
        s_first, _ = lazy.spectrum_and_top_vector(first)
        assert lazy._B is None  # nothing else formed yet
        for c in (first, 0.0, 0.5, 3.0, 40.0):
            s, u = lazy.spectrum_and_top_vector(c)
            s_ref, u_ref = spectrum_and_top_vector(W0 + c * G0)
            torch.testing.assert_close(s, s_ref, rtol=1e-10, atol=1e-10 * float(s_ref[0]))
        torch.testing.assert_close(lazy.B, sg.B, rtol=0, atol=1e-12 * float(sg.B.abs().max()))
    with pytest.raises(ValueError, match="G0.shape"):
        StepGram(W0, G0[:, :-1])
    with pytest.raises(ValueError, match="c="):
        sg.spectrum_and_top_vector(float("nan"))
