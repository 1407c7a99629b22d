"""The SG-MFLD complexity experiment (optimal batch size), the SG-excess measurement and SVRG's
variance profile: cost counting against the loop, closed-form pieces, the panel."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnrep_lite import mfld as M
from nnrep_lite.mfld.complexity import _first_reach


def _objective(n=32, seed=0):
    z, y = M.make_regression(n, 1, noise=0.2, generator=seed)
    return M.Regression(z, y, lambda1=0.01)


def test_complexity_cost_counting_matches_the_loops_grad_evals():
    obj = _objective()
    out = M.batch_complexity_experiment(obj, [4, 16, 32], eps=0.02, alpha=0.05, lambda2=0.002, plateau=0.02,
                                        eta_max=0.2, horizon=20, n_particles=16, replicas=2, every=5,
                                        max_steps=3000)
    for b, step, cost, steps, total in zip(out["batch_sizes"], out["reach_step"], out["cost"], out["steps"],
                                           out["grad_evals_total"]):
        frac = b / 32
        assert total == pytest.approx(steps * frac)  # the loop's own count over the run
        if step is not None:
            assert cost == pytest.approx(step * frac)  # steps before the hit x B / n
    # the same counting read off a plain run of the loop
    rep = M.ReplicatedRegression(obj, 2)
    x0 = obj.model.init_particles(32, 1, generator=0)
    _, hist = M.mfld(rep, x0, eta=0.1, lambda2=0.002, steps=40, batch_size=8, generator=1, record_every=5,
                     progress=False)
    step, cost = _first_reach(hist, hist["F"][3] + 1e-15, 8 / 32)
    assert step == hist["step"][3] == 15 and cost == pytest.approx(hist["grad_evals"][3] - 0.25) == 15 * 0.25
    assert _first_reach(hist, -1.0, 0.25) == (None, math.inf)


def test_eta_for_accuracy_and_predicted_batch():
    kw = dict(alpha=0.04, lambda2=0.002, n=256, eta_max=0.2)
    eps = 0.01
    b_star = M.predicted_best_batch(eps, alpha=0.04, lambda2=0.002, n=256)
    assert b_star == pytest.approx(math.sqrt(0.04 / (0.002 * eps)))
    # below B* the stochastic-gradient limit binds (eta ~ B^2), above it eps/alpha; B = n: no SG limit
    assert M.eta_for_accuracy(eps, batch_size=4, **kw) == pytest.approx(
        (0.002 * eps / 0.04) ** 2 / (0.002 * M.sg_factor(256, 4) ** 2))
    assert M.eta_for_accuracy(0.004, batch_size=128, **kw) == pytest.approx(0.004 / 0.04)
    assert M.eta_for_accuracy(0.5, batch_size=256, **kw) == 0.2
    assert M.predicted_best_batch(1e-6, alpha=0.04, lambda2=0.002, n=256) == 256
    with pytest.raises(ValueError, match="eps"):
        M.eta_for_accuracy(0.0, batch_size=4, **kw)


def test_lsi_constant_from_an_exact_exponential():
    k = np.arange(0, 1000, 10)
    rate = 0.01
    f = 0.5 + 0.03 * np.exp(-rate * k)
    out = M.lsi_constant_from_rate(k, f, 0.5, eta=0.2, lambda2=0.002)
    assert out["rate"] == pytest.approx(rate, rel=1e-9)
    assert out["alpha"] == pytest.approx(0.002 * 0.2 / rate, rel=1e-9)
    with pytest.raises(ValueError, match="values"):
        M.lsi_constant_from_rate(k[:2], f[:2], 0.5, eta=0.2, lambda2=0.002)


def test_replicated_batches_are_independent_per_replica_and_exact():
    obj = _objective(24)
    rep = M.ReplicatedRegression(obj, 3)
    x = obj.model.init_particles(15, 1, generator=2)
    g = torch.Generator().manual_seed(0)
    batch = rep.draw_batch(5, g, "cpu")
    assert batch.shape == (3, 5) and all(len(set(row.tolist())) == 5 for row in batch)
    assert not torch.equal(batch[0], batch[1])
    grad = rep._value_and_grad(x, batch)[1].reshape(3, 5, -1)
    for r in range(3):
        torch.testing.assert_close(grad[r], obj.first_variation_grad(x[5 * r:5 * (r + 1)], batch[r]))
    assert rep.draw_batch(24, g, "cpu") is None


def test_svrg_variance_profile_starts_at_zero_and_grows():
    obj = _objective()
    x = obj.model.init_particles(32, 1, generator=0)
    x, _ = M.mfld(obj, x, eta=0.2, lambda2=0.002, steps=100, generator=0, progress=False)
    prof = M.svrg_variance_profile(obj, x, eta=0.2, lambda2=0.002, period=6, generator=1)
    assert prof["svrg"][0] == 0.0 and prof["svrg"][-1] > prof["svrg"][1] > 0
    assert prof["svrg_mean"] < prof["sg_mean"]
    # SG's variance is that of one sample: a batch of B scales it by (n-B)/(B(n-1))
    a = torch.stack([obj.first_variation_grad(x, torch.tensor([j])) - 2 * obj.lambda1 * x for j in range(32)])
    assert prof["sg"][0] == pytest.approx(float(((a - a.mean(0)) ** 2).sum(2).mean()))
    gain = M.predicted_svrg_gain(prof, 32, 2, 0.3)
    assert gain == pytest.approx(M.sg_factor(32, 0.3 * 32) * prof["sg_mean"] / (M.sg_factor(32, 2) * prof["svrg_mean"]))


def test_fit_with_interval():
    xs = np.array([1.0, 0.25, 0.06, 0.012])
    fit = M.fit_with_interval(xs, 3e-4 * xs)
    assert fit["slope"] == pytest.approx(1.0) and fit["interval"][0] <= 1.0 <= fit["interval"][1]
    two = M.fit_with_interval(xs[:2], xs[:2])
    assert math.isnan(two["stderr"]) and math.isnan(two["interval"][0])


def test_complexity_panel_moves_with_eps():
    pytest.importorskip("ipywidgets")
    from nnrep_lite.viz import style
    from nnrep_lite.widgets.mfld import BatchComplexityPanel

    obj = _objective()
    results = {e: M.batch_complexity_experiment(obj, [4, 16, 32], eps=e, alpha=0.05, lambda2=0.002,
                                                plateau=0.02, eta_max=0.2, horizon=10, n_particles=8,
                                                replicas=2, max_steps=1000) for e in (0.01, 0.03)}
    panel = BatchComplexityPanel(results, eps=0.01)
    title = panel.fig.layout.title.text
    panel.controls["eps"].value = 0.03
    assert panel.fig.layout.title.text != title and "0.03" in panel.status.value
    assert style.latex_in_labels(panel.fig) == [] and style.fixed_width(panel.fig) is None
    with pytest.raises(ValueError, match="eps"):
        BatchComplexityPanel(results, eps=0.5)
