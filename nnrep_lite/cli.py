"""The ``nnrep`` command: run, sweep, report, doctor, present.

``nnrep run NOTEBOOK -p NAME VALUE``     papermill execution with checked parameters
``nnrep sweep NOTEBOOK --grid N=V1,V2``  resumable grid sweep -> DIR/results.csv (local or Dask)
``nnrep report``                         execute every notebook and render a static HTML site
``nnrep doctor``                         check torch, Jupyter and the widget front-end extensions
``nnrep present NOTEBOOK``               lecture mode: voila on 127.0.0.1 with a token
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import sweep as _sweep
from ._utils import PROFILES

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input: printed as ``nnrep: error: ...`` with exit status 2."""


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
    params = _sweep.notebook_parameters(notebook)
    if args.profile is not None and "profile" in params:
        if "profile" in raw:
            raise UsageError("profile is given both as --profile and -p profile; use one")
        raw["profile"] = args.profile
    values = _sweep.validate_parameters(notebook, raw, params)
    output = Path(args.output) if args.output else Path("build/runs") / notebook.name
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    _nb, records, error = _sweep.execute_notebook(
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

FIGURES_MIMETYPE = "application/vnd.nnrep.figures+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
_SNAPSHOT_TAG = "nnrep-report-snapshot"
_SNAPSHOT_SOURCE = '''\
def _nnrep_snapshot():  # added by `nnrep report`, removed from the rendered page
    import json

    from IPython.display import display

    try:
        import plotly.io as pio
        from ipywidgets.widgets.widget import _instances
        from plotly.basewidget import BaseFigureWidget
    except ImportError:
        return
    figs = {
        model_id: json.loads(pio.to_json(w, validate=False))
        for model_id, w in list(_instances.items())
        if isinstance(w, BaseFigureWidget)
    }
    display({"application/vnd.nnrep.figures+json": figs, "text/plain": ""}, raw=True)


_nnrep_snapshot()
del _nnrep_snapshot
'''


def _add_snapshot_cell(nb) -> None:
    import nbformat

    cell = nbformat.v4.new_code_cell(_SNAPSHOT_SOURCE)
    cell.metadata["tags"] = [_SNAPSHOT_TAG]
    nb.cells.append(cell)


def _plotly_models(state: dict, model_id: str, seen=None) -> list[str]:
    """Plotly FigureWidget model ids reachable from ``model_id`` in saved widget state, in order."""
    seen = set() if seen is None else seen
    if model_id in seen or model_id not in state:
        return []
    seen.add(model_id)
    found = []
    entry = state[model_id]
    inner = entry.get("state", {})
    if "_widget_data" in inner and "_widget_layout" in inner:
        found.append(model_id)
    refs = []
    for value in inner.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str) and item.startswith("IPY_MODEL_"):
                refs.append(item[len("IPY_MODEL_"):])
    for out in inner.get("outputs", []) if isinstance(inner.get("outputs"), list) else []:
        if isinstance(out, dict) and WIDGET_VIEW in out.get("data", {}):
            refs.append(out["data"][WIDGET_VIEW].get("model_id", ""))
    for ref in refs:
        found.extend(_plotly_models(state, ref, seen))
    return found


def static_figures(nb) -> int:
    """Make plotly outputs interactive without a kernel; returns the number of figures.

    The snapshot cell added before execution displayed every live FigureWidget's final
    figure; each widget output that contains figures gets them as plotly HTML. Plain
    figures (the plotly mimetype) get an HTML twin. plotly.js itself is loaded once per
    page (see :func:`render_html`), never inlined per figure.
    """
    import plotly.io as pio

    figs: dict = {}
    keep = []
    for cell in nb.cells:
        if _SNAPSHOT_TAG in cell.get("metadata", {}).get("tags", []):
            for out in cell.get("outputs", []):
                figs.update(out.get("data", {}).get(FIGURES_MIMETYPE, {}))
            continue
        keep.append(cell)
    nb.cells = keep
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME in data and "text/html" not in data:
                data["text/html"] = pio.to_html(data[PLOTLY_MIME], full_html=False,
                                                include_plotlyjs=False, validate=False)
                count += 1
            if WIDGET_VIEW not in data:
                continue
            ids = [m for m in _plotly_models(state, data[WIDGET_VIEW].get("model_id", "")) if m in figs]
            if not ids:
                continue
            parts = [
                '<div class="nnrep-static-note">Interactive figure as last drawn; the '
                "controls are live in JupyterLab or Binder.</div>"
            ]
            for model_id in ids:
                parts.append(pio.to_html(figs[model_id], full_html=False, include_plotlyjs=False))
                # the view is replaced, so the saved model needs no 4 MB front-end bundle
                state[model_id].get("state", {}).pop("_esm", None)
                count += 1
            out["data"] = {"text/html": "\n".join(parts), "text/plain": data.get("text/plain", "")}
    return count


