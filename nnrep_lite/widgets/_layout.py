"""The container every panel returns: its controls, status line and figures in a column.

Imports ipywidgets and plotly only (no library code). The figures' width follows the output area
in the browser (:class:`nnrep_lite.viz.live.LiveFigure` re-fits each figure to its element), so
the box needs no width of its own; it refuses a plain ``go.FigureWidget``, which would be drawn
at plotly's 700 px default and evaluate plotly's 5 MB bundle once more.
"""

from __future__ import annotations

import ipywidgets as w
import plotly.graph_objects as go

from ..viz import live

__all__ = ["panel_box", "figures_in"]


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
    """``VBox(children)``, the container of every panel; its figures must be ``LiveFigure`` s."""
    children = list(children)
    plain = [f for f in figures_in(children) if not isinstance(f, live.LiveFigure)]
    if plain:
        raise ValueError(f"panel_box got {len(plain)} plain go.FigureWidget figure(s): build live figures "
                         "with nnrep_lite.viz.style.new_figure(widget=True) or LiveFigure(fig)")
    return w.VBox(children, **kwargs)
