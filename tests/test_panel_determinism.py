"""A panel re-rendered with the same control values produces identical figure data (issue 7),
and moving a control away and back restores it."""

import json

import pytest

from nnrep_lite.densities import GaussianMixture
from nnrep_lite.widgets import bspline as bsp
from nnrep_lite.widgets.diffusion import ForwardPanel, ReversePanel
from nnrep_lite.widgets.mfld import DensityPanel, MFLDTrainingPanel
from nnrep_lite.widgets.onestep import SpikePanel


def _target():
    return GaussianMixture([[-0.5], [0.1], [0.55]], [[0.01], [0.02], [0.01]], [0.3, 0.4, 0.3])


def _figures(panel):
    figs = [v for k, v in vars(panel).items() if k.startswith("fig") and hasattr(v, "data")]
    data = [[{k: v for k, v in tr.to_plotly_json().items() if k != "uid"} for tr in fig.data] for fig in figs]
    return json.dumps(data, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o), sort_keys=True)


PANELS = [
    (lambda: bsp.DiffusionPanel(n_samples=1000, points=101, seed=2), "t", 0.3),
    (lambda: bsp.Density2DPanel(grid=15, arrows=5, seed=2), "t", 0.2),
    (lambda: ForwardPanel(_target(), n=1000, t=0.05, seed=2), "t", 0.4),
    (lambda: ReversePanel(_target(), n=500, steps=10, seed=2), "steps", 20),
    (lambda: SpikePanel(n=64, d=32, N=64, alpha=0.2, seed=2), "alpha", 0.4),
    (lambda: MFLDTrainingPanel(n_data=16, n_particles=16, steps=20, update_every=10, seed=2), "eta", 0.1),
    (lambda: DensityPanel(problem=DensityPanel.PROBLEMS[0], n_data=40, n_particles=25, steps=20, seed=2),
     "lambda2", 0.03),
]


@pytest.mark.parametrize("make, control, other", PANELS,
                         ids=["bspline1d", "bspline2d", "forward", "reverse", "spike", "mfld", "mfld_density"])
def test_same_controls_same_figures(make, control, other):
    a, b = make(), make()
    assert _figures(a) == _figures(b)
    original = a.controls[control].value
    a.controls[control].value = other
    a.controls[control].value = original
    assert _figures(a) == _figures(b)


def test_panels_reuse_work_when_a_control_moves_back():
    target, calls = _target(), []

    def score(x, t):
        calls.append(t)
        return target.score(x, t)

    panel = ReversePanel(target, score, n=500, steps=10, seed=2)
    first = len(calls)
    panel.controls["steps"].value = 20
    second = len(calls)
    assert second > first
    panel.controls["steps"].value = 10
    panel.controls["steps"].value = 20
    assert len(calls) == second  # one run per distinct setting


@pytest.mark.parametrize("make, control, other", PANELS,
                         ids=["bspline1d", "bspline2d", "forward", "reverse", "spike", "mfld", "mfld_density"])
def test_a_control_change_opens_no_new_live_figure(make, control, other):
    """An update copies data into the panel's figures: a new FigureWidget per change would open a
    widget (and its 5 MB front-end module) in the page each time."""
    from ipywidgets.widgets.widget import _instances
    from plotly.basewidget import BaseFigureWidget

    panel = make()
    before = sum(isinstance(v, BaseFigureWidget) for v in list(_instances.values()))
    panel.controls[control].value = other
    after = sum(isinstance(v, BaseFigureWidget) for v in list(_instances.values()))
    assert after == before
