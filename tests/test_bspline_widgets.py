"""Notebook 03 panels, headless: moving a control changes the figure; errors land in the panel."""

import json

import pytest

from nnrep_lite.widgets import bspline as panels


def _snapshot(fig) -> str:
    data = [{k: v for k, v in d.to_plotly_json().items() if k != "uid"} for d in fig.data]
    return json.dumps(data,
                      default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


@pytest.mark.parametrize(
    "make, control, value",
    [
        (lambda: panels.OrderPanel(order=3, points=201), "order", 5),
        (lambda: panels.DecompositionPanel(max_level=6, n_terms=8, points=201), "n_terms", 40),
        (lambda: panels.DecompositionPanel(max_level=6, points=201), "function", "cusp |x|^s"),
        (lambda: panels.DiffusionPanel(n_samples=2000, points=201), "t", 0.5),
        (lambda: panels.Density2DPanel(grid=21, arrows=7), "t", 0.4),
    ],
)
def test_control_changes_figure(make, control, value):
    panel = make()
    before = _snapshot(panel.fig)
    panel.controls[control].value = value
    assert _snapshot(panel.fig) != before
    assert "error" not in panel.status.value


def test_same_controls_same_figure():
    a = panels.DecompositionPanel(max_level=6, n_terms=20, points=101, seed=3)
    b = panels.DecompositionPanel(max_level=6, n_terms=20, points=101, seed=3)
    assert _snapshot(a.fig) == _snapshot(b.fig)


def test_decomposition_panel_reports_rate_and_error():
    panel = panels.DecompositionPanel(function="random Besov", smoothness=1.0, max_level=6, points=101)
    assert "slope" in panel.status.value
    assert panel.result["error"] > 0
    panel.controls["n_terms"].value = panel.controls["n_terms"].max  # every term: error ~ 0
    assert panel.result["error"] < 1e-10
