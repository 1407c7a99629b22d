"""Parameter sweeps over a notebook: grids, run names, the atomic results table, the sweep lock,
and the local-pool and Dask runners. Imports the library's helpers only; never viz or widgets.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .execution import _atomic_write, execute_notebook
from .parameters import _PARAM_NAME_RE, ParameterError, notebook_parameters, validate_parameters


def parse_grid(specs) -> dict[str, list[str]]:
    """``["alpha=0.1,0.2", "seed=0,1"]`` -> ``{"alpha": ["0.1", "0.2"], "seed": ["0", "1"]}``."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        if not isinstance(spec, str) or "=" not in spec:
            raise ParameterError(f"grid={spec!r} is invalid: must look like NAME=V1,V2,...")
        name, _, values = spec.partition("=")
        name = name.strip()
        if not _PARAM_NAME_RE.match(name):
            raise ParameterError(f"grid={spec!r} is invalid: {name!r} is not a parameter name")
        if name in grid:
            raise ParameterError(f"grid={spec!r} is invalid: {name!r} is given twice")
        items = [v.strip() for v in values.split(",")]
        if not values.strip() or any(v == "" for v in items):
            raise ParameterError(f"grid={spec!r} is invalid: needs non-empty values V1,V2,...")
        grid[name] = items
    return grid


def expand_grid(grid: dict[str, list]) -> list[dict]:
    """The product of the grid's value lists, first name varying slowest."""
    points = [{}]
    for name, values in grid.items():
        points = [{**p, name: v} for p in points for v in values]
    return points


def run_name(identity: dict) -> str:
    """A file-system-safe, unique name for a run: a readable slug plus a hash of ``identity``.

    Only ``[A-Za-z0-9_-]`` survive in the slug, so no value (``../../x``, ``/etc``) can name
    a path outside the runs folder.
    """
    canon = json.dumps(identity, sort_keys=True, default=str)
    digest = hashlib.sha256(canon.encode()).hexdigest()[:12]
    slug = "_".join(f"{k}-{v}" for k, v in identity.items())
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", slug).strip("_-")[:60]
    return f"run-{slug}-{digest}" if slug else f"run-{digest}"


def _run_point(payload: dict) -> dict:
    """Execute one sweep point (in a pool process, a Dask worker or in-process).

    The notebook travels as JSON text so that remote workers need no shared file system;
    the executed notebook comes back as JSON text and the caller writes it.
    """
    start = time.perf_counter()
    src = Path(payload["notebook_path"])
    cwd = src.parent if src.parent.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="nnrep-point-") as tmp:
        inp = Path(tmp) / "input.ipynb"
        outp = Path(tmp) / "output.ipynb"
        inp.write_text(payload["notebook_json"], encoding="utf-8")
        try:
            nb, records, error = execute_notebook(
                inp,
                outp,
                payload["parameters"],
                profile=payload.get("profile"),
                cwd=cwd or tmp,
                timeout=payload.get("timeout"),
            )
            text = outp.read_text(encoding="utf-8")
        except Exception as exc:  # kernel died, bad notebook...: a failed point, not a dead sweep
            records, error, text = {}, f"{type(exc).__name__}: {exc}", None
    return {
        "records": records,
        "status": "ok" if error is None else "failed",
        "error": error or "",
        "seconds": round(time.perf_counter() - start, 3),
        "notebook_json": text,
    }


# ------------------------------------------------------------------ sweeps

RESERVED_COLUMNS = ("run", "status", "error", "seconds")


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: the final table and the counts."""

    rows: list[dict]
    columns: list[str]
    skipped: int
    ran: int
    failed: int
    csv_path: Path


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _table(markers: list[dict], param_names: list[str]) -> tuple[list[str], list[dict]]:
    record_names: list[str] = []
    for m in markers:
        for k in m.get("records", {}):
            if k not in record_names:
                record_names.append(k)
    taken = set(param_names) | set(RESERVED_COLUMNS)
    rec_col = {k: (f"record_{k}" if k in taken else k) for k in sorted(record_names)}
    columns = ["run", *param_names, *rec_col.values(), "status", "error", "seconds"]
    rows = []
    for m in markers:
        row = {"run": m["run"]}
        row.update({k: _cell(m["parameters"].get(k)) for k in param_names})
        row.update({col: _cell(m.get("records", {}).get(k)) for k, col in rec_col.items()})
        row.update(status=m["status"], error=m.get("error", ""), seconds=_cell(m.get("seconds")))
        rows.append(row)
    return columns, rows


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(path, buf.getvalue())


def read_results(path) -> list[dict]:
    """The rows of a sweep's ``results.csv`` (all values as strings)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@contextlib.contextmanager
def _sweep_lock(out: Path, wait_s: float = 15.0):
    """An exclusive ``flock`` on ``out/.sweep.lock``; the kernel drops it when we die (even -9)."""
    import fcntl

    fh = open(out / ".sweep.lock", "a+")  # noqa: SIM115 - held for the whole sweep
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    raise RuntimeError(
                        f"out={str(out)!r} is in use: another sweep (pid {holder}) is writing "
                        "there; wait for it or pick another --out"
                    ) from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()  # releases the lock


