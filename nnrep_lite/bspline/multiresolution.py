"""Multiresolution (DeVore-Popov) decomposition of functions on [-1, 1]^d in cardinal B-splines.

Level k uses the B-splines N_m(2^k x - j) that meet (-1, 1): j = -2^k - m + 1, ..., 2^k - 1
(n_k = 2^{k+1} + m - 1 per axis; tensor products in d dimensions). With Q_k the L2 projection
onto level k (tensor-product least squares on an exact Gauss-Legendre grid),

.. math::
    f \\approx Q_K f = \\sum_{k=0}^K \\sum_j \\alpha_{k,j} N^{(d)}_{k,j},
    \\qquad \\alpha_0 = Q_0 f, \\quad \\alpha_k = Q_k f - R_k Q_{k-1} f,

where R_k rewrites a level k-1 spline in the level-k basis through the refinement equation
N_m(x) = 2^{1-m} sum_l C(m, l) N_m(2x - l). The Besov sequence norm is

.. math::
    N(f) = \\Big[\\sum_k \\big(2^{sk} (2^{-kd} \\sum_j |\\alpha_{k,j}|^p)^{1/p}\\big)^q\\Big]^{1/q},

and the best N-term approximation keeps the N largest L2-normalised coefficients
:math:`|\\alpha_{k,j}| \\|N_{k,j}\\|_{L^2([-1,1]^d)}` (about :math:`2^{-kd/2} |\\alpha_{k,j}|`); its L2 error decays like N^{-s/d} for f in B^s_{p,q}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from .._utils import as_tensor, check_int, check_real
from .cardinal import MAX_ORDER, evaluate_level_grid, refinement_mask
from .cardinal import sparse_basis as _sparse_collocation

_MAX_LEVEL = {1: 12, 2: 7, 3: 4}


@dataclass
class BsplineCoefficients:
    """Coefficients by level: ``coeffs[k]`` has shape (n_k,)*dim, entry [j_1 - off_k, ...]
    for the B-spline N^{(d)}_{k, j}, with ``off_k = -2^k - order + 1``."""

    order: int
    dim: int
    coeffs: list[torch.Tensor] = field(default_factory=list)

    @property
    def max_level(self) -> int:
        return len(self.coeffs) - 1

    def offset(self, k: int) -> int:
        return -(2**k) - self.order + 1

    def n_terms(self) -> int:
        return int(sum(int((c != 0).sum()) for c in self.coeffs))

    def __len__(self) -> int:
        return len(self.coeffs)

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.coeffs[k]

    def replace(self, coeffs: list[torch.Tensor]) -> BsplineCoefficients:
        return BsplineCoefficients(self.order, self.dim, coeffs)


def _n_basis(k: int, m: int) -> int:
    return 2 ** (k + 1) + m - 1


def _collocation(x: torch.Tensor, k: int, m: int) -> torch.Tensor:
    """Dense (len(x), n_k) matrix of N_m(2^k x - j), j = off_k .. 2^k - 1 (for small sizes)."""
    idx, vals = _sparse_collocation(x, k, m)
    out = torch.zeros(x.shape[0], _n_basis(k, m), dtype=x.dtype, device=x.device)
    return out.scatter_add_(1, idx, vals)


@lru_cache(maxsize=64)
def _grid(level: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Legendre nodes (m per piece of width 2^-level) and weights on [-1, 1]: integrates
    products of two level-``level`` splines exactly."""
    xi, w = np.polynomial.legendre.leggauss(m)
    h = 2.0 ** (-level)
    left = np.arange(-(2**level), 2**level) * h
    nodes = (left[:, None] + (xi[None, :] + 1.0) * h / 2.0).ravel()
    weights = np.tile(w * h / 2.0, left.size)
    return torch.as_tensor(nodes), torch.as_tensor(weights)


