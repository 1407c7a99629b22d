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
from .parameters import notebook_parameters

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
            params = notebook_parameters(path)
            values = {"profile": profile} if profile is not None and "profile" in params else {}
            start = time.perf_counter()
            try:
                nb, records, error = execute_notebook(
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
