"""Bias against variance (step 2 of the proof): a B-spline projection density estimator with N terms.

On [-1, 1] take the N cubic B-splines :math:`B_j(x) = N_m((x + 1)/\\Delta - j)`, j = 1-m .. N-m,
on N - m + 1 equal knot intervals of width :math:`\\Delta = 2/(N - m + 1)` (m = order = 4), with
Gram matrix :math:`G_{ij} = \\int_{-1}^1 B_i B_j`. The projection estimator of n samples is

.. math::  \\hat p_N = \\sum_j \\hat c_j B_j,\\qquad \\hat c = G^{-1}\\hat b,\\quad
           \\hat b_j = \\frac1n\\sum_{i=1}^n B_j(X_i),

an unbiased estimate of the L2 projection :math:`P_N p` (coefficients :math:`c = G^{-1}b`,
:math:`b_j = \\int B_j p`). Its mean integrated squared error splits exactly:

.. math::  E\\|\\hat p_N - p\\|_2^2 = \\underbrace{\\|p\\|_2^2 - c^\\top G c}_{\\text{bias}^2 = \\|P_N p - p\\|^2}
           + \\underbrace{\\tfrac1n\\big(\\operatorname{tr}(G^{-1}M) - c^\\top G c\\big)}_{\\text{variance}},
           \\qquad M_{ij} = \\int B_i B_j\\,p.

For p of smoothness s the bias is :math:`\\asymp N^{-2s/d}`; the variance is about
:math:`N/(n|\\Omega|)` (:math:`\\operatorname{tr}(G^{-1}M) \\approx N\\,\\bar p`), so the MISE is
smallest at :math:`N^* \\asymp n^{d/(2s+d)}`, where both are :math:`n^{-2s/(2s+d)}`: the minimax rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._utils import as_generator, as_samples, check_int
from ..bspline import cardinal_bspline

__all__ = ["ProjectionDensity", "projection_estimator", "projection_bias_variance", "bias_variance_experiment"]

ORDER = 4


def _check_terms(n_terms: int, order: int) -> int:
    return check_int("n_terms", n_terms, low=order, high=4096)


def spline_basis(x: torch.Tensor, n_terms: int, *, order: int = ORDER) -> torch.Tensor:
    """(len(x), N) values of the N uniform B-splines on [-1, 1] at points x (n,) or (n, 1)."""
    n_terms = _check_terms(n_terms, order)
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    delta = 2.0 / (n_terms - order + 1)
    j = torch.arange(1 - order, n_terms - order + 1, dtype=torch.float64)
    out = cardinal_bspline((x[:, None] + 1.0) / delta - j, order)
    return torch.where(((x >= -1.0) & (x <= 1.0))[:, None], out, torch.zeros_like(out))


def _quadrature(n_terms: int, order: int, extra_breaks: int = 0):
    """Gauss-Legendre nodes and weights on [-1, 1], exact for products of three splines whose
    breakpoints are the knots and (if ``extra_breaks`` > 0) the multiples of 2 / extra_breaks."""
    knots = np.linspace(-1.0, 1.0, n_terms - order + 2)
    if extra_breaks:
        knots = np.union1d(knots, np.linspace(-1.0, 1.0, extra_breaks + 1))
    xi, w = np.polynomial.legendre.leggauss(3 * order)
    lo, hi = knots[:-1], knots[1:]
    x = ((lo + hi)[:, None] + (hi - lo)[:, None] * xi) / 2
    wt = (hi - lo)[:, None] * w / 2
    keep = hi - lo > 1e-15
    return torch.as_tensor(x[keep].ravel()), torch.as_tensor(wt[keep].ravel())


def _target_breaks(target) -> int:
    """Cells of the dyadic grid that holds every breakpoint of a B-spline target (else 4096)."""
    levels = getattr(target, "levels", None)
    return 2 * 2 ** int(levels.max()) if levels is not None else 4096


class ProjectionDensity:
    """The fitted :math:`\\hat p_N` (1-D): ``.density(x)`` (x of shape (n, 1) or (n,), returns (n,)),
    ``.coefficients`` (N,), ``.n_terms``, ``.dim`` = 1. It may be negative in places."""

    dim = 1

    def __init__(self, coefficients: torch.Tensor, n_terms: int, order: int = ORDER):
        self.coefficients, self.n_terms, self.order = coefficients, n_terms, order

    def density(self, x) -> torch.Tensor:
        x = torch.as_tensor(x)
        return (spline_basis(x, self.n_terms, order=self.order) @ self.coefficients).to(
            x.dtype if x.is_floating_point() else torch.float64)


def _gram(n_terms: int, order: int) -> torch.Tensor:
    x, w = _quadrature(n_terms, order)
    b = spline_basis(x, n_terms, order=order)
    return (b * w[:, None]).T @ b


def projection_estimator(data, n_terms: int, *, order: int = ORDER) -> ProjectionDensity:
    """:math:`\\hat p_N` of ``data`` (n, 1) in [-1, 1] with ``n_terms`` = N >= order B-splines."""
    data = as_samples(data)
    if data.shape[1] != 1:
        raise ValueError(f"data with d={data.shape[1]} is invalid: the projection estimator needs d = 1")
    n_terms = _check_terms(n_terms, order)
    b_hat = spline_basis(data[:, 0].to(torch.float64), n_terms, order=order).mean(0)
    return ProjectionDensity(torch.linalg.solve(_gram(n_terms, order), b_hat), n_terms, order)


def projection_bias_variance(target, n: int, n_terms: int, *, order: int = ORDER) -> dict:
    """The exact bias-variance split of :math:`E\\|\\hat p_N - p\\|_2^2` (module docstring) for a 1-D
    ``target`` on [-1, 1] with ``.density``: a dict with ``bias2``, ``variance``, ``mise``
    (their sum), ``n_terms`` and ``n``. Integrals by Gauss-Legendre on the union of the knots and
    the target's dyadic breakpoints (exact for a :class:`~nnrep_lite.bspline.BsplineDensity` of order <= 4)."""
    n = check_int("n", n, low=1)
    n_terms = _check_terms(n_terms, order)
    x, w = _quadrature(n_terms, order, _target_breaks(target))
    b = spline_basis(x, n_terms, order=order)
    p = target.density(x[:, None]).to(torch.float64).reshape(-1)
    gram = (b * w[:, None]).T @ b
    moment = (b * (w * p)[:, None]).T @ b
    c = torch.linalg.solve(gram, (b * (w * p)[:, None]).sum(0))
    proj = float(c @ gram @ c)
    bias2 = max(float((w * p * p).sum()) - proj, 0.0)
    variance = (float(torch.linalg.solve(gram, moment).diagonal().sum()) - proj) / n
    return {"bias2": bias2, "variance": variance, "mise": bias2 + variance, "n_terms": n_terms, "n": n}


