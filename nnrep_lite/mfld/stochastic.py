"""The stochastic-gradient term of the MFLD error bound, measured (Suzuki, Nitanda, Wu 2023):

.. math::

    \\mathscr L^{(N)}(\\hat\\mu_k) - \\mathcal L(\\mu^*) \\lesssim e^{-\\lambda_2\\eta k/\\alpha}
    + \\frac{\\alpha}{\\lambda_2}\\Big(\\eta^2 + \\lambda_2\\eta + \\frac1N
    + \\frac{(n-B)\\sqrt{\\eta\\lambda_2}}{B(n-1)}\\Big).

- :func:`sg_excess_experiment`: the stationary excess of ``F`` of SG-MFLD (and SVRG-MFLD) over
  full-gradient MFLD, with common random numbers, against the factor ``(n-B)/(B(n-1))`` and
  against ``eta``;
- :func:`svrg_variance_profile`: why SVRG pays or not: the variance of its gradient estimator
  against the anchor's age, next to SG's, from the same stationary particles.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._utils import as_generator, check_int, check_real
from .experiments import _mean_sem, _replicated_run, fit_slope
from .langevin import mfld
from .objectives import Regression


def sg_factor(n: int, b) -> float:
    """The theorem's stochastic-gradient factor ``(n - B) / (B (n - 1))`` (the variance of a
    without-replacement batch mean relative to one sample's), 0 at ``B = n``."""
    return (n - b) / (b * (n - 1))


