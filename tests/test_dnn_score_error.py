"""The DNN score error against n (issue 17): size rule, fresh-sample trainer (n = infinity),
the score-error measurement, the experiment's rows and its input checks."""

import math

import pytest
import torch

from nnrep_lite import diffusion as dm
from nnrep_lite.densities import GaussianMixture

TINY = {"base_width": 2.0, "base_steps": 5.0, "base_batch": 4.0}


def _target():
    return GaussianMixture([[-0.5], [0.4]], [[0.02], [0.03]], [0.5, 0.5])


@pytest.mark.parametrize("s, d", [(1.0, 1), (2.0, 1), (1.0, 3)])
def test_size_rule_matches_its_formula_and_grows_with_n(s, d):
    prev = None
    for n in (125, 500, 2000, 8000, 32000):
        r = dm.dnn_size_rule(n, smoothness=s, dim=d)
        big_n = n ** (d / (2 * s + d))
        assert math.isclose(r["n_basis"], big_n, rel_tol=1e-12)
        assert r["width"] == math.ceil(16 * math.sqrt(big_n))
        assert r["steps"] == math.ceil(600 * math.sqrt(big_n))
        assert r["batch_size"] == math.ceil(64 * big_n)
        assert math.isclose(r["x_max_frequency"], max(1.0, big_n ** (1 / d)), rel_tol=1e-12)
        if prev is not None:
            for key in ("n_basis", "width", "steps", "batch_size", "x_max_frequency"):
                assert r[key] >= prev[key], key
            assert r["n_basis"] > prev["n_basis"] and r["batch_size"] > prev["batch_size"]
        prev = r
    # the documented point: s = 1, d = 1, n = 8000 -> N = 20
    r = dm.dnn_size_rule(8000, smoothness=1.0)
    assert (r["width"], r["steps"], r["batch_size"]) == (72, 2684, 1280) and math.isclose(r["x_max_frequency"], 20.0)


@pytest.mark.parametrize("kwargs, name", [({"n": 1}, "n"), ({"smoothness": 0.0}, "smoothness"),
                                          ({"dim": 0}, "dim"), ({"base_width": 0.0}, "base_width"),
                                          ({"base_steps": -1.0}, "base_steps"), ({"base_batch": 0.0}, "base_batch"),
                                          ({"frequency_scale": 0.0}, "frequency_scale")])
def test_size_rule_refuses_bad_input(kwargs, name):
    args = {"n": 100, "smoothness": 1.0, **kwargs}
    with pytest.raises(ValueError, match=name):
        dm.dnn_size_rule(args.pop("n"), **args)


def test_fresh_sample_trainer_draws_new_samples_every_step():
    target = _target()
    calls = []

    def sampler(b, g):
        x = target.sample(b, g)
        calls.append(x.clone())
        return x

    model = dm.ScoreMLP(1, 8, 1, seed=0)
    dm.train_score(model, sampler, steps=6, batch_size=5, generator=0, progress=False)
    assert len(calls) == 6 and all(c.shape == (5, 1) for c in calls)
    flat = torch.cat(calls)[:, 0]
    assert torch.unique(flat).numel() == 30  # no point is ever reused


def test_train_fresh_score_model_samples_the_target_each_step(monkeypatch, tmp_path):
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    target = _target()
    seen = []
    orig = target.sample

    def counting(n, generator=None):
        x = orig(n, generator)
        seen.append(x.clone())
        return x

    monkeypatch.setattr(target, "sample", counting)
    model, info = dm.train_fresh_score_model(target, seed=1, device="cpu", steps=4, batch_size=3, width=4, depth=1)
    assert not info["cached"] and len(seen) == 4 and torch.unique(torch.cat(seen)).numel() == 12
    seen.clear()
    _, info = dm.train_fresh_score_model(target, seed=1, device="cpu", steps=4, batch_size=3, width=4, depth=1)
    assert info["cached"] and not seen  # the second call loads the cached model