def _moments(values: torch.Tensor, weights: torch.Tensor, k: int, m: int, axis_points: torch.Tensor) -> torch.Tensor:
    """<N_{k,j}, g> along the first axis of ``values`` (P, ...) by exact quadrature."""
    idx, vals = _sparse_collocation(axis_points, k, m)
    wv = values * weights.reshape((-1,) + (1,) * (values.ndim - 1))
    out = torch.zeros((_n_basis(k, m),) + tuple(values.shape[1:]), dtype=values.dtype)
    for r in range(m):
        contrib = wv * vals[:, r].reshape((-1,) + (1,) * (values.ndim - 1))
        out.index_add_(0, idx[:, r], contrib)
    return out


@lru_cache(maxsize=64)
def _gram_cholesky(k: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gram matrix G_k[i, j] = <N_{k,i}, N_{k,j}>_{L2[-1,1]} (exact) and its Cholesky factor."""
    x, w = _grid(k, m)
    idx, vals = _sparse_collocation(x, k, m)
    n = _n_basis(k, m)
    gram = torch.zeros(n * n, dtype=torch.float64)
    for r in range(m):
        for q in range(m):
            gram.index_add_(0, idx[:, r] * n + idx[:, q], w * vals[:, r] * vals[:, q])
    gram = gram.reshape(n, n)
    return gram, torch.linalg.cholesky(gram)


@lru_cache(maxsize=64)
def _refinement(k: int, m: int) -> torch.Tensor:
    """(n_k, n_{k-1}) matrix R_k with N_m(2^{k-1}x - j) = sum_i R[i, j] N_m(2^k x - i) on [-1, 1]."""
    r = refinement_mask(m)
    off_f, off_c = -(2**k) - m + 1, -(2 ** (k - 1)) - m + 1
    nf, nc = _n_basis(k, m), _n_basis(k - 1, m)
    mat = torch.zeros(nf, nc, dtype=torch.float64)
    for jc in range(nc):
        j = jc + off_c
        for l, rl in enumerate(r):
            i = 2 * j + l - off_f
            if 0 <= i < nf:  # splines outside (-1, 1) vanish there: drop them
                mat[i, jc] = rl
    return mat


@lru_cache(maxsize=64)
def _sparse(kind: str, k: int, m: int) -> torch.Tensor:
    """The banded matrices as sparse (COO) tensors: ``"R"`` :func:`_refinement`, ``"RT"`` its
    transpose, ``"G"`` the Gram matrix (m + 1 and 2m - 1 nonzeros a column: at level 10, a
    product with them is 40x faster than the dense one)."""
    mat = {"R": lambda: _refinement(k, m), "RT": lambda: _refinement(k, m).T,
           "G": lambda: _gram_cholesky(k, m)[0]}[kind]()
    return mat.to_sparse().coalesce()


def _apply_axes(mats: list[torch.Tensor], c: torch.Tensor, first: int = 0) -> torch.Tensor:
    """Multiply the tensor c by one matrix (dense or sparse) along each of its axes from ``first`` on."""
    for i, mat in enumerate(mats):
        axis = first + i
        moved = torch.movedim(c, axis, 0)
        out = mat @ moved.reshape(moved.shape[0], -1)
        c = torch.movedim(out.reshape((mat.shape[0],) + tuple(moved.shape[1:])), 0, axis)
    return c


@lru_cache(maxsize=64)
def _gram_banded_cholesky(k: int, m: int) -> np.ndarray:
    """The upper Cholesky factor of G_k in LAPACK's banded storage (G_k has m - 1 bands above
    the diagonal): a solve costs O(n m), not the O(n^2) of the dense factor."""
    from scipy.linalg import cholesky_banded

    gram = _gram_cholesky(k, m)[0].numpy()
    n, u = gram.shape[0], m - 1
    ab = np.zeros((u + 1, n))
    for i in range(u + 1):  # ab[u - i, j] = G[j - i, j]
        ab[u - i, i:] = np.diagonal(gram, offset=i)
    return cholesky_banded(ab, lower=False)


def _solve_axes(k: int, m: int, b: torch.Tensor) -> torch.Tensor:
    """Apply G_k^{-1} along every axis of b (banded Cholesky solves)."""
    from scipy.linalg import cho_solve_banded

    chol = _gram_banded_cholesky(k, m)
    for axis in range(b.ndim):
        moved = torch.movedim(b, axis, 0)
        flat = moved.reshape(moved.shape[0], -1).numpy()
        sol = torch.from_numpy(cho_solve_banded((chol, False), flat)).reshape(moved.shape)
        b = torch.movedim(sol, 0, axis)
    return b


def to_finest(coeffs: BsplineCoefficients) -> torch.Tensor:
    """The same spline written in the finest level's basis (refinement of every level)."""
    acc = None
    for k, c in enumerate(coeffs.coeffs):
        acc = c.clone() if acc is None else _apply_axes([_sparse("R", k, coeffs.order)] * coeffs.dim, acc) + c
    return acc


