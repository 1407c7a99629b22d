"""Notebook run times and memory: every ``notebooks/*.ipynb`` at the ci and at the default profile.

``notebooks_ci_profile``: each notebook runs in a fresh subprocess (nbclient, a fresh
``python3`` kernel, cwd ``notebooks/``, ``NNREP_PROFILE=ci``, ``OMP_NUM_THREADS=1`` as in
``make test``), timed from kernel start to the last cell. ``ours_s`` is the SUM of the
per-notebook times (the sequential cost, whatever the parallelism), ``baseline_s`` the 5-minute
budget. Target 1. Full mode runs the notebooks one after another; quick mode runs them two at
a time (2 workers, wall time in ``params``): on a 2-core box the per-notebook times then include
contention, so the quick ratio is pessimistic, not flattering.

``notebooks_default_profile``: the same at NNREP_PROFILE=default (the lecture size), always one
notebook after another; ratio = the larger of (sum of the times / 10 minutes) and (the slowest
notebook / 4 minutes), target 1. ``notebooks_default_peak_rss``: the largest kernel resident set
(the kernel's ``ru_maxrss``, read by a cell appended after the last one) over those runs, against
1 GiB (a Binder user has about 2 GB for the server and their kernels); values in MiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 300.0
DEFAULT_BUDGET_S = 600.0  # all notebooks at the lecture size, one after another
DEFAULT_EACH_S = 240.0  # one notebook at the lecture size
RSS_BUDGET_MIB = 1024.0

_RUNNER = r"""
import json, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
probe = nbformat.v4.new_code_cell(
    "import resource as _r, json as _j; print('NNREP_RSS', _j.dumps(_r.getrusage(_r.RUSAGE_SELF).ru_maxrss))")
t0 = time.perf_counter()
err = None
client = NotebookClient(nb, timeout=900, kernel_name="python3",
                        resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}})
seconds, rss_kib = None, None
try:
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        seconds = time.perf_counter() - t0
        nb.cells.append(probe)
        client.execute_cell(probe, len(nb.cells) - 1)
        text = "".join(o.get("text", "") for o in probe.outputs)
        rss_kib = int(text.split("NNREP_RSS", 1)[1].split()[0])
except Exception as exc:
    err = f"{type(exc).__name__}: {str(exc)[-400:]}"
print(json.dumps({"seconds": seconds if seconds is not None else time.perf_counter() - t0,
                  "rss_mib": None if rss_kib is None else rss_kib / 1024, "error": err}))
"""


def run_notebook(path: Path, profile: str = "ci", cache_dir: str | None = None) -> dict:
    """Execute ``path`` in a fresh process and kernel at ``profile``: seconds, kernel peak RSS, error.
    ``cache_dir``: the trained-model and rows cache (NNREP_CACHE_DIR) the kernel uses."""
    env = dict(os.environ, NNREP_PROFILE=profile, OMP_NUM_THREADS="1")
    if cache_dir is not None:
        env["NNREP_CACHE_DIR"] = cache_dir
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(path)], capture_output=True, text=True, env=env,
                          cwd=str(path.parent))
    try:
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        res = {"seconds": time.perf_counter() - t0, "rss_mib": None,
               "error": proc.stderr[-400:] or f"exit {proc.returncode}"}
    return res


def records(quick: bool = False, device: str = "cpu") -> list[dict]:
    from benchmarks._timing import record

    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    workers = 2 if quick else 1
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = dict(zip((p.name for p in paths), pool.map(run_notebook, paths)))
    wall = time.perf_counter() - t0
    total = sum(r["seconds"] for r in results.values())
    failed = {k: r["error"] for k, r in results.items() if r["error"]}
    out = [record("notebooks_ci_profile", total if not failed else float("inf"), BUDGET_S, 1.0,
                  "5-minute budget for all notebooks (NNREP_PROFILE=ci; sum of per-notebook times)",
                  {"notebooks": {k: round(r["seconds"], 2) for k, r in results.items()}, "failed": failed,
                   "sum_s": total, "workers": workers, "wall_s": wall, "profile": "ci",
                   "device": "cpu (notebooks pick their own)", "requested_device": device})]
    return out + default_profile_records(paths, device)


def default_profile_records(paths, device: str = "cpu") -> list[dict]:
    """``notebooks_default_profile`` and ``notebooks_default_peak_rss`` (one notebook at a time)."""
    from benchmarks._timing import record

    # an empty cache: what a lecturer's first run of the day waits for (trained models and
    # experiment rows are cached on disk, so a second run is much faster)
    with tempfile.TemporaryDirectory(prefix="nnrep-bench-cache-") as cache:
        results = {p.name: run_notebook(p, "default", cache) for p in paths}
    failed = {k: r["error"] for k, r in results.items() if r["error"]}
    total = sum(r["seconds"] for r in results.values())
    slowest = max(results, key=lambda k: results[k]["seconds"])
    # ratio = the larger of the two budgets' ratios: ours_s is scaled to the 10-minute budget
    ratio = max(total / DEFAULT_BUDGET_S, results[slowest]["seconds"] / DEFAULT_EACH_S)
    ours = ratio * DEFAULT_BUDGET_S if not failed else float("inf")
    rss = {k: r["rss_mib"] for k, r in results.items() if r["rss_mib"] is not None}
    peak = max(rss, key=rss.get) if rss else None
    common = {"profile": "default", "failed": failed, "device": "cpu (notebooks pick their own)",
              "requested_device": device}
    timing = record("notebooks_default_profile", ours, DEFAULT_BUDGET_S, 1.0,
                    "10 minutes for all notebooks at NNREP_PROFILE=default, one after another, and 4 "
                    "minutes for each (ratio: the larger of sum/600 s and slowest/240 s)",
                    {"notebooks": {k: round(r["seconds"], 1) for k, r in results.items()},
                     "sum_s": round(total, 1), "slowest": slowest, "cache": "empty", **common})
    memory = record("notebooks_default_peak_rss", rss[peak] if peak and not failed else float("inf"),
                    RSS_BUDGET_MIB, 1.0, "1 GiB for the largest kernel resident set (ru_maxrss), "
                    "NNREP_PROFILE=default", {"rss_mib": {k: round(v, 1) for k, v in rss.items()},
                                              "largest": peak, **common})
    memory["unit"] = "MiB"
    return [timing, memory]


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(records(quick="--quick" in sys.argv), indent=1))
