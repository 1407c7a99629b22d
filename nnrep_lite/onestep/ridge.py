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

__all__ = ["ridge_risk", "ridge_predict", "ck_risk", "ntk_risk", "ntk_kernel", "solve_spd"]


#: Rows per block of the blocked Cholesky factorisation (512: GEMMs of full speed, 1 MB blocks).
BLOCK = 512


def _block_starts(n: int, block: int | None = None) -> list[int]:
    """Block boundaries 0 = s_0 < s_1 < ... < s_p = n of blocks of ``BLOCK`` rows."""
    block = block or BLOCK
    return list(range(0, n, block)) + [n]


def _dense_rows(M: torch.Tensor, starts: list[int]) -> list[torch.Tensor]:
    """Block rows of the lower triangle of M as views: row block I is M[s_I:s_{I+1}, :s_{I+1}]."""
    return [M[s:e, :e] for s, e in zip(starts[:-1], starts[1:])]


def _lower_rows(n: int, starts: list[int], *, dtype, device) -> list[torch.Tensor]:
    """Zeroed block rows that hold only the lower triangle of an n x n matrix, about
    n (n + BLOCK) / 2 entries in all: row block I is a (s_{I+1} - s_I, s_{I+1}) matrix. Each is
    allocated on its own, so that the smaller ones can reuse memory freed earlier (an input's
    hole) instead of growing the heap."""
    return [torch.zeros(e - s, e, dtype=dtype, device=device) for s, e in zip(starts[:-1], starts[1:])]


def _cholesky_rows_(rows: list[torch.Tensor], starts: list[int], shift: float) -> None:
    """Cholesky factor L of (K + shift I), in place, with K given by its lower block rows.

    Row by row (left-looking): L_IJ = (K_IJ - L_{I,<J} L_{J,<J}^T) L_JJ^{-T} for J < I, then
    L_II = chol(K_II - L_{I,<I} L_{I,<I}^T). Only the lower triangle is read or written, so the
    rows may be views of a dense matrix (:func:`_dense_rows`) or arrays holding only the lower
    triangle, about half its size (:func:`_lower_rows`).
    """
    for i, R in enumerate(rows):
        s = starts[i]
        for j in range(i):
            sj, ej = starts[j], starts[j + 1]
            blk = R[:, sj:ej]
            if sj:
                blk.addmm_(R[:, :sj], rows[j][:, :sj].T, alpha=-1.0)
            blk.copy_(
                torch.linalg.solve_triangular(rows[j][:, sj:].mT, blk, upper=True, left=False)
            )
        D = R[:, s:]
        D.diagonal().add_(shift)
        if s:
            D.addmm_(R[:, :s], R[:, :s].T, alpha=-1.0)
        L, info = torch.linalg.cholesky_ex(D)
        if int(info) != 0:
            raise ValueError(
                f"the ridge system is not positive definite (shift={shift:g}); increase lam or "
                "use dtype=torch.float64"
            )
        D.copy_(L)


def _kernel_solve(rows: list[torch.Tensor], starts: list[int], y: torch.Tensor, shift: float):
    """(K + shift I)^{-1} y for K given by its lower block rows (factorised in place)."""
    _cholesky_rows_(rows, starts, shift)
    return _solve_rows(rows, starts, y)


def _solve_rows(rows: list[torch.Tensor], starts: list[int], b: torch.Tensor) -> torch.Tensor:
    """Solve L L^T x = b with L from :func:`_cholesky_rows_` (forward, then backward by rows)."""
    x = b.clone()
    for i, R in enumerate(rows):  # forward: L z = b
        s, e = starts[i], starts[i + 1]
        if s:
            x[s:e].addmv_(R[:, :s], x[:s], alpha=-1.0)
        x[s:e] = torch.linalg.solve_triangular(R[:, s:], x[s:e, None], upper=False).squeeze(-1)
    for i in range(len(rows) - 1, -1, -1):  # backward: L^T x = z
        R, s, e = rows[i], starts[i], starts[i + 1]
        x[s:e] = torch.linalg.solve_triangular(R[:, s:].mT, x[s:e, None], upper=True).squeeze(-1)
        if s:
            x[:s].addmv_(R[:, :s].T, x[s:e], alpha=-1.0)
    return x


