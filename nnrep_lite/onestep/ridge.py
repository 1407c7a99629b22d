"""Ridge regression on random features: CK at initialisation, trained CK, NTK (Ba et al. 2022).

The ridge estimator of the talk, with P features (the columns of Phi, P = N for the CK):

.. math::

    \\hat a = \\arg\\min_a \\frac1n \\|y - \\Phi a\\|^2 + \\frac{\\lambda}{P}\\|a\\|^2
            = (\\Phi^\\top\\Phi + \\tfrac{n\\lambda}{P} I)^{-1}\\Phi^\\top y
            = \\Phi^\\top(\\Phi\\Phi^\\top + \\tfrac{n\\lambda}{P} I)^{-1} y .

The primal form (P x P) is used when n >= P, the kernel form (n x n) otherwise. The CK features
are Phi = sigma(X W) / sqrt(N). The NTK (first layer, at W0) is used in kernel form only,

.. math::

    K(x, x') = \\frac{x\\cdot x'}{d}\\, \\frac1N \\sum_{j=1}^N \\sigma'(w_j\\cdot x)\\sigma'(w_j\\cdot x'),

with the matching penalty n lambda / N (the same kernel-form ridge as the CK): its N d-dimensional
feature matrix is never formed. Test risk is E[(f_hat(x) - f*(x))^2] on a fresh test set.
"""

from __future__ import annotations

import math

import torch

from .._utils import check_real
from .model import CHUNK_ENTRIES, row_chunk
from .theory import get_activation

__all__ = ["ridge_risk", "ck_risk", "ntk_risk", "ntk_kernel", "solve_spd"]


#: From this size on, CPU systems solved with ``overwrite=True`` are factorised in place.
INPLACE_MIN_SIZE = 4096


def solve_spd(M: torch.Tensor, b: torch.Tensor, shift: float, *, overwrite: bool = False) -> torch.Tensor:
    """Solve (M + shift I) x = b for a symmetric positive semi-definite M by Cholesky.

    ``overwrite=True`` adds the shift to M in place (M is then destroyed). torch's LAPACK wrapper
    always copies M for the factor; for large CPU systems (``INPLACE_MIN_SIZE`` and up) with
    ``overwrite=True`` LAPACK ``potrf`` (scipy) factorises the transposed, Fortran-ordered view
    of M in place instead, saving one (n, n) matrix: 1 GB at n = 16384 in float32. (Below that
    size torch is faster: scipy's OpenBLAS threads compete with torch's OpenMP threads.)
    """
    if not overwrite:
        M = M.clone()
    M.diagonal().add_(shift)
    fail = ValueError(
        f"the ridge system is not positive definite (shift={shift:g}); increase lam or use "
        "dtype=torch.float64"
    )
    if overwrite and M.device.type == "cpu" and M.shape[0] >= INPLACE_MIN_SIZE and M.is_contiguous():
        from scipy.linalg import cho_solve, lapack

        potrf = lapack.spotrf if M.dtype == torch.float32 else lapack.dpotrf
        c, info = potrf(M.numpy().T, lower=False, overwrite_a=True, clean=False)
        if info != 0:
            raise fail
        return torch.from_numpy(cho_solve((c, False), b.numpy(), check_finite=False))
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        raise fail
    return torch.cholesky_solve(b.unsqueeze(-1), L).squeeze(-1)


def _risk(pred: torch.Tensor, f_test: torch.Tensor) -> float:
    risk = float(torch.mean((pred - f_test) ** 2))
    if not math.isfinite(risk):
        raise ValueError("the ridge test risk is not finite; increase lam (the ridge penalty)")
    return risk


def ridge_risk(
    features_train: torch.Tensor,
    y_train: torch.Tensor,
    features_test: torch.Tensor,
    f_test: torch.Tensor,
    *,
    lam: float,
) -> float:
    """Test risk mean((Phi_test a_hat - f_test)^2) of ridge with penalty (lam / P) ||a||^2.

    features_train (n, P), y_train (n,), features_test (m, P), f_test (m,) (noise-free target).
    """
    lam = check_real("lam", lam, low=0.0)
    if features_train.ndim != 2 or features_test.ndim != 2:
        raise ValueError("features_train and features_test must be 2-D (n, P) and (m, P)")
    n, P = features_train.shape
    if features_test.shape[1] != P:
        raise ValueError(
            f"features_test.shape={tuple(features_test.shape)} is invalid: must have {P} columns"
        )
    if y_train.shape != (n,) or f_test.shape != (features_test.shape[0],):
        raise ValueError("y_train must be (n,) and f_test (m,) to match the features")
    shift = n * lam / P
    if n >= P:
        coef = solve_spd(features_train.T @ features_train, features_train.T @ y_train, shift)
        pred = features_test @ coef
    else:
        alpha = solve_spd(features_train @ features_train.T, y_train, shift)
        pred = features_test @ (features_train.T @ alpha)
    return _risk(pred, f_test)


