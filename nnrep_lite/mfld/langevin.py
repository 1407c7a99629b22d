"""The mean-field Langevin loop: full-gradient MFLD, SG-MFLD and SVRG-MFLD.

Implements the particle update of Suzuki, Nitanda, Wu (NeurIPS 2023, eq. (3)-(5)):

.. math::

    X^i_{k+1} = X^i_k - \\eta\\, v^i_k + \\sqrt{2 \\lambda_2 \\eta}\\, \\xi^i_k,
    \\qquad \\xi^i_k \\sim N(0, I),

with ``v^i_k`` one of

- full gradient: ``grad (dF/dmu)(mu_k)(X^i_k)``;
- SG-MFLD: the same with the data average over a batch of ``B`` indices drawn uniformly
  without replacement each step (unbiased);
- SVRG-MFLD: ``g_B(mu_k)(X^i_k) - g_B(mu~)(X~^i) + grad (dF/dmu)(mu~)(X~^i)`` with an anchor
  ``X~`` refreshed (with a full gradient) every ``svrg_period`` steps (unbiased).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from .._utils import (
    DivergenceError,
    as_generator,
    check_choice,
    check_int,
    check_memory,
    check_real,
)
from .objectives import Objective


def svrg_gradient(objective: Objective, particles, anchor, anchor_grad, batch) -> torch.Tensor:
    """The SVRG estimator ``g_B(mu)(X) - g_B(mu~)(X~) + g(mu~)(X~)``, shape ``(N, D)``."""
    if batch is None:
        return objective._value_and_grad(particles, None)[1]
    g_now = objective._value_and_grad(particles, batch)[1]
    g_anchor = objective._value_and_grad(anchor, batch)[1]
    return g_now.sub_(g_anchor).add_(anchor_grad)


def _all_finite(x: torch.Tensor) -> bool:
    """Whether ``x`` holds no NaN/Inf. A finite sum implies it (one reduction, 15x cheaper than
    the elementwise test on a panel's particles); only a non-finite sum, which a large finite
    ``x`` can also give by overflow, is checked element by element."""
    return math.isfinite(float(x.sum())) or bool(torch.isfinite(x).all())


def mfld(
    objective: Objective,
    particles,
    *,
    eta: float,
    lambda2: float,
    steps: int,
    batch_size: int | None = None,
    variance_reduction: str | None = None,
    svrg_period: int | None = None,
    generator: torch.Generator | int | None = None,
    callback: Callable[[dict], None] | None = None,
    callback_every: int = 10,
    record_every: int = 1,
    free_energy_every: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, dict]:
    """Run ``steps`` MFLD steps on ``particles`` ``(N, D)``; returns ``(particles, history)``.

    Parameters
    ----------
    objective : an :mod:`nnrep_lite.mfld.objectives` objective (``Regression``, ``MMDDensity``,
        ``KSDVariational``, ``Quadratic``).
    particles : ``(N, D)`` tensor; the output keeps its dtype and device (input not modified).
    eta : step size, > 0. lambda2 : temperature (entropy weight), >= 0 (0: plain particle GD).
    batch_size : ``B`` in ``[1, n]`` for SG-MFLD (None: full gradient; ``B = n`` is exactly the
        full gradient).
    variance_reduction : None or ``"svrg"`` (needs ``batch_size``); ``svrg_period`` is the
        anchor refresh period in steps (default ``ceil(n / B)``: one data pass).
    callback : called with a dict (``step``, ``particles``, ``F``, ``time``, ``grad_evals``)
        every ``callback_every`` steps and at the end, for live plots.
    record_every : record the exact objective ``F`` every this many steps (free in full-gradient
        mode; one full forward pass per record with minibatches).
    free_energy_every : also record ``F - lambda2 * knn_entropy`` every this many steps (0: never).

    History: ``step``, ``F`` (per recorded step, before the update), ``time`` (seconds since
    start), ``grad_evals`` (cumulative, in units of one full-data gradient over all particles),
    and ``free_energy_step``/``free_energy`` when requested. Raises :class:`DivergenceError`
    (a ``ValueError``) naming ``eta`` when the particles become NaN/Inf.
    """
    if not isinstance(objective, Objective):
        raise TypeError(f"objective={objective!r} is invalid: must be an mfld Objective")
    x = objective.check_particles(particles).clone()
    eta = check_real("eta", eta, low=0.0, low_open=True)
    lambda2 = check_real("lambda2", lambda2, low=0.0)
    steps = check_int("steps", steps, low=1)
    callback_every = check_int("callback_every", callback_every, low=1)
    record_every = check_int("record_every", record_every, low=1)
    free_energy_every = check_int("free_energy_every", free_energy_every, low=0)
    check_choice("variance_reduction", variance_reduction, (None, "svrg"))
    n = objective.n_data
    # the closed-form gradients hold a few (N, n_batch) arrays per step (x 2 for SVRG's anchor)
    cols = (batch_size or n or 1) * (2 if variance_reduction == "svrg" else 1)
    check_memory(6 * x.shape[0] * cols * x.element_size(), what=f"one MFLD step with N={x.shape[0]} particles",
                 reduce="the number of particles N or batch_size", device=x.device)
    if batch_size is not None:
        if n is None:
            raise ValueError(
                f"batch_size={batch_size} is invalid: {type(objective).__name__} has no data; use None"
            )
        batch_size = check_int("batch_size", batch_size, low=1, high=n)
    if variance_reduction == "svrg":
        if batch_size is None:
            raise ValueError("variance_reduction='svrg' is invalid without batch_size: set batch_size in [1, n]")
        svrg_period = check_int(
            "svrg_period", math.ceil(n / batch_size) if svrg_period is None else svrg_period, low=1
        )
    elif svrg_period is not None:
        raise ValueError(f"svrg_period={svrg_period} is invalid: only used with variance_reduction='svrg'")

    gen = as_generator(generator, device=x.device if x.device.type != "mps" else "cpu")
    # batches come from their own stream, seeded from ``gen``: runs that differ only in the
    # batch size share their Langevin noise (common random numbers for SG-vs-full comparisons)
    # (the seed is drawn in every mode, so that full-gradient and B = n runs share their noise)
    gen_device = gen.device if gen is not None else torch.device("cpu")
    batch_seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen_device))
    batch_gen = None
    if batch_size is not None:
        batch_gen = torch.Generator(device=gen_device)
        batch_gen.manual_seed(batch_seed)
    noise_scale = math.sqrt(2.0 * lambda2 * eta)
    hist = {"step": [], "F": [], "time": [], "grad_evals": []}
    if free_energy_every:
        hist["free_energy_step"], hist["free_energy"] = [], []
    # F per recorded step: floats on the CPU; 0-d tensors on a GPU (no device sync per step).
    # On the CPU a kept 0-d tensor is a tiny malloc'ed block between the step's large temporaries:
    # hundreds of them pinned the heap so that each step's (N, N + n) kernel matrix was placed
    # above them, and a 600-step run grew the resident set by 0.6-1.9 GB (glibc keeps it).
    on_cpu = x.device.type == "cpu"
    f_vals: list = []
    grad_evals = 0.0
    anchor = anchor_grad = None
    frac = 1.0 if batch_size is None else batch_size / n
    t0 = time.perf_counter()

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="MFLD", leave=False)

    def fail(step):
        raise DivergenceError(
            f"particles became NaN/Inf at step {step} with eta={eta:g}: the step size is too "
            f"large for this objective; try eta < {eta / 2:g}"
        )

    def sync_history():
        new = f_vals[len(hist["F"]) :]
        if new:
            hist["F"].extend(new if on_cpu else torch.stack(new).cpu().tolist())

    def emit(step, f_now):
        if callback is not None:
            sync_history()
            callback(
                {
                    "step": step,
                    "particles": x,
                    "F": float(f_now) if f_now is not None else math.nan,
                    "time": time.perf_counter() - t0,
                    "grad_evals": grad_evals,
                    "history": hist,
                }
            )

    f_now = None
    try:
        for k in range(steps):
            record = k % record_every == 0
            if batch_size is None:
                f_now, grad = objective._value_and_grad(x, None)
                grad_evals += 1.0
            else:
                batch = objective.draw_batch(batch_size, batch_gen, x.device)
                if variance_reduction == "svrg":
                    if k % svrg_period == 0:
                        anchor = x.clone()
                        anchor_grad = objective._value_and_grad(anchor, None)[1]
                        grad_evals += 1.0
                    grad = svrg_gradient(objective, x, anchor, anchor_grad, batch)
                    grad_evals += 2.0 * frac
                else:
                    grad = objective._value_and_grad(x, batch)[1]
                    grad_evals += frac
                f_now = objective._value_and_grad(x, None, need_grad=False)[0] if record else None
            if record:
                if not math.isfinite(float(f_now)):
                    fail(k)
                hist["step"].append(k)
                f_vals.append(float(f_now) if on_cpu else f_now.detach())
                hist["time"].append(time.perf_counter() - t0)
                hist["grad_evals"].append(grad_evals)
            if free_energy_every and k % free_energy_every == 0:
                from .diagnostics import knn_entropy

                hist["free_energy_step"].append(k)
                hist["free_energy"].append(float(objective.value(x)) - lambda2 * knn_entropy(x))
            x.add_(grad, alpha=-eta)
            if noise_scale > 0:
                x.add_(torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device), alpha=noise_scale)
            if (k + 1) % callback_every == 0:
                if not _all_finite(x):
                    fail(k)
                emit(k + 1, f_now)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if not _all_finite(x):
        fail(steps - 1)
    sync_history()
    if steps % callback_every:
        emit(steps, f_now)
    hist["wall_time"] = time.perf_counter() - t0
    hist["grad_evals_total"] = grad_evals
    hist.update(eta=eta, lambda2=lambda2, batch_size=batch_size, variance_reduction=variance_reduction)
    return x, hist


def annealed_mfld(
    objective: Objective,
    particles,
    *,
    eta: float,
    lambda2_start: float,
    lambda2_end: float,
    steps: int,
    stages: int = 10,
    generator: torch.Generator | int | None = None,
    callback: Callable[[dict], None] | None = None,
    callback_every: int = 10,
    progress: bool = False,
) -> tuple[torch.Tensor, dict]:
    """MFLD with the temperature annealed geometrically from ``lambda2_start`` to ``lambda2_end``
    in ``stages`` equal blocks of steps (a simulated-annealing schedule: the stationary law
    ``p_mu`` sharpens towards the minimiser of ``F``). Full gradient; returns ``(particles,
    history)`` with the stages' histories concatenated and ``lambda2`` per recorded step."""
    lambda2_start = check_real("lambda2_start", lambda2_start, low=0.0, low_open=True)
    lambda2_end = check_real("lambda2_end", lambda2_end, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=1)
    stages = check_int("stages", stages, low=1, high=steps)
    gen = as_generator(generator)
    x = particles
    hist = {"step": [], "F": [], "lambda2": [], "time": [], "grad_evals": []}
    done = 0
    for s in range(stages):
        lam = lambda2_start * (lambda2_end / lambda2_start) ** (s / max(stages - 1, 1))
        block = steps // stages + (1 if s < steps % stages else 0)

        def cb(info, done=done, lam=lam):
            if callback is not None:
                callback({**info, "step": info["step"] + done, "lambda2": lam})

        x, h = mfld(objective, x, eta=eta, lambda2=lam, steps=block, generator=gen, callback=cb,
                    callback_every=callback_every, progress=progress)
        t_off = hist["time"][-1] if hist["time"] else 0.0
        g_off = hist["grad_evals"][-1] if hist["grad_evals"] else 0.0
        hist["step"] += [k + done for k in h["step"]]
        hist["F"] += h["F"]
        hist["lambda2"] += [lam] * len(h["F"])
        hist["time"] += [t + t_off for t in h["time"]]
        hist["grad_evals"] += [g + g_off for g in h["grad_evals"]]
        done += block
    return x, hist