def _notebook_title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def _plotly_js_path() -> Path:
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover - broken plotly install
        raise RuntimeError(f"plotly.min.js not found at {path}: reinstall plotly")
    return path


def render_html(nb) -> str:
    """nbconvert's lab HTML for ``nb`` with plotly.js loaded first from ``plotly.min.js``."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    # Before anything else in <head>: once require.js is on the page, plotly.min.js would
    # register as an AMD module instead of defining window.Plotly.
    script = '<script src="plotly.min.js" charset="utf-8"></script>'
    return re.sub(r"(<head[^>]*>)", r"\1\n" + script.replace("\\", "\\\\"), body, count=1)


def build_report(
    notebooks, out, notebooks_out, *, profile: str | None, timeout: float | None = None,
    log=print,
) -> list[dict]:
    """Execute ``notebooks`` into ``notebooks_out`` and render ``out/<name>.html`` + index."""
    import nbformat

    out, notebooks_out = Path(out), Path(notebooks_out)
    out.mkdir(parents=True, exist_ok=True)
    notebooks_out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_plotly_js_path(), out / "plotly.min.js")
    env_renderer = os.environ.get("PLOTLY_RENDERER")
    os.environ["PLOTLY_RENDERER"] = "plotly_mimetype"  # HTML twins are added afterwards
    entries = []
    try:
        for path in notebooks:
            path = Path(path)
            nb = nbformat.read(str(path), as_version=4)
            _add_snapshot_cell(nb)
            staged = notebooks_out / f".{path.stem}.staged.ipynb"
            nbformat.write(nb, str(staged))
            executed = notebooks_out / path.name
            params = _sweep.notebook_parameters(path)
            values = {"profile": profile} if profile is not None and "profile" in params else {}
            start = time.perf_counter()
            try:
                nb, records, error = _sweep.execute_notebook(
                    staged, executed, values, profile=profile, cwd=path.parent, timeout=timeout
                )
            finally:
                staged.unlink(missing_ok=True)
            seconds = time.perf_counter() - start
            n_figs = static_figures(nb)
            nbformat.write(nb, str(executed))
            page = f"{path.stem}.html"
            (out / page).write_text(render_html(nb), encoding="utf-8")
            entry = {
                "notebook": path.name, "title": _notebook_title(nb, path.stem), "page": page,
                "status": "ok" if error is None else "failed", "error": error or "",
                "seconds": round(seconds, 1), "records": records, "figures": n_figs,
            }
            entries.append(entry)
            log(f"{path.name}: {entry['status']} in {seconds:.1f} s -> {out / page}"
                + (f" ({error})" if error else ""))
    finally:
        if env_renderer is None:
            os.environ.pop("PLOTLY_RENDERER", None)
        else:
            os.environ["PLOTLY_RENDERER"] = env_renderer
    (out / "index.html").write_text(_index_html(entries, profile), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(entries, indent=1), encoding="utf-8")
    return entries


def _index_html(entries: list[dict], profile: str | None) -> str:
    rows = []
    for e in entries:
        recs = ", ".join(f"{k} = {html.escape(json.dumps(v))}" for k, v in e["records"].items())
        status = "ok" if e["status"] == "ok" else f"failed: {html.escape(e['error'])}"
        rows.append(
            f'<tr><td><a href="{html.escape(e["page"])}">{html.escape(e["title"])}</a><br>'
            f"<code>{html.escape(e['notebook'])}</code></td><td class=\"{e['status']}\">{status}</td>"
            f"<td>{e['seconds']} s</td><td>{recs}</td></tr>"
        )
    from . import __version__

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nnrep-lite notebooks</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top}}
.ok{{color:#0072B2}}.failed{{color:#D55E00}}</style></head><body>
<h1>nnrep-lite notebooks</h1>
<p>Executed with papermill (profile: {html.escape(profile or os.environ.get("NNREP_PROFILE") or "default")},
nnrep-lite {__version__}, {time.strftime("%Y-%m-%d %H:%M")}). Figures are interactive plotly;
widget controls are live only with a kernel (JupyterLab, Binder, or <code>nnrep present</code>).</p>
<table><tr><th>notebook</th><th>status</th><th>time</th><th>recorded values</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""


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

REQUIRED_EXTENSIONS = {
    "@jupyter-widgets/jupyterlab-manager": "ipywidgets front-end (pip install 'ipywidgets>=8' 'jupyterlab_widgets')",
    "anywidget": "anywidget front-end, used by plotly FigureWidget (pip install anywidget)",
    "jupyterlab-plotly": "plotly renderer for JupyterLab (pip install 'plotly>=6')",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def labextensions() -> dict[str, dict] | None:
    """``{name: {"version", "enabled", "ok"}}`` from ``jupyter labextension list``; None without JupyterLab."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "jupyter", "labextension", "list"],
            capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    found = {}
    for line in _ANSI.sub("", proc.stdout + "\n" + proc.stderr).splitlines():
        m = re.match(r"\s+(\S+)\s+v(\S+)\s+(enabled|disabled)\s+(OK|X)", line)
        if m:
            found[m.group(1)] = {"version": m.group(2), "enabled": m.group(3) == "enabled",
                                 "ok": m.group(4) == "OK"}
    return found


