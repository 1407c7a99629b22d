"""The least-favourable density for a sample size n: the construction behind the minimax lower
bound :math:`\\inf_{\\hat p}\\sup_{p \\in B}E\\,\\mathrm{TV}(\\hat p, p) \\gtrsim n^{-s/(2s+d)}`
(Assouad's lemma over a hypercube of densities; Tsybakov 2009, Sec. 2.7), built from cardinal
B-splines so that it is a :class:`~nnrep_lite.bspline.BsplineDensity` with exact sampling,
exact bin masses and exact OU scores.

.. math::
    p_\\omega(x) = \\frac{1}{Z}\\Big(b(x) + c\\,2^{-ks}\\sum_{j=0}^{2^k-1}\\omega_j\\,
                   \\psi\\big(2^k(x + \\tfrac12) - j\\big)\\Big),\\qquad
    k(n) = \\operatorname{round}\\Big(\\frac{\\log_2 n}{2s+d}\\Big),\\quad \\omega_j = \\pm 1,

with d = 1 and

- the base :math:`b(x) = \\sum_{i=-8}^{4} N_4(8x - i)` (13 cubic B-splines at level 3, all with
  coefficient 1): equal to 1 on [-5/8, 5/8] (partition of unity), smooth, fixed (independent of n),
  :math:`Z = \\int b = 13/8`;
- the bump :math:`\\psi(u) = N_4(8u) - N_4(8u - 4)` on [0, 1] (zero mean, :math:`\\sup|\\psi| = 2/3`),
  so the 2^k bumps tile the region [-1/2, 1/2], where b = 1, on cells of width 2^{-k}; every
  :math:`p_\\omega` has unit mass, and :math:`p_\\omega \\ge (1 - c)/Z > 0` on [-1/2, 1/2] for c < 1;
- the bumps are cubic B-splines at level k + 3 with coefficients :math:`\\pm c\\,2^{-ks}`, so the
  B^s_{∞,∞} sequence norm (DeVore-Popov, p = q = ∞) of this two-level representation,

  .. math::  \\|p_\\omega\\|_{b^s_{\\infty,\\infty}} = \\sup_\\ell 2^{\\ell s}\\max_j|\\alpha_{\\ell,j}|
             = \\max(2^{3s}, 2^{3s}c)/Z = 2^{3s}/Z \\quad (k \\ge 1;\\ (1+c)2^{3s}/Z\\ \\text{at}\\ k = 0),

  does not depend on n (and neither does the B^s_{2,∞} one); it bounds the Besov norm from
  above for s < m - 1 = 3 (cubic splines).

Two sign vectors that differ in one bump are at TV distance :math:`\\asymp 2^{-k(s+d)}` and their
n-sample laws cannot be told apart (KL :math:`\\asymp n\\,2^{-k(2s+d)} = O(1)` at this k), so every
estimator misses a constant fraction of the :math:`2^{kd}` bumps: TV :math:`\\gtrsim 2^{-ks}
\\asymp n^{-s/(2s+d)}`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .._utils import as_generator, check_int, check_real
from ..bspline import BsplineCoefficients, BsplineDensity, refinement_mask
from .baselines import kde
from .metrics import density_tv
from .rates import _seed, rate_experiment

__all__ = ["least_favourable_density", "least_favourable_level", "least_favourable_base", "besov_sup_norm",
           "least_favourable_experiment"]

ORDER = 4  # cubic B-splines
BASE_LEVEL = 3  # the base b lives at level 3; a bump at level k uses B-splines at level k + 3
BUMP_OFFSET = 3  # psi(u) = N_4(8u) - N_4(8u - 4): level k + 3 on a cell of width 2^-k
MAX_LEVEL = 9  # bump level k <= 9 (B-splines at level <= 12, the engine's limit)
_BASE_SHIFTS = range(-8, 5)  # N_4(8x - i) inside [-1, 1]: i = -8 .. 4


def least_favourable_level(n: int, smoothness: float, *, dim: int = 1) -> int:
    """:math:`k(n) = \\operatorname{round}(\\log_2 n / (2s + d))`: the bump level at which bias
    :math:`2^{-ks}` and the resolution limit of n samples balance (:math:`2^{kd}` bumps)."""
    n = check_int("n", n, low=2)
    s = check_real("smoothness", smoothness, low=0.0, high=3.0, low_open=True, high_open=True)
    d = check_int("dim", dim, low=1, high=1)
    return int(round(math.log2(n) / (2.0 * s + d)))


def _refine(coef: dict[int, float], times: int) -> dict[int, float]:
    """Rewrite sum_j c_j N_4(2^a x - j) at level a + ``times`` (refinement equation)."""
    mask = refinement_mask(ORDER)
    for _ in range(times):
        out: dict[int, float] = {}
        for j, c in coef.items():
            for m_l, r in enumerate(mask):
                out[2 * j + m_l] = out.get(2 * j + m_l, 0.0) + r * c
        coef = out
    return coef


def least_favourable_density(n: int, smoothness: float, *, dim: int = 1, amplitude: float = 0.9,
                             generator: torch.Generator | int | None = None) -> BsplineDensity:
    """The least-favourable density :math:`p_\\omega` for ``n`` samples at smoothness s (the
    module docstring has the formula): a fixed smooth base plus :math:`2^k` zero-mean cubic
    B-spline bumps of height :math:`\\propto` ``amplitude`` :math:`\\cdot 2^{-ks}`,
    :math:`k = \\operatorname{round}(\\log_2 n/(2s+d))`, with random signs drawn from
    ``generator`` (an int seed, a ``torch.Generator`` or None).

    Args:
        n: sample size, an int >= 2 with k(n) <= 9.
        smoothness: s in (0, 3) (cubic splines).
        dim: 1 (the only dimension built so far).
        amplitude: c in (0, 1): the bump coefficient is c 2^{-ks}; c < 1 keeps the density
            positive on the bump region.

    Returns:
        A :class:`~nnrep_lite.bspline.BsplineDensity` on [-1, 1] (every coefficient rewritten at
        level k + 3, all positive) with the extra attributes ``smoothness``, ``n``, ``level`` (k),
        ``n_bumps`` (2^k), ``signs`` ((2^k,) of ±1), ``amplitude`` (c), ``bump_coefficient``
        (c 2^{-ks}) and ``besov_coefficients``, the two-level representation (base at level 3,
        signed bumps at level k + 3) as :class:`~nnrep_lite.bspline.BsplineCoefficients` of the
        normalised density.
    """
    k = least_favourable_level(n, smoothness, dim=dim)
    s = float(smoothness)
    if k > MAX_LEVEL:
        raise ValueError(f"n={n} is invalid: its bump level k={k} must be <= {MAX_LEVEL} "
                         f"(n < 2^{(MAX_LEVEL + 0.5) * (2 * s + dim):.1f} at s={s:g})")
    c = check_real("amplitude", amplitude, low=0.0, high=1.0, low_open=True, high_open=True)
    gen = as_generator(generator)
    nb = 2**k
    signs = (2 * torch.randint(0, 2, (nb,), generator=gen) - 1).to(torch.float64)
    a = c * 2.0 ** (-k * s)
    lev = k + BUMP_OFFSET
    # bump j: a * w_j * (N_4(2^lev x - i_j) - N_4(2^lev x - i_j - 4)), i_j = 8 j - 2^(k+2)
    bump: dict[int, float] = {}
    for j in range(nb):
        i = 8 * j - 2 ** (k + 2)
        bump[i] = a * float(signs[j])
        bump[i + 4] = -a * float(signs[j])
    base = _refine({i: 1.0 for i in _BASE_SHIFTS}, lev - BASE_LEVEL)
    total = dict(base)
    for i, v in bump.items():
        total[i] = total[i] + v  # every bump B-spline lies where b = 1 (its coefficient there is 1)
    shifts = torch.tensor(sorted(total), dtype=torch.long)
    weights = torch.tensor([total[int(i)] for i in shifts], dtype=torch.float64)
    obj = BsplineDensity(torch.full((len(shifts), 1), lev, dtype=torch.long), shifts[:, None], weights, order=ORDER)
    z = len(_BASE_SHIFTS) / 2.0**BASE_LEVEL  # the mass of b; the bumps have none
    coeffs = [torch.zeros(2 ** (q + 1) + ORDER - 1, dtype=torch.float64) for q in range(lev + 1)]
    for i in _BASE_SHIFTS:
        coeffs[BASE_LEVEL][i + 2**BASE_LEVEL + ORDER - 1] += 1.0 / z
    for i, v in bump.items():
        coeffs[lev][i + 2**lev + ORDER - 1] += v / z
    obj.smoothness, obj.n, obj.level, obj.n_bumps = s, int(n), k, nb
    obj.signs, obj.amplitude, obj.bump_coefficient = signs, c, a
    obj.besov_coefficients = BsplineCoefficients(ORDER, 1, coeffs)
    return obj


def besov_sup_norm(coeffs: BsplineCoefficients, *, s: float) -> float:
    """The B^s_{∞,∞} sequence norm :math:`\\sup_\\ell 2^{\\ell s}\\max_j|\\alpha_{\\ell,j}|` (the
    DeVore-Popov norm with p = q = ∞)."""
    s = check_real("s", s, low=0.0)
    return max(2.0 ** (s * q) * float(c.abs().max()) if c.numel() else 0.0
               for q, c in enumerate(coeffs.coeffs))


def least_favourable_base() -> BsplineDensity:
    """The base :math:`b/Z` of every :func:`least_favourable_density` (its signs all removed)."""
    shifts = torch.tensor(list(_BASE_SHIFTS), dtype=torch.long)[:, None]
    return BsplineDensity(torch.full_like(shifts, BASE_LEVEL), shifts, torch.ones(len(shifts), dtype=torch.float64),
                          order=ORDER)


def _smoothed(density: BsplineDensity, h: float):
    """:math:`x \\mapsto (p * \\phi_h)(x) = \\mu\\, p_t(\\mu x)` with :math:`\\sigma_t/\\mu_t = h`,
    i.e. t = log(1 + h^2)/2 (the OU-diffused density, exact)."""
    t = 0.5 * math.log1p(h * h)
    mu = math.exp(-t)
    return lambda x: mu * density.diffused_density(mu * x, t)


def least_favourable_experiment(ns: Sequence[int], smoothness: float, *, seeds: Sequence[int] = (0, 1, 2),
                                amplitude: float = 0.9, cache: bool = True, progress: bool = False) -> list[dict]:
    """The Gaussian KDE (minimax bandwidth) on the worst case for each n: for each n and seed, its
    own :func:`least_favourable_density` (signs from the seed), n samples and the KDE's floor-free
    TV by :func:`~nnrep_lite.diffusion.rate_experiment` (quadrature), plus the part the bumps
    force on it whatever the sample: the smoothing bias of the bumps alone,

    .. math::  \\tfrac12\\int\\big|\\phi_h * f_\\omega - f_\\omega\\big|\\,dx,\\qquad
               f_\\omega = p_\\omega - b/Z,

    with the KDE's bandwidth h (exact: :math:`p * \\phi_h` is an OU-diffused B-spline density).
    Since h is many bump widths wide, this is about :math:`\\tfrac12\\|f_\\omega\\|_1 =
    c\\,2^{-ks}\\|\\psi\\|_1/(2Z)`, i.e. :math:`\\asymp n^{-s/(2s+d)}`.

    Returns rows like :func:`~nnrep_lite.diffusion.rate_experiment`'s (estimator "kde", metric
    "tv"), each with the extra keys ``level`` (k) and ``bandwidth``, followed by rows with
    estimator "kde bias (bumps)".
    """
    s = check_real("smoothness", smoothness, low=0.0, high=3.0, low_open=True, high_open=True)
    ns = [check_int("ns", n, low=2) for n in ns]
    seeds = [check_int("seeds", sd, low=0) for sd in seeds]
    base = least_favourable_base()
    rows, bias_rows = [], []
    for n in ns:
        for seed in seeds:
            target = least_favourable_density(n, s, amplitude=amplitude, generator=seed)
            row = rate_experiment(target, [n], seeds=[seed], metric="tv", estimators=("kde",), smoothness=s,
                                  cache=cache, progress=False)[0]
            h = kde(target.sample(n, as_generator(_seed(seed, n, 1))), smoothness=s).bandwidth  # the same draw
            pad = 8.0 * h
            sp, sb = _smoothed(target, h), _smoothed(base, h)
            bias = density_tv(lambda x, sp=sp, sb=sb: sp(x) - sb(x),
                              lambda x, t=target: t.density(x) - base.density(x), bounds=(-1 - pad, 1 + pad))
            row.update(level=target.level, bandwidth=h)
            rows.append(row)
            bias_rows.append({**row, "estimator": "kde bias (bumps)", "error": bias, "tv_method": "quadrature"})
            if progress:
                print(f"n={n} seed={seed} k={target.level}: KDE TV {row['error']:.4g}, bump bias {bias:.4g}")
    return rows + bias_rows
