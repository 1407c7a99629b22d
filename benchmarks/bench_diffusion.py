"""Diffusion benchmarks: the reverse-SDE sampler's per-step overhead over the score network.

``sampler_overhead_vs_score_eval``: the time of one reverse-SDE step (Euler-Maruyama and
exponential integrator; score call + Gaussian draw + update + NaN check), amortised over
``steps`` steps of :func:`reverse_sde_sample`, divided by the time of one evaluation of the
same :class:`ScoreMLP` on the same batch. Target 1.3: the sampler adds at most 30%.
"""

from __future__ import annotations

import statistics

import torch

from benchmarks._timing import median_time, record
from nnrep_lite.diffusion import ScoreMLP, reverse_sde_sample


def records(quick: bool = False, device: str = "cpu") -> list[dict]:
    out = []
    n, dim, width, depth = (2048, 2, 128, 3) if quick else (8192, 2, 128, 3)
    steps = 10 if quick else 20
    repeat = 3 if quick else 5
    model = ScoreMLP(dim, width, depth, seed=0, device=device)
    torch.nn.init.normal_(model.net[-1].weight, std=0.1)  # a non-trivial network output
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(n, dim, device=device, generator=gen)

    @torch.no_grad()
    def score_eval():
        model(x, 0.5)

    for method in ("euler", "exponential"):
        def sample(method=method):
            reverse_sde_sample(model, n, dim, t_max=8.0, t_min=1e-3, steps=steps, method=method,
                               generator=torch.Generator(device=device).manual_seed(1),
                               device=device, dtype=torch.float32)

        # interleave the two measurements so that load spikes on a shared box hit both alike
        base_t, ours_t = [], []
        median_time(score_eval, repeat=1, warmup=2, device=device)
        for _ in range(repeat):
            base_t.append(median_time(score_eval, repeat=steps, warmup=0, device=device))
            ours_t.append(median_time(sample, repeat=1, warmup=0, device=device) / steps)
        base, ours = statistics.median(base_t), statistics.median(ours_t)
        out.append(record(f"sampler_overhead_vs_score_eval[{method}]", ours, base, 1.3,
                          "one ScoreMLP evaluation on the same batch",
                          {"n": n, "dim": dim, "width": width, "depth": depth, "steps": steps,
                           "device": device, "method": method}))
    return out


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(records(quick=True), indent=1))
