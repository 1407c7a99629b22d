"""MFLD benchmarks: the closed-form particle step against autograd and the matmul floor, and a
2000-step run against a 10 s budget (issue 8)."""

from __future__ import annotations

import math
import time

import torch

from benchmarks._timing import median_time, paired_median_times, record
from nnrep_lite.mfld import MeanFieldNet, Regression, make_regression, mfld

ETA, LAMBDA1, LAMBDA2 = 0.2, 0.01, 0.002


class _TwoLayerPlain(torch.nn.Module):
    """What a user would write: f(z) = mean_i tanh(r_i) tanh(w_i^T z + b_i)."""

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.r = torch.nn.Parameter(x[:, 0].clone())
        self.w = torch.nn.Parameter(x[:, 1:-1].clone())
        self.b = torch.nn.Parameter(x[:, -1].clone())

    def forward(self, z):
        return (torch.tanh(z @ self.w.T + self.b) @ torch.tanh(self.r)) / self.r.numel()


def _autograd_step(model, z, y, gen):
    """One noisy step: loss.backward(), then the MFLD update with the N-scaled gradient."""
    n_part = model.r.numel()
    model.zero_grad(set_to_none=True)
    f = model(z)
    reg = (model.r**2).sum() + (model.w**2).sum() + (model.b**2).sum()
    loss = 0.5 * ((f - y) ** 2).mean() + LAMBDA1 * reg / n_part
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-ETA * n_part)
            p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype, device=p.device), alpha=math.sqrt(2 * LAMBDA2 * ETA))


def _setup(n_part, n, d, device, dtype=torch.float32):
    z, y = make_regression(n, d, generator=0, dtype=dtype, device=device)
    obj = Regression(z, y, lambda1=LAMBDA1)
    x = MeanFieldNet().init_particles(n_part, d, generator=1, dtype=dtype, device=device)
    return obj, x


def records(quick: bool = False, device: str = "cpu") -> list[dict]:
    out = []
    dev = torch.device(device)
    rep = 3 if quick else 7

    # 1) one MFLD step, closed form vs autograd (N = 1024, n = 1024, d = 16)
    n_part, n, d = 1024, 1024, 16
    obj, x = _setup(n_part, n, d, dev)
    gen = torch.Generator(device=dev).manual_seed(0)
    model = _TwoLayerPlain(x)
    ours, base = paired_median_times(
        lambda: mfld(obj, x, eta=ETA, lambda2=LAMBDA2, steps=1, generator=gen, progress=False),
        lambda: _autograd_step(model, obj.z, obj.y, gen), repeat=15 if quick else 41, warmup=3, device=dev)
    out.append(record("mfld_step_vs_autograd", ours, base, 0.5,
                      "nn.Module two-layer net + loss.backward() + manual noisy update (float32)",
                      {"N": n_part, "n": n, "d": d, "dtype": "float32", "device": device}))

    # 2) one step vs the two matmuls any implementation does (N = n = 4096, d = 32)
    n_part, n, d = 4096, 4096, 32
    obj, x = _setup(n_part, n, d, dev)
    wb, zaug = x[:, 1:].contiguous(), obj.zaug
    g_nn = torch.randn(n_part, n, generator=gen, dtype=x.dtype, device=dev)

    def floor():
        torch.matmul(wb, zaug.T)  # pre-activations (N, n)
        torch.matmul(g_nn, zaug)  # back-projection onto the inputs (N, d + 1)

    ours = median_time(lambda: mfld(obj, x, eta=ETA, lambda2=LAMBDA2, steps=1, generator=gen, progress=False),
                       repeat=rep, warmup=1, device=dev)
    base = median_time(floor, repeat=rep, warmup=1, device=dev)
    out.append(record("mfld_step_vs_matmul_floor", ours, base, 2.0,
                      "torch.matmul (N,d+1)x(d+1,n) forward + (N,n)x(n,d+1) backward (float32)",
                      {"N": n_part, "n": n, "d": d, "dtype": "float32", "device": device}))

    # 3) 2000 steps, N = 1024, n = 512 (1-D regression, float64 as in the notebooks) vs 10 s
    steps = 2000
    obj, x = _setup(1024, 512, 1, dev, dtype=torch.float64)
    if quick:  # time 400 steps and scale: the loop cost is linear in steps
        t0 = time.perf_counter()
        mfld(obj, x, eta=ETA, lambda2=LAMBDA2, steps=400, generator=0, progress=False)
        ours = (time.perf_counter() - t0) * steps / 400
    else:
        t0 = time.perf_counter()
        mfld(obj, x, eta=ETA, lambda2=LAMBDA2, steps=steps, generator=0, progress=False)
        ours = time.perf_counter() - t0
    out.append(record("mfld_2000_steps", ours, 10.0, 1.0, "10 s budget on 2 CPU cores (issue 8)",
                      {"N": 1024, "n": 512, "d": 1, "steps": steps, "dtype": "float64",
                       "device": device, "extrapolated_from_400": quick}))
    return out


if __name__ == "__main__":  # pragma: no cover
    for r in records(quick=True):
        print(f"{r['name']:28s} ratio {r['ratio']:.3f} (target {r['target']})  ours {r['ours_s']:.4f}s  base {r['baseline_s']:.4f}s")
