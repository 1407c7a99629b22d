"""Live figures saved as static plotly outputs: a snapshot cell run last displays every FigureWidget as
last drawn; each widget output then becomes plotly outputs, and no widget state is stored. Imports no library code.

An executed notebook reopened without a kernel (JupyterLab, nbviewer, the report) still shows every
figure, through the plotly mimetype (JupyterLab's plotly extension draws it; no plotly.js is embedded),
and is small: the saved widget state of one FigureWidget is about 5 MB, mostly its front-end code.
"""

from __future__ import annotations

import json

FIGURES_MIMETYPE = "application/vnd.nnrep.figures+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_MIME = "application/vnd.plotly.v1+json"
_SNAPSHOT_TAG = "nnrep-report-snapshot"
_SNAPSHOT_SOURCE = '''\
def _nnrep_snapshot():  # added by nnrep run/sweep/report, removed afterwards
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


def add_snapshot_cell(nb) -> None:
    """Append the cell that displays every live FigureWidget as last drawn (run last)."""
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




def freeze_figures(nb) -> int:
    """Replace widget outputs by the figures they showed; drop the snapshot cell and all widget
    state. Returns the number of figures saved.

    Each output whose widget holds FigureWidgets (found through the saved widget state) becomes
    one plotly output per figure, with the data and layout as last drawn (from the snapshot
    cell); a widget output without a figure keeps only its text. ``nb`` is changed in place.
    """
    import nbformat

    figs: dict = {}
    keep = []
    for cell in nb.cells:
        if _SNAPSHOT_TAG in cell.get("metadata", {}).get("tags", []):
            for out in cell.get("outputs", []):
                payload = out.get("data", {}).get(FIGURES_MIMETYPE, {})
                figs.update(json.loads(payload) if isinstance(payload, str) else payload)
            continue
        keep.append(cell)
    nb.cells = keep
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    count = 0
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW not in data:
                outputs.append(out)
                continue
            ids = [m for m in _plotly_models(state, data[WIDGET_VIEW].get("model_id", "")) if m in figs]
            text = data.get("text/plain", "")
            if not ids:
                out["data"] = {"text/plain": text}
                outputs.append(out)
                continue
            for model_id in ids:
                fig = figs[model_id]
                outputs.append(nbformat.v4.new_output(
                    "display_data",
                    data={PLOTLY_MIME: {"data": fig.get("data", []), "layout": fig.get("layout", {})},
                          "text/plain": "<figure as last drawn: re-run the cell for live controls>"},
                    metadata={"nnrep": {"frozen_widget": True}},
                ))
                count += 1
        if cell.get("cell_type") == "code":
            cell["outputs"] = outputs
    nb.metadata.pop("widgets", None)
    return count


def add_html_twins(nb) -> int:
    """Give every plotly output an HTML twin (for pages rendered without the plotly extension);
    plotly.js itself is loaded once per page, never inlined per figure. Returns the count."""
    import plotly.io as pio

    count = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME not in data or "text/html" in data:
                continue
            html = pio.to_html(data[PLOTLY_MIME], full_html=False, include_plotlyjs=False,
                               validate=False, config={"responsive": True})
            if out.get("metadata", {}).get("nnrep", {}).get("frozen_widget"):
                html = ('<div class="nnrep-static-note">Interactive figure as last drawn; the '
                        "controls are live in JupyterLab or Binder.</div>\n" + html)
            data["text/html"] = html
            count += 1
    return count
