"""Headless tests of the diffusion panels and figures: moving a control changes the figure."""

import pytest
import torch

from nnrep_lite.densities import GaussianMixture
from nnrep_lite.diffusion import ScoreMLP, rate_experiment, score_error_grid, train_score
from nnrep_lite.viz import diffusion as viz
from nnrep_lite.widgets.diffusion import ForwardPanel, LossMonitor, RatePanel, ReversePanel


@pytest.fixture(scope="module")
def target():
    return GaussianMixture([[-0.5], [0.1], [0.55]], [[0.01], [0.02], [0.01]], [0.3, 0.4, 0.3])


def test_forward_panel_t_slider_moves_histogram_and_curves(target):
    p = ForwardPanel(target, n=2000, t=0.01)
    before = [tuple(tr.y) for tr in p.fig.data]
    p.controls["t"].value = 1.0
    after = [tuple(tr.y) for tr in p.fig.data]
    assert all(b != a for b, a in zip(before, after))
    assert "μ<sub>t</sub>" in p.status.value
    # the update sends exactly what a fresh figure at t = 1 holds
    fresh = viz.forward_figure(p.x_grid, *p._compute(1.0), t=1.0, bins=p.bins, bounds=p.bounds, widget=False)
    assert [(list(a.x), list(a.y)) for a in p.fig.data] == [(list(b.x), list(b.y)) for b in fresh.data]
    assert p.fig.layout.title.text == fresh.layout.title.text


def test_reverse_panel_controls_and_error_status(target):
    p = ReversePanel(target, n=2000, steps=20)
    tv0 = p.result["tv"]
    hist0 = tuple(p.fig.data[0].y)
    p.controls["steps"].value = 60
    assert tuple(p.fig.data[0].y) != hist0 and p.result["steps"] == 60
    p.controls["t_min"].value = 0.1
    assert p.result["early_stopping_tv"] > 0.05  # visible early-stopping error at t_min = 0.1
    assert p.result["tv"] != tv0
    p.controls["t_max"].value = 1.0
    assert p.result["truncation_tv"] > 0.05
    # library errors are shown, not raised: a score of the wrong shape
    bad = ReversePanel(target, n=500, steps=5)
    bad.score_fn = lambda x, t: torch.zeros(x.shape[0], 2)
    bad.controls["steps"].value = 10
    assert "error" in bad.status.value and "score_fn" in bad.status.value


def test_reverse_panel_t_min_stops_one_chain(target):
    """t_min stops one chain on the grid from t_max to 1e-4: on a grid time the samples are
    reverse_sde_sample's on that part of the grid; off the grid a last shorter step lands on
    t_min; moving t_min up evaluates no new score, moving it down only the missing steps."""
    from nnrep_lite.diffusion import reverse_sde_sample, sde_update, time_grid

    calls = []

    def score(x, t):
        calls.append(t)
        return target.score(x, t)

    p = ReversePanel(target, score, n=300, steps=40, t_min=1e-2, seed=4, preview_n=0)  # no table: calls counted
    grid = time_grid(8.0, 1e-4, 40).tolist()
    assert p._chain["ts"] == grid
    last = max(k for k, t in enumerate(grid) if t >= 1e-2)
    assert p.result["steps_taken"] == last + 1 and len(calls) == last + 1
    # on a grid time: the sampler on the first k steps of the grid, to rounding
    k = 30
    c = {name: ctl.value for name, ctl in p.controls.items()}
    got, taken = p._sample(dict(c, t_min=grid[k]))
    ref = reverse_sde_sample(target.score, 300, 1, t_max=8.0, t_min=grid[k], steps=k, generator=4,
                             device="cpu", dtype=torch.float64)
    assert taken == k
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    # off the grid: the k-th state and score, a step of length grid[k] - t_min, the k-th noise
    ch = p._chain
    t_off = 0.5 * (grid[k] + grid[k + 1])
    got, taken = p._sample(dict(c, t_min=t_off))
    want = sde_update(ch["ys"][k], ch["scores"][k], grid[k] - t_off, ch["noises"][k])
    assert taken == k + 1 and torch.equal(got, want)
    # the slider: up needs no new score, down only the grid steps not yet computed
    n_calls = len(calls)
    p.controls["t_min"].value = 10 ** -1.0
    assert len(calls) == n_calls
    p.controls["t_min"].value = 10 ** -3.0
    lower = max(k for k, t in enumerate(grid) if t >= 1e-3)
    assert len(calls) == lower + 1 and p.result["steps_taken"] == lower + 1
    # another control restarts the chain on its grid
    p.controls["steps"].value = 20
    assert p._chain["ts"] == time_grid(8.0, 1e-4, 20).tolist()


def test_loss_monitor_and_heatmap(target):
    mon = LossMonitor()
    model = ScoreMLP(1, width=16, depth=1, seed=0)
    train_score(model, target.sample(200, torch.Generator().manual_seed(0)), steps=20, batch_size=32,
                callback=mon.callback, callback_every=5, progress=False)
    assert tuple(mon.fig.data[0].x) == (5, 10, 15, 20)
    xs, ts, err = score_error_grid(model, target, n_x=20, n_t=10)
    assert err.shape == (10, 20)
    fig = viz.score_error_heatmap(xs, ts, err)
    assert fig.layout.yaxis.type == "log"


