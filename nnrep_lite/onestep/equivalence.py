"""Gaussian equivalence of random features (Ba et al. 2022, Sec. 4; the "limitation of random features" slide).

**Gaussian equivalence** (the "limitation of random features" slide). For x ~ N(0, I_d) each
pre-activation u_i = w_i . x is N(0, r_i^2), r_i = ||w_i||, and in the proportional regime ridge
regression on the CK features sigma(W^T x) / sqrt(N) has the risk of ridge on the
Gaussian-equivalent features

.. math::

    \\phi_{GE}(x)_i = \\frac{1}{\\sqrt N}\\Big(\\mu_0(r_i) + \\frac{\\mu_1(r_i)}{r_i}\\, w_i^\\top x
        + \\mu_2(r_i)\\, z_i\\Big), \\qquad z_i \\sim N(0, 1) \\text{ independent},

with mu0(r) = E[sigma(r g)], mu1(r) = E[g sigma(r g)], mu2(r)^2 = E[sigma(r g)^2] - mu0^2 - mu1^2,
g ~ N(0, 1): the same mean, the same covariance with x and the same variance as sigma(w_i . x).
At W0 (r_i ~ 1) these are the Hermite constants of :func:`hermite_coefficients`, and
phi_GE = (mu0 + mu1 W0^T x + mu2 z) / sqrt(N): a linear model plus independent noise, which cannot
beat ||P_{>1} f*||^2. After a large step (eta = Theta(sqrt N)) the trained CK departs from its own
linearisation: the departure is the learned feature.

The features learned by a large step, and tau*, are in :mod:`.theory` (:func:`tau_star`); the
risk against the step size in :func:`.experiment.risk_vs_alpha`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .._utils import as_generator, check_int, check_memory, check_real
from .experiment import check_alpha
from .model import _randn, init_params, negative_gradient, sample_teacher
from .ridge import FITS, ridge_predict, solve_spd
from .theory import _normal_rule, get_activation, nonlinear_energy

__all__ = [
    "gaussian_coefficients",
    "gaussian_equivalent_features",
    "gaussian_equivalence",
    "gaussian_equivalence_curve",
    "ntk_gaussian_equivalence",
]


def gaussian_coefficients(
    activation: str, radius, *, derivative: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(mu0, mu1, mu2)`` of sigma(u) for u ~ N(0, r^2), one radius r per entry, float64.

    mu0(r) = E[sigma(r g)], mu1(r) = E[g sigma(r g)], mu2(r) = sqrt(E[sigma(r g)^2] - mu0^2 - mu1^2),
    g ~ N(0, 1), by the quadrature of :func:`hermite_coefficients` (at r = 1 they are equal).
    ``radius`` is a tensor (any shape; >= 0) or a float. ``derivative=True``: the same for
    sigma' (the factor of the NTK features).
    """
    act = get_activation(activation)
    fn = act.prime if derivative else act.fn
    r = torch.as_tensor(radius, dtype=torch.float64).detach().cpu()
    if not bool(torch.isfinite(r).all()) or bool((r < 0).any()):
        raise ValueError("radius is invalid: must be finite and >= 0")
    z, w = _normal_rule(act.smooth)
    z = torch.as_tensor(z, dtype=torch.float64)
    w = torch.as_tensor(w, dtype=torch.float64)
    s = fn(r.reshape(-1, 1) * z)  # (R, K)
    m0, m1, m2 = s @ w, s @ (w * z), s.square() @ w
    m2 = (m2 - m0.square() - m1.square()).clamp_min(0.0).sqrt()
    shape = r.shape
    return m0.reshape(shape), m1.reshape(shape), m2.reshape(shape)


def _check_xw(X: torch.Tensor, W: torch.Tensor) -> None:
    if X.ndim != 2:
        raise ValueError(f"X.shape={tuple(X.shape)} is invalid: must be (n, d)")
    if W.ndim != 2 or W.shape[0] != X.shape[1]:
        raise ValueError(f"W.shape={tuple(W.shape)} is invalid: must be ({X.shape[1]}, N) to match X")
    for name, t in (("X", X), ("W", W)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} is invalid: must hold finite values (found NaN/Inf)")


