"""LiveFigure: plotly's FigureWidget with a front-end module that evaluates plotly's bundle once
per page (the browser side is checked in test_browser.py: one evaluation per page)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly
import plotly.graph_objects as go

from nnrep_lite.viz import style
from nnrep_lite.viz.live import LiveFigure, plotly_bundle_path

PACKAGE = Path(__file__).resolve().parents[1] / "nnrep_lite"


def test_live_figure_is_a_figure_widget_with_the_bundle_inside():
    fig = LiveFigure(go.Figure(go.Scatter(x=[0, 1], y=[1, 2])))
    assert isinstance(fig, go.FigureWidget)
    assert fig.data[0].y == (1, 2)
    esm = fig._esm
    bundle = plotly_bundle_path().read_text(encoding="utf-8")
    assert len(esm) > len(bundle)  # the bundle, escaped, as one string literal
    assert f"__nnrep_plotly_widget_{plotly.__version__}" in esm
    assert "export default" in esm and "globalThis[KEY]" in esm
    # the loader reuses plotly's own default export, a factory (one instance per model)
    assert re.search(r"export\{[^}]*as default\}", bundle)


def test_style_builders_return_live_figures():
    assert isinstance(style.new_figure(widget=True), LiveFigure)
    assert isinstance(style.subplots(2, widget=True), LiveFigure)
    assert not isinstance(style.new_figure(), go.FigureWidget)


def test_no_plain_figure_widget_in_the_package():
    """Every live figure goes through LiveFigure (a plain FigureWidget costs a bundle evaluation)."""
    offenders = [
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in PACKAGE.rglob("*.py") if p.name != "live.py"
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\bFigureWidget\(", line)
    ]
    assert offenders == []
