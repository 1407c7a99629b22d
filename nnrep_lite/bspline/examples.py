"""Functions on [-1, 1]^d with known smoothness, for the multiresolution demonstrations.

Each example comes with its L2-Besov smoothness s (f in B^s_{2,inf}), the rate of *linear*
approximation (keep all levels <= L): error ~ N^{-s/d}. Best N-term (nonlinear) approximation
is at least as good, and much better for isolated singularities (cusp, step).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .._utils import check_choice, check_int, check_real
from .density import BsplineDensity
from .multiresolution import (
    BsplineCoefficients,
    decompose,
    fit_loglog_slope,
    n_term_errors,
    subset_l2_norms,
)

EXAMPLES = ("smooth bump", "cusp |x|^s", "step", "random Besov")


def example_function(name: str, *, smoothness: float = 1.0, dim: int = 1, order: int = 4,
                     max_level: int = 8, generator=None) -> tuple[Callable[[torch.Tensor], torch.Tensor], float]:
    """``(f, s)``: a callable f(x) for x of shape (n, d) and its L2-Besov smoothness s.

    - "smooth bump": exp(-4 |x|^2) cos(3 x_1); smooth, so splines of order m give s = m.
    - "cusp |x|^s": prod_i |x_i - 0.1|^s (s = smoothness); in B^{s + 1/2}_{2, inf}.
    - "step": 1{x_1 > 0.1}; in B^{1/2}_{2, inf}.
    - "random Besov": a dense random B-spline function of smoothness s (see
      :meth:`BsplineDensity.random_besov`) with levels up to ``max_level`` (use the
      decomposition's finest level, else the function is an exact coarser spline).
    """
    check_choice("name", name, EXAMPLES)
    s = check_real("smoothness", smoothness, low=0.0, low_open=True, high=8.0)
    d = check_int("dim", dim, low=1, high=3)
    if name == "smooth bump":
        return (lambda x: torch.exp(-4.0 * (x**2).sum(1)) * torch.cos(3.0 * x[:, 0])), float(order)
    if name == "cusp |x|^s":
        return (lambda x: (x - 0.1).abs().pow(s).prod(1)), s + 0.5
    if name == "step":
        return (lambda x: (x[:, 0] > 0.1).to(x.dtype)), 0.5
    dens = BsplineDensity.random_besov(s, d, order=order, max_level=max_level,
                                       terms_per_level=10**6, generator=generator)
    return dens.density, s


def approximation_curves(coeffs: BsplineCoefficients, ns) -> dict:
    """N-term (nonlinear) and linear (levels <= L) L2 errors with their fitted log-log slopes."""
    ns = sorted({int(n) for n in ns if 1 <= int(n) <= sum(c.numel() for c in coeffs.coeffs)})
    nonlinear = n_term_errors(coeffs, ns).tolist()
    sizes = [c.numel() for c in coeffs.coeffs]
    lin_n = [sum(sizes[: level + 1]) for level in range(coeffs.max_level)]
    # the linear approximation keeps levels <= L: its error is the spline of the levels above L
    rest = torch.zeros((len(lin_n), sum(sizes)), dtype=torch.bool)
    for row, n in enumerate(lin_n):
        rest[row, n:] = True
    lin_err = subset_l2_norms(coeffs, rest).tolist() if lin_n else []
    pos = [(n, e) for n, e in zip(ns, nonlinear) if e > 0]
    out = {"ns": ns, "n_term": nonlinear, "linear_n": lin_n, "linear": lin_err,
           "n_term_slope": fit_loglog_slope(*zip(*pos)) if len(pos) >= 2 else math.nan}
    lin_pos = [(n, e) for n, e in zip(lin_n, lin_err) if e > 0][1:]
    out["linear_slope"] = fit_loglog_slope(*zip(*lin_pos)) if len(lin_pos) >= 2 else math.nan
    return out


def n_term_rate(f, *, order: int = 4, max_level: int = 8, dim: int = 1, ns=None) -> dict:
    """Decompose f and fit the best N-term error slope (see :func:`approximation_curves`)."""
    coeffs = decompose(f, order=order, max_level=max_level, dim=dim)
    if ns is None:
        # stay below the total number of terms, where the error collapses to zero
        # past the coarsest levels (N >= 16), below the total number of terms
        ns = [2**i for i in range(4, max_level)] if dim == 1 else [2**i for i in range(6, 2 * max_level - 1)]
    return approximation_curves(coeffs, ns) | {"coeffs": coeffs}
