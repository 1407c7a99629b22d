"""``LiveFigure``: plotly's ``FigureWidget`` whose 5 MB front-end code is evaluated once per page,
not once per figure, and whose width follows its output area. Every live figure of the package
is one. Imports plotly only.

Why: a ``FigureWidget`` is an anywidget whose module is plotly's whole widget bundle (plotly.js
included, about 5 MB); anywidget imports each widget's module afresh from a blob URL, so every
figure costs a full evaluation of the bundle in the browser: 1.1-1.9 s of main thread each in
chromium on this machine (notebook 04: 9 figures, more than 12 s of a frozen page per Run All).
Worse, anywidget rejects a model that is not initialised within 2 s of its creation
(``AbortSignal.timeout(2000)`` in its runtime, 0.9 to 0.11), and such a model drops every later
message from the kernel: models queued behind a few bundle evaluations (the panels' width
probes, the third figure of a panel) hit that limit on a loaded machine or a cold page.

The module here carries the bundle as a string, imports it once per page (the promise is kept on
``globalThis`` under plotly's version) and hands each figure a fresh instance of plotly's widget
(its default export is a factory, one per model). Parsing the string costs tens of ms; the
kernel side, the figure's state, ``to_json`` and the report's snapshots are unchanged.

Width: plotly draws a ``FigureWidget`` whose element is not yet attached to the page (inside a
box, or as a cell's result) at its 700 px default and re-fits only on JupyterLab's Lumino resize
messages, which an anywidget view never receives (plotly/plotly.py#4027, #5208): in JupyterLab at
1280x720 a figure took 700 of the 848 px. Each view here watches its element with a
``ResizeObserver`` and re-fits the figure (``Plotly.Plots.resize``) whenever its width changes
(attached, the file browser opened or closed, the window resized), unless the figure's layout
sets a width. In the browser alone: no kernel round trip, JupyterLab and voila alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import plotly

__all__ = ["LiveFigure", "plotly_bundle_path"]  # noqa: F822 (LiveFigure: module __getattr__)


def plotly_bundle_path() -> Path:
    """The file of plotly's widget bundle (its anywidget module)."""
    return Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"


def _loader_esm() -> str:
    source = plotly_bundle_path().read_text(encoding="utf-8")
    key = f"__nnrep_plotly_widget_{plotly.__version__}"
    # json.dumps gives a valid JavaScript string literal (U+2028/9 are legal in strings since ES2019)
    return f"""\
const KEY = {json.dumps(key)};
const SOURCE = {json.dumps(source)};
function plotlyWidget() {{
  let module = globalThis[KEY];
  if (!module) {{
    const url = URL.createObjectURL(new Blob([SOURCE], {{ type: "text/javascript" }}));
    module = import(/* webpackIgnore: true */ url).finally(() => URL.revokeObjectURL(url));
    module.catch(() => {{ if (globalThis[KEY] === module) delete globalThis[KEY]; }});
    globalThis[KEY] = module;
  }}
  return module;
}}
// Each figure follows the width of its output: plotly draws a figure whose element is not yet
// in the page at its 700 px default, and re-fits it only on JupyterLab's Lumino resize messages,
// which an anywidget view never gets (plotly/plotly.py#4027, #5208).
function followWidth(model, el) {{
  let drawn = 0, timer = null, tries = 0;
  const fit = () => {{
    const width = Math.floor(el.getBoundingClientRect().width);
    const layout = model.get("_widget_layout") || {{}};
    if (!el.isConnected || width <= 0 || width === drawn || layout.width != null) return;
    if (!el._fullLayout || !globalThis.Plotly) {{  // the first draw is still under way
      if (tries++ < 50) later(100);
      return;
    }}
    drawn = width;
    if (Math.abs(el._fullLayout.width - width) > 1) globalThis.Plotly.Plots.resize(el);
  }};
  const later = (ms) => {{ clearTimeout(timer); timer = setTimeout(fit, ms); }};
  const observer = new ResizeObserver(() => later(30));
  observer.observe(el);
  later(0);
  return () => {{ observer.disconnect(); clearTimeout(timer); }};
}}
export default async function () {{
  const mod = await plotlyWidget();
  const widget = typeof mod.default === "function" ? mod.default() : mod.default;
  return {{
    initialize: (ctx) => widget.initialize(ctx),
    render(ctx) {{
      const cleanup = widget.render(ctx);
      const stop = followWidth(ctx.model, ctx.el);
      return () => {{ stop(); if (typeof cleanup === "function") cleanup(); }};
    }},
  }};
}}
"""


_CLASS = None


def _live_figure_class():
    """The class, made on first use: ``go.FigureWidget`` imports plotly's widget machinery
    (about 1 s) and the module string reads and escapes the 5 MB bundle, which a static figure
    or an import of the package never needs."""
    global _CLASS
    if _CLASS is None:
        import plotly.graph_objects as go

        class LiveFigure(go.FigureWidget):
            """``go.FigureWidget`` with the same Python API whose front-end code loads once per
            page and whose width follows its output area."""

            _esm = _loader_esm()

        LiveFigure.__module__ = __name__
        _CLASS = LiveFigure
    return _CLASS


def __getattr__(name: str):
    if name == "LiveFigure":
        return _live_figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