def ck_risk(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    f_test: torch.Tensor,
    W: torch.Tensor,
    *,
    lam: float,
    activation: str = "erf",
) -> float:
    """Ridge risk on the conjugate-kernel features Phi = sigma(X W) / sqrt(N), chunked.

    X_train (n, d), y_train (n,), X_test (m, d), f_test (m,), W (d, N). Same estimator as
    :func:`ridge_risk`, without ever holding an (n, N) matrix: for n >= N the Gram Phi^T Phi is
    accumulated over chunks of samples; for n < N the kernel Phi Phi^T over chunks of neurons.
    """
    lam = check_real("lam", lam, low=0.0)
    act = get_activation(activation)
    n, N = X_train.shape[0], W.shape[1]
    # With unscaled F = sigma(X W) = sqrt(N) Phi the same estimator reads
    # (F^T F + n lam I) c = F^T y, prediction F_test c (and the same shift in kernel form).
    shift = n * lam
    if n >= N:
        M = torch.zeros(N, N, dtype=W.dtype, device=W.device)
        b = torch.zeros(N, dtype=W.dtype, device=W.device)
        step = row_chunk(N)
        for s in range(0, n, step):
            F = act.fn(X_train[s : s + step] @ W)
            M.addmm_(F.T, F)
            b.addmv_(F.T, y_train[s : s + step])
        coef = solve_spd(M, b, shift, overwrite=True)
        pred = torch.cat(
            [act.fn(X_test[s : s + step] @ W) @ coef for s in range(0, len(X_test), step)]
        )
        return _risk(pred, f_test)
    m = X_test.shape[0]
    K = torch.zeros(n, n, dtype=W.dtype, device=W.device)
    Kt = torch.zeros(m, n, dtype=W.dtype, device=W.device)
    step = max(1, CHUNK_ENTRIES // max(n + m, 1))
    for s in range(0, N, step):
        Wc = W[:, s : s + step]
        F = act.fn(X_train @ Wc)
        K.addmm_(F, F.T)
        Kt.addmm_(act.fn(X_test @ Wc), F.T)
    alpha = solve_spd(K, y_train, shift, overwrite=True)
    del K
    return _risk(Kt @ alpha, f_test)


def ntk_kernel(
    X1: torch.Tensor, X2: torch.Tensor, W: torch.Tensor, *, activation: str = "erf"
) -> torch.Tensor:
    """First-layer NTK K(x, x') = (x.x'/d) (1/N) sum_j sigma'(w_j.x) sigma'(w_j.x'), shape (n1, n2).

    Accumulated over chunks of neurons; the (n, N d) NTK feature matrix is never formed.
    """
    act = get_activation(activation)
    d, N = W.shape
    K = torch.zeros(X1.shape[0], X2.shape[0], dtype=W.dtype, device=W.device)
    same = X1 is X2
    step = max(1, CHUNK_ENTRIES // max(X1.shape[0] + (0 if same else X2.shape[0]), 1))
    for s in range(0, N, step):
        Wc = W[:, s : s + step]
        S1 = act.prime(X1 @ Wc)
        S2 = S1 if same else act.prime(X2 @ Wc)
        K.addmm_(S1, S2.T)
    rows = row_chunk(X2.shape[0])
    for s in range(0, X1.shape[0], rows):  # Hadamard with X1 X2^T / (d N), block by block
        K[s : s + rows].mul_(X1[s : s + rows] @ X2.T).div_(d * N)
    return K


def ntk_risk(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    f_test: torch.Tensor,
    W: torch.Tensor,
    *,
    lam: float,
    activation: str = "erf",
) -> float:
    """Kernel ridge risk with the first-layer NTK at W and penalty n lam / N (kernel form).

    Equals :func:`ridge_risk` on the NTK features phi(x) = vec(x sigma'(W^T x)^T) / sqrt(d N)
    (P = N d columns) called with ``lam * d`` (its penalty is lam / P), i.e. the penalty
    (lam / N) ||theta||^2 of the CK applied to the NTK coefficients.
    """
    lam = check_real("lam", lam, low=0.0)
    n, N = X_train.shape[0], W.shape[1]
    K = ntk_kernel(X_train, X_train, W, activation=activation)
    alpha = solve_spd(K, y_train, n * lam / N, overwrite=True)
    del K  # free the kernel before the test rows are built
    pred = torch.cat(
        [
            ntk_kernel(X_test[s : s + 4096], X_train, W, activation=activation) @ alpha
            for s in range(0, X_test.shape[0], 4096)
        ]
    )
    return _risk(pred, f_test)