def _check_dim_level(dim, max_level, order):
    m = check_int("order", order, low=1, high=MAX_ORDER)
    d = check_int("dim", dim, low=1, high=3)
    K = check_int("max_level", max_level, low=0, high=_MAX_LEVEL[d])
    return m, d, K


def decompose(f, *, order: int = 4, max_level: int = 6, dim: int = 1) -> BsplineCoefficients:
    """Multiresolution coefficients alpha_{k,j}, k = 0..max_level, of a callable f on [-1,1]^d.

    Args:
        f: callable taking an (n, d) float64 tensor and returning (n,) values (a 1-D f may
            also take and return (n,) tensors); or an object with ``.density``.
        order: spline order m in [1, 8]; max_level: finest level K
            (<= 12 for d = 1, <= 7 for d = 2, <= 4 for d = 3); dim: d in [1, 3].

    Returns:
        :class:`BsplineCoefficients`. ``Q_K f`` is the L2 projection of f onto the level-K
        tensor splines on [-1, 1]^d, computed with an exact Gauss-Legendre grid.
    """
    m, d, K = _check_dim_level(dim, max_level, order)
    if hasattr(f, "density") and not callable(f):
        f = f.density
    if not callable(f):
        raise TypeError(f"f={f!r} is invalid: must be a callable f(x) with x of shape (n, d)")
    x, w = _grid(K, m)
    mesh = torch.stack(torch.meshgrid(*([x] * d), indexing="ij"), dim=-1).reshape(-1, d)
    vals = as_tensor(f(mesh if d > 1 else mesh)).to(torch.float64).reshape(-1)
    if vals.numel() != mesh.shape[0]:
        raise ValueError(f"f returned {vals.numel()} values for {mesh.shape[0]} points: must return shape (n,)")
    if not bool(torch.isfinite(vals).all()):
        raise ValueError("f is invalid: returned NaN/Inf on [-1, 1]^d")
    # moments b_K = <N_{K,j}, f> along every axis (exact quadrature of the projection)
    b = vals.reshape([x.numel()] * d)
    for axis in range(d):
        b = torch.movedim(_moments(torch.movedim(b, axis, 0), w, K, m, x), 0, axis)
    # moments at coarser levels by the refinement equation, then c_k = G_k^{-1} b_k per axis
    moments = [b]
    for k in range(K, 0, -1):
        moments.append(_apply_axes([_sparse("RT", k, m)] * d, moments[-1]))
    moments.reverse()
    coeffs, prev = [], None
    for k in range(K + 1):
        ck = _solve_axes(k, m, moments[k])
        coeffs.append(ck if prev is None else ck - _apply_axes([_sparse("R", k, m)] * d, prev))
        prev = ck
    return BsplineCoefficients(m, d, coeffs)


