"""Cardinal B-splines N_m and their tensor products.

.. math::
    N_1 = 1_{[0, 1)}, \\qquad N_m = N_{m-1} * N_1 \\text{ on } [0, m],
    \\qquad N_m(x) = \\frac{1}{(m-1)!} \\sum_{k=0}^m (-1)^k \\binom{m}{k} (x - k)_+^{m-1}.

Evaluation uses the Cox-de Boor recursion on the m unit pieces (all terms nonnegative, so
no cancellation), vectorised over points.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from .._utils import as_tensor, check_int

MAX_ORDER = 8


def _check_order(order, high: int = MAX_ORDER) -> int:
    return check_int("order", order, low=1, high=high)


def _pieces(x: torch.Tensor, order: int) -> torch.Tensor:
    """Values N_order(x - i) for i = 0..order-1, stacked on a new last axis.

    Recursion (Cox-de Boor, uniform knots):
    ``N_j(y) = (y N_{j-1}(y) + (j - y) N_{j-1}(y - 1)) / (j - 1)`` with ``y = x - i``.
    """
    i = torch.arange(order, dtype=x.dtype, device=x.device)
    y = x.unsqueeze(-1) - i  # (..., order): y_i = x - i
    # N_1(y_i) = 1 on [0, 1)
    vals = ((y >= 0) & (y < 1)).to(x.dtype)
    for j in range(2, order + 1):
        shifted = torch.cat([vals[..., 1:], torch.zeros_like(vals[..., :1])], dim=-1)  # N_{j-1}(y_i - 1)
        vals = (y * vals + (j - y) * shifted) / (j - 1)
    return vals


def cardinal_bspline(x, order: int) -> torch.Tensor:
    """The cardinal B-spline N_m(x) of order ``m = order`` (degree m - 1), support [0, m].

    Args:
        x: tensor, array or float of any shape.
        order: integer in [1, 8].

    Returns:
        Tensor of the same shape as ``x`` (float64 for non-tensor input; tensors keep their
        dtype and device). ``N_1`` is the indicator of [0, 1).
    """
    m = _check_order(order)
    x = as_tensor(x)
    return _pieces(x, m)[..., 0]


def cardinal_bspline_derivative(x, order: int) -> torch.Tensor:
    """dN_m/dx = N_{m-1}(x) - N_{m-1}(x - 1) (order >= 2; piecewise for order 2)."""
    m = check_int("order", order, low=2, high=MAX_ORDER)
    x = as_tensor(x)
    p = _pieces(x, m - 1)
    nxt = _pieces(x - 1, m - 1)[..., 0]
    return p[..., 0] - nxt


def tensor_bspline(x, order: int, level, shift) -> torch.Tensor:
    """Tensor-product B-spline N^{(d)}_{k,j}(x) = prod_i N_m(2^{k_i} x_i - j_i).

    Args:
        x: (n, d) points.
        order: m in [1, 8].
        level: int or (d,) ints >= 0 (k); shift: int or (d,) ints (j).

    Returns:
        (n,) values.
    """
    m = _check_order(order)
    x = as_tensor(x)
    if x.ndim != 2:
        raise ValueError(f"x.shape={tuple(x.shape)} is invalid: must be (n, d)")
    d = x.shape[1]
    lev = torch.as_tensor(level, device=x.device).expand(d)
    sh = torch.as_tensor(shift, device=x.device).expand(d)
    if (lev < 0).any():
        raise ValueError(f"level={lev.tolist()} is invalid: must be integers >= 0")
    z = x * (2.0 ** lev.to(x.dtype)) - sh.to(x.dtype)
    return cardinal_bspline(z, m).prod(dim=1)


def refinement_mask(order: int) -> list[float]:
    """Coefficients of N_m(x) = sum_l r_l N_m(2x - l), r_l = 2^{1-m} C(m, l), l = 0..m."""
    m = _check_order(order)
    return [2.0 ** (1 - m) * math.comb(m, l) for l in range(m + 1)]


def sparse_basis(x: torch.Tensor, k: int, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The m level-k B-splines N_m(2^k x - j) that can be nonzero at each point of x.

    The level-k basis on [-1, 1] is j = -2^k - m + 1, ..., 2^k - 1 (n_k = 2^{k+1} + m - 1).
    Returns ``(idx, vals)``, both (len(x), m): column indices j + 2^k + m - 1 and values;
    indices outside the basis (points outside [-1, 1]) carry value 0.
    """
    z = (2.0**k) * x
    low = torch.floor(z) - m + 1  # first B-spline whose support [j, j + m) contains z
    # y lies in [m-1, m) in exact arithmetic; z - low can round up to m for z = -1e-17
    y = (z - low).clamp(min=float(m - 1), max=float(np.nextafter(m, 0)))
    vals = _pieces(y, m)  # N_m(z - low - r), r = 0..m-1
    idx = (low.long().unsqueeze(-1) + torch.arange(m, device=x.device)) + (2**k + m - 1)
    n = 2 ** (k + 1) + m - 1
    ok = (idx >= 0) & (idx < n)
    return idx.clamp(0, n - 1), torch.where(ok, vals, torch.zeros_like(vals))


def evaluate_level_grid(x: torch.Tensor, k: int, m: int, grid: torch.Tensor) -> torch.Tensor:
    """sum_j grid[j] prod_i N_m(2^k x_i - j_i) for points x (n, d) in [-1, 1]^d.

    ``grid`` holds coefficients on the full level-k basis (shape (n_k,)*d, see
    :func:`sparse_basis`); only the m^d B-splines that can be nonzero at a point are summed.
    Points outside [-1, 1]^d get 0.
    """
    per_axis = [sparse_basis(x[:, i], k, m) for i in range(x.shape[1])]
    out = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for combo in itertools.product(range(m), repeat=x.shape[1]):
        val = torch.ones_like(out)
        index = []
        for (idx, v), r in zip(per_axis, combo):
            val = val * v[:, r]
            index.append(idx[:, r])
        out = out + val * grid[tuple(index)]
    inside = (x.abs() <= 1.0).all(dim=1)
    return torch.where(inside, out, torch.zeros_like(out))
