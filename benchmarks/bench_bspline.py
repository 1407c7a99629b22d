"""B-spline benchmarks: the diffused B-spline against adaptive quadrature, and the exact score of
a random Besov B-spline density against the floor of any mixture-type score.

``diffused_bspline_vs_quadrature``: :func:`diffused_bspline` (order 4, level 3, shift -4) at
10^5 points with x uniform in [-1.5, 1.5] (mostly outside the support [-0.5, 0]) and t
log-uniform in [1e-3, 1] (tau from 0.36 to 20: the N_m-weighted Gauss rules, the per-piece
rules of the tails and about 1.4% closed-form points), steady-state time per point, against ``scipy.integrate.quad`` of
N_m(2^a y - b) phi_sigma(x - mu y) per point (integrand: ``scipy.interpolate.BSpline.basis_element``,
break points at the knots, epsrel 1e-10) on a subsample. Target 1e-4.

``exact_score_vs_gaussian_floor``: ``BsplineDensity.random_besov(1.5, 2)`` (order 4, levels 1..6,
64 terms per level: J = 282 components) scored at 10^5 points at each of t = 1e-3, 1e-2, 0.1, 1
(one scalar t per call, as in a reverse-SDE step), against the same number of isotropic
Gaussian log-densities and gradients (J Gaussians per point, float64, chunked, the quadratic
form through a matrix product): what any mixture-type score must at least compute. Target 3.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from benchmarks._timing import median_time, paired_median_times, record
from nnrep_lite.bspline import BsplineDensity, diffused_bspline

ORDER, LEVEL, SHIFT = 4, 3, -4
T_SCORE = (1e-3, 1e-2, 0.1, 1.0)


def _quad_point(x: float, t: float, spline) -> float:
    from scipy import integrate

    mu, sig = math.exp(-t), math.sqrt(-math.expm1(-2.0 * t))
    c = 1.0 / (sig * math.sqrt(2.0 * math.pi))

    def f(y):
        return float(spline(2.0**LEVEL * y - SHIFT)) * c * math.exp(-((x - mu * y) ** 2) / (2.0 * sig * sig))

    knots = [(SHIFT + k) / 2.0**LEVEL for k in range(ORDER + 1)]
    return integrate.quad(f, knots[0], knots[-1], points=knots[1:-1], epsabs=0.0, epsrel=1e-10, limit=200)[0]


def _gaussian_floor(x: torch.Tensor, means: torch.Tensor, s2: float, chunk: int = 4096, keep: bool = False):
    """log N(x; m_j, s2 I) and its x-gradient for every (point, component), block by block:
    (chunk, J) and (chunk, J, d) per block. In the timed runs each block is dropped once
    computed, as a score would reduce it (keeping them all is hundreds of MB at 10^5 points and
    makes both sides' timings depend on the allocator); ``keep=True`` returns the lists."""
    d = x.shape[1]
    const = -0.5 * (means * means).sum(1) / s2 - 0.5 * d * math.log(2.0 * math.pi * s2)
    logs, grads = [], []
    for start in range(0, x.shape[0], chunk):
        xc = x[start : start + chunk]
        lp = torch.addmm(const, xc, means.T, alpha=1.0 / s2) - 0.5 * (xc * xc).sum(1, keepdim=True) / s2
        g = (means - xc[:, None, :]) / s2
        if keep:
            logs.append(lp)
            grads.append(g)
    return logs, grads


def records(quick: bool = False, device: str = "cpu") -> list[dict]:
    from scipy.interpolate import BSpline

    dev = torch.device(device)
    out = []
    gen = torch.Generator().manual_seed(0)

    # 1) E_{a,b}(x, t) at 1e5 points against quad per point
    n = 100_000
    x = (torch.rand(n, generator=gen, dtype=torch.float64) * 3.0 - 1.5).to(dev)
    t = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(math.log(1e-3), 0.0, generator=gen)).to(dev)
    ours = median_time(lambda: diffused_bspline(x, t, order=ORDER, level=LEVEL, shift=SHIFT),
                       repeat=7 if quick else 15, warmup=3, device=dev) / n  # steady state: the
    # first calls pay for page faults of fresh buffers (2x slower here)
    sub = 40 if quick else 200
    spline = BSpline.basis_element(np.arange(ORDER + 1), extrapolate=False)
    xs, ts = x[:sub].cpu().tolist(), t[:sub].cpu().tolist()
    spline_nan = spline
    spline = lambda u: np.nan_to_num(spline_nan(u))  # noqa: E731  (outside the support: 0)
    t0 = time.perf_counter()
    ref = [_quad_point(xi, ti, spline) for xi, ti in zip(xs, ts)]
    base = (time.perf_counter() - t0) / sub
    got = diffused_bspline(x[:sub], t[:sub], order=ORDER, level=LEVEL, shift=SHIFT).cpu().numpy()
    ref = np.array(ref)
    big = ref > 1e-12 * ref.max()
    out.append(record("diffused_bspline_vs_quadrature", ours, base, 1e-4,
                      "scipy.integrate.quad per point (BSpline.basis_element integrand, knots as break points, "
                      "epsrel 1e-10), per-point time on a subsample",
                      {"n": n, "quad_subsample": sub, "order": ORDER, "level": LEVEL, "shift": SHIFT,
                       "t": "log-uniform [1e-3, 1]", "max_rel_err_vs_quad": float(np.max(np.abs(got - ref)[big] / ref[big])),
                       "device": str(dev)}))

    # 2) exact score of a random Besov density (J = 282, d = 2) against the Gaussian floor
    dens = BsplineDensity.random_besov(1.5, 2, generator=0)
    n = 100_000  # --quick: same size, fewer repetitions (the 10^5 points)
    xs = (dens.sample(n, generator=1) + 0.05 * torch.randn(n, 2, generator=gen, dtype=torch.float64)).to(dev)

    def ours_fn():
        for tt in T_SCORE:
            dens.score(xs, tt)

    centres = torch.rand(dens.n_components, 2, generator=gen, dtype=torch.float64).to(dev) * 2 - 1

    def floor_fn():
        for tt in T_SCORE:
            _gaussian_floor(xs, centres, -math.expm1(-2.0 * tt))

    ours, base = paired_median_times(ours_fn, floor_fn, repeat=2 if quick else 5, warmup=1, device=dev)
    out.append(record("exact_score_vs_gaussian_floor", ours, base, 3.0,
                      "J isotropic Gaussian log-densities + gradients per point (float64, addmm + broadcast, chunked)",
                      {"n": n, "J": dens.n_components, "d": 2, "order": dens.order, "levels": "1..6",
                       "unique_factors_per_axis": [len(u) for u, _ in dens._factors], "t": list(T_SCORE),
                       "device": str(dev)}))
    return out


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(records(quick="--quick" in sys.argv), indent=1))