def gaussian_equivalent_features(
    X: torch.Tensor,
    W: torch.Tensor,
    *,
    activation: str = "erf",
    generator: torch.Generator | int | None = None,
    derivative: bool = False,
) -> torch.Tensor:
    """Gaussian-equivalent features phi_GE(x) of the CK features sigma(W^T x) / sqrt(N), (n, N).

    .. math::

        \\phi_{GE}(x)_i = \\big(\\mu_0(r_i) + \\mu_1(r_i)\\, w_i^\\top x / r_i + \\mu_2(r_i) z_i\\big)/\\sqrt N,

    r_i = ||w_i||, z_i ~ N(0, 1) drawn independently per sample and neuron from ``generator``
    (coefficients from :func:`gaussian_coefficients`). Each column has the mean, the variance
    and the covariance with x of sigma(w_i . x) for x ~ N(0, I_d). X (n, d), W (d, N); dtype and
    device follow X. Holds X W and the features, two (n, N) matrices (memory-checked).
    ``derivative=True``: the same for sigma'(W^T x) / sqrt(N) (the NTK's factor), with the
    coefficients of sigma'.
    """
    _check_xw(X, W)
    n, N = X.shape[0], W.shape[1]
    check_memory(2 * n * N * X.element_size(), what=f"Gaussian-equivalent features ({n} x {N})",
                 reduce="n or N", device=X.device)  # fmt: skip
    return _ge_features(X @ W, W, activation, as_generator(generator), derivative)


def _ge_features(Z: torch.Tensor, W: torch.Tensor, activation: str, generator, derivative: bool = False):
    """:func:`gaussian_equivalent_features` from the pre-activations Z = X W (n, N), left unchanged."""
    n, N = Z.shape
    r = W.norm(dim=0).to(torch.float64).cpu()
    m0, m1, m2 = gaussian_coefficients(activation, r, derivative=derivative)
    slope = torch.where(r > 0, m1 / r.clamp_min(1e-300), torch.zeros_like(r))
    kw = {"dtype": Z.dtype, "device": Z.device}
    F = _randn((n, N), generator, Z.dtype, Z.device).mul_(m2.to(**kw))
    F.addcmul_(Z, slope.to(**kw)).add_(m0.to(**kw))
    return F.div_(math.sqrt(N))


def _mean_se(e: torch.Tensor) -> tuple[float, float]:
    m = e.shape[0]
    mean = float(e.mean())
    se = float(e.std() / math.sqrt(m)) if m > 1 else float("nan")
    if not math.isfinite(mean):
        raise ValueError("the ridge test risk is not finite; increase lam (the ridge penalty)")
    return mean, se


def gaussian_equivalence(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    f_test: torch.Tensor,
    W: torch.Tensor,
    *,
    lam: float,
    activation: str = "erf",
    generator: torch.Generator | int | None = None,
) -> dict:
    """Ridge risk of the CK features at W next to the ridge risk of their Gaussian equivalent.

    Same ridge (penalty lam/N), same training and test samples; the Gaussian-equivalent features
    (:func:`gaussian_equivalent_features`) draw their noise z for the training set, then for the
    test set, from ``generator``. Returns floats ``"ck"``, ``"ge"`` (test risks against the
    noise-free ``f_test``), their test-set standard errors ``"ck_se"``, ``"ge_se"``, the gap
    ``"gap"`` = ge - ck with the standard error of the paired per-point difference ``"gap_se"``,
    and ``"rel_gap"`` = |ge - ck| / ck. X_train (n, d), y_train (n,), X_test (m, d), f_test (m,), W (d, N).
    Both feature maps are held explicitly ((n + m) x N each, sharing X W; memory-checked).
    """
    lam = check_real("lam", lam, low=0.0)
    act = get_activation(activation)
    _check_xw(X_train, W)
    _check_xw(X_test, W)
    n, m, N = X_train.shape[0], X_test.shape[0], W.shape[1]
    if y_train.shape != (n,) or f_test.shape != (m,):
        raise ValueError("y_train must be (n,) and f_test (m,) to match X_train and X_test")
    elt = X_train.element_size()
    check_memory((2 * (n + m) * N + min(n, N) ** 2 + 2 * (1 << 20)) * elt,
                 what=f"the Gaussian-equivalence fit at n={n}, N={N}", reduce="n or N",
                 device=X_train.device)  # fmt: skip
    generator = as_generator(generator)
    scale = 1.0 / math.sqrt(N)
    Z_train, Z_test = X_train @ W, X_test @ W  # shared by the CK and its Gaussian equivalent
    G_train = _ge_features(Z_train, W, activation, generator)
    G_test = _ge_features(Z_test, W, activation, generator)
    e_ge = (ridge_predict(G_train, y_train, G_test, lam=lam) - f_test).square_()
    del G_train, G_test
    F_train, F_test = act.fn_(Z_train).mul_(scale), act.fn_(Z_test).mul_(scale)  # sigma(X W)/sqrt(N)
    e_ck = (ridge_predict(F_train, y_train, F_test, lam=lam) - f_test).square_()
    del F_train, F_test, Z_train, Z_test
    ck, ck_se = _mean_se(e_ck)
    ge, ge_se = _mean_se(e_ge)
    _, gap_se = _mean_se(e_ge - e_ck)
    return {"ck": ck, "ge": ge, "ck_se": ck_se, "ge_se": ge_se, "gap": ge - ck, "gap_se": gap_se,
            "rel_gap": abs(ge - ck) / ck}  # fmt: skip


