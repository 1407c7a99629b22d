"""Measured values out of notebooks, and parameter sweeps over notebooks.

Inside a notebook kernel, :func:`record` stores a JSON-able measured value (a slope, an
error, a flag). It is kept in-process (:func:`recorded`) and displayed as an output with the
mimetype ``application/vnd.nnrep.record+json`` (plus a ``text/plain`` line for humans), so
that after papermill has executed the notebook :func:`collect_records` can lift every record
into ``nb.metadata["nnrep"]["records"]``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RECORD_MIMETYPE = "application/vnd.nnrep.record+json"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RECORDS: dict[str, object] = {}


def _normalise(value, path: str = "value"):
    """Return ``value`` as plain JSON types (numpy/torch scalars and arrays via ``tolist``)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}={value!r} is invalid: must be a finite number")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_normalise(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path} key {k!r} is invalid: dict keys must be str")
            out[k] = _normalise(v, f"{path}[{k!r}]")
        return out
    tolist = getattr(value, "tolist", None)  # numpy scalars/arrays, torch tensors
    if callable(tolist) and type(value).__module__.split(".")[0] in ("numpy", "torch"):
        return _normalise(tolist(), path)
    raise TypeError(
        f"{path}={value!r} is invalid: must be JSON-serialisable "
        "(int, float, str, bool, None, or lists/dicts of those)"
    )


