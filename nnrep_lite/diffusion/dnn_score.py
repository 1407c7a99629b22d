"""The DNN score's error against n, with a network whose size grows with n, and its
optimisation floor (the same training budget on fresh samples: n = infinity)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch

from .._utils import as_generator, check_int, check_real, default_device
from .cache import cached, fingerprint
from .metrics import integrated_score_error
from .rates import _TRAIN_DEFAULTS, _seed, train_diffusion_model
from .score_net import ScoreMLP
from .training import train_score

__all__ = ["dnn_size_rule", "train_fresh_score_model", "dnn_score_error_experiment", "floor_band",
           "DNN_TRAIN"]

# Training settings the DNN score experiment uses on top of the size rule. Each was measured by the
# fresh-sample (n = infinity) score error at n = 2000's budget (width 57, 2130 steps, batch 807,
# f_max 12.6) on notebook 02's s = 1 target (seed 0), two training seeds each:
#   chosen (lr 5e-3, EMA 0.995, 8 Fourier x-features)       1.7e-3, 2.1e-3
#   no EMA                                                  2.9e-3, 3.8e-3
#   lr 2e-3 (the rate experiment's)                         3.4e-3, 4.3e-3
#   lr 2e-3, no EMA                                         4.0e-3, 6.9e-3
#   no Fourier features                                     1.1e-2, 8.2e-3
#   cosine to lr/500 instead of lr/20 (lr_final 0.002)      1.9e-3, 2.2e-3 (no gain: not used)
#   batch / 4 (202)                                         4.3e-3, 4.4e-3
#   uniform t instead of log-uniform                        4.1e-2, 2.3e-2
DNN_TRAIN = {"lr": 5e-3, "ema": 0.995, "x_features": 8}


def dnn_size_rule(n: int, *, smoothness: float, dim: int = 1, base_width: float = 16.0,
                  base_steps: float = 600.0, base_batch: float = 64.0, frequency_scale: float = 1.0) -> dict:
    """Network size and training budget as functions of n, after the theorem's
    :math:`N \\asymp n^{d/(2s+d)}` (the number of B-spline terms the network emulates):

    .. math::  N = n^{d/(2s+d)},\\quad \\text{width} = \\lceil w_0 \\sqrt N\\rceil,\\quad
               \\text{steps} = \\lceil S_0 \\sqrt N\\rceil,\\quad \\text{batch} = \\lceil B_0 N\\rceil,\\quad
               f_{max} = \\max(1, c_f N^{1/d}),

    so the parameter count (:math:`\\approx \\text{width}^2`) grows like N, the samples seen per
    step like N, and the finest x-frequency of the Fourier input features (``x_max_frequency``)
    like the resolution :math:`N^{1/d}` of N basis functions. ``base_width`` w_0, ``base_steps``
    S_0, ``base_batch`` B_0 and ``frequency_scale`` c_f must be > 0.

    Returns a dict with ``n_basis`` (N, a float) and the train_kwargs ``width``, ``steps``,
    ``batch_size``, ``x_max_frequency``.
    """
    n = check_int("n", n, low=2)
    s = check_real("smoothness", smoothness, low=0.0, low_open=True)
    d = check_int("dim", dim, low=1)
    w0 = check_real("base_width", base_width, low=0.0, low_open=True)
    s0 = check_real("base_steps", base_steps, low=0.0, low_open=True)
    b0 = check_real("base_batch", base_batch, low=0.0, low_open=True)
    cf = check_real("frequency_scale", frequency_scale, low=0.0, low_open=True)
    big_n = n ** (d / (2 * s + d))
    return {"n_basis": big_n, "width": math.ceil(w0 * math.sqrt(big_n)),
            "steps": math.ceil(s0 * math.sqrt(big_n)), "batch_size": math.ceil(b0 * big_n),
            "x_max_frequency": max(1.0, cf * big_n ** (1.0 / d))}


def _config(train_kwargs: dict) -> dict:
    cfg = {**_TRAIN_DEFAULTS, **train_kwargs}
    unknown = set(cfg) - set(_TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"train_kwargs={sorted(unknown)} is invalid: must be among {sorted(_TRAIN_DEFAULTS)}")
    return cfg


def train_fresh_score_model(target, *, seed: int = 0, cache: bool = True, progress: bool = False,
                            device=None, **train_kwargs):
    """Train a float32 :class:`ScoreMLP` by DSM on **fresh** draws from ``target`` at every step
    (``train_kwargs`` as for :func:`~nnrep_lite.diffusion.train_diffusion_model`): no sample is
    reused, so the n = infinity limit of a training budget. Its score error is the budget's
    optimisation (and approximation) floor; a network trained on n samples with the same budget
    cannot be expected below it. Cached on disk by target, seed, device type and every
    hyper-parameter. Returns ``(model, info)`` with info keys train_time_s, final_loss, cached."""
    seed = check_int("seed", seed, low=0)
    cfg = _config(train_kwargs)
    device = torch.device(device) if device is not None else default_device()
    model = ScoreMLP(target.dim, cfg["width"], cfg["depth"], x_features=cfg["x_features"],
                     x_max_frequency=cfg["x_max_frequency"], seed=seed % 2**31, device=device)

    def compute():
        t0 = time.perf_counter()
        hist = train_score(model, lambda b, g: target.sample(b, g), steps=cfg["steps"],
                           batch_size=cfg["batch_size"], lr=cfg["lr"], t_min=cfg["t_min"], t_max=cfg["t_max"],
                           time_sampling=cfg["time_sampling"], weighting=cfg["weighting"],
                           lr_decay=cfg["lr_decay"], weight_decay=cfg["weight_decay"],
                           lr_final=cfg["lr_final"], ema=cfg["ema"],
                           generator=as_generator(seed % 2**62), progress=progress)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return {"state": state, "train_time_s": time.perf_counter() - t0, "final_loss": hist["loss"][-1]}

    params = {"what": "ScoreMLP/dsm-fresh", "target": fingerprint(target), "seed": seed, "cfg": cfg,
              "device": device.type}
    out, hit = cached("models", params, compute, enabled=cache)
    model.load_state_dict(out["state"])
    model.eval()
    return model, {"train_time_s": out["train_time_s"], "final_loss": out["final_loss"], "cached": hit}


def dnn_score_error_experiment(target, ns: Sequence[int], *, smoothness: float, seeds: Sequence[int] = (0, 1),
                               floor_seeds: Sequence[int] = (0,), size_rule: dict | None = None,
                               t_min: float = 1e-3, t_max: float = 8.0, n_mc: int = 16384, n_times: int = 64,
                               cache: bool = True, progress: bool = False, device=None, **train_kwargs) -> list[dict]:
    """The time-integrated score error of the DSM-trained :class:`ScoreMLP`,

    .. math::  \\int_{t_{min}}^{T} E_{X_t \\sim p_t} \\|s_\\theta(X_t, t) - \\nabla\\log p_t(X_t)\\|^2\\,dt,

    for each n in ``ns`` and seed, with the network and budget of :func:`dnn_size_rule` at that n
    (``size_rule``: its keyword arguments other than n, smoothness and dim), trained on the same
    n points :func:`~nnrep_lite.diffusion.rate_experiment` and
    :func:`~nnrep_lite.diffusion.score_error_experiment` draw; and, for each n and ``floor_seeds``
    seed, the **optimisation floor**: the same budget trained on fresh samples at every step
    (:func:`train_fresh_score_model`, n = infinity). Theory: :math:`n^{-2s/(2s+d)}` (the square
    of the TV rate, through Girsanov and Pinsker) as long as the network error stays below the
    statistical one. Measured by :func:`girsanov_kl_bound` (``n_mc`` exact draws of X_t over
    ``n_times`` stratified log-uniform times); the rows' ``error`` is 4 x its score term.
    ``train_kwargs`` override :data:`DNN_TRAIN` (lr 5e-3, an EMA of the weights, Fourier
    x-features; each measured, see the comment above it) and the defaults of
    :func:`~nnrep_lite.diffusion.train_diffusion_model` (not the size rule's keys).

    Trained models and rows are cached on disk (:mod:`nnrep_lite.diffusion.cache`), keyed by
    every parameter, so a second run only re-plots.

    Returns rows with keys estimator ("dnn" or "dnn floor (fresh samples)"), n (for a floor row:
    the n whose budget it used), seed, metric ("score error"), error, error_se, tv_bound
    (Pinsker, with the truncation term), width, steps, batch_size, x_max_frequency,
    train_time_s, cached.
    """
    s = check_real("smoothness", smoothness, low=0.0, low_open=True)
    ns = [check_int("ns", n, low=2) for n in ns]
    seeds = [check_int("seeds", sd, low=0) for sd in seeds]
    floor_seeds = [check_int("floor_seeds", sd, low=0) for sd in floor_seeds]
    n_mc = check_int("n_mc", n_mc, low=2)
    rule_kwargs = dict(size_rule or {})
    for key in ("n", "smoothness", "dim"):
        if key in rule_kwargs:
            raise ValueError(f"size_rule key {key!r} is invalid: n, smoothness and dim are set by the experiment")
    clash = {"width", "steps", "batch_size", "x_max_frequency"} & set(train_kwargs)
    if clash:
        raise ValueError(f"train_kwargs={sorted(clash)} is invalid: the size rule sets them (pass size_rule=...)")
    _config({**DNN_TRAIN, **train_kwargs})  # unknown keys fail before any training
    device = torch.device(device) if device is not None else default_device()
    tfp = fingerprint(target)
    rows = []
    for n in ns:
        rule = dnn_size_rule(n, smoothness=s, dim=target.dim, **rule_kwargs)
        budget = {k: rule[k] for k in ("width", "steps", "batch_size", "x_max_frequency")}
        kw = {**DNN_TRAIN, **train_kwargs, **budget, "t_min": t_min, "t_max": t_max}
        jobs = [("dnn", sd) for sd in seeds] + [("dnn floor (fresh samples)", sd) for sd in floor_seeds]
        for est, sd in jobs:
            def compute(est=est, sd=sd, n=n, kw=kw):
                if est == "dnn":
                    data = target.sample(n, as_generator(_seed(sd, n, 1)))  # rate_experiment's draw
                    model, info = train_diffusion_model(data, seed=_seed(sd, n, 4), cache=cache, device=device, **kw)
                else:
                    model, info = train_fresh_score_model(target, seed=_seed(sd, n, 6), cache=cache, device=device,
                                                          **kw)
                err = integrated_score_error(model, target, t_min=t_min, t_max=t_max, n_mc=n_mc, n_times=n_times,
                                             generator=_seed(sd, n, 5))
                return {**err, "train_time_s": info["train_time_s"]}

            params = {"what": "dnn score error", "target": tfp, "est": est, "n": n, "seed": sd,
                      "cfg": _config(kw), "n_mc": n_mc, "n_times": n_times, "device": device.type}
            out, hit = cached("rates", params, compute, enabled=cache)
            rows.append({"estimator": est, "n": n, "seed": sd, "metric": "score error", "error": out["error"],
                         "error_se": out["error_se"], "tv_bound": out["tv_bound"], **budget,
                         "train_time_s": out["train_time_s"], "cached": hit})
            if progress:
                r = rows[-1]
                print(f"{est} n={n} seed={sd} (width {r['width']}, {r['steps']} steps, batch {r['batch_size']}): "
                      f"score error {r['error']:.3e}, {r['train_time_s']:.1f} s")
    return rows


def floor_band(rows: list[dict], *, label: str = "optimisation floor: same budget, fresh samples (n = ∞)") -> dict:
    """The floor rows of :func:`dnn_score_error_experiment` as a band for
    :func:`~nnrep_lite.viz.diffusion.rate_figure`: ``{"n", "mean", "sd", "label"}`` per n, with
    sd the larger of the spread over floor seeds and the mean Monte Carlo standard error."""
    sub = [r for r in rows if r["estimator"] != "dnn"]
    if not sub:
        raise ValueError("rows is invalid: must hold floor rows (floor_seeds not empty)")
    ns = sorted({r["n"] for r in sub})
    mean, sd = [], []
    for n in ns:
        e = [r["error"] for r in sub if r["n"] == n]
        se = sum(r["error_se"] for r in sub if r["n"] == n) / len(e)
        m = sum(e) / len(e)
        spread = math.sqrt(sum((v - m) ** 2 for v in e) / (len(e) - 1)) if len(e) > 1 else 0.0
        mean.append(m)
        sd.append(max(spread, se))
    return {"n": ns, "mean": mean, "sd": sd, "label": label}
