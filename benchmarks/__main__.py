"""Runner: ``python -m benchmarks [--quick] [--device cpu|cuda] --json PATH [--only NAME ...]``.

Runs every ``benchmarks/bench_*.py`` module in its own Python process (``--in-process``: all in
this one; ours and the baseline of a record always share a process), calls its
``records(quick, device)``, writes the
JSON list of records atomically and prints a table (name, ratio, target, pass). The exit code is
0 even when a record misses its target (timings are noisy on shared machines: they are reported,
never gated); such records are listed on ``MISSED`` lines. A module that raises is reported on an
``ERROR`` line and the exit code is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

REQUIRED_KEYS = ("name", "ratio", "target", "baseline", "ours_s", "baseline_s", "params")


def discover(only: list[str] | None = None) -> list[str]:
    """Module names ``bench_*`` in this package, sorted; ``only`` filters by module suffix or
    full name (``mfld`` and ``bench_mfld`` both select ``benchmarks.bench_mfld``)."""
    here = Path(__file__).resolve().parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if only:
        wanted = {o.removeprefix("bench_") for o in only}
        unknown = wanted - {n.removeprefix("bench_") for n in names}
        if unknown:
            raise SystemExit(f"--only {sorted(unknown)} is invalid: must be among "
                             f"{[n.removeprefix('bench_') for n in names]}")
        names = [n for n in names if n.removeprefix("bench_") in wanted]
    return names


def check_record(rec: dict, module: str) -> dict:
    """Validate one record's schema; returns it with ``passed`` and ``module`` added."""
    if not isinstance(rec, dict):
        raise TypeError(f"{module}: a record must be a dict, got {type(rec).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in rec]
    if missing:
        raise ValueError(f"{module}: record {rec.get('name', '?')!r} lacks keys {missing}")
    if not isinstance(rec["params"], dict):
        raise TypeError(f"{module}: record {rec['name']!r} params must be a dict")
    out = dict(rec)
    for k in ("ratio", "target", "ours_s", "baseline_s"):
        out[k] = float(out[k])
    out["module"] = module
    out["passed"] = bool(math.isfinite(out["ratio"]) and out["ratio"] <= out["target"])
    return out


def write_json_atomic(path: str | Path, records: list[dict]) -> None:
    """Write ``records`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(records, f, indent=1, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def format_table(records: list[dict]) -> str:
    """A fixed-width table: name, ratio, target, pass, ours, baseline and their unit (seconds,
    unless a record's ``unit`` says otherwise: the memory record's values are MiB)."""
    width = max([len("name")] + [len(r["name"]) for r in records])
    head = (f"{'name':<{width}}  {'ratio':>10}  {'target':>8}  {'pass':>4}  {'ours':>10}  "
            f"{'baseline':>10}  unit")  # fmt: skip
    lines = [head, "-" * len(head)]
    for r in records:
        lines.append(f"{r['name']:<{width}}  {r['ratio']:>10.4g}  {r['target']:>8.4g}  "
                     f"{'yes' if r['passed'] else 'NO':>4}  {r['ours_s']:>10.4g}  {r['baseline_s']:>10.4g}  "
                     f"{r.get('unit', 's')}")  # fmt: skip
    return "\n".join(lines)


def resolve_device(device: str) -> str:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda is invalid here: no CUDA GPU is visible to torch "
                             f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
                             "run on a GPU machine with a CUDA build of torch, or use --device cpu")
    return device


_CHILD = """
import importlib, json, sys, traceback
try:
    mod = importlib.import_module(sys.argv[1])
    payload = {"records": mod.records(quick=sys.argv[2] == "1", device=sys.argv[3])}
except Exception as exc:
    traceback.print_exc()
    payload = {"error": f"{type(exc).__name__}: {exc}"}
with open(sys.argv[4], "w") as f:
    json.dump(payload, f, default=str)
"""


def _records_in_subprocess(module: str, quick: bool, device: str) -> list[dict]:
    """``module.records(...)`` run in a fresh Python process: one module's allocations (the
    B-spline benchmarks free GBs) left the C allocator in a state that made later modules'
    small-tensor loops 1.5-3x slower in the same process (MFLD: 0.87 s fresh, 1.34 s after)."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "records.json"
        from nnrep_lite._utils import allocator_env

        # the project's allocator settings (README, "Performance"), unless the caller set its own
        env = allocator_env(dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
        proc = subprocess.run([sys.executable, "-c", _CHILD, module, "1" if quick else "0", device, str(out)],
                              env=env)
        if not out.exists():
            raise RuntimeError(f"the benchmark process exited with status {proc.returncode} and no records")
        payload = json.loads(out.read_text())
    if "error" in payload:
        raise _ModuleError(payload["error"])
    return payload["records"]


class _ModuleError(Exception):
    """An exception raised inside a benchmark subprocess (its message is ``Type: text``)."""


def run(modules: list[str], quick: bool, device: str, package: str = "benchmarks",
        isolate: bool = True) -> tuple[list[dict], list[str]]:
    """Records of every module; each module runs in its own process unless ``isolate`` is off."""
    records, errors = [], []
    for name in modules:
        t0 = time.perf_counter()
        try:
            if isolate:
                raw = _records_in_subprocess(f"{package}.{name}", quick, device)
            else:
                raw = importlib.import_module(f"{package}.{name}").records(quick=quick, device=device)
            recs = [check_record(r, name) for r in raw]
        except _ModuleError as exc:  # the child printed its traceback
            errors.append(f"{name}: {exc}")
            continue
        except Exception as exc:  # one broken module must not hide the others' numbers
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            continue
        for r in recs:
            r["params"].setdefault("quick", quick)
        records.extend(recs)
        print(f"[{name}: {len(recs)} record(s) in {time.perf_counter() - t0:.1f} s]", flush=True)
    return records, errors


def main(argv: list[str] | None = None, package: str = "benchmarks") -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions, smaller sizes where stated (< ~3 min)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--json", required=True, help="output path of the JSON list of records")
    p.add_argument("--only", nargs="+", metavar="NAME", help="module names (e.g. bspline mfld)")
    p.add_argument("--in-process", action="store_true",
                   help="run every module in this process (for profiling; by default each runs in its own)")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    if package == "benchmarks":
        modules = discover(args.only)
    else:  # tests: modules of another package
        pkg = importlib.import_module(package)
        modules = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_"))
        if args.only:
            modules = [m for m in modules if m.removeprefix("bench_") in {o.removeprefix("bench_") for o in args.only}]
    t0 = time.perf_counter()
    records, errors = run(modules, args.quick, device, package, isolate=not args.in_process)
    write_json_atomic(args.json, records)
    print()
    print(format_table(records))
    for r in records:
        if not r["passed"]:
            print(f"MISSED {r['name']}: ratio {r['ratio']:.4g} > target {r['target']:.4g} ({r['baseline']})")
    for e in errors:
        print(f"ERROR {e}")
    print(f"{len(records)} records, {sum(r['passed'] for r in records)} passed, "
          f"{time.perf_counter() - t0:.1f} s; written to {args.json}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
