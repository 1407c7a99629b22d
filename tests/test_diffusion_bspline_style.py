"""Projector style of the diffusion and B-spline figures and panels (notebooks 00-03): no LaTeX
in any label, no fixed width, at most two panels a row, legends inside the figure."""

import pytest

from nnrep_lite.densities import GaussianMixture
from nnrep_lite.viz import style
from nnrep_lite.widgets import bspline as bpanels
from nnrep_lite.widgets import diffusion as dpanels


def _target():
    return GaussianMixture([[-0.5], [0.1], [0.55]], [[0.01], [0.02], [0.01]], [0.3, 0.4, 0.3])


def _panels():
    target = _target()
    made = [
        bpanels.OrderPanel(order=3, points=201),
        bpanels.DecompositionPanel(max_level=6, n_terms=8, points=201),
        bpanels.DiffusionPanel(n_samples=2000, points=201),
        bpanels.Density2DPanel(grid=21, arrows=7),
    ]
    made += [dpanels.ForwardPanel(target, n=2000), dpanels.ReversePanel(target, n=2000, steps=10)]
    return made


def _columns(fig) -> int:
    """The number of subplot columns (distinct x domains starting at different places)."""
    layout = fig.to_plotly_json()["layout"]
    starts = {round(v["domain"][0], 3) for k, v in layout.items()
              if k.startswith("xaxis") and isinstance(v, dict) and "domain" in v}
    return max(1, len(starts))


@pytest.mark.parametrize("panel", _panels(), ids=lambda p: type(p).__name__)
def test_panel_figures_follow_the_projector_style(panel):
    fig = panel.fig
    assert style.latex_in_labels(fig) == []
    assert style.fixed_width(fig) is None
    assert _columns(fig) <= 2
    legend = fig.layout.showlegend is False or fig.layout.legend.orientation == "h" or (
        0 <= fig.layout.legend.x <= 1)
    assert legend


def test_decomposition_titles_are_not_overdrawn():
    """The heatmap has its own row: no axis title of another panel sits over it."""
    fig = bpanels.DecompositionPanel(max_level=6, n_terms=8, points=201).fig
    heat = [tr for tr in fig.data if tr.type == "heatmap"][0]
    assert heat.xaxis in (None, "x") and fig.layout.xaxis.domain[1] - fig.layout.xaxis.domain[0] > 0.9
    assert fig.layout.yaxis3.title.text.startswith("‖f") and fig.layout.yaxis3.type == "log"
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == 3 and all(titles)
