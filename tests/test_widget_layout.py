"""The panels' container: a column of controls and live figures (whose width follows the output
area in the browser: see tests/test_browser.py)."""

import ipywidgets as w
import plotly.graph_objects as go
import pytest

from nnrep_lite.viz.live import LiveFigure
from nnrep_lite.widgets._layout import figures_in, panel_box


def test_figures_in_finds_figure_widgets_inside_boxes_in_order():
    a, b = LiveFigure(), go.FigureWidget()
    children = [w.IntSlider(), w.HBox([w.HTML(), a]), w.VBox([w.VBox([b])]), go.Figure()]
    assert figures_in(children) == [a, b]


def test_panel_box_keeps_its_children_and_sets_no_width():
    a, b = LiveFigure(), LiveFigure()
    slider = w.IntSlider()
    box = panel_box([slider, a, w.HBox([b])])
    assert isinstance(box, w.VBox) and box.children[:2] == (slider, a)
    assert a.layout.width is None and b.layout.width is None  # autosize: the page decides


def test_panel_box_refuses_a_plain_figure_widget():
    with pytest.raises(ValueError, match="plain go.FigureWidget"):
        panel_box([w.IntSlider(), w.VBox([go.FigureWidget()])])
