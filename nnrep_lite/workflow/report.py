"""The static report: execute notebooks for it, snapshot live figures as static plotly, render HTML pages
and the index. Imports the library's helpers and the workflow layer; never viz or widgets.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import time
from pathlib import Path

from .execution import execute_notebook
from .figures import add_html_twins
from .parameters import notebook_parameters


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


#: cell tags whose outputs the page (and voila) leaves out: internal lines such as the size
#: dictionary and the check cells' records (kept in the notebook and its metadata)
HIDDEN_OUTPUT_TAGS = ("lecture-hide",)
#: cells left out of the page entirely: papermill's injected parameters, the snapshot cell
HIDDEN_CELL_TAGS = ("injected-parameters",)
#: MathJax 2 (from the jupyter-server-mathjax package), copied next to the pages
MATHJAX_DIR = "mathjax"
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"


def _mathjax_source() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise RuntimeError("offline MathJax for the report is missing: fix: pip install "
                           "'nnrep-lite[lab]' (jupyter-server-mathjax)") from None
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def copy_mathjax(out) -> Path:
    """Copy MathJax into ``out/mathjax`` (once per version) so the pages typeset offline."""
    src = _mathjax_source()
    dest = Path(out) / MATHJAX_DIR
    stamp = dest / ".nnrep-source"
    if not (stamp.is_file() and stamp.read_text() == str(src)):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(src, dest)
        stamp.write_text(str(src))
    return dest


def page_notebook(nb):
    """A copy of ``nb`` as the page shows it: no injected-parameters cell, no outputs of cells
    tagged ``lecture-hide``, no record outputs (their values are on the index page)."""
    import copy

    from .records import RECORD_MIMETYPE

    page = copy.deepcopy(nb)
    cells = []
    for cell in page.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & set(HIDDEN_CELL_TAGS):
            continue
        if cell.get("cell_type") == "code":
            if tags & set(HIDDEN_OUTPUT_TAGS):
                cell.outputs = []
            else:
                cell.outputs = [o for o in cell.outputs if RECORD_MIMETYPE not in o.get("data", {})]
        cells.append(cell)
    page.cells = cells
    return page


def render_html(nb) -> str:
    """nbconvert's lab HTML for ``nb`` (as :func:`page_notebook` shows it) with plotly.js loaded
    first from ``plotly.min.js`` and MathJax from ``mathjax/`` beside the page (offline)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX_URL)
    body, _ = exporter.from_notebook_node(page_notebook(nb))
    # Before anything else in <head>: once require.js is on the page, plotly.min.js would
    # register as an AMD module instead of defining window.Plotly.
    script = '<script src="plotly.min.js" charset="utf-8"></script>'
    return re.sub(r"(<head[^>]*>)", r"\1\n" + script.replace("\\", "\\\\"), body, count=1)


def build_report(
    notebooks, out, notebooks_out, *, profile: str | None, timeout: float | None = None,
    log=print,
) -> list[dict]:
    """Execute ``notebooks`` into ``notebooks_out`` and render ``out/<name>.html`` + index."""

    out, notebooks_out = Path(out), Path(notebooks_out)
    out.mkdir(parents=True, exist_ok=True)
    notebooks_out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_plotly_js_path(), out / "plotly.min.js")
    copy_mathjax(out)
    entries = []
    for path in notebooks:
        path = Path(path)
        executed = notebooks_out / path.name
        params = notebook_parameters(path)
        values = {"profile": profile} if profile is not None and "profile" in params else {}
        start = time.perf_counter()
        nb, records, error = execute_notebook(
            path, executed, values, profile=profile, cwd=path.parent, timeout=timeout
        )
        seconds = time.perf_counter() - start
        n_figs = add_html_twins(nb)  # the executed notebook itself keeps plotly outputs only
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
    (out / "index.html").write_text(_index_html(entries, profile), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(entries, indent=1), encoding="utf-8")
    return entries


def format_value(value, digits: int = 4) -> str:
    """A recorded value for people: floats to ``digits`` significant digits, lists and dicts
    element by element, everything else as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v, digits) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v, digits)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _index_html(entries: list[dict], profile: str | None) -> str:
    rows = []
    for e in entries:
        recs = ", ".join(f"{k} = {html.escape(format_value(v))}" for k, v in e["records"].items())
        status = "ok" if e["status"] == "ok" else f"failed: {html.escape(e['error'])}"
        rows.append(
            f'<tr><td><a href="{html.escape(e["page"])}">{html.escape(e["title"])}</a><br>'
            f"<code>{html.escape(e['notebook'])}</code></td><td class=\"{e['status']}\">{status}</td>"
            f"<td>{e['seconds']} s</td><td>{recs}</td></tr>"
        )
    from .. import __version__

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