def bias_variance_experiment(target, n: int, n_terms: Sequence[int], *, seeds: Sequence[int] = (0, 1, 2, 3),
                             order: int = ORDER) -> dict:
    """Error against N at fixed n: for each N in ``n_terms`` and each seed, n exact samples of
    ``target`` (the same n points for every N), the projection estimator and its integrated
    squared error :math:`\\|\\hat p_N - p\\|_2^2` (quadrature), next to the exact bias^2 and variance
    (:func:`projection_bias_variance`).

    Returns ``{"rows": [...], "terms": [...], "best_n_terms": N with the smallest mean ISE,
    "best_n_terms_exact": N with the smallest exact MISE}``; rows have keys n_terms, seed, ise.
    """
    n = check_int("n", n, low=2)
    terms = [_check_terms(t, order) for t in n_terms]
    seeds = [check_int("seeds", sd, low=0) for sd in seeds]
    if len(terms) < 2:
        raise ValueError(f"n_terms={list(n_terms)} is invalid: need at least 2 values")
    rows = []
    for seed in seeds:
        data = target.sample(n, as_generator(seed))
        for t in terms:
            est = projection_estimator(data, t, order=order)
            x, w = _quadrature(t, order, _target_breaks(target))
            diff = est.density(x[:, None]).to(torch.float64) - target.density(x[:, None]).to(torch.float64).reshape(-1)
            rows.append({"n_terms": t, "seed": seed, "n": n, "ise": float((w * diff * diff).sum())})
    exact = [projection_bias_variance(target, n, t, order=order) for t in terms]
    mean = [float(np.mean([r["ise"] for r in rows if r["n_terms"] == t])) for t in terms]
    return {"rows": rows, "terms": exact, "mean_ise": mean, "best_n_terms": terms[int(np.argmin(mean))],
            "best_n_terms_exact": terms[int(np.argmin([e["mise"] for e in exact]))]}
