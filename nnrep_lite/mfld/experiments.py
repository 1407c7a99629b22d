"""Measured terms of the MFLD error decomposition (Suzuki, Nitanda, Wu 2023, Thm. 2):

.. math::

    e^{-\\lambda_2 \\eta k/\\alpha} + \\frac{\\alpha}{\\lambda_2}\\Big(\\eta^2 + \\lambda_2\\eta
    + \\frac1N + \\frac{(n - B)\\sqrt{\\eta\\lambda_2}}{B(n-1)}\\Big).

- :func:`gaussian_eta_bias`: the eta term, on the Gaussian case where the stationary law of the
  discrete chain is known exactly;
- :func:`particle_number_experiment`: the 1/N term (uniform-in-time propagation of chaos);
- :func:`batch_size_experiment`: the stochastic-gradient term, SG beside SVRG.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._utils import as_generator, check_int, check_real
from .diagnostics import prediction_error
from .langevin import mfld
from .objectives import Quadratic, Regression


def fit_slope(xs, ys) -> dict:
    """Least-squares slope of ``log y`` on ``log x`` with its standard error."""
    lx, ly = np.log(np.asarray(xs, float)), np.log(np.asarray(ys, float))
    if len(lx) < 2 or not np.all(np.isfinite(ly)):
        raise ValueError("ys is invalid: need >= 2 positive values to fit a log-log slope")
    A = np.stack([lx, np.ones_like(lx)], 1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    resid = ly - A @ coef
    dof = max(len(lx) - 2, 1)
    cov = (resid @ resid / dof) * np.linalg.inv(A.T @ A)
    return {"slope": float(coef[0]), "intercept": float(coef[1]), "stderr": float(math.sqrt(cov[0, 0]))}


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
) -> dict:
    """Stationary bias of the per-coordinate variance of MFLD on :class:`Quadratic`, by simulation.

    For each ``eta`` the loop :func:`mfld` runs from ``N(0, v_0)``, ``v_0 = lambda2/(2 lambda1)``
    (the continuous-time stationary law). Its noise is recovered from each update and drives a
    synchronously coupled *exact* OU chain ``Y_{k+1} = e^{-2 lambda1 eta} Y_k +
    sqrt(v_0 (1 - e^{-4 lambda1 eta})) xi_k`` whose law stays ``N(0, v_0)`` exactly. The bias
    ``E X^2 - v_0`` is estimated as the tail mean of ``X^2 - Y^2`` (a control variate: same
    expectation, far smaller variance), with a standard error from ``groups`` independent groups
    of particles. ``exact`` is ``v_eta - v_0`` with ``v_eta = lambda2/(2 lambda1 (1-lambda1 eta))``.
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


def particle_number_experiment(
    objective: Regression,
    ns,
    *,
    seeds=(0, 1, 2),
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
) -> dict:
    """The 1/N term: stationary ``E||f_{mu_N} - f_{mu*}||^2`` against ``N``.

    ``f_{mu*}`` from :func:`reference_prediction` with ``n_ref`` particles (seed 10^6). For each
    ``N`` and seed, the squared prediction error is recorded every ``every`` steps (its curve over
    time) and averaged over the last ``tail`` fraction of the run (time-averaging cuts the
    variance); ``F`` is averaged likewise (the plateau). ``fit`` is the log-log slope of the
    seed-mean error against ``N`` (theory: -1).
    """
    ref = reference_prediction(objective, n_particles=n_ref, eta=eta, lambda2=lambda2,
                               steps=ref_steps or steps, tail=tail, every=every,
                               init_scale=init_scale, generator=10**6, dtype=dtype)
    f_ref = ref["f_ref"]
    start = _tail_start(steps, tail)
    rows, curves = [], {}
    for n_part in ns:
        for seed in seeds:
            gen = as_generator(seed)
            x0 = objective.model.init_particles(n_part, objective.input_dim, scale=init_scale,
                                                generator=gen, dtype=dtype)
            curve_t, curve_e = [], []

            def cb(info, curve_t=curve_t, curve_e=curve_e):
                curve_t.append(info["step"])
                curve_e.append(prediction_error(objective, info["particles"], f_ref))

            _, hist = mfld(objective, x0, eta=eta, lambda2=lambda2, steps=steps, generator=gen,
                           callback=cb, callback_every=every, progress=False)
            t = np.asarray(curve_t)
            e = np.asarray(curve_e)
            rows.append({"N": n_part, "seed": seed, "error": float(e[t > start].mean()),
                         "F_plateau": float(np.mean(hist["F"][start:]))})
            curves[(n_part, seed)] = (t, e)
            if callback is not None:
                callback(rows[-1])
    ns = list(ns)
    mean_err = [float(np.mean([r["error"] for r in rows if r["N"] == m])) for m in ns]
    sem_err = [float(np.std([r["error"] for r in rows if r["N"] == m]) / math.sqrt(len(seeds))) for m in ns]
    mean_f = [float(np.mean([r["F_plateau"] for r in rows if r["N"] == m])) for m in ns]
    sem_f = [float(np.std([r["F_plateau"] for r in rows if r["N"] == m]) / math.sqrt(len(seeds))) for m in ns]
    return {"ns": ns, "rows": rows, "curves": curves, "error": mean_err, "error_sem": sem_err,
            "F_plateau": mean_f, "F_plateau_sem": sem_f, "fit": fit_slope(ns, mean_err),
            "reference": ref, "tail_start": start}


def batch_size_experiment(
    objective: Regression,
    batch_sizes,
    *,
    n_particles: int,
    seeds=(0, 1),
    eta: float,
    lambda2: float,
    steps: int,
    tail: float = 0.5,
    svrg: bool = True,
    init_scale: float = 1.0,
    dtype=torch.float64,
) -> dict:
    """The stochastic-gradient term: stationary excess of ``F`` (tail mean over the last
    ``tail`` of the run, averaged over seeds) of SG-MFLD with batch ``B`` over the
    full-gradient run with the same seeds, and the same for SVRG-MFLD. ``cost`` is the
    gradient cost per step (full-data gradients), so SG and SVRG compare at equal cost."""
    n = objective.n_data
    start = _tail_start(steps, tail)

    def plateau(bs, vr):
        vals, cost = [], 0.0
        for seed in seeds:
            gen = as_generator(seed)
            x0 = objective.model.init_particles(n_particles, objective.input_dim, scale=init_scale,
                                                generator=gen, dtype=dtype)
            _, h = mfld(objective, x0, eta=eta, lambda2=lambda2, steps=steps, batch_size=bs,
                        variance_reduction=vr, generator=gen, progress=False)
            vals.append(np.mean(h["F"][start:]))
            cost = h["grad_evals"][-1] / steps
        return np.asarray(vals), cost

    full, _ = plateau(None, None)
    out = {"batch_sizes": list(batch_sizes), "n": n, "full_plateau": float(full.mean()),
           "sg": [], "sg_sem": [], "sg_cost": [], "svrg": [], "svrg_sem": [], "svrg_cost": []}
    for b in batch_sizes:
        for name, vr in (("sg", None), ("svrg", "svrg")) if svrg else (("sg", None),):
            vals, cost = plateau(b, vr)
            d = vals - full
            out[name].append(float(d.mean()))
            out[name + "_sem"].append(float(d.std() / math.sqrt(len(seeds))))
            out[name + "_cost"].append(cost)
    out["theory_shape"] = [(n - b) / (b * (n - 1)) for b in batch_sizes]
    return out
