"""Denoising score matching (DSM) and its training loop."""

from __future__ import annotations

import math
import time

import torch

from .._utils import (
    as_generator,
    as_samples,
    as_tensor,
    check_choice,
    check_finite,
    check_int,
    check_real,
    randn,
)

__all__ = ["dsm_loss", "sample_times", "train_score"]

TIME_SAMPLING = ("uniform", "log_uniform")
WEIGHTING = ("sigma2", "none")


def _check_times(t_min, t_max) -> tuple[float, float]:
    t_min = check_real("t_min", t_min, low=0.0, low_open=True)
    t_max = check_real("t_max", t_max, low=0.0, low_open=True)
    if t_min >= t_max:
        raise ValueError(f"t_min={t_min:g} is invalid: must be < t_max={t_max:g}")
    return t_min, t_max


def sample_times(n: int, *, t_min: float, t_max: float, time_sampling: str = "log_uniform",
                 generator=None, device=None, dtype=None) -> torch.Tensor:
    """n times in [t_min, t_max]: uniform, or log-uniform (density proportional to 1/t)."""
    t_min, t_max = _check_times(t_min, t_max)
    check_choice("time_sampling", time_sampling, TIME_SAMPLING)
    gen = as_generator(generator)
    if gen is None:
        u = torch.rand(n, device=device, dtype=dtype)
    else:
        u = torch.rand(n, generator=gen, device=gen.device, dtype=dtype).to(device)
    if time_sampling == "uniform":
        return t_min + (t_max - t_min) * u
    return t_min * torch.exp(u * math.log(t_max / t_min))


def dsm_loss(model, x0, *, t_min: float, t_max: float, generator=None,
             time_sampling: str = "log_uniform", weighting: str = "sigma2") -> torch.Tensor:
    """Empirical denoising score-matching loss (a scalar tensor with grad).

    .. math::  \\frac1n \\sum_i \\lambda(t_i)\\, \\| s_\\theta(x_{t_i}, t_i) + Z_i/\\sigma_{t_i} \\|^2,
               \\qquad x_{t_i} = \\mu_{t_i} x_0^{(i)} + \\sigma_{t_i} Z_i,

    since :math:`\\nabla \\log p_t(x_t | x_0) = -(x_t - \\mu_t x_0)/\\sigma_t^2 = -Z/\\sigma_t`.
    ``time_sampling="uniform"`` with ``weighting="none"`` is the talk's estimator
    (t ~ Unif[t_min, t_max], equal weights); the default log-uniform t with
    :math:`\\lambda = \\sigma_t^2` (the usual noise-prediction loss
    :math:`\\|\\hat\\varepsilon - Z\\|^2` for :class:`ScoreMLP`) has far smaller variance.
    x0 : (n, d).
    """
    check_choice("weighting", weighting, WEIGHTING)
    x0 = as_tensor(x0)
    if x0.dim() == 1:
        x0 = x0[:, None]
    gen = as_generator(generator)
    t = sample_times(x0.shape[0], t_min=t_min, t_max=t_max, time_sampling=time_sampling,
                     generator=gen, device=x0.device, dtype=x0.dtype)
    mu = torch.exp(-t)[:, None]
    sigma = torch.sqrt(-torch.expm1(-2.0 * t))[:, None]
    z = randn(x0.shape, generator=gen, device=x0.device, dtype=x0.dtype)
    xt = mu * x0 + sigma * z
    s = model(xt, t)
    if weighting == "sigma2":
        return ((sigma * s + z) ** 2).sum(1).mean()
    return ((s + z / sigma) ** 2).sum(1).mean()