def ntk_gaussian_equivalence(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    f_test: torch.Tensor,
    W: torch.Tensor,
    *,
    lam: float,
    activation: str = "erf",
    generator: torch.Generator | int | None = None,
) -> dict:
    """NTK kernel ridge risk at W next to the risk of its Gaussian-equivalent kernel.

    The NTK K(x, x') = (x.x'/d) (1/N) sum_j sigma'(w_j.x) sigma'(w_j.x') (:func:`ntk_risk`, penalty
    n lam / N) with sigma'(w_j . x) replaced by its Gaussian equivalent nu0_j + nu1_j w_j.x / r_j +
    nu2_j z_j (:func:`gaussian_equivalent_features` with ``derivative=True``). Returns the keys of
    :func:`gaussian_equivalence` with ``"ck"`` read as the NTK (``"ck"``, ``"ck_se"`` hold the NTK
    risk). The Gaussian-equivalent training kernel is one dense (n, n) matrix (memory-checked).
    """
    lam = check_real("lam", lam, low=0.0)
    act = get_activation(activation)
    _check_xw(X_train, W)
    _check_xw(X_test, W)
    (n, d), m, N = X_train.shape, X_test.shape[0], W.shape[1]
    if y_train.shape != (n,) or f_test.shape != (m,):
        raise ValueError("y_train must be (n,) and f_test (m,) to match X_train and X_test")
    check_memory((n * n + (n + m) * N + N * d + 2 * (1 << 20)) * X_train.element_size(),
                 what=f"the NTK Gaussian-equivalence fit at n={n}, N={N}", reduce="n or N",
                 device=X_train.device)  # fmt: skip
    generator = as_generator(generator)
    fit, predict = FITS["ntk"]
    e_ntk = (predict(X_test, W, fit(X_train, y_train, W, lam, act), act) - f_test).square_()
    kw = {"activation": activation, "generator": generator, "derivative": True}
    H = gaussian_equivalent_features(X_train, W, **kw).mul_(math.sqrt(N))  # GE of sigma'(X W)
    K = (H @ H.T).div_(N).mul_(X_train @ X_train.T).div_(d)
    coef = solve_spd(K, y_train, n * lam / N, overwrite=True)
    del K
    V = (H.T @ (X_train * coef[:, None])).div_(d * N)  # (N, d), as in the NTK's own predictor
    del H
    H_test = gaussian_equivalent_features(X_test, W, **kw).mul_(math.sqrt(N))
    e_ge = (H_test.mul_(X_test @ V.T).sum(dim=1) - f_test).square_()
    ck, ck_se = _mean_se(e_ntk)
    ge, ge_se = _mean_se(e_ge)
    _, gap_se = _mean_se(e_ge - e_ntk)
    return {"ck": ck, "ge": ge, "ck_se": ck_se, "ge_se": ge_se, "gap": ge - ck, "gap_se": gap_se,
            "rel_gap": abs(ge - ck) / ck}  # fmt: skip


_GE_KEYS = ("ck", "ge", "ck_se", "ge_se", "gap", "gap_se", "rel_gap")