def solve_spd(
    M: torch.Tensor, b: torch.Tensor, shift: float, *, overwrite: bool = False
) -> torch.Tensor:
    """Solve (M + shift I) x = b for a symmetric positive semi-definite M by Cholesky.

    Only the lower triangle of M is read. The factorisation is blocked (``BLOCK`` rows) and runs
    in place: ``overwrite=True`` leaves the factor in M's lower triangle and needs no second
    (n, n) matrix (1 GB at n = 16384 in float32); ``overwrite=False`` works on a copy.
    """
    if not overwrite:
        M = M.clone()
    starts = _block_starts(M.shape[0])
    return _kernel_solve(_dense_rows(M, starts), starts, b, shift)


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
    return _risk(ridge_predict(features_train, y_train, features_test, lam=lam), f_test)


def ridge_predict(
    features_train: torch.Tensor, y_train: torch.Tensor, features_test: torch.Tensor, *, lam: float
) -> torch.Tensor:
    """Predictions Phi_test a_hat (m,) of the ridge fit of :func:`ridge_risk` (penalty lam/P).

    Primal form (a P x P system) when n >= P, kernel form (n x n) otherwise.
    """
    n, P = features_train.shape
    shift = n * lam / P
    if n >= P:
        coef = solve_spd(features_train.T @ features_train, features_train.T @ y_train, shift)
        return features_test @ coef
    alpha = solve_spd(features_train @ features_train.T, y_train, shift)
    return features_test @ (features_train.T @ alpha)


def _gram_rows(X: torch.Tensor, W: torch.Tensor, feature, starts: list[int]) -> list[torch.Tensor]:
    """Lower block rows (:func:`_lower_rows`) of S S^T with S = feature(X W), (n, N).

    Accumulated over chunks of neurons: the (n, N) matrix S is never held whole. ``feature``
    may overwrite its argument (a fresh product).
    """
    n, N = X.shape[0], W.shape[1]
    rows = _lower_rows(n, starts, dtype=W.dtype, device=W.device)
    step = row_chunk(n)
    for c in range(0, N, step):
        S = feature(X @ W[:, c : c + step])
        for R, s, e in zip(rows, starts[:-1], starts[1:]):
            R.addmm_(S[s:e], S[:e].T)
        del S
    return rows


def _ck_fit(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, lam: float, act) -> torch.Tensor:
    """Coefficients c (N,) of the CK ridge fit, predictions sigma(x W) c.

    With unscaled F = sigma(X W) = sqrt(N) Phi the estimator of :func:`ridge_risk` reads
    (F^T F + n lam I) c = F^T y (primal, n >= N), or c = F^T (F F^T + n lam I)^{-1} y (kernel
    form, n < N, only the kernel's lower triangle held). Both are accumulated over chunks, so no
    (n, N) matrix is ever held.
    """
    n, N = X.shape[0], W.shape[1]
    shift = n * lam
    if n >= N:
        M = torch.zeros(N, N, dtype=W.dtype, device=W.device)
        b = torch.zeros(N, dtype=W.dtype, device=W.device)
        step = row_chunk(N)
        for s in range(0, n, step):
            F = act.fn_(X[s : s + step] @ W)
            M.addmm_(F.T, F)
            b.addmv_(F.T, y[s : s + step])
        return solve_spd(M, b, shift, overwrite=True)
    starts = _block_starts(n)
    alpha = _kernel_solve(_gram_rows(X, W, act.fn_, starts), starts, y, shift)
    step = row_chunk(n)
    return torch.cat([act.fn_(X @ W[:, c : c + step]).T @ alpha for c in range(0, N, step)])


