"""The exact score of a random Besov B-spline density against the floor of any mixture-type
score (its own module, so that it runs in a fresh process: the diffused B-spline benchmark's
freed buffers made this one 1.5x slower in the same process).

``exact_score_vs_gaussian_floor``: ``BsplineDensity.random_besov(1.5, 2)`` (order 4, levels 1..6,
64 terms per level: J = 282 components) scored at 10^5 points at each of t = 1e-3, 1e-2, 0.1, 1
(one scalar t per call, as in a reverse-SDE step), against the same number of isotropic
Gaussian log-densities and gradients (J Gaussians per point, float64, in blocks, the quadratic
form through a matrix product): what any mixture-type score must at least compute. Target 3.
``--quick``: the same sizes, fewer repetitions.
"""

from __future__ import annotations

import math

import torch

from benchmarks._timing import paired_median_times, record
from nnrep_lite.bspline import BsplineDensity

T_SCORE = (1e-3, 1e-2, 0.1, 1.0)


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
    dev = torch.device(device)
    out = []
    gen = torch.Generator().manual_seed(0)
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
