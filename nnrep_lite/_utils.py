"""Shared helpers: device choice, seeds, argument validation, divergence errors, profiles.

Every module validates with these helpers so that messages have one shape:
``"<name>=<value> is invalid: must be <allowed>"``.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable

import numpy as np
import torch

PROFILES = ("ci", "default", "full")


class DivergenceError(ValueError):
    """A loop produced NaN/Inf. The message names the step and the knob to turn."""


def default_device() -> torch.device:
    """The device new tensors go to: ``NNREP_DEVICE`` if set, else cuda, then mps, then cpu."""
    env = os.environ.get("NNREP_DEVICE")
    if env:
        try:
            return torch.device(env)
        except RuntimeError as exc:  # pragma: no cover - message path
            raise ValueError(
                f"NNREP_DEVICE={env!r} is invalid: must be a torch device string such as "
                "'cpu', 'cuda', 'cuda:1' or 'mps'"
            ) from exc
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def as_generator(
    seed: int | torch.Generator | None = None, device: torch.device | str | None = None
) -> torch.Generator | None:
    """Turn ``seed`` (an int, a ``torch.Generator`` or None) into a generator.

    ``None`` stays ``None`` (torch's global RNG is used); an int gives a fresh generator on
    ``device`` (default cpu) seeded with it; a generator is returned unchanged. The same int
    gives the same CPU stream bit for bit.
    """
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed={seed!r} is invalid: must be an int >= 0, a torch.Generator or None"
        )
    if seed < 0:
        raise ValueError(f"seed={seed} is invalid: must be an int >= 0")
    gen = torch.Generator(device=torch.device(device) if device is not None else "cpu")
    gen.manual_seed(int(seed))
    return gen


def resolve_profile(profile: str = "default") -> str:
    """The active notebook profile: ``NNREP_PROFILE`` when set, else ``profile``.

    ``ci`` runs in seconds, ``default`` is lecture size, ``full`` is paper size.
    """
    chosen = os.environ.get("NNREP_PROFILE") or profile
    return check_choice("profile", chosen, PROFILES)


# ---------------------------------------------------------------- validation helpers


def _fmt(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def check_choice(name: str, value, allowed: Iterable):
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(
            f"{name}={_fmt(value)} is invalid: must be one of {', '.join(map(repr, allowed))}"
        )
    return value


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Check that ``value`` is an integer in [low, high] (bounds optional) and return it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
            value = int(value.item())
        else:
            raise TypeError(f"{name}={_fmt(value)} is invalid: must be an integer{_range(low, high)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}={value} is invalid: must be an integer{_range(low, high)}")
    return value


def check_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check that ``value`` is a finite real number in the given interval and return it."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={_fmt(value)} is invalid: must be a real number")
    value = float(value)
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or lo_bad or hi_bad:
        lb = "(" if low_open else "["
        rb = ")" if high_open else "]"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name}={value:g} is invalid: must be a finite number in {lb}{lo}, {hi}{rb}")
    return value


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def as_tensor(x, *, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
    """Convert numpy arrays / Python numbers to a tensor; tensors keep their dtype and device.

    Non-tensor input becomes float64 (exactness first) unless ``dtype`` is given.
    """
    if isinstance(x, torch.Tensor):
        if dtype is None and device is None:
            return x
        return x.to(dtype=dtype or x.dtype, device=device or x.device)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype or torch.float64, device=device)


def check_finite(name: str, tensor: torch.Tensor, *, step: int, knob: str) -> None:
    """Raise :class:`DivergenceError` if ``tensor`` holds NaN/Inf (one device sync)."""
    if not bool(torch.isfinite(tensor).all()):
        raise DivergenceError(
            f"{name} became NaN/Inf at step {step}; {knob}"
        )