def _t_quantile(dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def fit_with_interval(xs, ys) -> dict:
    """:func:`fit_slope` of ``log y`` on ``log x`` plus a 95 % interval (Student t with
    ``len - 2`` degrees of freedom; NaN from two points)."""
    fit = fit_slope(xs, ys)
    dof = len(xs) - 2
    half = _t_quantile(dof) * fit["stderr"] if dof >= 1 else math.nan
    return {**fit, "interval": (fit["slope"] - half, fit["slope"] + half), "points": len(xs)}


def _excess(objective, n_particles, replicas, full_f, *, z_resolved, **kw) -> dict:
    r = _replicated_run(objective, n_particles, replicas, **kw)
    mean, sem = _mean_sem(r["F"] - full_f)
    return {"excess": mean, "sem": sem, "resolved": bool(mean > z_resolved * sem),
            "cost": r["history"]["grad_evals_total"] / kw["steps"]}


def sg_excess_experiment(
    objective: Regression,
    batch_sizes,
    *,
    n_particles: int,
    replicas: int,
    eta: float,
    lambda2: float,
    steps: int,
    burn_in: int,
    seed: int = 0,
    every: int = 10,
    etas=(),
    eta_batch: int | None = None,
    svrg_batches=(),
    svrg_period: int | None = None,
    z_resolved: float = 3.0,
    init_scale: float = 1.0,
    dtype=torch.float64,
    callback=None,
    partial=None,
) -> dict:
    """The stochastic-gradient term at stationarity, resolved.

    ``replicas`` independent runs (one vectorised loop; each replica draws its own batches) of
    full-gradient MFLD and, from the *same* initial particles and the *same* Langevin noise
    (common random numbers: the batches come from their own stream), of SG-MFLD with each batch
    size ``B``. The excess of a replica is the difference of the two runs' mean ``F`` over steps
    ``burn_in .. steps`` (the plateau), so the shared plateau fluctuations cancel; its mean and
    standard error over replicas give each point. A point is *resolved* when its mean exceeds
    ``z_resolved`` standard errors; the fit of ``log excess`` on ``log (n-B)/(B(n-1))`` uses the
    resolved points with ``B < n`` (theorem: linear in the factor, slope 1).

    ``etas`` (with ``eta_batch``, default the smallest ``B``): the same measurement at other step
    sizes over the same time horizon ``eta * steps`` (the bound scales as ``sqrt(eta lambda2)``);
    ``svrg_batches``: SVRG-MFLD at those ``B`` with anchor period ``svrg_period`` (default
    ``round(sqrt(n))``, the inner-loop length of the SVRG analyses), its gradient cost per step
    ``2B/n + 1/m`` against SG's ``B/n`` (full-data gradients; recording ``F`` is not counted).

    ``callback(point)`` is called with each batch size's point; ``partial(result)`` with the
    result so far after each (``batch_sizes`` the ones measured, the fit over them, no SVRG or
    step-size points yet): what a live panel draws while the rest runs.
    """
    n = objective.n_data
    n_particles = check_int("n_particles", n_particles, low=1)
    replicas = check_int("replicas", replicas, low=2)
    steps = check_int("steps", steps, low=2)
    burn_in = check_int("burn_in", burn_in, low=0, high=steps - 1)
    eta = check_real("eta", eta, low=0.0, low_open=True)
    batch_sizes = [check_int("batch_sizes", b, low=1, high=n) for b in batch_sizes]
    if svrg_period is None:
        svrg_period = max(1, round(math.sqrt(n)))
    svrg_period = check_int("svrg_period", svrg_period, low=1)
    common = dict(seed=seed, lambda2=lambda2, every=every, init_scale=init_scale, dtype=dtype)

    def runs_at(step_size, n_steps, n_burn):
        kw = dict(common, eta=step_size, steps=n_steps, tail=1.0 - n_burn / n_steps)
        full = _replicated_run(objective, n_particles, replicas, **kw)
        return kw, full

    kw, full = runs_at(eta, steps, burn_in)
    out = {"n": n, "batch_sizes": batch_sizes, "eta": eta, "lambda2": lambda2, "steps": steps,
           "burn_in": burn_in, "replicas": replicas, "n_particles": n_particles,
           "full_plateau": float(full["F"].mean()), "factor": [], "sg": [], "sg_sem": [],
           "sg_resolved": [], "sg_cost": []}
    for b in batch_sizes:
        out["factor"].append(sg_factor(n, b))
        if b >= n:  # B = n: the full gradient itself, the same trajectory
            res = {"excess": 0.0, "sem": 0.0, "resolved": False, "cost": 1.0}
        else:
            res = _excess(objective, n_particles, replicas, full["F"], z_resolved=z_resolved, batch_size=b, **kw)
        for key, name in (("sg", "excess"), ("sg_sem", "sem"), ("sg_resolved", "resolved"), ("sg_cost", "cost")):
            out[key].append(res[name])
        if callback is not None:
            callback({"B": b, **res})
        if partial is not None and len(out["sg"]) < len(batch_sizes):
            done = batch_sizes[: len(out["sg"])]
            pts = [(f, e) for f, e, ok, bb in zip(out["factor"], out["sg"], out["sg_resolved"], done) if ok and bb < n]
            partial({**out, "batch_sizes": list(done), "fit": fit_with_interval(*zip(*pts)) if len(pts) >= 2 else None,
                     "etas": [], "eta_excess": [], "eta_sem": [], "eta_resolved": [], "partial": True})
    pts = [(f, e) for f, e, ok, b in zip(out["factor"], out["sg"], out["sg_resolved"], batch_sizes) if ok and b < n]
    out["fit"] = fit_with_interval(*zip(*pts)) if len(pts) >= 2 else None

    # SVRG at equal gradient cost: SG's excess at SVRG's cost from the fitted line
    out.update(svrg_batches=list(svrg_batches), svrg_period=svrg_period, svrg=[], svrg_sem=[],
               svrg_resolved=[], svrg_cost=[], sg_at_svrg_cost=[], svrg_gain=[])
    for b in svrg_batches:
        b = check_int("svrg_batches", b, low=1, high=n - 1)
        res = _excess(objective, n_particles, replicas, full["F"], z_resolved=z_resolved, batch_size=b,
                      variance_reduction="svrg", svrg_period=svrg_period, **kw)
        sg_equal = math.nan
        if out["fit"] is not None:
            b_equal = min(n, res["cost"] * n)  # the SG batch of the same cost per step
            f = out["fit"]
            sg_equal = math.exp(f["intercept"]) * sg_factor(n, b_equal) ** f["slope"] if b_equal < n else 0.0
        for key, name in (("svrg", "excess"), ("svrg_sem", "sem"), ("svrg_resolved", "resolved"),
                          ("svrg_cost", "cost")):
            out[key].append(res[name])
        out["sg_at_svrg_cost"].append(sg_equal)
        # an unresolved SVRG excess is bounded by its resolution (3 standard errors): a lower bound
        floor = max(res["excess"], z_resolved * res["sem"]) if not res["resolved"] else res["excess"]
        out["svrg_gain"].append(sg_equal / floor if floor > 0 else math.inf)

    # the eta scaling at one batch size, same time horizon
    etas = [check_real("etas", e, low=0.0, low_open=True) for e in etas]
    b_eta = min(batch_sizes) if eta_batch is None else check_int("eta_batch", eta_batch, low=1, high=n - 1)
    out.update(etas=etas, eta_batch=b_eta, eta_excess=[], eta_sem=[], eta_resolved=[], eta_steps=[])
    for e in etas:
        if math.isclose(e, eta) and b_eta in batch_sizes:
            i = batch_sizes.index(b_eta)
            res = {"excess": out["sg"][i], "sem": out["sg_sem"][i], "resolved": out["sg_resolved"][i]}
            n_steps = steps
        else:
            n_steps = max(2 * every, round(steps * eta / e))
            kw_e, full_e = runs_at(e, n_steps, round(burn_in * eta / e))
            res = _excess(objective, n_particles, replicas, full_e["F"], z_resolved=z_resolved, batch_size=b_eta,
                          **kw_e)
        out["eta_excess"].append(res["excess"])
        out["eta_sem"].append(res["sem"])
        out["eta_resolved"].append(res["resolved"])
        out["eta_steps"].append(n_steps)
    pts = [(e, x) for e, x, ok in zip(etas, out["eta_excess"], out["eta_resolved"]) if ok]
    out["eta_fit"] = fit_with_interval(*zip(*pts)) if len(pts) >= 2 else None
    out["final_particles"] = full["particles"]
    out["full_history"] = {"step": list(full["history"]["step"]), "F": list(full["history"]["F"])}
    return out


def _per_sample_gradients(objective: Regression, particles) -> torch.Tensor:
    """``a_j(X^i) = grad_x of sample j's loss term``, shape ``(n, N, D)``: the batch-of-one
    gradients of the loop, without the exact regulariser ``2 lambda1 x``."""
    reg = 2.0 * objective.lambda1 * particles
    idx = torch.arange(objective.n_data, device=particles.device)
    return torch.stack([objective._value_and_grad(particles, idx[j:j + 1])[1] - reg
                        for j in range(objective.n_data)])


def _population_variance(a: torch.Tensor) -> float:
    """``(1/n) sum_j ||a_j - mean a||^2``, averaged over particles; times the factor
    ``(n-B)/(B(n-1))`` it is the variance of a batch-``B`` mean drawn without replacement."""
    return float(((a - a.mean(0)) ** 2).sum(2).mean())


def svrg_variance_profile(
    objective: Regression,
    particles,
    *,
    eta: float,
    lambda2: float,
    period: int,
    generator=None,
) -> dict:
    """The per-sample variance of SG's and SVRG's gradient estimators against the anchor's age.

    From ``particles`` (stationary, one run), the anchor ``X~ = X_0``; full-gradient MFLD moves
    the particles on for ``period`` steps. At each age ``k`` the population variances over the
    data index ``j`` of ``a_j(X_k)`` (SG) and of ``a_j(X_k) - a_j(X~)`` (SVRG's control variate
    with the anchor's residuals) are exact (no batch is drawn): a batch of ``B`` multiplies both by
    ``(n-B)/(B(n-1))``. The Langevin noise moves every particle by about
    ``sqrt(2 lambda2 eta k)`` per coordinate, so SVRG's variance grows with the age from 0.
    """
    period = check_int("period", period, low=1)
    gen = as_generator(generator)
    x = objective.check_particles(particles).clone()
    a0 = _per_sample_gradients(objective, x)
    out = {"age": [], "sg": [], "svrg": []}
    for k in range(period):
        a = _per_sample_gradients(objective, x)
        out["age"].append(k)
        out["sg"].append(_population_variance(a))
        out["svrg"].append(_population_variance(a - a0))
        x, _ = mfld(objective, x, eta=eta, lambda2=lambda2, steps=1, generator=gen, progress=False,
                    record_every=1)
    out["sg_mean"] = float(np.mean(out["sg"]))
    out["svrg_mean"] = float(np.mean(out["svrg"]))
    out["period"] = period
    return out


def predicted_svrg_gain(profile: dict, n: int, b: int, cost: float) -> float:
    """Variance of SG at SVRG's cost per step over SVRG's anchor-age mean variance at batch ``b``:
    the gain in excess if the excess is linear in the variance (the measured slope is ~1)."""
    b_equal = min(n, cost * n)
    if b_equal >= n:
        return 0.0
    return sg_factor(n, b_equal) * profile["sg_mean"] / (sg_factor(n, b) * profile["svrg_mean"])
