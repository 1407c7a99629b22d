"""The forward Ornstein-Uhlenbeck process dX = -X dt + sqrt(2) dB (DESIGN.md)."""

from __future__ import annotations

import math

import torch

from .._utils import as_generator, as_tensor, check_real, randn

__all__ = ["ou_mean_std", "ou_sample"]


def ou_mean_std(t):
    """:math:`(\\mu_t, \\sigma_t) = (e^{-t}, \\sqrt{1 - e^{-2t}})`.

    ``t`` a float (returns floats) or a tensor (returns tensors of the same shape, dtype and
    device). ``sigma_t`` uses ``expm1`` so it is accurate for tiny ``t``.
    """
    if isinstance(t, torch.Tensor):
        if bool((t < 0).any()) or not bool(torch.isfinite(t).all()):
            raise ValueError("t is invalid: must be finite and >= 0")
        return torch.exp(-t), torch.sqrt(-torch.expm1(-2.0 * t))
    t = check_real("t", t, low=0.0)
    return math.exp(-t), math.sqrt(-math.expm1(-2.0 * t))


def ou_sample(x0, t, generator=None):
    """Draw :math:`X_t = \\mu_t x_0 + \\sigma_t Z` given :math:`X_0 = x_0`.

    x0 : (n, d). t : float, or tensor of shape (n,) / (n, 1) (one time per row).
    Returns ``(x_t, noise)`` both (n, d), with ``noise = Z`` (the DSM regression target is
    :math:`-Z/\\sigma_t`). dtype/device follow ``x0``.
    """
    x0 = as_tensor(x0)
    if x0.dim() == 1:
        x0 = x0[:, None]
    if isinstance(t, torch.Tensor) and t.numel() > 1:
        t = t.to(device=x0.device, dtype=x0.dtype).reshape(-1, 1)
        if t.shape[0] != x0.shape[0]:
            raise ValueError(f"t with {t.shape[0]} entries is invalid: must have one per row of x0 ({x0.shape[0]})")
    mu, sigma = ou_mean_std(t)
    noise = randn(x0.shape, generator=as_generator(generator), device=x0.device, dtype=x0.dtype)
    return mu * x0 + sigma * noise, noise
