"""The N-term diffused B-spline approximation of p_t and of its score (1-D), measured exactly.

A B-spline density is its own multilevel expansion,
:math:`p_0 = \\sum_{j=1}^J c_j N_{k_j, s_j}` with :math:`N_{k,s}(x) = N_m(2^k x - s)`. Its best
N-term approximation :math:`p_0^{(N)}` keeps the N terms of largest
:math:`\\|c_j N_{k_j,s_j}\\|_{L^2}` (:func:`.multiresolution.n_term_approximation`), and it
diffuses term by term under the OU process (DESIGN.md, "Diffused B-spline"):

.. math::
    p_t^{(N)}(x) = \\sum_{j\\ \\text{kept}} c_j E_{k_j, s_j}(x, t), \\qquad
    s_t^{(N)} = \\nabla \\log p_t^{(N)},

both exact (a truncated expansion is again a :class:`.density.BsplineDensity`, up to its mass).
The reference is the full expansion: :math:`p_t` and :math:`\\nabla\\log p_t` of the density itself.
Measured here:

.. math::
    e_{\\rm den}(N, t) = \\|p_t - p_t^{(N)}\\|_{L^2(\\mathbb R)}, \\qquad
    e_{\\rm score}(N, t) = \\int p_t(x)\\, |s_t^{(N)}(x) - \\nabla\\log p_t(x)|^2\\, dx,

by composite Gauss-Legendre quadrature at float64 (:func:`diffusion_quadrature`). For
:math:`p_0 \\in B^s_{p,q}` (DeVore & Popov 1988; Oko, Akiyama & Suzuki 2023, the score
approximation behind their Theorem 3.1):

.. math::
    e_{\\rm den}(N, t) \\lesssim N^{-s/d}, \\qquad
    e_{\\rm score}(N, t) \\lesssim N^{-2s/d} / \\sigma_t^2 \\quad (\\text{up to }\\log N),

the second used where :math:`t \\gtrsim N^{-(2-\\delta)/d}`, i.e. where :math:`\\sigma_t` is
coarser than the finest kept level (:math:`N \\sigma_t^d \\gtrsim 1`). Below that (tiny t at a
given N) the dropped levels between :math:`\\sigma_t` and :math:`N^{-1/d}` are not smoothed away
and the score error flattens towards its t -> 0 value: :func:`n_term_rate_fits` fits the slopes
in the window :math:`N \\sigma_t^d \\ge 2` only, from N = 16 (the first levels are the coarse
shape of the density) and below a quarter of all terms (as N nears J the error collapses to zero).

Where the density vanishes the score error concentrates: for :meth:`BsplineDensity.random_besov`
(every level's first and last B-splines end at -1 and 1, so p_0 vanishes there like dist^s) most
of :math:`e_{\\rm score}` comes from within a few sigma_t of the edges of the support; the theorem
assumes p_0 bounded below on its support and smooth near its boundary.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from .._utils import as_tensor, check_int, check_real
from .density import BsplineDensity
from .diffused import ou_mean_std_float
from .multiresolution import BsplineCoefficients, n_term_approximation

__all__ = ["NTermDensity", "density_coefficients", "n_term_density", "diffusion_quadrature",
           "n_term_grid", "n_term_diffusion_errors", "n_term_rate_fits"]


class NTermDensity(NamedTuple):
    """A best N-term truncation: ``p_0^(N) = mass * density.density`` (``density`` is the
    normalised truncation, so its ``.score`` is the score of p_t^(N)); ``l2_error`` is the exact
    ``||p_0 - p_0^(N)||_{L2}`` at t = 0; ``n_terms`` the number of terms kept."""

    density: BsplineDensity
    mass: float
    l2_error: float
    n_terms: int


def _check_density(density) -> BsplineDensity:
    if not isinstance(density, BsplineDensity):
        raise TypeError(f"density={density!r} is invalid: must be a BsplineDensity")
    return density


def density_coefficients(density: BsplineDensity) -> BsplineCoefficients:
    """The density's own expansion ``p_0 = sum_j c_j prod_i N_m(2^{k_j} x_i - s_{ji})`` as
    multilevel coefficients (:class:`.multiresolution.BsplineCoefficients`, levels 0 to the
    finest, shape (n_k,)*d each; repeated components add up).

    Every component must use one level on all axes (as :meth:`BsplineDensity.random_besov`
    does) and d <= 3.
    """
    density = _check_density(density)
    d, m = density.dim, density.order
    if d > 3:
        raise ValueError(f"density.dim={d} is invalid: must be at most 3 for multilevel coefficients")
    lev, sh = density.levels, density.shifts
    if bool((lev != lev[:, :1]).any()):
        raise ValueError("density is invalid: every component must use the same level on all axes")
    top = int(lev.max())
    coeffs = []
    for k in range(top + 1):
        n = 2 ** (k + 1) + m - 1
        c = torch.zeros([n] * d, dtype=torch.float64)
        rows = lev[:, 0] == k
        if bool(rows.any()):
            off = -(2**k) - m + 1
            idx = tuple((sh[rows, i] - off) for i in range(d))
            c.index_put_(idx, density.weights[rows], accumulate=True)
        coeffs.append(c)
    return BsplineCoefficients(m, d, coeffs)


def n_term_density(density: BsplineDensity, n_terms: int, *, coeffs: BsplineCoefficients | None = None) -> NTermDensity:
    """Best N-term truncation of a B-spline density's own expansion (:func:`density_coefficients`):
    keep the ``n_terms`` components of largest ``c_j ||N_{k_j, s_j}||_{L2}``.

    Args:
        density: the :class:`BsplineDensity` p_0 (components with one level on all axes).
        n_terms: N in [1, number of distinct components].
        coeffs: its :func:`density_coefficients`, when already computed.

    Returns:
        :class:`NTermDensity` ``(density, mass, l2_error, n_terms)`` with
        ``p_0^(N) = mass * density.density`` and the exact t = 0 error
        ``||p_0 - p_0^(N)||_{L2}`` (:func:`.multiresolution.n_term_approximation`).
    """
    density = _check_density(density)
    coeffs = density_coefficients(density) if coeffs is None else coeffs
    total = int(sum(int((c != 0).sum()) for c in coeffs.coeffs))
    n = check_int("n_terms", n_terms, low=1, high=total)
    kept, err = n_term_approximation(coeffs, n)
    levels, shifts, weights = [], [], []
    for k, c in enumerate(kept.coeffs):
        nz = c.nonzero()
        if nz.shape[0] == 0:
            continue
        levels.append(torch.full_like(nz, k))
        shifts.append(nz + kept.offset(k))
        weights.append(c[tuple(nz.T)])
    lev, w = torch.cat(levels), torch.cat(weights)
    mass = float((w / (2.0 ** lev.to(torch.float64)).prod(dim=1)).sum())
    trunc = BsplineDensity(lev, torch.cat(shifts), w, order=density.order)
    return NTermDensity(trunc, mass, float(err), n)


def diffusion_quadrature(t: float, *, max_level: int, nodes: int = 8, width: float = 10.0):
    """Composite Gauss-Legendre nodes and weights on R for integrals against p_t (1-D).

    Cells of width ``h = mu_t 2^{r - K}`` (K = ``max_level``, r >= 0 the largest with
    ``h <= sigma_t / 2``) cover ``[-(mu_t + width sigma_t), mu_t + width sigma_t]``; ``nodes``
    points per cell. The cell edges include the diffused knots ``mu_t j 2^{-K}``, so that at
    small t (sigma_t below the knot spacing) every cell holds one smooth piece; elsewhere p_t is
    smooth on the scale sigma_t. Outside, p_t < exp(-width^2 / 2) / sigma_t.

    Returns:
        ``(x, w)``: float64 tensors of shape (P,).
    """
    t = check_real("t", t, low=0.0, low_open=True)
    K = check_int("max_level", max_level, low=0, high=30)
    q = check_int("nodes", nodes, low=2, high=64)
    width = check_real("width", width, low=1.0, high=40.0)
    mu, sigma = (float(v) for v in ou_mean_std_float(torch.tensor(t, dtype=torch.float64)))
    knot = mu * 2.0 ** (-K)
    h = knot * 2 ** max(0, math.floor(math.log2(sigma / (2.0 * knot))))
    cells = math.ceil((mu + width * sigma) / h)
    edges = torch.arange(-cells, cells + 1, dtype=torch.float64) * h
    xi, wi = np.polynomial.legendre.leggauss(q)
    x = (edges[:-1, None] + (torch.as_tensor(xi) + 1.0) * (0.5 * h)).reshape(-1)
    w = (torch.as_tensor(wi) * (0.5 * h)).repeat(cells * 2)
    return x, w


def n_term_grid(n_total: int, *, points: int = 12, low: int = 4, fraction: float = 0.25) -> list[int]:
    """About ``points`` distinct integers, log-spaced from ``low`` to ``fraction * n_total``."""
    n_total = check_int("n_total", n_total, low=1)
    points = check_int("points", points, low=2, high=200)
    fraction = check_real("fraction", fraction, low=0.0, high=1.0, low_open=True)
    hi = max(1, int(fraction * n_total))
    low = check_int("low", low, low=1, high=hi)
    return sorted({int(round(v)) for v in np.geomspace(low, hi, points)})


def n_term_diffusion_errors(density: BsplineDensity, ns, ts, *, nodes: int = 8, width: float = 10.0,
                            callback=None) -> dict:
    """Density and score errors of the N-term diffused B-spline approximation, for every (t, N).

    Args:
        density: a 1-D :class:`BsplineDensity` p_0 (the reference: its full expansion).
        ns: numbers of terms N, each in [1, number of components] (sorted, duplicates dropped).
        ts: OU times t > 0.
        nodes, width: the quadrature (:func:`diffusion_quadrature`).
        callback: called with ``{"t": t, "row": i}`` after each time.

    Returns:
        dict with ``"ns"`` (list), ``"ts"`` (list), ``"sigma2"`` (T,) sigma_t^2, float64 tensors
        ``"density_l2"`` (T, N) = ||p_t - p_t^(N)||_{L2(R)}, ``"score"`` (T, N) =
        int p_t |s_t^(N) - grad log p_t|^2, ``"l2_t0"`` (N,) the exact t = 0 errors, ``"mass"``
        (T,) the quadrature's int p_t (1 up to its error), ``"n_total"`` J, ``"dim"`` 1 and
        ``"smoothness"`` (from :meth:`BsplineDensity.random_besov`, else None).
    """
    density = _check_density(density)
    if density.dim != 1:
        raise ValueError(f"density.dim={density.dim} is invalid: must be 1 (quadrature on a 1-D grid)")
    coeffs = density_coefficients(density)
    total = int(sum(int((c != 0).sum()) for c in coeffs.coeffs))
    ns = sorted({check_int("ns", n, low=1, high=total) for n in _as_list(ns, "ns")})
    ts = [check_real("ts", t, low=0.0, low_open=True) for t in _as_list(ts, "ts")]
    if not ns or not ts:
        raise ValueError("ns and ts are invalid: must each hold at least one value")
    truncations = [n_term_density(density, n, coeffs=coeffs) for n in ns]
    K = int(density.levels.max())
    den = torch.empty(len(ts), len(ns), dtype=torch.float64)
    score = torch.empty_like(den)
    mass = torch.empty(len(ts), dtype=torch.float64)
    for i, t in enumerate(ts):
        x, w = diffusion_quadrature(t, max_level=K, nodes=nodes, width=width)
        xs = x.unsqueeze(-1)
        logp, sc = density.log_density_and_score(xs, t)
        p = logp.exp()
        mass[i] = (p * w).sum()
        for j, tr in enumerate(truncations):
            logq, sq = tr.density.log_density_and_score(xs, t)
            q = tr.mass * logq.exp()
            den[i, j] = ((p - q).square() * w).sum().sqrt()
            score[i, j] = (p * (sq[:, 0] - sc[:, 0]).square() * w).sum()
        if callback is not None:
            callback({"t": t, "row": i})
    sigma2 = -torch.expm1(-2.0 * torch.tensor(ts, dtype=torch.float64))
    return {"ns": ns, "ts": ts, "sigma2": sigma2, "density_l2": den, "score": score,
            "l2_t0": torch.tensor([tr.l2_error for tr in truncations], dtype=torch.float64),
            "mass": mass, "n_total": total, "dim": 1, "smoothness": getattr(density, "smoothness", None)}


def _as_list(values, name: str) -> list:
    if isinstance(values, (int, float)):
        return [values]
    try:
        return [v.item() if hasattr(v, "item") else v for v in values]
    except TypeError as exc:
        raise TypeError(f"{name}={values!r} is invalid: must be a number or a sequence of numbers") from exc


def n_term_rate_fits(errors: dict, *, min_n_sigma: float = 2.0, min_n: int = 16, max_fraction: float = 0.25,
                     level: float = 0.95) -> list[dict]:
    """Log-log slopes over N, one per time, of the errors of :func:`n_term_diffusion_errors`.

    The fit (:func:`nnrep_lite.diffusion.fit_rate`, Student-t interval at ``level``) uses the N
    with ``N sigma_t^d >= min_n_sigma`` (the regime of the bound N^{-2s/d} / sigma_t^2: the kept
    levels reach below sigma_t), ``N >= min_n`` (the first levels, 19 terms for order 4 in 1-D,
    are the coarse shape of the density: pre-asymptotic) and ``N <= max_fraction * J`` (near J
    the error collapses to zero).

    Returns:
        one dict per t: ``"t"``, ``"window"`` (the N used), ``"density"`` and ``"score"`` (the
        fit_rate dicts, or None with fewer than 3 N in the window).
    """
    from ..diffusion.rates import fit_rate

    if not isinstance(errors, dict) or not {"ns", "ts", "score", "density_l2"} <= set(errors):
        raise TypeError("errors is invalid: must be the dict returned by n_term_diffusion_errors")
    c = check_real("min_n_sigma", min_n_sigma, low=0.0)
    n_lo = check_int("min_n", min_n, low=1)
    frac = check_real("max_fraction", max_fraction, low=0.0, high=1.0, low_open=True)
    ns = np.asarray(errors["ns"], dtype=np.float64)
    d = int(errors.get("dim", 1))
    out = []
    for i, t in enumerate(errors["ts"]):
        sigma = math.sqrt(-math.expm1(-2.0 * t))
        sel = (ns * sigma**d >= c) & (ns >= n_lo) & (ns <= frac * errors["n_total"])
        row = {"t": t, "window": ns[sel].astype(int).tolist(), "density": None, "score": None}
        if sel.sum() >= 3:
            for key, name in (("density_l2", "density"), ("score", "score")):
                vals = as_tensor(errors[key])[i].numpy()[sel]
                if np.all(np.isfinite(vals)) and np.all(vals > 0):
                    row[name] = fit_rate(ns[sel], vals, level=level)
        out.append(row)
    return out
