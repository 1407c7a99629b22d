"""One-step benchmarks (issue 4): ``experiment`` against the floor of its dominant linear algebra,
and the ``full`` figure of notebook 06 against a 300 s budget.

``onestep_vs_linalg_floor``: one ``experiment(4096, 1024, 2048, alpha=0.5)`` (float32, CK + NTK +
trained CK, spectrum, overlap, rank-one error) against the same operations timed alone as raw
torch calls on the same shapes: the X W products of the step and of the features, the X^T D
product of the gradient, the Gram matrices and Cholesky solves of the three ridge fits, the NTK
kernel products, and the three ``svdvals`` (W1, G0, G0 - A). Target 2.

``onestep_full_figure``: ``risk_curves`` over 8 values of psi1 (0.5 .. 8) by 6 of alpha
(0 .. 0.5) at d = 1024, psi2 = 2, one seed, against a 300 s budget. Target 1. In quick mode the
same grid runs at d = 512 and the budget is scaled by (512/1024)^3 (every dominant operation is
cubic in d at fixed psi1, psi2), which is pessimistic: small GEMMs run below peak speed; the
first record then uses n = 2048, d = 512, N = 1024.

``params`` of the first record also carry the peak memory of ``experiment`` at n = 4096 (and,
in full mode, at n = 16384 = 16 d), measured in a fresh subprocess as the growth of the peak
resident set size, next to the size of its inputs (X, the fresh ridge batch, the test set, W0).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import torch

from benchmarks._timing import median_time, record
from nnrep_lite import onestep

ALPHAS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
PSI1S = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0]


def _floor_ops(n: int, d: int, N: int, n_test: int, device) -> callable:
    """The dominant operations of ``experiment`` as raw torch calls on the same shapes."""
    g = torch.Generator().manual_seed(0)
    kw = {"generator": g, "dtype": torch.float32}
    X = torch.randn(n, d, **kw).to(device)
    X2 = torch.randn(n, d, **kw).to(device)
    X3 = torch.randn(n_test, d, **kw).to(device)
    W0 = (torch.randn(d, N, **kw) / math.sqrt(d)).to(device)
    W1 = W0 + 0.01 * torch.randn(d, N, **kw).to(device)
    y = torch.randn(n, **kw).to(device)
    eye_n = torch.eye(n, device=device)
    eye_N = torch.eye(N, device=device)

    def run():
        Z = X @ W0  # step: forward products
        G = X.T @ Z  # step: X^T D
        for W in (W0, W1):  # CK at W0 and trained CK at W1 (primal: n >= N)
            F = X2 @ W
            M = F.T @ F + eye_N
            L = torch.linalg.cholesky(M)
            torch.cholesky_solve((F.T @ y)[:, None], L)
            X3 @ W
        S = X2 @ W0  # NTK: sigma'(X W0) products, the kernel and its solve
        K = (S @ S.T) * (X2 @ X2.T) + eye_n
        St = X3 @ W0
        Kt = (St @ S.T) * (X3 @ X2.T)
        L = torch.linalg.cholesky(K)
        Kt @ torch.cholesky_solve(y[:, None], L)
        for M in (W1, G, G):  # spectrum of W1 and the two operator norms of the rank-one error
            torch.linalg.svdvals(M.T)

    return run


def _memory_probe(n: int, d: int, N: int, n_test: int) -> dict:
    """Peak RSS growth of one ``experiment`` in a fresh process, in MB, and its input size."""
    code = f"""
import json, resource, torch
from nnrep_lite import onestep
onestep.experiment(64, 32, 64, alpha=0.5, generator=0, n_test=64)  # warm up the libraries
torch.set_num_threads(torch.get_num_threads())
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
onestep.experiment({n}, {d}, {N}, alpha=0.5, generator=0, n_test={n_test})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"peak_growth_mb": (peak - base) / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    inputs = 4 * ((2 * n + n_test) * d + d * N) / 2**20
    res.update({"n": n, "inputs_mb": inputs, "ratio_to_inputs": res["peak_growth_mb"] / inputs})
    return res


def records(quick: bool = False, device: str = "cpu") -> list[dict]:
    dev = torch.device(device)
    out = []
    rep = 3 if quick else 5

    # 1) one experiment at d = 1024, N = 2048, n = 4096 against its linear-algebra floor
    n, d, N, n_test = (2048, 512, 1024, 1024) if quick else (4096, 1024, 2048, 2048)

    def ours():
        onestep.experiment(n, d, N, alpha=0.5, generator=0, n_test=n_test, device=dev)

    ours_s = median_time(ours, repeat=rep, warmup=1, device=dev)
    floor_s = median_time(_floor_ops(n, d, N, n_test, dev), repeat=rep, warmup=1, device=dev)
    params = {"n": n, "d": d, "N": N, "n_test": n_test, "dtype": "float32", "device": str(dev)}
    if dev.type == "cpu":
        params["memory"] = [_memory_probe(n, d, N, n_test)]
        if not quick:
            params["memory"].append(_memory_probe(16 * d, d, N, n_test))
    out.append(record("onestep_vs_linalg_floor", ours_s, floor_s, 2.0,
                      "raw torch X@W, X^T D, Gram, Cholesky, NTK kernel and 3 svdvals, same shapes",
                      params))  # fmt: skip

    # 2) the `full` figure of notebook 06: 8 psi1 x 6 alpha, one seed, d = 1024
    d_fig = 512 if quick else 1024
    budget = 300.0 * (d_fig / 1024) ** 3
    t0 = time.perf_counter()
    onestep.risk_curves(PSI1S, ALPHAS, d=d_fig, psi2=2.0, seed=0, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    fig_s = time.perf_counter() - t0
    out.append(record(
        "onestep_full_figure", fig_s, budget, 1.0,
        "300 s budget for the full figure" + (" scaled by (d/1024)^3" if quick else ""),
        {"d": d_fig, "psi2": 2.0, "psi1": PSI1S, "alphas": ALPHAS, "seeds": 1,
         "reduced": quick, "budget_s": budget, "device": str(dev)},
    ))  # fmt: skip
    return out


if __name__ == "__main__":
    print(json.dumps(records(quick="--quick" in sys.argv), indent=1))