def reconstruct(coeffs: BsplineCoefficients, x) -> torch.Tensor:
    """sum_k sum_j alpha_{k,j} N^{(d)}_{k,j}(x) at points x of shape (n, d) (or (n,) for d = 1)."""
    if not isinstance(coeffs, BsplineCoefficients):
        raise TypeError("coeffs is invalid: must be the BsplineCoefficients returned by decompose")
    x = as_tensor(x)
    if x.ndim == 1 and coeffs.dim == 1:
        x = x.unsqueeze(-1)
    if x.ndim != 2 or x.shape[1] != coeffs.dim:
        raise ValueError(f"x.shape={tuple(x.shape)} is invalid: must be (n, {coeffs.dim})")
    x64 = x.to(torch.float64)
    out = evaluate_level_grid(x64, coeffs.max_level, coeffs.order, to_finest(coeffs).to(x.device))
    return out.to(x.dtype if x.is_floating_point() else torch.float64)


def l2_norm(coeffs: BsplineCoefficients) -> float:
    """Exact L2([-1, 1]^d) norm of the spline sum_k sum_j alpha_{k,j} N_{k,j} (c^T G c per axis)."""
    c = to_finest(coeffs)
    gc = _apply_axes([_sparse("G", coeffs.max_level, coeffs.order)] * coeffs.dim, c)
    return math.sqrt(max(float((gc * c).sum()), 0.0))


def normalised_magnitudes(coeffs: BsplineCoefficients) -> list[torch.Tensor]:
    """|alpha_{k,j}| ||N^{(d)}_{k,j}||_{L2([-1,1]^d)}: the size of each term's contribution.

    In the interior this is 2^{-kd/2} ||N_m||_2^d |alpha|; boundary B-splines that stick out of
    [-1, 1] are weighted by the norm of the part inside (exact, from the Gram diagonal).
    """
    out = []
    for k, c in enumerate(coeffs.coeffs):
        norms = torch.sqrt(torch.diagonal(_gram_cholesky(k, coeffs.order)[0]))
        weight = norms
        for _ in range(coeffs.dim - 1):
            weight = weight.unsqueeze(-1) * norms
        out.append(c.abs() * weight.reshape(c.shape))
    return out


def n_term_approximation(coeffs: BsplineCoefficients, n_terms: int) -> tuple[BsplineCoefficients, float]:
    """Best N-term approximation: keep the ``n_terms`` largest L2-normalised coefficients.

    Returns:
        ``(approx, error)``: the kept coefficients (others zero) and the exact L2 error
        ||sum alpha N - sum alpha_kept N|| on [-1, 1]^d.
    """
    if not isinstance(coeffs, BsplineCoefficients):
        raise TypeError("coeffs is invalid: must be the BsplineCoefficients returned by decompose")
    total = sum(c.numel() for c in coeffs.coeffs)
    n = check_int("n_terms", n_terms, low=0, high=total)
    mags = normalised_magnitudes(coeffs)
    flat = torch.cat([mg.reshape(-1) for mg in mags])
    keep = torch.zeros_like(flat, dtype=torch.bool)
    if n > 0:
        keep[torch.topk(flat, n).indices] = True
    kept, dropped, start = [], [], 0
    for c in coeffs.coeffs:
        mask = keep[start : start + c.numel()].reshape(c.shape)
        start += c.numel()
        kept.append(torch.where(mask, c, torch.zeros_like(c)))
        dropped.append(torch.where(mask, torch.zeros_like(c), c))
    return coeffs.replace(kept), l2_norm(coeffs.replace(dropped))


