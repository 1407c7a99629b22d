"""B-spline benchmark: the diffused B-spline against adaptive quadrature (the exact score of a
B-spline density is in :mod:`benchmarks.bench_score`).

``diffused_bspline_vs_quadrature``: :func:`diffused_bspline` (order 4, level 3, shift -4) at
10^5 points with x uniform in [-1.5, 1.5] (mostly outside the support [-0.5, 0]) and t
log-uniform in [1e-3, 1] (tau from 0.36 to 20: the N_m-weighted Gauss rules, the per-piece
rules of the tails and about 1.4% closed-form points), steady-state time per point, against ``scipy.integrate.quad`` of
N_m(2^a y - b) phi_sigma(x - mu y) per point (integrand: ``scipy.interpolate.BSpline.basis_element``,
break points at the knots, epsrel 1e-10) on a subsample. Target 1e-4.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from benchmarks._timing import median_time, record
from nnrep_lite.bspline import diffused_bspline

ORDER, LEVEL, SHIFT = 4, 3, -4


def _quad_point(x: float, t: float, spline) -> float:
    from scipy import integrate

    mu, sig = math.exp(-t), math.sqrt(-math.expm1(-2.0 * t))
    c = 1.0 / (sig * math.sqrt(2.0 * math.pi))

    def f(y):
        return float(spline(2.0**LEVEL * y - SHIFT)) * c * math.exp(-((x - mu * y) ** 2) / (2.0 * sig * sig))

    knots = [(SHIFT + k) / 2.0**LEVEL for k in range(ORDER + 1)]
    return integrate.quad(f, knots[0], knots[-1], points=knots[1:-1], epsabs=0.0, epsrel=1e-10, limit=200)[0]


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

    return out


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    print(json.dumps(records(quick="--quick" in sys.argv), indent=1))