def run_sweep(
    notebook,
    grid: dict[str, list],
    out,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    profile: str | None = None,
    timeout: float | None = None,
    progress: bool = True,
    log=None,
) -> SweepResult:
    """Run ``notebook`` at every point of ``grid`` with papermill; resumable and crash-safe.

    ``grid`` maps parameter names to value lists (strings are parsed by the parameter's
    type, as on the command line). Each executed notebook is ``out/runs/<run>.ipynb`` with a
    ``<run>.json`` marker written after it; ``out/results.csv`` (one row per grid point:
    parameters, recorded values, status, error, seconds) is rewritten atomically after every
    finished point. A second call skips points whose marker says ``ok`` (failed points run
    again). ``workers > 1`` uses a local process pool; ``scheduler="tcp://host:port"`` sends
    the points to a Dask distributed cluster.
    """
    from .._utils import PROFILES, check_choice, check_int

    log = log or (lambda msg: print(msg, file=sys.stderr))
    workers = check_int("workers", workers, low=1)
    if profile is not None:
        check_choice("profile", profile, PROFILES)
    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook={str(notebook)!r} does not exist")
    if not grid:
        raise ParameterError("grid is empty: give at least one --grid NAME=V1,V2,...")
    params = notebook_parameters(notebook)
    if profile is not None and "profile" in grid:
        raise ParameterError("profile is given both as --profile and in the grid; use one")
    typed_grid = {}
    for name, values in grid.items():
        typed_grid[name] = [validate_parameters(notebook, {name: v}, params)[name] for v in values]
    points = expand_grid(typed_grid)
    param_names = list(typed_grid)
    identities = []
    for p in points:
        ident = dict(p)
        if profile is not None and "profile" in params:
            ident["profile"] = profile
        identities.append(ident)
    if profile is not None and "profile" in params:
        param_names.append("profile")
    names = [run_name(i) for i in identities]
    if len(set(names)) != len(names):
        raise ParameterError("grid is invalid: it repeats a point (duplicate values)")

    out = Path(out)
    runs = out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    runs_real = runs.resolve()
    for name in names:  # defence in depth: run names never leave out/runs
        if (runs / f"{name}.ipynb").resolve().parent != runs_real:
            raise ParameterError(f"run name {name!r} would leave {runs}")
    csv_path = out / "results.csv"
    nb_text = notebook.read_text(encoding="utf-8")

    with _sweep_lock(out):
        for stale in runs.glob(".*.tmp"):  # leftovers of a killed writer
            with contextlib.suppress(OSError):
                stale.unlink()
        markers: dict[str, dict] = {}
        for name in names:
            mpath = runs / f"{name}.json"
            if mpath.is_file() and (runs / f"{name}.ipynb").is_file():
                try:
                    markers[name] = json.loads(mpath.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    pass  # unreadable marker: run the point again
        finished = {n for n, m in markers.items() if m.get("status") == "ok"}
        todo = [(n, ident) for n, ident in zip(names, identities) if n not in finished]
        if finished:
            log(f"skipped {len(finished)} finished")

        def rewrite():
            columns, rows = _table([markers[n] for n in names if n in markers], param_names)
            _write_csv(csv_path, columns, rows)
            return columns, rows

        rewrite()
        ran = failed = 0

        def finish(name, ident, result):
            nonlocal ran, failed
            if result.get("notebook_json") is not None:
                _atomic_write(runs / f"{name}.ipynb", result["notebook_json"])
            marker = {
                "run": name,
                "notebook": str(notebook),
                "parameters": ident,
                "records": result.get("records", {}),
                "status": result["status"],
                "error": result.get("error", ""),
                "seconds": result.get("seconds"),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            if result.get("notebook_json") is None:
                marker["status"] = "failed"
            _atomic_write(runs / f"{name}.json", json.dumps(marker, indent=1, sort_keys=True))
            markers[name] = marker
            rewrite()
            ran += 1
            failed += marker["status"] != "ok"
            if marker["status"] != "ok":
                log(f"point {ident} failed: {marker['error']}")

        payloads = {
            name: {
                "notebook_json": nb_text,
                "notebook_path": str(notebook.resolve()),
                "parameters": {k: v for k, v in ident.items() if k in params},
                "profile": profile,
                "timeout": timeout,
            }
            for name, ident in todo
        }
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(names), initial=len(finished), desc="sweep", unit="point",
            disable=not progress, file=sys.stderr,
        )
        try:
            if scheduler is not None:
                _run_dask(scheduler, todo, payloads, finish, bar)
            elif workers == 1:
                for name, ident in todo:
                    finish(name, ident, _run_point(payloads[name]))
                    bar.update(1)
            else:
                _run_pool(workers, todo, payloads, finish, bar)
        finally:
            bar.close()
        columns, rows = rewrite()
    return SweepResult(rows, columns, len(finished), ran, failed, csv_path)


def _run_pool(workers, todo, payloads, finish, bar) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")  # no fork of a process holding threads / event loops
    with ProcessPoolExecutor(max_workers=min(workers, max(len(todo), 1)), mp_context=ctx) as pool:
        futures = {pool.submit(_run_point, payloads[n]): (n, ident) for n, ident in todo}
        try:
            for fut in as_completed(futures):
                name, ident = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # a worker process died
                    result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                              "notebook_json": None, "records": {}, "seconds": None}
                finish(name, ident, result)
                bar.update(1)
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


def _run_dask(scheduler, todo, payloads, finish, bar) -> None:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - message path
        raise RuntimeError(
            "scheduler= needs dask distributed: pip install 'nnrep-lite[dask]'"
        ) from exc
    with Client(scheduler, timeout="20s") as client:
        futures = {}
        for name, ident in todo:
            fut = client.submit(_run_point, payloads[name], key=f"nnrep-{name}", pure=False)
            futures[fut] = (name, ident)
        try:
            for fut in as_completed(list(futures)):
                name, ident = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:
                    result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                              "notebook_json": None, "records": {}, "seconds": None}
                finish(name, ident, result)
                bar.update(1)
        finally:
            client.cancel(list(futures))