def train_score(model, data, *, steps: int, batch_size: int = 256, lr: float = 2e-3,
                t_min: float = 1e-3, t_max: float = 8.0, generator=None, callback=None,
                progress: bool = True, callback_every: int = 50, time_sampling: str = "log_uniform",
                weighting: str = "sigma2", lr_decay: bool = True, weight_decay: float = 0.0,
                lr_final: float = 0.05, ema: float = 0.0) -> dict:
    """Fit ``model`` by Adam on :func:`dsm_loss` over minibatches of ``data``.

    ``data`` is either a tensor (n, d) of training points (minibatches drawn with replacement),
    or a callable ``data(batch_size, generator) -> (batch_size, d)`` that draws a *fresh*
    minibatch from the target at every step (no sample is ever reused: the n = infinity
    limit, which isolates the optimisation error of a training budget from the statistical
    error of n samples).

    ``lr_decay`` anneals the step size with a cosine to ``lr_final * lr`` (default lr/20).
    ``ema`` in [0, 1): if > 0, an exponential moving average of the weights,
    :math:`\\bar\\theta \\leftarrow \\text{ema}\\,\\bar\\theta + (1-\\text{ema})\\,\\theta` per step, is
    loaded into ``model`` at the end (it averages out the SGD noise). ``callback(dict)`` is called every
    ``callback_every`` steps with keys step, loss (running mean since the last call), lr, elapsed_s.
    A NaN/Inf loss raises :class:`~nnrep_lite.DivergenceError` naming the step (lower ``lr``).
    Returns the history: dict of lists ``step``, ``loss``, ``lr``, ``elapsed_s``.
    """
    from tqdm.auto import tqdm

    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    callback_every = check_int("callback_every", callback_every, low=1)
    weight_decay = check_real("weight_decay", weight_decay, low=0.0)
    lr_final = check_real("lr_final", lr_final, low=0.0, high=1.0)
    ema = check_real("ema", ema, low=0.0, high=1.0, high_open=True)
    _check_times(t_min, t_max)
    check_choice("time_sampling", time_sampling, TIME_SAMPLING)
    check_choice("weighting", weighting, WEIGHTING)
    p = next(model.parameters())
    fresh = callable(data)
    if not fresh:
        data = as_samples(data)
        n = data.shape[0]
        data = data.to(device=p.device, dtype=p.dtype)
    gen = as_generator(generator)
    # foreach: one fused update over all parameter tensors (the per-tensor loop is the cost of a
    # small network's step on a CPU)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=True)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * lr_final)
             if lr_decay else None)
    averaged = [q.detach().clone() for q in model.parameters()] if ema > 0 else None
    history = {"step": [], "loss": [], "lr": [], "elapsed_s": []}
    t0 = time.perf_counter()
    running, count = 0.0, 0
    model.train()
    bar = tqdm(range(1, steps + 1), desc="DSM training", disable=not progress, leave=False)
    for step in bar:
        if fresh:
            batch = as_samples(data(batch_size, gen), name="data(batch_size, generator)", min_rows=1)
            if batch.shape[0] != batch_size:
                raise ValueError(f"data(batch_size={batch_size}, generator) returned {batch.shape[0]} rows: "
                                 f"must return batch_size rows")
            batch = batch.to(device=p.device, dtype=p.dtype)
        elif gen is None:
            batch = data[torch.randint(n, (batch_size,), device=data.device)]
        else:
            batch = data[torch.randint(n, (batch_size,), generator=gen, device=gen.device).to(data.device)]
        loss = dsm_loss(model, batch, t_min=t_min, t_max=t_max, generator=gen,
                        time_sampling=time_sampling, weighting=weighting)
        check_finite("DSM loss", loss.detach(), step=step,
                     knob=f"lower the learning rate lr={lr:g} (or check the data for NaN/Inf)")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if averaged is not None:
            with torch.no_grad():
                torch._foreach_lerp_(averaged, [q.detach() for q in model.parameters()], 1.0 - ema)
        running += loss.detach()
        count += 1
        if step % callback_every == 0 or step == steps:
            mean = float(running / count)
            info = {"step": step, "loss": mean, "lr": opt.param_groups[0]["lr"],
                    "elapsed_s": time.perf_counter() - t0}
            for key in history:
                history[key].append(info[key])
            bar.set_postfix(loss=f"{mean:.4f}")
            if callback is not None:
                callback(info)
            running, count = 0.0, 0
    if averaged is not None:
        with torch.no_grad():
            for q, a in zip(model.parameters(), averaged):
                q.copy_(a)
    model.eval()
    return history