def _ck_predict(X: torch.Tensor, W: torch.Tensor, coef: torch.Tensor, act) -> torch.Tensor:
    step = row_chunk(W.shape[1])
    return torch.cat([act.fn_(X[s : s + step] @ W) @ coef for s in range(0, X.shape[0], step)])


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
    accumulated over chunks of samples; for n < N the lower triangle of the kernel Phi Phi^T
    over chunks of neurons.
    """
    lam = check_real("lam", lam, low=0.0)
    return _fitted_risk("ck", X_train, y_train, X_test, f_test, W, lam, get_activation(activation))


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
        S1 = act.prime_(X1 @ Wc)
        S2 = S1 if same else act.prime_(X2 @ Wc)
        K.addmm_(S1, S2.T)
    rows = row_chunk(X2.shape[0])
    for s in range(0, X1.shape[0], rows):  # Hadamard with X1 X2^T / (d N), block by block
        K[s : s + rows].mul_(X1[s : s + rows] @ X2.T).div_(d * N)
    return K


def _ntk_train_rows(X: torch.Tensor, W: torch.Tensor, act, starts: list[int]) -> list[torch.Tensor]:
    """Lower block rows of the training NTK K(X, X) of :func:`ntk_kernel`: half the memory and
    about half the products of the full kernel."""
    d, N = W.shape
    rows = _gram_rows(X, W, act.prime_, starts)
    scale = 1.0 / (d * N)
    for i, R in enumerate(rows):  # Hadamard with X X^T / (d N), one block at a time
        Xi = X[starts[i] : starts[i + 1]]
        for j in range(i + 1):
            sj, ej = starts[j], starts[j + 1]
            R[:, sj:ej].mul_(torch.mm(Xi, X[sj:ej].T).mul_(scale))
    return rows


def _ntk_dual(X: torch.Tensor, W: torch.Tensor, coef: torch.Tensor, act) -> torch.Tensor:
    """V = sigma'(X W)^T diag(coef) X / (d N), shape (N, d): the kernel expansion
    f(x) = sum_k coef_k K(x, x_k) then reads f(x) = sum_j sigma'(w_j . x) (x . V_j)."""
    d, N = W.shape
    V = torch.zeros(N, d, dtype=W.dtype, device=W.device)
    step = row_chunk(N)
    for s in range(0, X.shape[0], step):
        Xc = X[s : s + step]
        V.addmm_(act.prime_(Xc @ W).T, Xc * coef[s : s + step, None])
    return V.div_(d * N)


def _ntk_fit(X: torch.Tensor, y: torch.Tensor, W: torch.Tensor, lam: float, act) -> torch.Tensor:
    """The NTK ridge fit as the (N, d) matrix V of :func:`_ntk_dual`. The training kernel is
    held only here, as its lower triangle (n (n + BLOCK) / 2 entries), factorised in place."""
    n, N = X.shape[0], W.shape[1]
    starts = _block_starts(n)
    coef = _kernel_solve(_ntk_train_rows(X, W, act, starts), starts, y, n * lam / N)
    return _ntk_dual(X, W, coef, act)  # the kernel is freed before V is built


def _ntk_predict(X: torch.Tensor, W: torch.Tensor, V: torch.Tensor, act) -> torch.Tensor:
    """sum_j sigma'(w_j . x) (x . V_j) for the rows x of X, in chunks of rows."""
    step = row_chunk(W.shape[1])
    return torch.cat(
        [
            act.prime_(Xc @ W).mul_(Xc @ V.T).sum(dim=1)
            for Xc in (X[s : s + step] for s in range(0, X.shape[0], step))
        ]
    )


#: feature map -> (fit, predict): ``fit(X, y, W, lam, act)`` gives what ``predict(X_test, W, fit,
#: act)`` needs, the (m,) predictions; the two can run apart (experiments fit before the test
#: set is drawn).
FITS = {"ck": (_ck_fit, _ck_predict), "ntk": (_ntk_fit, _ntk_predict)}


def _fitted_risk(kind: str, X_train, y_train, X_test, f_test, W, lam: float, act) -> float:
    """Test risk of the ridge fit ``kind`` ("ck" or "ntk") on features at W."""
    fit, predict = FITS[kind]
    return _risk(predict(X_test, W, fit(X_train, y_train, W, lam, act), act), f_test)


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

    Memory: the training kernel is held as its lower triangle and factorised in place; the
    test predictions go through an (N, d) matrix instead of an (n_test, n) test kernel.
    """
    lam = check_real("lam", lam, low=0.0)
    return _fitted_risk("ntk", X_train, y_train, X_test, f_test, W, lam, get_activation(activation))