def record(name: str, value) -> object:
    """Record a measured ``value`` under ``name`` for sweeps and reports; returns the stored value.

    ``name`` must be an identifier (letters, digits, underscores; not starting with a digit).
    ``value`` must be JSON-serialisable: numbers (finite), str, bool, None, or lists/dicts of
    those; numpy scalars/arrays and torch tensors are converted with ``tolist()``.
    Recording the same name twice keeps the last value.
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} is invalid: must be a str identifier such as 'slope'")
    if not _NAME_RE.match(name):
        raise ValueError(
            f"name={name!r} is invalid: must be a non-empty identifier "
            "(letters, digits, underscores; not starting with a digit)"
        )
    stored = _normalise(value)
    json.dumps(stored, allow_nan=False)  # defensive: must round-trip as strict JSON
    _RECORDS[name] = stored
    _display(name, stored)
    return stored


def _display(name: str, value) -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        return
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return
    from IPython.display import display

    display(
        {RECORD_MIMETYPE: {name: value}, "text/plain": f"recorded {name} = {json.dumps(value)}"},
        raw=True,
    )


def recorded() -> dict:
    """The values recorded in this process so far (a copy)."""
    return dict(_RECORDS)


def clear_records() -> None:
    """Forget the in-process records (tests, repeated runs in one kernel)."""
    _RECORDS.clear()


def collect_records(nb) -> dict:
    """Lift every record output of an executed notebook into ``nb.metadata["nnrep"]["records"]``.

    ``nb`` is an ``nbformat`` notebook (or a dict of the same shape). Later records of the
    same name win, as in the kernel. Returns the records dict.
    """
    records: dict[str, object] = {}
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            payload = data.get(RECORD_MIMETYPE)
            if payload is None:
                continue
            if isinstance(payload, str):  # some writers store JSON mimetypes as text
                payload = json.loads(payload)
            records.update(payload)
    meta = nb["metadata"].setdefault("nnrep", {})
    meta["records"] = records
    return records


# ------------------------------------------------------------------ notebook parameters

_PARAM_NAME_RE = _NAME_RE
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class ParameterError(ValueError):
    """A parameter name or value that the notebook does not accept (refused before execution)."""


def notebook_parameters(notebook) -> dict[str, dict]:
    """The parameters of ``notebook`` (its cell tagged ``parameters``), in order.

    Returns ``{name: {"default": value or None, "source": text, "type": type or None}}``;
    ``type`` is the Python type of the literal default (None when the default is not a literal
    or is ``None``, in which case any literal value is accepted).
    """
    import ast

    import papermill as pm

    info = pm.inspect_notebook(str(notebook))
    params = {}
    for name, spec in info.items():
        source = spec.get("default", "")
        try:
            default = ast.literal_eval(source)
            kind = type(default) if default is not None else None
        except (ValueError, SyntaxError, TypeError):
            default, kind = None, None
        declared = spec.get("inferred_type_name") or "None"
        if kind is None and declared in ("int", "float", "str", "bool"):
            kind = {"int": int, "float": float, "str": str, "bool": bool}[declared]
        params[name] = {"default": default, "source": source, "type": kind}
    return params


def _describe(params: dict[str, dict]) -> str:
    if not params:
        return "the notebook has no cell tagged 'parameters'"
    parts = []
    for name, spec in params.items():
        kind = spec["type"].__name__ if spec["type"] is not None else "any literal"
        parts.append(f"{name} ({kind}, default {spec['source']})")
    return "the notebook's parameters are: " + ", ".join(parts)


def coerce_value(name: str, value, kind, params: dict[str, dict] | None = None):
    """Convert ``value`` (a command-line string or a Python value) to ``kind``.

    Strings are parsed (``"3"`` -> 3 for an int parameter, ``"true"`` -> True for a bool);
    Python values must already have the right type (an int is accepted for a float).
    Raises :class:`ParameterError` naming the parameter and listing the notebook's parameters.
    """
    import ast

    listing = f"; {_describe(params)}" if params is not None else ""

    def bad(expected):
        return ParameterError(
            f"{name}={value!r} is invalid: must be {expected} (like its default){listing}"
        )

    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise bad("a bool (true/false)")
        if kind is int:
            try:
                return int(text)
            except ValueError:
                raise bad("an int") from None
        if kind is float:
            try:
                out = float(text)
            except ValueError:
                raise bad("a float") from None
            if not math.isfinite(out):
                raise bad("a finite float")
            return out
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            if kind is None:
                return value  # an untyped parameter: keep the string
            raise bad(f"a {kind.__name__} literal") from None
        value = parsed
    if kind is None:
        _normalise(value, name)
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, bool):
        raise bad("an int")
    if kind in (list, tuple) and isinstance(value, (list, tuple)):
        return kind(value)
    if not isinstance(value, kind):
        raise bad(f"a {kind.__name__}")
    if kind is float and not math.isfinite(value):
        raise bad("a finite float")
    return value


def validate_parameters(notebook, values: dict, params: dict[str, dict] | None = None) -> dict:
    """Check names and types of ``values`` against ``notebook``'s parameters; return converted values.

    Unknown names and values of the wrong type raise :class:`ParameterError` with a message
    listing the notebook's parameters, before anything is executed.
    """
    if params is None:
        params = notebook_parameters(notebook)
    out = {}
    for name, value in values.items():
        if name not in params:
            raise ParameterError(
                f"unknown parameter {name!r} for {Path(notebook).name}; {_describe(params)}"
            )
        out[name] = coerce_value(name, value, params[name]["type"], params)
        if name == "profile":
            from ._utils import PROFILES

            if out[name] not in PROFILES:
                raise ParameterError(
                    f"profile={out[name]!r} is invalid: must be one of {', '.join(PROFILES)}"
                )
    return out


# ------------------------------------------------------------------ grids and run names


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


# ------------------------------------------------------------------ execution


def _atomic_write(path: Path, data) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old or the new file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)


def execute_notebook(
    notebook,
    output,
    parameters: dict | None = None,
    *,
    profile: str | None = None,
    cwd=None,
    progress: bool = False,
    timeout: float | None = None,
):
    """Execute ``notebook`` with papermill into ``output``; returns ``(nb, records, error)``.

    ``error`` is None on success, else ``"ExceptionName: message"`` (the executed notebook,
    with the failing cell's traceback, is still written). ``profile`` (default: the
    ``profile`` parameter, if given) sets ``NNREP_PROFILE`` for the kernel, which the
    notebooks' ``resolve_profile`` honours.
    Records made with :func:`record` are lifted into ``nb.metadata["nnrep"]["records"]``.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    parameters = dict(parameters or {})
    if profile is None and isinstance(parameters.get("profile"), str):
        profile = parameters["profile"]  # an explicit parameter beats an ambient NNREP_PROFILE
    previous = os.environ.get("NNREP_PROFILE")
    if profile is not None:
        from ._utils import PROFILES, check_choice

        check_choice("profile", profile, PROFILES)
        os.environ["NNREP_PROFILE"] = profile  # the kernel inherits it
    used_profile = os.environ.get("NNREP_PROFILE") or parameters.get("profile")
    if cwd is None:
        cwd = Path(notebook).parent
    error = None
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            progress_bar=progress,
            cwd=str(cwd),
            execution_timeout=timeout,
            start_timeout=300,  # a busy machine can take minutes to start a kernel
        )
    except PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    finally:
        if profile is not None:  # do not leak into the caller's process
            if previous is None:
                os.environ.pop("NNREP_PROFILE", None)
            else:
                os.environ["NNREP_PROFILE"] = previous
    nb = nbformat.read(str(output), as_version=4)
    records = collect_records(nb)
    meta = nb.metadata.setdefault("nnrep", {})
    meta["parameters"] = parameters
    meta["profile"] = used_profile
    meta["status"] = "ok" if error is None else "failed"
    if error is not None:
        meta["error"] = error
    _atomic_write(Path(output), nbformat.writes(nb))
    return nb, records, error


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
    from ._utils import PROFILES, check_choice, check_int

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