def test_fresh_sampler_must_return_batch_size_rows():
    model = dm.ScoreMLP(1, 4, 1, seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        dm.train_score(model, lambda b, g: torch.zeros(b + 1, 1), steps=2, batch_size=3, progress=False)


def test_score_error_of_the_exact_score_is_zero_and_of_an_offset_score_is_known():
    target = _target()
    exact = dm.integrated_score_error(target.score, target, t_min=1e-3, t_max=4.0, n_mc=512, n_times=32, generator=0)
    assert exact["error"] < 1e-20
    # s = exact + c: the integrand is c^2 at every t, so the integral is c^2 (T - t_min)
    c = 0.3
    off = dm.integrated_score_error(lambda x, t: target.score(x, t) + c, target, t_min=1e-3, t_max=4.0, n_mc=512,
                                    n_times=64, generator=0)
    assert off["error"] == pytest.approx(c**2 * (4.0 - 1e-3), rel=0.02)
    assert off["tv_bound"] > exact["tv_bound"]


def test_ema_and_lr_final_are_checked_and_ema_changes_the_weights():
    data = _target().sample(64, 0)
    with pytest.raises(ValueError, match="ema"):
        dm.train_score(dm.ScoreMLP(1, 4, 1, seed=0), data, steps=2, ema=1.0, progress=False)
    with pytest.raises(ValueError, match="lr_final"):
        dm.train_score(dm.ScoreMLP(1, 4, 1, seed=0), data, steps=2, lr_final=-0.1, progress=False)
    a, b = dm.ScoreMLP(1, 4, 1, seed=0), dm.ScoreMLP(1, 4, 1, seed=0)
    dm.train_score(a, data, steps=20, batch_size=8, generator=0, progress=False)
    dm.train_score(b, data, steps=20, batch_size=8, generator=0, progress=False, ema=0.9)
    assert not torch.equal(a.net[-1].weight, b.net[-1].weight)


def test_fourier_features_shape_and_values():
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    f = dm.fourier_features(x, 3, 4.0)
    assert f.shape == (1, 12)
    assert torch.allclose(f[0, :3], torch.sin(0.5 * torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)))
    m = dm.ScoreMLP(2, 8, 2, x_features=3, x_max_frequency=4.0, seed=0)
    assert m(torch.zeros(5, 2), 0.1).shape == (5, 2)
    with pytest.raises(ValueError, match="x_max_frequency"):
        dm.ScoreMLP(1, 8, x_features=2, x_max_frequency=0.5)


def test_experiment_rows_floor_and_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    target = _target()
    kw = dict(smoothness=1.0, seeds=[0, 1], floor_seeds=[0], size_rule=TINY, n_mc=128, n_times=8, device="cpu")
    rows = dm.dnn_score_error_experiment(target, [50, 400], **kw)
    assert len(rows) == 6
    for r in rows:
        assert r["metric"] == "score error" and r["error"] > 0 and r["error_se"] >= 0 and 0 < r["tv_bound"]
        rule = dm.dnn_size_rule(r["n"], smoothness=1.0, **TINY)
        assert (r["width"], r["steps"], r["batch_size"]) == (rule["width"], rule["steps"], rule["batch_size"])
    assert sorted({r["estimator"] for r in rows}) == ["dnn", "dnn floor (fresh samples)"]
    band = dm.floor_band(rows)
    assert band["n"] == [50, 400] and len(band["mean"]) == 2 and all(v > 0 for v in band["sd"])
    again = dm.dnn_score_error_experiment(target, [50, 400], **kw)
    assert all(r["cached"] for r in again) and [r["error"] for r in again] == [r["error"] for r in rows]


@pytest.mark.parametrize("kwargs, name", [({"smoothness": 0.0}, "smoothness"), ({"ns": [1]}, "ns"),
                                          ({"seeds": [-1]}, "seeds"), ({"floor_seeds": [-1]}, "floor_seeds"),
                                          ({"width": 8}, "train_kwargs"), ({"bogus": 1}, "train_kwargs"),
                                          ({"size_rule": {"n": 5}}, "size_rule"),
                                          ({"size_rule": {"base_width": 0.0}}, "base_width")])