def doctor(log=print) -> list[str]:
    """Print the environment; return one fix-it line per problem (empty when all is well)."""
    from importlib import metadata

    problems = []
    try:
        import torch

        from ._utils import default_device

        device = default_device()
        log(f"torch {torch.__version__}; device {device}")
        if torch.cuda.is_available():
            log(f"  CUDA {torch.version.cuda}: {torch.cuda.get_device_name(0)}")
        elif os.environ.get("NNREP_DEVICE", "").startswith("cuda"):
            problems.append("NNREP_DEVICE asks for cuda but torch sees no GPU: fix: unset "
                            "NNREP_DEVICE or install the CUDA build of torch")
    except Exception as exc:  # a broken torch is exactly what doctor is for
        problems.append(f"torch does not import ({exc}): fix: make venv (installs CPU torch)")
    for dist, extra in (("jupyterlab", "lab"), ("ipywidgets", ""), ("plotly", ""),
                        ("anywidget", ""), ("voila", "lab"), ("papermill", "test")):
        try:
            log(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            target = f"'nnrep-lite[{extra}]'" if extra else dist
            problems.append(f"{dist} is not installed: fix: pip install {target}")
    exts = labextensions() if _has_dist("jupyterlab") else None
    if exts is None:
        if _has_dist("jupyterlab"):
            problems.append("`jupyter labextension list` failed: fix: pip install --force-reinstall jupyterlab")
    else:
        for name, what in REQUIRED_EXTENSIONS.items():
            info = exts.get(name)
            if info is None:
                problems.append(f"JupyterLab extension {name} is not installed: {what}")
            elif not info["enabled"]:
                problems.append(f"JupyterLab extension {name} is disabled: fix: jupyter labextension enable {name}")
            elif not info["ok"]:
                problems.append(f"JupyterLab extension {name} is broken: fix: pip install --force-reinstall {name}")
            else:
                log(f"labextension {name} {info['version']} enabled OK")
    for line in problems:
        log(f"PROBLEM: {line}")
    log("doctor: all good" if not problems else f"doctor: {len(problems)} problem(s)")
    return problems


def _has_dist(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def cmd_doctor(args) -> int:
    return EXIT_FAILED if doctor() else EXIT_OK


# ---------------------------------------------------------------------------- present


def present_command(notebook, *, port: int, token: str, show_tracebacks: bool = False) -> list[str]:
    """The voila command line: bound to 127.0.0.1, token auth on, XSRF checks untouched."""
    from ._utils import check_int

    check_int("port", port, low=1, high=65535)
    if not token or not re.fullmatch(r"[A-Za-z0-9_-]{16,}", token):
        raise UsageError("token is invalid: must be at least 16 characters of [A-Za-z0-9_-]")
    cmd = [
        sys.executable, "-m", "voila", str(notebook), "--no-browser",
        f"--port={port}", "--Voila.ip=127.0.0.1", f"--token={token}",
        "--Voila.port_retries=0",
    ]
    if show_tracebacks:
        cmd.append("--show_tracebacks=True")
    return cmd


def cmd_present(args) -> int:
    notebook = Path(args.notebook)
    if not notebook.is_file():
        raise UsageError(f"notebook={str(notebook)!r} does not exist")
    if not _has_dist("voila"):
        raise UsageError("voila is not installed: fix: pip install 'nnrep-lite[lab]'")
    token = args.token or secrets.token_urlsafe(24)
    cmd = present_command(notebook, port=args.port, token=token)
    env = dict(os.environ)
    if args.profile is not None:
        env["NNREP_PROFILE"] = args.profile
    print(f"lecture mode: http://127.0.0.1:{args.port}/?token={token}", flush=True)
    if args.dry_run:
        print(" ".join(cmd))
        return EXIT_OK
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return EXIT_OK


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
    except (UsageError, _sweep.ParameterError, FileNotFoundError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ValueError as exc:  # check_int/check_choice messages name the parameter
        _err(str(exc))
        return EXIT_USAGE
    except RuntimeError as exc:
        _err(str(exc))
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
