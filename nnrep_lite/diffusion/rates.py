"""Rate experiments: error vs sample size n for the diffusion model and its baselines, and
log-log slope fits with confidence intervals."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .._utils import as_generator, check_choice, check_int, check_real, default_device
from .baselines import kde
from .cache import cached, fingerprint
from .metrics import density_tv, integrated_score_error, law_tv, tv_distance, w1_distance
from .sampling import reverse_chain_law, reverse_sde_sample
from .score_net import ScoreMLP
from .training import train_score

__all__ = ["rate_experiment", "score_error_experiment", "fit_rate", "summarize", "train_diffusion_model",
           "ESTIMATORS"]

ESTIMATORS = ("diffusion", "kde", "empirical")
METRICS = ("tv", "w1")
TV_METHODS = ("auto", "histogram")

_TRAIN_DEFAULTS = {"width": 128, "depth": 3, "steps": 3000, "batch_size": 256, "lr": 2e-3,
                   "t_min": 1e-3, "t_max": 8.0, "time_sampling": "log_uniform",
                   "weighting": "sigma2", "lr_decay": True, "weight_decay": 0.0,
                  "lr_final": 0.05, "ema": 0.0, "x_features": 0, "x_max_frequency": 16.0}


# keys added after models were first cached: left out of cache keys at their defaults (which train
# exactly as before they existed), so existing caches stay valid
_LATER_KEYS = ("lr_final", "ema", "x_features", "x_max_frequency")


def _cache_cfg(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if not (k in _LATER_KEYS and v == _TRAIN_DEFAULTS[k])}


def _seed(*parts: int) -> int:
    return int(fingerprint(list(parts))[:12], 16)


def train_diffusion_model(data: torch.Tensor, *, seed: int = 0, cache: bool = True,
                          progress: bool = False, callback=None, device=None, **train_kwargs):
    """Train a float32 :class:`ScoreMLP` on ``data`` (n, d) by DSM on ``device`` (default
    :func:`~nnrep_lite.default_device`), cached on disk by data, seed, device type and all
    hyper-parameters. Returns ``(model, info)`` with info keys train_time_s, final_loss, cached."""
    cfg = {**_TRAIN_DEFAULTS, **train_kwargs}
    unknown = set(cfg) - set(_TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"train_kwargs={sorted(unknown)} is invalid: must be among {sorted(_TRAIN_DEFAULTS)}")
    d = data.shape[1]
    device = torch.device(device) if device is not None else default_device()
    model = ScoreMLP(d, cfg["width"], cfg["depth"], x_features=cfg["x_features"],
                     x_max_frequency=cfg["x_max_frequency"], seed=seed % 2**31, device=device)

    def compute():
        t0 = time.perf_counter()
        hist = train_score(model, data.to(device=device, dtype=torch.float32), steps=cfg["steps"], batch_size=cfg["batch_size"],
                           lr=cfg["lr"], t_min=cfg["t_min"], t_max=cfg["t_max"],
                           time_sampling=cfg["time_sampling"], weighting=cfg["weighting"],
                           lr_decay=cfg["lr_decay"], weight_decay=cfg["weight_decay"],
                           lr_final=cfg["lr_final"], ema=cfg["ema"],
                           generator=as_generator(seed % 2**62), progress=progress, callback=callback)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return {"state": state, "train_time_s": time.perf_counter() - t0,
                "final_loss": hist["loss"][-1]}

    params = {"what": "ScoreMLP/dsm", "data": data, "seed": seed, "cfg": _cache_cfg(cfg), "device": device.type}
    out, hit = cached("models", params, compute, enabled=cache)
    model.load_state_dict(out["state"])
    model.eval()
    return model, {"train_time_s": out["train_time_s"], "final_loss": out["final_loss"], "cached": hit}


def _budget_rule(size_rule, smoothness, dim, train_kwargs):
    """``n -> training kwargs`` for the diffusion network under ``size_rule`` (None: no rule)."""
    if size_rule is None:
        return None
    from .dnn_score import DNN_TRAIN, dnn_size_rule

    if not isinstance(size_rule, dict):
        raise ValueError(f"size_rule={size_rule!r} is invalid: must be a dict of dnn_size_rule keyword arguments")
    clash = {"width", "steps", "batch_size", "x_max_frequency"} & set(train_kwargs)
    if clash:
        raise ValueError(f"train_kwargs={sorted(clash)} is invalid: the size rule sets them (drop them or size_rule)")
    rule_kwargs = {"dim": dim, **size_rule}
    dnn_size_rule(2, smoothness=smoothness, **rule_kwargs)  # bad rule arguments fail before any training
    base = {k: v for k, v in DNN_TRAIN.items() if k not in train_kwargs}

    def budget(n):
        r = dnn_size_rule(n, smoothness=smoothness, **rule_kwargs)
        return {**base, **{k: r[k] for k in ("width", "steps", "batch_size", "x_max_frequency")}}

    return budget


def _error(metric, samples, target, reference, bins, bounds, seed):
    if metric == "tv":
        return tv_distance(samples, target, bins=bins, bounds=bounds)
    return w1_distance(samples, reference, generator=as_generator(seed % 2**62))


def rate_experiment(target, ns: Sequence[int], *, seeds: Sequence[int] = (0, 1, 2),
                    metric: str = "tv", estimators: Sequence[str] = ("diffusion", "kde"),
                    smoothness: float | None = None, n_eval: int = 20000, bins: int = 40,
                    bounds=(-1.0, 1.0), sample_steps: int = 100, sample_method: str = "euler",
                    t_min: float | Callable[[int], float] = 1e-3, tv_method: str = "auto", cache: bool = True,
                    progress: bool = True, callback=None, device=None, size_rule: dict | None = None,
                    **train_kwargs) -> list[dict]:
    """Error of each estimator against ``target`` for each sample size n and seed.

    For each (n, seed) the same n training points are drawn exactly from ``target``; then

    - ``"diffusion"``: a :class:`ScoreMLP` trained by DSM (``train_kwargs``: width, depth, steps,
      batch_size, lr, t_max, time_sampling, ...), sampled with :func:`reverse_sde_sample`
      (``sample_steps`` geometric steps, early stopping at ``t_min``, which may be a function of n);
    - ``"kde"``: the Gaussian KDE with the minimax bandwidth :math:`h \\propto n^{-1/(2s+d)}`
      (needs ``smoothness``);
    - ``"empirical"``: the training points themselves (for ``metric="w1"``).

    ``metric="tv"`` is :func:`tv_distance` of ``n_eval`` generated samples against exact cell
    masses (d <= 2), which carries a Monte Carlo floor (:func:`histogram_tv_floor`), except,
    with ``tv_method="auto"`` (the default), in one dimension: the KDE's density is known, so its
    TV is :func:`density_tv`, the quadrature of :math:`\\tfrac12|\\hat p - p|` on ``bounds``
    widened by 8 bandwidths; the diffusion model's is the same histogram TV of the law of its
    sampler's chain, computed on a grid (:func:`reverse_chain_law`, :func:`law_tv`) instead of
    sampled. Neither has a floor. ``tv_method="histogram"`` samples every estimator.
    ``"w1"`` is :func:`w1_distance` against ``n_eval`` fresh target samples.
    Networks train and sample on ``device`` (default :func:`~nnrep_lite.default_device`).
    Trained models and rows are cached on disk (:mod:`nnrep_lite.diffusion.cache`) keyed by
    every parameter, so re-plotting never retrains. ``callback(row)`` is called per row.

    Returns a list of rows (dicts) with keys estimator, n, seed, metric, error, train_time_s,
    n_samples (training points used), n_eval, t_min, tv_method ("quadrature", "chain law",
    "histogram" or None for W1), cached.
    """
    check_choice("metric", metric, METRICS)
    check_choice("tv_method", tv_method, TV_METHODS)
    for e in estimators:
        check_choice("estimators", e, ESTIMATORS)
    ns = [check_int("ns", n, low=2) for n in ns]
    seeds = [check_int("seeds", s, low=0) for s in seeds]
    n_eval = check_int("n_eval", n_eval, low=2)
    if "kde" in estimators or (size_rule is not None and "diffusion" in estimators):
        smoothness = check_real("smoothness", smoothness if smoothness is not None else float("nan"),
                                low=0.0, low_open=True)
    from tqdm.auto import tqdm

    d = target.dim
    if metric == "tv" and d > 2:
        raise ValueError(f"metric='tv' is invalid for a target of dim {d}: must use 'w1' when d > 2")
    tfp = fingerprint(target)
    device = torch.device(device) if device is not None else default_device()
    budget = _budget_rule(size_rule, smoothness, d, train_kwargs) if "diffusion" in estimators else None
    rows: list[dict] = []
    jobs = [(n, s) for n in ns for s in seeds]
    bar = tqdm(jobs, desc="rate experiment", disable=not progress)
    for n, seed in bar:
        bar.set_postfix(n=n, seed=seed)
        data = target.sample(n, as_generator(_seed(seed, n, 1)))
        ref = target.sample(n_eval, as_generator(_seed(seed, n, 2))) if metric == "w1" else None
        tm = float(t_min(n)) if callable(t_min) else float(t_min)
        size = budget(n) if budget is not None else {}
        train_n = {**train_kwargs, **size}
        for est in estimators:
            how = None if metric != "tv" else (
                "histogram" if tv_method != "auto" or d != 1 or est == "empirical" else
                {"kde": "quadrature", "diffusion": "chain law"}[est])
            params = {"tv_method": how, "target": tfp, "n": n, "seed": seed, "metric": metric, "est": est,
                      "n_eval": n_eval, "bins": bins, "bounds": list(bounds), "t_min": tm,
                      "smoothness": smoothness, "steps": sample_steps, "method": sample_method,
                      "train": _cache_cfg({**_TRAIN_DEFAULTS, **train_n}), "device": device.type}

            def compute(est=est, data=data, ref=ref, n=n, seed=seed, tm=tm, how=how, train_n=train_n):
                train_time = 0.0
                gen = as_generator(_seed(seed, n, 3))
                if est == "diffusion":
                    model, info = train_diffusion_model(data, seed=_seed(seed, n, 4), cache=cache,
                                                        device=device, **{**train_n, "t_min": tm})
                    train_time = info["train_time_s"]
                    if how == "chain law":  # the sampler's law on a grid: no sampling, no floor
                        edges, mass = reverse_chain_law(model, t_max=train_n.get("t_max", 8.0), t_min=tm,
                                                        steps=sample_steps, method=sample_method, device=device,
                                                        dtype=torch.float32)
                        return {"error": law_tv(edges, mass, target, bins=bins, bounds=bounds),
                                "train_time_s": train_time}
                    samples = reverse_sde_sample(model, n_eval, d, t_max=train_kwargs.get("t_max", 8.0),
                                                 t_min=tm, steps=sample_steps, method=sample_method,
                                                 generator=gen, device=device, dtype=torch.float32)
                elif est == "kde":
                    t0 = time.perf_counter()
                    est_kde = kde(data, smoothness=smoothness)
                    train_time = time.perf_counter() - t0
                    if how == "quadrature":  # the KDE's density is known: no sampling, no floor
                        pad = 8.0 * est_kde.bandwidth
                        err = density_tv(est_kde, target, bounds=(bounds[0] - pad, bounds[1] + pad))
                        return {"error": err, "train_time_s": train_time}
                    samples = est_kde.sample(n_eval, gen)
                else:
                    samples = data
                err = _error(metric, samples, target, ref, bins, bounds, _seed(seed, n, 5))
                return {"error": err, "train_time_s": train_time}

            out, hit = cached("rates", params, compute, enabled=cache)
            row = {"estimator": est, "n": n, "seed": seed, "metric": metric, "error": out["error"],
                   "train_time_s": out["train_time_s"], "n_samples": n, "n_eval": n_eval,
                   "t_min": tm, "tv_method": how, "cached": hit}
            if est == "diffusion" and size_rule is not None:
                row.update({k: size[k] for k in ("width", "steps", "batch_size")})
            rows.append(row)
            if callback is not None:
                callback(row)
    return rows


def score_error_experiment(target, ns: Sequence[int], *, smoothness: float, seeds: Sequence[int] = (0, 1, 2),
                           t_min: float = 1e-3, t_max: float = 8.0, n_mc: int = 4096, n_times: int = 64,
                           cache: bool = True, progress: bool = False) -> list[dict]:
    """The quantity the proof controls, for the kernel score: the time-integrated score error

    .. math::  \\int_{t_{min}}^{T} E_{X_t \\sim p_t} \\|\\nabla\\log\\hat p_t(X_t) - \\nabla\\log p_t(X_t)\\|^2\\,dt

    of the Gaussian KDE with the minimax bandwidth (:func:`~nnrep_lite.diffusion.kde`), whose
    diffused density is a Gaussian mixture with a closed-form score (the kernel score estimator
    of Zhang, Yin, Liang & Liu 2024), against the exact score of ``target``, for each n and seed
    (the same training points as :func:`rate_experiment` draws). Its rate is
    :math:`n^{-2s/(2s+d)}` up to logs (for s <= 2: a Gaussian kernel has order 2), the square of
    the TV rate, through Girsanov and Pinsker. Measured by :func:`girsanov_kl_bound` (stratified
    log-uniform times, ``n_mc`` exact draws of X_t): the rows' ``error`` is 4 x its score term.
    Rows are cached on disk by every parameter (``cache=False``: always recompute).

    Returns rows with keys estimator ("kde"), n, seed, metric ("score error"), error,
    error_se (standard error), tv_bound (Pinsker, with the truncation term), bandwidth.
    """
    s = check_real("smoothness", smoothness, low=0.0, low_open=True)
    ns = [check_int("ns", n, low=2) for n in ns]
    seeds = [check_int("seeds", sd, low=0) for sd in seeds]
    tfp = fingerprint(target)
    rows = []
    for n in ns:
        for seed in seeds:
            def compute(n=n, seed=seed):
                data = target.sample(n, as_generator(_seed(seed, n, 1)))  # rate_experiment's draw
                est = kde(data, smoothness=s)
                err = integrated_score_error(est.score, target, t_min=t_min, t_max=t_max, n_mc=n_mc,
                                             n_times=n_times, generator=_seed(seed, n, 5))
                return {**err, "bandwidth": est.bandwidth}

            params = {"what": "kernel score error", "target": tfp, "n": n, "seed": seed, "smoothness": s,
                      "t_min": t_min, "t_max": t_max, "n_mc": n_mc, "n_times": n_times}
            out, _ = cached("rates", params, compute, enabled=cache)
            rows.append({"estimator": "kde", "n": n, "seed": seed, "metric": "score error", **out, "t_min": t_min})
            if progress:
                print(f"n={n} seed={seed}: score error {rows[-1]['error']:.4g}")
    return rows


def summarize(rows: list[dict]) -> dict:
    """Group rows by estimator: ``{est: {"n": [...], "mean": [...], "std": [...], "errors": [[...]]}}``."""
    out: dict = {}
    for est in dict.fromkeys(r["estimator"] for r in rows):
        sub = [r for r in rows if r["estimator"] == est]
        ns = sorted({r["n"] for r in sub})
        errs = [[r["error"] for r in sub if r["n"] == n] for n in ns]
        out[est] = {"n": ns, "mean": [float(np.mean(e)) for e in errs],
                    "std": [float(np.std(e, ddof=1)) if len(e) > 1 else 0.0 for e in errs],
                    "errors": errs}
    return out


def fit_rate(ns, errors, *, level: float = 0.95) -> dict:
    """Least-squares fit of :math:`\\log(\\text{error}) = a + b \\log n` over all (n, error) pairs
    (repeat n for several seeds). Returns ``slope`` b, ``intercept`` a, ``stderr`` of b and the
    ``level`` confidence interval ``ci = (low, high)`` from Student's t with N - 2 dof."""
    from scipy import stats

    x = np.log(np.asarray(ns, dtype=np.float64).reshape(-1))
    y = np.asarray(errors, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"errors with {y.size} values is invalid: must match ns ({x.size})")
    if x.size < 3 or np.unique(x).size < 2:
        raise ValueError(f"ns={list(np.asarray(ns).reshape(-1))} is invalid: need >= 3 points and >= 2 distinct n")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("errors is invalid: must be finite and > 0")
    level = check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    y = np.log(y)
    xm = x.mean()
    sxx = ((x - xm) ** 2).sum()
    b = float(((x - xm) * (y - y.mean())).sum() / sxx)
    a = float(y.mean() - b * xm)
    resid = y - (a + b * x)
    dof = x.size - 2
    s2 = float((resid**2).sum() / dof) if dof > 0 else float("nan")
    se = math.sqrt(s2 / sxx) if dof > 0 else float("nan")
    q = float(stats.t.ppf(0.5 + level / 2, dof)) if dof > 0 else float("nan")
    return {"slope": b, "intercept": a, "stderr": se, "ci": (b - q * se, b + q * se),
            "level": level, "n_points": int(x.size)}
