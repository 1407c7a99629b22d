"""The ``nnrep`` command: argument parsing and dispatch only (the work is in :mod:`nnrep_lite.workflow`).

``nnrep run NOTEBOOK -p NAME VALUE``     papermill execution with checked parameters
``nnrep sweep NOTEBOOK --grid N=V1,V2``  resumable grid sweep -> DIR/results.csv (local or Dask)
``nnrep report``                         execute every notebook and render a static HTML site
``nnrep doctor``                         check torch, Jupyter and the widget front-end extensions
``nnrep present NOTEBOOK``               lecture mode: voila on 127.0.0.1 with a token
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ._utils import PROFILES
from .workflow import UsageError
from .workflow import execution as _execution
from .workflow import parameters as _parameters
from .workflow import sweep as _sweep
from .workflow.doctor import REQUIRED_EXTENSIONS, doctor, labextensions  # noqa: F401 (public)
from .workflow.present import present_command, serve  # noqa: F401 (public)
from .workflow.report import build_report, render_html  # noqa: F401 (public)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: optional modules and the extra that installs them (a missing one is a one-line message)
OPTIONAL_MODULES = {
    "papermill": "lab", "nbformat": "lab", "nbclient": "lab", "nbconvert": "lab", "voila": "lab",
    "jupyter_server_mathjax": "lab", "distributed": "dask",
}


def _err(msg: str) -> None:
    print(f"nnrep: error: {msg}", file=sys.stderr)


# ---------------------------------------------------------------------------- run


def cmd_run(args) -> int:
    notebook = Path(args.notebook)
    if not notebook.is_file():
        raise UsageError(f"notebook={str(notebook)!r} does not exist")
    raw = {}
    for name, value in args.parameters or []:
        if name in raw:
            raise UsageError(f"parameter {name!r} is given twice")
        raw[name] = value
    params = _parameters.notebook_parameters(notebook)
    if args.profile is not None and "profile" in params:
        if "profile" in raw:
            raise UsageError("profile is given both as --profile and -p profile; use one")
        raw["profile"] = args.profile
    values = _parameters.validate_parameters(notebook, raw, params)
    output = Path(args.output) if args.output else Path("build/runs") / notebook.name
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    _nb, records, error = _execution.execute_notebook(
        notebook, output, values, profile=args.profile, progress=not args.quiet,
        timeout=args.timeout,
    )
    seconds = time.perf_counter() - start
    print(f"executed {notebook} -> {output} in {seconds:.1f} s")
    for name, value in records.items():
        print(f"  {name} = {json.dumps(value)}")
    if error is not None:
        _err(f"{notebook} failed: {error} (see {output})")
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------------- sweep


def cmd_sweep(args) -> int:
    grid = _sweep.parse_grid(args.grid)
    result = _sweep.run_sweep(
        args.notebook, grid, args.out, workers=args.workers, scheduler=args.scheduler,
        profile=args.profile, timeout=args.timeout, progress=not args.quiet,
    )
    ok = len(result.rows) - sum(r["status"] != "ok" for r in result.rows)
    print(
        f"sweep: {len(result.rows)} points, {ok} ok, {result.failed} failed this run, "
        f"{result.ran} ran, skipped {result.skipped} finished -> {result.csv_path}"
    )
    return EXIT_FAILED if ok < len(result.rows) else EXIT_OK


# ---------------------------------------------------------------------------- report

def cmd_report(args) -> int:
    if args.notebooks:
        notebooks = [Path(p) for p in args.notebooks]
    else:
        notebooks = sorted(Path(args.notebooks_dir).glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        raise UsageError(f"notebooks not found: {', '.join(missing)}")
    if not notebooks:
        raise UsageError(f"no notebooks in {args.notebooks_dir}")
    entries = build_report(
        notebooks, args.out, args.notebooks_out, profile=args.profile, timeout=args.timeout
    )
    failed = [e["notebook"] for e in entries if e["status"] != "ok"]
    print(f"report: {len(entries)} notebooks, {len(failed)} failed -> {Path(args.out) / 'index.html'}")
    if failed:
        _err(f"failed notebooks: {', '.join(failed)}")
        return EXIT_FAILED
    return EXIT_OK


# ---------------------------------------------------------------------------- doctor

def cmd_doctor(args) -> int:
    return EXIT_FAILED if doctor() else EXIT_OK


# ---------------------------------------------------------------------------- present


def cmd_present(args) -> int:
    return serve(args.notebook, port=args.port, token=args.token, profile=args.profile,
                 dry_run=args.dry_run)


# ---------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnrep", description="Run, sweep, report and present the nnrep-lite notebooks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def profile_opt(p):
        p.add_argument("--profile", choices=PROFILES, default=None,
                       help="notebook size profile (sets the profile parameter and NNREP_PROFILE)")

    p = sub.add_parser("run", help="execute a notebook with papermill")
    p.add_argument("notebook")
    p.add_argument("-p", "--parameter", dest="parameters", nargs=2, action="append",
                   metavar=("NAME", "VALUE"), help="set a parameter (repeatable)")
    profile_opt(p)
    p.add_argument("-o", "--output", help="executed notebook (default build/runs/NAME.ipynb)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run a notebook over a parameter grid (resumable)")
    p.add_argument("notebook")
    p.add_argument("--grid", action="append", required=True, metavar="NAME=V1,V2,...")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--workers", type=int, default=1, help="local worker processes")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask distributed scheduler, e.g. tcp://host:8786")
    profile_opt(p)
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help="execute every notebook and render a static HTML site")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: all in --notebooks-dir)")
    p.add_argument("--notebooks-dir", default="notebooks")
    profile_opt(p)
    p.add_argument("--out", default="build/site")
    p.add_argument("--notebooks-out", default="build/notebooks")
    p.add_argument("--timeout", type=float, default=None, help="seconds per cell")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("doctor", help="check torch, JupyterLab and widget extensions")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("present", help="lecture mode: serve a notebook with voila")
    p.add_argument("notebook")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--token", default=None, help="access token (default: random)")
    profile_opt(p)
    p.add_argument("--dry-run", action="store_true", help="print the voila command, do not start")
    p.set_defaults(func=cmd_present)
    return parser


def main(argv=None) -> int:
    # notebook kernels started by papermill inherit the project's allocator settings
    from ._utils import allocator_env

    os.environ.update(allocator_env())
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args)
    except (UsageError, _parameters.ParameterError, FileNotFoundError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ValueError as exc:  # check_int/check_choice messages name the parameter
        _err(str(exc))
        return EXIT_USAGE
    except RuntimeError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in OPTIONAL_MODULES:
            raise
        _err(f"{top} is not installed: fix: pip install 'nnrep-lite[{OPTIONAL_MODULES[top]}]'")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