def test_rate_panel_switches_experiment(tmp_path, monkeypatch, target):
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    rows = rate_experiment(target, [50, 200, 800], seeds=[0, 1], estimators=("kde", "empirical"),
                           metric="w1", smoothness=2.0, n_eval=500, progress=False)
    rows_tv = rate_experiment(target, [50, 200, 800], seeds=[0, 1], estimators=("kde",), metric="tv",
                              smoothness=2.0, n_eval=2000, progress=False)
    p = RatePanel({"W1": {"rows": rows, "metric": "W1", "theory": {"kde": (-0.4, "n<sup>−s/(2s+d)</sup>")}},
                   "TV": {"rows": rows_tv, "metric": "TV"}})
    assert {tr.name.split(" ")[0] for tr in p.fig.data if tr.name} >= {"kde", "empirical"}
    assert "slope" in p.status.value
    n_slots = len(p.fig.data)
    sent = []
    for name in ("_send_addTraces_msg", "_send_deleteTraces_msg", "_send_update_msg", "_send_restyle_msg"):
        monkeypatch.setattr(p.fig, name, (lambda nm, f: lambda *a, **k: (sent.append(nm), f(*a, **k))[1])(
            name, getattr(p.fig, name)))
    p.controls["experiment"].value = "TV"
    assert sent == ["_send_update_msg"]  # fewer traces: the same slots refilled, one message
    assert len(p.fig.data) == n_slots and p.fig.layout.yaxis.title.text.startswith("TV")
    assert p.fig.layout.xaxis.type == "log"

    def shown(fig):
        return [(t.name, list(t.y), t.mode, t.fill) for t in fig.data if t.visible is not False]

    assert shown(p.fig) == shown(p._figure())  # what is drawn is the fresh figure, nothing left over
    sent.clear()
    p.controls["experiment"].value = "W1"
    assert sent == ["_send_update_msg"] and shown(p.fig) == shown(p._figure())
    # the same traces with other values are updated in place: the result equals a fresh figure
    p.experiments["TV (s = 1 theory)"] = {"rows": rows_tv, "metric": "TV", "theory": {"kde": (-1 / 3, "n<sup>−1/3</sup>")}}
    p.experiments["TV"]["theory"] = {"kde": (-0.4, "n<sup>−2/5</sup>")}
    p.controls["experiment"].options = list(p.experiments)
    p.controls["experiment"].value = "TV"
    p.controls["experiment"].value = "TV (s = 1 theory)"
    assert shown(p.fig) == shown(p._figure())


def test_reverse_panel_draws_a_preview_then_the_same_result_as_without():
    target = GaussianMixture([[-0.5], [0.4]], [[0.02], [0.03]], [0.5, 0.5])
    a = ReversePanel(target, n=2000, steps=10, seed=3, preview_n=100)
    b = ReversePanel(target, n=2000, steps=10, seed=3, preview_n=0)
    assert a._table is not None and b._table is None
    drawn = []
    draw = a._draw
    a._draw = lambda samples: (drawn.append((samples.clone(), a.status.value)), draw(samples))
    a.controls["steps"].value = 20
    b.controls["steps"].value = 20
    # 1-D: the preview is the same chain (n samples, the same noise) with the tabulated score
    assert [x.shape[0] for x, _ in drawn] == [2000, 2000]
    assert "measured TV" in a.status.value
    assert list(a.fig.data[0].y) == list(b.fig.data[0].y) and a.status.value == b.status.value
    preview, exact = drawn[0][0], drawn[1][0]
    assert float((preview - exact).abs().max()) < 0.05  # a close preview, not the exact chain
    assert not torch.equal(preview, exact)
    drawn.clear()
    a.controls["t_min"].value = 1e-2  # only where the chain stops: no preview
    assert [x.shape[0] for x, _ in drawn] == [2000]
    # without a table (e.g. a target of dim > 1) the preview is the exact chain on preview_n samples
    a._table = None
    drawn.clear()
    statuses = []
    a._draw = lambda samples: (drawn.append((samples.clone(), None)), statuses.append(a.status.value), draw(samples))
    a.controls["t_max"].value = 6.0
    assert [x.shape[0] for x, _ in drawn] == [100, 2000]


def test_reverse_panel_previews_a_t_min_far_below_the_computed_chain():
    target = GaussianMixture([[-0.5], [0.4]], [[0.02], [0.03]], [0.5, 0.5])
    a = ReversePanel(target, n=2000, steps=40, seed=3, t_min=0.3)
    b = ReversePanel(target, n=2000, steps=40, seed=3, t_min=0.3, preview_n=0)
    drawn = []
    draw = a._draw
    a._draw = lambda samples: (drawn.append(a.status.value), draw(samples))
    a.controls["t_min"].value = 1e-3  # many grid steps not computed yet: a preview first
    b.controls["t_min"].value = 1e-3
    assert len(drawn) == 2 and "preview" in drawn[0] and "tabulated" in drawn[0]
    assert list(a.fig.data[0].y) == list(b.fig.data[0].y) and a.status.value == b.status.value
