"""The kernel score and the score-error experiment (issue 17: the quantity the proof controls)."""

import math

import pytest
import torch

from nnrep_lite import diffusion as dm
from nnrep_lite.densities import GaussianMixture


@pytest.fixture(autouse=True)
def _cache_in_tmp(monkeypatch, tmp_path):
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))  # score_error_experiment caches its rows


@pytest.mark.parametrize("t", [1e-3, 0.05, 1.0])
def test_kernel_score_is_the_gradient_of_log_of_its_diffused_density(t):
    data = torch.tensor([[-0.4], [0.1], [0.15], [0.7]], dtype=torch.float64)
    est = dm.kde(data, bandwidth=0.2)
    x = torch.linspace(-1.2, 1.2, 9, dtype=torch.float64)[:, None]
    eps = 1e-5
    fd = (torch.log(est.diffused_density(x + eps, t)) - torch.log(est.diffused_density(x - eps, t))) / (2 * eps)
    assert torch.allclose(est.score(x, t)[:, 0].to(torch.float64), fd, rtol=1e-6, atol=1e-6)


def test_score_error_of_the_exact_score_is_zero():
    target = GaussianMixture([[-0.5], [0.4]], [[0.02], [0.03]], [0.5, 0.5])
    b = dm.girsanov_kl_bound(target.score, target, t_min=1e-3, t_max=5.0, n_mc=256, n_times=16, generator=0)
    assert b["score_term"] == 0.0


def test_score_error_experiment_falls_with_n_and_rows_are_complete():
    target = GaussianMixture([[-0.5], [0.4]], [[0.02], [0.03]], [0.5, 0.5])
    rows = dm.score_error_experiment(target, [50, 800], smoothness=2.0, seeds=[0, 1], n_mc=512, n_times=16)
    assert len(rows) == 4 and {r["n"] for r in rows} == {50, 800}
    for r in rows:
        assert r["estimator"] == "kde" and r["metric"] == "score error"
        assert r["error"] > 0 and r["error_se"] >= 0 and 0 < r["tv_bound"] < 1 and r["bandwidth"] > 0
    mean = {n: sum(r["error"] for r in rows if r["n"] == n) / 2 for n in (50, 800)}
    assert mean[800] < mean[50]
    # the same as the bound's score term (times 4) for the KDE rate_experiment fits
    again = dm.score_error_experiment(target, [50], smoothness=2.0, seeds=[0], n_mc=512, n_times=16, cache=False)
    assert math.isclose(again[0]["error"], rows[0]["error"], rel_tol=1e-12)


@pytest.mark.parametrize("kwargs, name", [({"smoothness": 0.0}, "smoothness"), ({"smoothness": 1.0, "ns": [1]}, "ns"),
                                          ({"smoothness": 1.0, "t_min": -1.0}, "t_min")])
def test_score_error_experiment_refuses_bad_input(kwargs, name):
    target = GaussianMixture([[0.0]], [[0.05]])
    args = {"ns": [50], **kwargs}
    with pytest.raises(ValueError, match=name):
        dm.score_error_experiment(target, args.pop("ns"), seeds=[0], n_mc=64, n_times=4, **args)
