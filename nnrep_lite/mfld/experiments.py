"""Measured terms of the MFLD error decomposition (Suzuki, Nitanda, Wu 2023, Thm. 2):

.. math::

    e^{-\\lambda_2 \\eta k/\\alpha} + \\frac{\\alpha}{\\lambda_2}\\Big(\\eta^2 + \\lambda_2\\eta
    + \\frac1N + \\frac{(n - B)\\sqrt{\\eta\\lambda_2}}{B(n-1)}\\Big).

- :func:`gaussian_eta_bias`: the eta term, on the Gaussian case where the stationary law of the
  discrete chain is known exactly;
- :func:`particle_number_experiment`: the 1/N term (uniform-in-time propagation of chaos);
- the stochastic-gradient term, SG beside SVRG: :mod:`nnrep_lite.mfld.stochastic`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._utils import as_generator, check_int, check_real
from .langevin import mfld
from .objectives import Quadratic, Regression, ReplicatedRegression


def fit_slope(xs, ys) -> dict:
    """Least-squares slope of ``log y`` on ``log x`` with its standard error (NaN from two points)."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    if len(lx) < 2 or not np.all(np.isfinite(ly)):
        raise ValueError("ys is invalid: need >= 2 positive values to fit a log-log slope")
    A = np.stack([lx, np.ones_like(lx)], 1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    dof = len(lx) - 2
    if dof < 1:  # two points: the line goes through both, there is no residual to estimate from
        return {"slope": float(coef[0]), "intercept": float(coef[1]), "stderr": math.nan}
    cov = (resid @ resid / dof) * np.linalg.inv(A.T @ A)
    return {"slope": float(coef[0]), "intercept": float(coef[1]), "stderr": float(math.sqrt(cov[0, 0]))}


def _fit_so_far(xs, ys) -> dict:
    """:func:`fit_slope` where it is defined (two or more positive values), else NaNs."""
    try:
        return fit_slope(xs, ys)
    except ValueError:
        return {"slope": math.nan, "intercept": math.nan, "stderr": math.nan}


def gaussian_eta_bias(
    etas,
    *,
    lambda1: float = 0.5,
    lambda2: float = 1.0,
    n_particles: int = 10000,
    dim: int = 4,
    steps: int = 400,
    burn_in: int = 100,
    groups: int = 10,
    generator=None,
    dtype=torch.float64,
    partial=None,
) -> dict:
    """Stationary bias of the per-coordinate variance of MFLD on :class:`Quadratic`, by simulation.

    For each ``eta`` the loop :func:`mfld` runs from ``N(0, v_0)``, ``v_0 = lambda2/(2 lambda1)``
    (the continuous-time stationary law). Its noise is recovered from each update and drives a
    synchronously coupled *exact* OU chain ``Y_{k+1} = e^{-2 lambda1 eta} Y_k +
    sqrt(v_0 (1 - e^{-4 lambda1 eta})) xi_k`` whose law stays ``N(0, v_0)`` exactly. The bias
    ``E X^2 - v_0`` is estimated as the tail mean of ``X^2 - Y^2`` (a control variate: same
    expectation, far smaller variance), with a standard error from ``groups`` independent groups
    of particles. ``exact`` is ``v_eta - v_0`` with ``v_eta = lambda2/(2 lambda1 (1-lambda1 eta))``.
    ``partial(result)``: called after each ``eta`` but the last with the result so far (its fit
    NaN until two points): what a live panel draws while the rest runs.
    """
    lambda1 = check_real("lambda1", lambda1, low=0.0, low_open=True)
    lambda2 = check_real("lambda2", lambda2, low=0.0, low_open=True)
    n_particles = check_int("n_particles", n_particles, low=groups)
    steps = check_int("steps", steps, low=2)
    burn_in = check_int("burn_in", burn_in, low=0, high=steps - 1)
    gen = as_generator(generator)
    obj = Quadratic(lambda1)
    v0 = lambda2 / (2 * lambda1)
    out = {"eta": [], "measured": [], "stderr": [], "plain": [], "exact": []}
    for eta in etas:
        eta = check_real("eta", eta, low=0.0, high=1.0 / (2 * lambda1), low_open=True, high_open=True)
        x0 = math.sqrt(v0) * torch.randn(n_particles, dim, generator=gen, dtype=dtype)
        state = {"prev": x0.clone(), "y": x0.clone(), "k": 0}
        acc_cv = torch.zeros(n_particles, dtype=dtype)
        acc_plain = torch.zeros(n_particles, dtype=dtype)
        contract, scale = 1 - 2 * lambda1 * eta, math.sqrt(2 * lambda2 * eta)
        ry, sy = math.exp(-2 * lambda1 * eta), math.sqrt(v0 * (1 - math.exp(-4 * lambda1 * eta)))

        def cb(info, state=state, acc_cv=acc_cv, acc_plain=acc_plain, contract=contract,
               scale=scale, ry=ry, sy=sy):
            x = info["particles"]
            xi = (x - contract * state["prev"]) / scale  # the loop's own noise
            state["y"].mul_(ry).add_(xi, alpha=sy)
            state["prev"].copy_(x)
            state["k"] += 1
            if state["k"] > burn_in:
                acc_cv.add_((x * x - state["y"] ** 2).mean(1))
                acc_plain.add_((x * x).mean(1))

        mfld(obj, x0, eta=eta, lambda2=lambda2, steps=steps, generator=gen, callback=cb,
             callback_every=1, record_every=steps, progress=False)
        m = steps - burn_in
        per_group = (acc_cv / m).reshape(groups, -1).mean(1)
        out["eta"].append(eta)
        out["measured"].append(float(per_group.mean()))
        out["stderr"].append(float(per_group.std() / math.sqrt(groups)))
        out["plain"].append(float(acc_plain.mean() / m) - v0)
        out["exact"].append(obj.stationary_variance(lambda2, eta) - v0)
        if partial is not None and len(out["eta"]) < len(etas):
            partial({**out, "fit": _fit_so_far(out["eta"], out["measured"]), "v0": v0, "partial": True})
    out["fit"] = fit_slope(out["eta"], out["measured"])
    out["v0"] = v0
    return out


def _tail_start(steps: int, tail: float) -> int:
    tail = check_real("tail", tail, low=0.0, high=1.0, low_open=True)
    return int(steps * (1 - tail))


def reference_prediction(objective: Regression, *, n_particles, eta, lambda2, steps, tail=0.5,
                         every=5, init_scale=1.0, generator=None, dtype=torch.float64) -> dict:
    """A large-N, time-averaged run: ``f_ref = mean over the tail of f_{mu_N,t}`` on the inputs
    (approximates ``f_{mu*}`` of the same step size) and the tail-mean plateau of ``F``."""
    gen = as_generator(generator)
    x0 = objective.model.init_particles(n_particles, objective.input_dim, scale=init_scale,
                                        generator=gen, dtype=dtype)
    start = _tail_start(steps, tail)
    acc = {"f": torch.zeros(objective.n_data, dtype=dtype), "m": 0}

    def cb(info):
        if info["step"] > start:
            acc["f"] += objective.predict(info["particles"])
            acc["m"] += 1

    x, hist = mfld(objective, x0, eta=eta, lambda2=lambda2, steps=steps, generator=gen,
                   callback=cb, callback_every=every, progress=False)
    return {"f_ref": acc["f"] / max(acc["m"], 1), "F_plateau": float(np.mean(hist["F"][start:])),
            "particles": x, "history": hist}


def _replicated_run(objective, n_particles, replicas, *, seed, eta, lambda2, steps, tail, every,
                    f_ref=None, init_scale=1.0, dtype=torch.float64, **kw):
    """``replicas`` independent runs of ``n_particles`` in one vectorised loop; tail means
    (over the last ``tail`` of the run, sampled every ``every`` steps) of each replica's ``F`` and,
    when ``f_ref`` is given, of its squared prediction error, plus the error curves over time."""
    rep = ReplicatedRegression(objective, replicas)
    gen = as_generator(seed)
    x0 = objective.model.init_particles(n_particles * replicas, objective.input_dim,
                                        scale=init_scale, generator=gen, dtype=dtype)
    start = _tail_start(steps, tail)
    acc = {"F": torch.zeros(replicas, dtype=dtype), "err": torch.zeros(replicas, dtype=dtype), "m": 0}
    times, curves = [], []

    def cb(info):
        x = info["particles"]
        if f_ref is not None:
            d = rep.predict(x) - f_ref.to(x)
            err = (d * d).mean(1)
            times.append(info["step"])
            curves.append(err)
        if info["step"] > start:
            acc["F"] += rep.replica_values(x)
            if f_ref is not None:
                acc["err"] += err
            acc["m"] += 1

    x, hist = mfld(rep, x0, eta=eta, lambda2=lambda2, steps=steps, generator=gen, callback=cb,
                   callback_every=every, progress=False, record_every=every, **kw)
    m = max(acc["m"], 1)
    return {"particles": rep._split(x), "F": (acc["F"] / m).numpy(), "error": (acc["err"] / m).numpy(), "times": np.asarray(times),
            "curves": torch.stack(curves, 1).numpy() if curves else None, "history": hist}


def _mean_sem(v):
    v = np.asarray(v, float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def particle_number_experiment(
    objective: Regression,
    ns,
    *,
    replicas: int = 4,
    seed: int = 0,
    eta: float,
    lambda2: float,
    steps: int,
    tail: float = 0.5,
    every: int = 5,
    n_ref: int = 4096,
    ref_steps: int | None = None,
    init_scale: float = 1.0,
    dtype=torch.float64,
    callback=None,
    partial=None,
) -> dict:
    """The 1/N term: stationary ``E||f_{mu_N} - f_{mu*}||^2`` against ``N``.

    ``f_{mu*}`` from :func:`reference_prediction` with ``n_ref`` particles (seed 10^6). For each
    ``N``, ``replicas`` independent runs (one vectorised loop, seed ``seed + N``) record the
    squared prediction error every ``every`` steps (its curve over time) and average it over the
    last ``tail`` fraction of the run (time-averaging cuts the variance); ``F`` likewise (the
    plateau). ``fit`` is the log-log slope of the replica-mean error against ``N`` (theory: -1).
    ``callback(point)`` gets each N's point; ``partial(result)`` the result so far after each N
    but the last (``ns`` the ones measured; its fit NaN until two points).
    """
    ns = list(ns)
    ref = reference_prediction(objective, n_particles=n_ref, eta=eta, lambda2=lambda2,
                               steps=ref_steps or steps, tail=tail, every=every,
                               init_scale=init_scale, generator=10**6, dtype=dtype)
    f_ref = ref["f_ref"]
    out = {"ns": list(ns), "error": [], "error_sem": [], "F_plateau": [], "F_plateau_sem": [],
           "curves": {}, "reference": ref}
    for n_part in ns:
        r = _replicated_run(objective, n_part, replicas, seed=seed + n_part, eta=eta, lambda2=lambda2,
                            steps=steps, tail=tail, every=every, f_ref=f_ref,
                            init_scale=init_scale, dtype=dtype)
        for key, vals in (("error", r["error"]), ("F_plateau", r["F"])):
            mean, sem = _mean_sem(vals)
            out[key].append(mean)
            out[key + "_sem"].append(sem)
        out["curves"][n_part] = (r["times"], r["curves"])
        out.setdefault("final_particles", {})[n_part] = r["particles"]
        if callback is not None:
            callback({"N": n_part, "error": out["error"][-1], "F_plateau": out["F_plateau"][-1]})
        if partial is not None and len(out["error"]) < len(ns):
            done = ns[: len(out["error"])]
            partial({**out, "ns": done, "fit": _fit_so_far(done, out["error"]), "partial": True,
                     "tail_start": _tail_start(steps, tail)})
    out["fit"] = fit_slope(out["ns"], out["error"])
    out["tail_start"] = _tail_start(steps, tail)
    return out


def regression_eta_dependence(
    objective: Regression,
    etas,
    *,
    n_particles: int,
    replicas: int = 4,
    seed: int = 0,
    lambda2: float,
    horizon: float,
    tail: float = 0.5,
    every: int = 5,
    f_ref=None,
    dtype=torch.float64,
) -> dict:
    """The eta-dependence on the regression, measured as it is: for each ``eta``, ``replicas``
    runs over the same time horizon (``steps = horizon / eta``) from the same initial particles;
    tail means of ``F`` (and of the prediction error against ``f_ref`` when given) with their
    standard errors across replicas. Unlike the Gaussian case there is no closed form here."""
    horizon = check_real("horizon", horizon, low=0.0, low_open=True)
    out = {"eta": [], "F": [], "F_sem": [], "error": [], "error_sem": [], "steps": []}
    for eta in etas:
        steps = max(2 * every, int(round(horizon / eta)))
        r = _replicated_run(objective, n_particles, replicas, seed=seed, eta=eta, lambda2=lambda2,
                            steps=steps, tail=tail, every=every, f_ref=f_ref, dtype=dtype)
        out["eta"].append(float(eta))
        out["steps"].append(steps)
        for key, vals in (("F", r["F"]), ("error", r["error"])):
            mean, sem = _mean_sem(vals)
            out[key].append(mean)
            out[key + "_sem"].append(sem)
    return out