def subset_l2_norms(coeffs: BsplineCoefficients, keep: torch.Tensor) -> torch.Tensor:
    """Exact L2([-1, 1]^d) norms of many sub-splines at once: row ``s`` of the boolean ``keep``
    (S, M), M the number of coefficients of all levels in order, selects the terms of spline
    ``s``. The same values as :func:`l2_norm` of each (tested), from one pass of the refinement
    matrices over all S columns instead of one pass per spline: the N-term and linear error
    curves of a fine decomposition (K = 10: 4000 terms) in milliseconds."""
    if not isinstance(coeffs, BsplineCoefficients):
        raise TypeError("coeffs is invalid: must be the BsplineCoefficients returned by decompose")
    total = sum(c.numel() for c in coeffs.coeffs)
    keep = as_tensor(keep)
    if keep.dtype != torch.bool or keep.ndim != 2 or keep.shape[1] != total:
        raise ValueError(f"keep.shape={tuple(keep.shape)} is invalid: must be a bool (S, {total}) mask")
    m, d, n_sets = coeffs.order, coeffs.dim, keep.shape[0]

    acc, start = None, 0
    for k, c in enumerate(coeffs.coeffs):
        mask = keep[:, start : start + c.numel()].reshape((n_sets,) + tuple(c.shape))
        start += c.numel()
        ck = torch.where(mask, c.to(torch.float64).unsqueeze(0), torch.zeros((), dtype=torch.float64))
        acc = ck if acc is None else _apply_axes([_sparse("R", k, m)] * d, acc, first=1) + ck
    gc = _apply_axes([_sparse("G", coeffs.max_level, m)] * d, acc, first=1)
    return (gc * acc).reshape(n_sets, -1).sum(1).clamp_min(0.0).sqrt()


def _top_masks(coeffs: BsplineCoefficients, ns) -> torch.Tensor:
    """(len(ns), M) masks of the ``n`` largest L2-normalised coefficients, as n_term_approximation picks them."""
    flat = torch.cat([mg.reshape(-1) for mg in normalised_magnitudes(coeffs)])
    keep = torch.zeros((len(ns), flat.numel()), dtype=torch.bool)
    for row, n in enumerate(ns):
        if n > 0:
            keep[row, torch.topk(flat, int(n)).indices] = True
    return keep


def n_term_errors(coeffs: BsplineCoefficients, ns) -> torch.Tensor:
    """L2 errors of the best N-term approximations for each N in ``ns`` (float64 tensor): the
    error of :func:`n_term_approximation`, for all N in one pass (:func:`subset_l2_norms`)."""
    if not isinstance(coeffs, BsplineCoefficients):
        raise TypeError("coeffs is invalid: must be the BsplineCoefficients returned by decompose")
    total = sum(c.numel() for c in coeffs.coeffs)
    ns = [check_int("n_terms", int(n), low=0, high=total) for n in ns]
    if not ns:
        return torch.zeros(0, dtype=torch.float64)
    return subset_l2_norms(coeffs, ~_top_masks(coeffs, ns))


def besov_sequence_norm(coeffs: BsplineCoefficients, *, s: float, p: float = 2.0, q: float = 2.0,
                        dim: int | None = None) -> float:
    """DeVore-Popov sequence norm [sum_k (2^{sk} (2^{-kd} sum_j |alpha_{k,j}|^p)^{1/p})^q]^{1/q}.

    ``q = float('inf')`` gives the sup over levels. ``dim`` defaults to ``coeffs.dim`` and must
    agree with it.
    """
    if not isinstance(coeffs, BsplineCoefficients):
        raise TypeError("coeffs is invalid: must be the BsplineCoefficients returned by decompose")
    s = check_real("s", s, low=0.0)
    p = check_real("p", p, low=0.0, low_open=True)
    if not (isinstance(q, (int, float)) and q > 0):
        raise ValueError(f"q={q} is invalid: must be a number in (0, inf]")
    d = coeffs.dim if dim is None else check_int("dim", dim, low=1, high=3)
    if d != coeffs.dim:
        raise ValueError(f"dim={d} is invalid: must equal the coefficients' dimension {coeffs.dim}")
    per_level = []
    for k, c in enumerate(coeffs.coeffs):
        inner = float((c.abs() ** p).sum()) * 2.0 ** (-k * d)
        per_level.append(2.0 ** (s * k) * inner ** (1.0 / p))
    arr = np.asarray(per_level)
    if math.isinf(q):
        return float(arr.max())
    return float((arr**q).sum() ** (1.0 / q))


def fit_loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x (for rates)."""
    lx = np.log(np.asarray(x, dtype=float))
    ly = np.log(np.asarray(y, dtype=float))
    return float(np.polyfit(lx, ly, 1)[0])