def test_experiment_refuses_bad_input(kwargs, name):
    args = {"ns": [50], "smoothness": 1.0, **kwargs}
    with pytest.raises(ValueError, match=name):
        dm.dnn_score_error_experiment(_target(), args.pop("ns"), n_mc=16, n_times=4, cache=False, device="cpu", **args)


def test_new_training_options_at_their_defaults_keep_the_old_cache_keys(monkeypatch, tmp_path):
    """Caches written before lr_final, ema and the Fourier features existed stay valid: at their
    defaults the keys leave them out (and training is unchanged)."""
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    data = _target().sample(32, 0)
    old_cfg = {"width": 4, "depth": 1, "steps": 3, "batch_size": 8, "lr": 2e-3, "t_min": 1e-3, "t_max": 8.0,
               "time_sampling": "log_uniform", "weighting": "sigma2", "lr_decay": True, "weight_decay": 0.0}
    key = dm.fingerprint({"what": "ScoreMLP/dsm", "data": data, "seed": 0, "cfg": old_cfg, "device": "cpu"})
    dm.train_diffusion_model(data, seed=0, device="cpu", width=4, depth=1, steps=3, batch_size=8)
    assert (tmp_path / "models" / f"{key}.pt").exists()
    _, info = dm.train_diffusion_model(data, seed=0, device="cpu", width=4, depth=1, steps=3, batch_size=8, ema=0.5)
    assert not info["cached"]  # a non-default value is part of the key


def test_kernel_score_error_rows_are_cached(monkeypatch, tmp_path):
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    target = _target()
    rows = dm.score_error_experiment(target, [50], smoothness=1.0, seeds=[0], n_mc=64, n_times=8)
    assert list((tmp_path / "rates").glob("*.pt"))
    fresh = dm.score_error_experiment(target, [50], smoothness=1.0, seeds=[0], n_mc=64, n_times=8, cache=False)
    assert fresh == rows


def test_rate_experiment_grows_the_network_by_the_rule_and_shares_its_models(monkeypatch, tmp_path):
    """rate_experiment(size_rule=...) trains each n's network at the rule's budget with DNN_TRAIN:
    the rows say which, and dnn_score_error_experiment at the same (n, seed) finds the model cached."""
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    target = _target()
    rows = dm.rate_experiment(target, [100, 400], seeds=[0], metric="tv", estimators=("diffusion",),
                              smoothness=1.0, size_rule=TINY, n_eval=500, sample_steps=5, progress=False)
    for r in rows:
        rule = dm.dnn_size_rule(r["n"], smoothness=1.0, **TINY)
        assert (r["width"], r["steps"], r["batch_size"]) == (rule["width"], rule["steps"], rule["batch_size"])
    assert rows[0]["width"] < rows[1]["width"] or rows[0]["steps"] < rows[1]["steps"]
    trained = []
    real = dm.rates.train_score
    monkeypatch.setattr(dm.rates, "train_score", lambda *a, **k: (trained.append(k["steps"]), real(*a, **k))[1])
    dm.dnn_score_error_experiment(target, [100, 400], smoothness=1.0, seeds=[0], floor_seeds=[0], size_rule=TINY,
                                  n_mc=64, n_times=4)
    assert trained == []  # both DNNs came from the rate experiment's cache (the floor runs train elsewhere)
    # a fixed network as before: no budget columns; the rule and explicit sizes do not mix
    plain = dm.rate_experiment(target, [100], seeds=[0], metric="tv", estimators=("diffusion",), width=4, steps=5,
                               n_eval=200, sample_steps=5, progress=False)
    assert "width" not in plain[0]
    with pytest.raises(ValueError, match="size rule sets them"):
        dm.rate_experiment(target, [100], seeds=[0], estimators=("diffusion",), smoothness=1.0, size_rule=TINY,
                           width=8, progress=False)
    with pytest.raises(ValueError, match="smoothness"):
        dm.rate_experiment(target, [100], seeds=[0], estimators=("diffusion",), size_rule=TINY, progress=False)
