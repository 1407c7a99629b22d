"""The container every panel returns: its controls, status line and figures in a column, with a
width probe so that its plotly ``FigureWidget`` s follow the output area.

Imports ipywidgets, anywidget and plotly only (no library code).

Why the probe: inside an ipywidgets box a ``FigureWidget`` is drawn before the box is attached
to the page, so plotly falls back to its default 700 px and does not re-fit when the box is
laid out (plotly/plotly.py#4027, #5208; a window ``resize`` event does not re-fit it either):
in JupyterLab at 1280x720 a figure then takes 700 of the 848 px, and two panels side by side
get 300 px each. The probe, a hidden anywidget, measures its output area with a
``ResizeObserver`` and sends the width to the kernel (the ``width`` trait) when it is attached
and whenever the area's width changes (the file browser opened or closed, the window resized);
the box then sets that width on its figures. JupyterLab and voila alike; in a static page
(the report, a reopened notebook) figures autosize as plotly does.
"""

from __future__ import annotations

import anywidget
import ipywidgets as w
import plotly.graph_objects as go
import traitlets

__all__ = ["FitWidth", "panel_box", "figures_in"]

_ESM = """
function render({ model, el }) {
  el.style.height = "0px";
  el.style.overflow = "hidden";
  const area = () => el.closest(".jp-OutputArea-output") || el.closest(".jp-Cell") || el.parentElement;
  let timer = null;
  const send = () => {
    const a = area();
    const width = a ? Math.floor(a.getBoundingClientRect().width) : 0;
    if (width > 0 && width !== model.get("width")) {
      model.set("width", width);
      model.save_changes();
    }
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(send, 80); };
  const observer = new ResizeObserver(later);
  const start = () => {
    const a = area();
    if (!a || !a.isConnected) { setTimeout(start, 100); return; }
    observer.observe(a);
    later();
  };
  setTimeout(start, 0);
  return () => observer.disconnect();
}
export default { render };
"""

#: Figures never get narrower than this (px), however narrow the output area.
MIN_WIDTH_PX = 320
#: Room left for the output area's own padding and a possible scrollbar (px).
SLACK_PX = 8


class FitWidth(anywidget.AnyWidget):
    """A hidden probe: ``width`` is the width (px) of the output area it is shown in (0 until shown)."""

    _esm = _ESM
    width = traitlets.Int(0).tag(sync=True)


def figures_in(children) -> list:
    """The ``FigureWidget`` s among ``children`` and inside their boxes, in order."""
    out = []
    for c in children:
        if isinstance(c, go.FigureWidget):
            out.append(c)
        elif isinstance(c, w.Box):
            out.extend(figures_in(c.children))
    return out


def panel_box(children, **kwargs) -> w.VBox:
    """``VBox(children)`` with a :class:`FitWidth` probe at the end whose width the box's
    ``FigureWidget`` s follow: the container of every panel (``.probe`` is the probe)."""
    children = list(children)
    probe = FitWidth()
    figures = figures_in(children)

    def fit(change):
        width = max(int(change["new"]) - SLACK_PX, MIN_WIDTH_PX)
        for fig in figures:
            if fig.layout.width != width:
                fig.layout.width = width

    probe.observe(fit, names="width")
    box = w.VBox([*children, probe], **kwargs)
    box.probe = probe
    return box
