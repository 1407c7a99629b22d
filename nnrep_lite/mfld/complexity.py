"""The computational complexity of SG-MFLD and its optimal mini-batch size (Suzuki, Nitanda, Wu
2023, the "computational complexity" slide).

To reach accuracy ``eps`` the bound's terms ask for

.. math::

    \\eta \\lesssim \\frac{\\epsilon}{\\alpha} \\wedge
    \\Big(\\frac{\\lambda_2\\epsilon}{\\alpha}\\Big)^2\\frac{B^2(n-1)^2}{(n-B)^2\\lambda_2}
    \\wedge \\sqrt{\\frac{\\lambda_2\\epsilon}{\\alpha}},
    \\qquad k \\approx \\frac{\\alpha}{\\lambda_2\\eta}\\log\\frac1\\epsilon,

and the gradient cost ``k B`` is smallest at ``B* = n \\wedge \\sqrt{\\alpha/(\\lambda_2\\epsilon)}``
(where the first two step-size limits meet). Here the step-size cap ``eta_max`` (the lecture's
stable step size, whose discretization bias is far below ``eps``) stands in for the
``sqrt(lambda2 eps / alpha)`` limit.

- :func:`lsi_constant_from_rate`: ``alpha`` from the measured linear convergence
  ``F_k - F_inf ~ exp(-lambda2 eta k / alpha)`` of full-gradient MFLD;
- :func:`batch_complexity_experiment`: the measured gradient cost to reach ``F <= F_full + eps``
  against ``B``, with ``eta`` per ``B`` from :func:`eta_for_accuracy`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._utils import as_generator, check_int, check_real
from .langevin import mfld
from .objectives import Regression, ReplicatedRegression
from .stochastic import sg_factor


def eta_for_accuracy(eps: float, *, alpha: float, lambda2: float, n: int, batch_size: int,
                     eta_max: float) -> float:
    """``min(eta_max, eps/alpha, (lambda2 eps/alpha)^2 / (lambda2 ((n-B)/(B(n-1)))^2))``: the
    iteration-complexity step size for batch ``B`` (constants 1)."""
    eps = check_real("eps", eps, low=0.0, low_open=True)
    alpha = check_real("alpha", alpha, low=0.0, low_open=True)
    f = sg_factor(n, batch_size)
    sg_limit = math.inf if f == 0 else (lambda2 * eps / alpha) ** 2 / (lambda2 * f * f)
    return min(eta_max, eps / alpha, sg_limit)


def predicted_best_batch(eps: float, *, alpha: float, lambda2: float, n: int) -> float:
    """``B* = min(n, sqrt(alpha / (lambda2 eps)))``."""
    return min(float(n), math.sqrt(alpha / (lambda2 * eps)))


def lsi_constant_from_rate(steps, values, plateau: float, *, eta: float, lambda2: float,
                           gap_window=(0.5, 0.02)) -> dict:
    """``alpha = lambda2 eta / rate`` from the slope of ``log(F_k - plateau)`` against ``k`` over
    the steps where the gap lies between ``gap_window[0]`` and ``gap_window[1]`` times the first
    gap (the linear-convergence phase, before the plateau's noise). Returns ``alpha``, ``rate``
    (per step) and the window used."""
    k = np.asarray(steps, float)
    gap = np.asarray(values, float) - plateau
    hi, lo = gap_window[0] * gap[0], gap_window[1] * gap[0]
    first_low = int(np.argmax(gap < lo)) if np.any(gap < lo) else len(gap)
    sel = np.arange(len(gap)) < first_low
    sel &= gap <= hi
    sel &= gap > 0
    if sel.sum() < 3:
        raise ValueError("values is invalid: fewer than 3 points in the linear-convergence window")
    slope, _ = np.polyfit(k[sel], np.log(gap[sel]), 1)
    rate = -float(slope)
    if rate <= 0:
        raise ValueError("values is invalid: F does not decrease in the linear-convergence window")
    return {"alpha": lambda2 * eta / rate, "rate": rate, "window": (float(k[sel][0]), float(k[sel][-1]))}


def _first_reach(hist, target: float, frac: float):
    """``(step, cost)`` of the first record with ``F <= target`` (cost in full-data gradients
    spent before that step: ``step * B / n``), or ``(None, inf)``."""
    for step, f, g in zip(hist["step"], hist["F"], hist["grad_evals"]):
        if f <= target:
            return step, g - frac  # grad_evals includes this step's own gradient
    return None, math.inf


def batch_complexity_experiment(
    objective: Regression,
    batch_sizes,
    *,
    eps: float,
    alpha: float,
    lambda2: float,
    plateau: float,
    eta_max: float,
    horizon: float,
    n_particles: int,
    replicas: int = 4,
    seed: int = 0,
    every: int = 5,
    max_steps: int = 50000,
    init_scale: float = 1.0,
    dtype=torch.float64,
) -> dict:
    """Gradient cost (full-data gradients, ``steps x B / n``) for the replica-mean ``F`` to reach
    ``plateau + eps``, for each ``B``, with ``eta = eta_for_accuracy(eps, B)``. Each run lasts
    ``horizon / eta`` steps (the same time; at most ``max_steps``) from the same initial
    particles; a run that does not reach the target has cost ``inf``. ``best`` is the measured
    cheapest ``B``, ``predicted`` ``min(n, sqrt(alpha/(lambda2 eps)))``."""
    n = objective.n_data
    eps = check_real("eps", eps, low=0.0, low_open=True)
    horizon = check_real("horizon", horizon, low=0.0, low_open=True)
    max_steps = check_int("max_steps", max_steps, low=1)
    rep = ReplicatedRegression(objective, check_int("replicas", replicas, low=1))
    x0 = objective.model.init_particles(n_particles * replicas, objective.input_dim, scale=init_scale,
                                        generator=as_generator(seed), dtype=dtype)
    out = {"batch_sizes": [], "eta": [], "steps": [], "reach_step": [], "cost": [], "grad_evals_total": [],
           "eps": eps, "alpha": alpha, "lambda2": lambda2, "n": n, "plateau": plateau}
    for b in batch_sizes:
        b = check_int("batch_sizes", b, low=1, high=n)
        eta = eta_for_accuracy(eps, alpha=alpha, lambda2=lambda2, n=n, batch_size=b, eta_max=eta_max)
        steps = min(max_steps, max(2 * every, math.ceil(horizon / eta)))
        _, hist = mfld(rep, x0, eta=eta, lambda2=lambda2, steps=steps, batch_size=None if b >= n else b,
                       generator=seed + 1, record_every=every, callback_every=steps, progress=False)
        frac = 1.0 if b >= n else b / n
        step, cost = _first_reach(hist, plateau + eps, frac)
        for key, val in (("batch_sizes", b), ("eta", eta), ("steps", steps), ("reach_step", step),
                         ("cost", cost), ("grad_evals_total", hist["grad_evals_total"])):
            out[key].append(val)
    finite = [(c, b) for c, b in zip(out["cost"], out["batch_sizes"]) if math.isfinite(c)]
    out["best"] = min(finite)[1] if finite else None
    out["predicted"] = predicted_best_batch(eps, alpha=alpha, lambda2=lambda2, n=n)
    return out