def gaussian_equivalence_curve(
    psi1_values: Sequence[float],
    *,
    d: int,
    psi2: float = 2.0,
    alphas: Sequence[float] = (0.0, 0.5),
    seeds: Sequence[int] = (0,),
    lam: float = 1e-3,
    noise: float = 0.1,
    activation: str = "erf",
    target: str = "erf",
    n_test: int = 2048,
    dtype: torch.dtype = torch.float32,
    device=None,
    ntk_seeds: int = 0,
    callback: Callable[[dict], None] | None = None,
) -> dict:
    """:func:`gaussian_equivalence` across psi1 = n/d, at W0 and after one step eta = N^alpha.

    For each seed and psi1: one draw of W0, a, beta*, a step batch (n), a ridge batch (n) and a
    test set (``n_test``), as in :func:`experiments`. Returns numpy arrays ``"psi1"``,
    ``"alphas"``, ``"seeds"``, and for ``"init"`` (the CK at W0) and ``"trained"`` (the CK at
    W1) a dict with the keys of :func:`gaussian_equivalence`, each (len(seeds), len(psi1)) for
    init and (len(seeds), len(alphas), len(psi1)) for trained, plus the summaries over seeds
    ``"ck_mean"``, ``"ge_mean"``, ``"rel_gap"`` = (ge_mean - ck_mean) / ck_mean (signed) and its
    standard error ``"rel_gap_se"`` (over seeds; the test-set one for a single seed).
    Near the interpolation peak psi1 = psi2 the risk of one draw fluctuates by about 10% at
    d = 256, so the gap is a mean over seeds. ``ntk_seeds > 0`` adds ``"ntk"``: the same keys
    for the NTK at W0 against its Gaussian equivalent (:func:`ntk_gaussian_equivalence`), on the
    first ``ntk_seeds`` seeds only (each costs an (n, n) kernel; the NTK gap, measured on the
    same samples, spreads far less than the CK's: about 1% at d = 256). Also ``"floor"``, ``"d"``, ``"N"``;
    ``callback(dict)`` after each (seed, psi1). ``dtype``/``device``: where the draws live.
    """
    d = check_int("d", d, low=1)
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    psi1_values = [check_real("psi1", p, low=0.0, low_open=True) for p in psi1_values]
    alphas = [check_alpha(al) for al in alphas]
    seeds = [check_int("seed", sd, low=0) for sd in seeds]
    if not seeds:
        raise ValueError("seeds=[] is invalid: must hold at least one seed")
    n_test = check_int("n_test", n_test, low=2)
    ntk_seeds = check_int("ntk_seeds", ntk_seeds, low=0, high=len(seeds))
    get_activation(activation, "activation")
    get_activation(target, "target")
    N = max(1, round(psi2 * d))
    S, P, A = len(seeds), len(psi1_values), len(alphas)
    init = {k: np.full((S, P), np.nan) for k in _GE_KEYS}
    trained = {k: np.full((S, A, P), np.nan) for k in _GE_KEYS}
    ntk_table = {k: np.full((ntk_seeds, P), np.nan) for k in _GE_KEYS}
    kw = {"lam": lam, "activation": activation}
    for s, seed in enumerate(seeds):
        gen = as_generator(seed)
        for j, psi1 in enumerate(psi1_values):
            n = max(1, round(psi1 * d))
            W0, a, beta = init_params(d, N, generator=gen, dtype=dtype, device=device)
            X, y, _ = sample_teacher(n, beta, target=target, noise=noise, generator=gen)
            X2, y2, _ = sample_teacher(n, beta, target=target, noise=noise, generator=gen)
            X3, _, f3 = sample_teacher(n_test, beta, target=target, noise=0.0, generator=gen)
            G0 = negative_gradient(X, y, W0, a, activation=activation)
            del X, y
            res = gaussian_equivalence(X2, y2, X3, f3, W0, generator=gen, **kw)
            for k in _GE_KEYS:
                init[k][s, j] = res[k]
            if s < ntk_seeds:
                res = ntk_gaussian_equivalence(X2, y2, X3, f3, W0, generator=gen, **kw)
                for k in _GE_KEYS:
                    ntk_table[k][s, j] = res[k]
            for i, alpha in enumerate(alphas):
                W1 = W0 + (float(N) ** alpha * math.sqrt(N)) * G0
                res = gaussian_equivalence(X2, y2, X3, f3, W1, generator=gen, **kw)
                for k in _GE_KEYS:
                    trained[k][s, i, j] = res[k]
            if callback is not None:
                callback({"seed": seed, "index": j, "psi1": psi1})
    tables = (init, trained, ntk_table) if ntk_seeds else (init, trained)
    for table in tables:
        ck, ge = table["ck"].mean(0), table["ge"].mean(0)
        table["ck_mean"], table["ge_mean"] = ck, ge
        table["rel_gap"] = (ge - ck) / ck
        T = table["ck"].shape[0]
        if T > 1:
            table["rel_gap_se"] = (table["ge"] - table["ck"]).std(0, ddof=1) / math.sqrt(T) / ck
        else:
            table["rel_gap_se"] = table["gap_se"][0] / ck
    out = {"psi1": np.asarray(psi1_values, dtype=float), "alphas": np.asarray(alphas, dtype=float),
           "seeds": np.asarray(seeds), "init": init, "trained": trained,
           "floor": nonlinear_energy(target), "d": d, "N": N}  # fmt: skip
    if ntk_seeds:
        out["ntk"] = ntk_table
    return out
