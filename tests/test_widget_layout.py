"""The panels' container: its width probe makes the FigureWidgets follow the output area."""

import ipywidgets as w
import plotly.graph_objects as go

from nnrep_lite.widgets._layout import MIN_WIDTH_PX, SLACK_PX, FitWidth, figures_in, panel_box


def test_figures_in_finds_figure_widgets_inside_boxes_in_order():
    a, b = go.FigureWidget(), go.FigureWidget()
    children = [w.IntSlider(), w.HBox([w.HTML(), a]), w.VBox([w.VBox([b])]), go.Figure()]
    assert figures_in(children) == [a, b]


def test_panel_box_sets_the_probed_width_on_its_figures():
    a, b = go.FigureWidget(), go.FigureWidget()
    box = panel_box([w.IntSlider(), a, w.HBox([b])])
    assert isinstance(box.children[-1], FitWidth)
    assert a.layout.width is None and b.layout.width is None  # autosize until the page reports
    box.probe.width = 848
    assert a.layout.width == b.layout.width == 848 - SLACK_PX
    box.probe.width = 600  # the output area narrowed (file browser opened)
    assert a.layout.width == 600 - SLACK_PX
    box.probe.width = 100
    assert b.layout.width == MIN_WIDTH_PX
