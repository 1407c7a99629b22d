"""Notebook CI profile: the time to execute every ``notebooks/*.ipynb`` with NNREP_PROFILE=ci.

``notebooks_ci_profile``: each notebook runs in a fresh subprocess (nbclient, a fresh
``python3`` kernel, cwd ``notebooks/``, ``NNREP_PROFILE=ci``, ``OMP_NUM_THREADS=1`` as in
``make test``), timed from kernel start to the last cell. ``ours_s`` is the SUM of the
per-notebook times (the sequential cost, whatever the parallelism), ``baseline_s`` the 5-minute
budget. Target 1. Full mode runs the notebooks one after another; quick mode runs them two at
a time (2 workers, wall time in ``params``): on a 2-core box the per-notebook times then include
contention, so the quick ratio is pessimistic, not flattering.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 300.0

_RUNNER = r"""
import json, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
t0 = time.perf_counter()
err = None
try:
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}}).execute()
except Exception as exc:
    err = f"{type(exc).__name__}: {str(exc)[-400:]}"
print(json.dumps({"seconds": time.perf_counter() - t0, "error": err}))
"""


def run_notebook(path: Path) -> dict:
    env = dict(os.environ, NNREP_PROFILE="ci", OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(path)], capture_output=True, text=True, env=env,
                          cwd=str(path.parent))
    try:
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        res = {"seconds": time.perf_counter() - t0, "error": proc.stderr[-400:] or f"exit {proc.returncode}"}
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
    return [record("notebooks_ci_profile", total if not failed else float("inf"), BUDGET_S, 1.0,
                   "5-minute budget for all notebooks (NNREP_PROFILE=ci; sum of per-notebook times)",
                   {"notebooks": {k: round(r["seconds"], 2) for k, r in results.items()}, "failed": failed,
                    "sum_s": total, "workers": workers, "wall_s": wall, "profile": "ci",
                    "device": "cpu (notebooks pick their own)", "requested_device": device})]


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(records(quick="--quick" in sys.argv), indent=1))
