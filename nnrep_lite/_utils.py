"""Shared helpers: device choice, seeds, argument validation, divergence errors, profiles.

Every module validates with these helpers so that messages have one shape:
``"<name>=<value> is invalid: must be <allowed>"``.
"""

from __future__ import annotations

import math
import numbers
import os
import time
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


def randn(shape, *, generator=None, device=None, dtype=None) -> torch.Tensor:
    """Standard normal draws; the stream comes from ``generator`` (on its own device), then
    moved to ``device``. Same seed, same CPU result bit for bit."""
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    out = torch.randn(shape, generator=generator, device=generator.device, dtype=dtype)
    return out.to(device) if device is not None else out


def resolve_profile(profile: str = "default") -> str:
    """The active notebook profile: ``NNREP_PROFILE`` when set, else ``profile``.

    ``ci`` runs in seconds, ``default`` is lecture size, ``full`` is paper size.
    """
    check_choice("profile", profile, PROFILES)
    env = os.environ.get("NNREP_PROFILE")
    if env:
        check_choice("NNREP_PROFILE", env, PROFILES)
    return env or profile


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


# ---------------------------------------------------------------- memory guard


class MemoryBudgetError(ValueError):
    """A request whose estimated memory exceeds the budget (``NNREP_MAX_MEMORY``)."""


_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def _parse_bytes(text: str) -> int:
    s = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = s[-1] if s and s[-1] in "kmgt" else ""
    try:
        value = float(s[: len(s) - len(unit)])
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"NNREP_MAX_MEMORY={text!r} is invalid: must be a positive size such as 8G, 512M or 1e9")
    return int(value * _UNITS[unit])


# Memory-allocator settings for processes that run this project (kernels, benchmarks, CI).
# glibc malloc: serve allocations below 256 MiB from the heap and keep up to 1 GiB of freed
# memory instead of returning it to the OS at once. With the defaults, after a computation freed
# large buffers the next ones (MFLD loops, exact scores) ran 1.5-3x slower, re-faulting fresh
# pages on every step; with these, fresh and "after" runs take the same time. Ignored by other
# C libraries. One malloc arena for all threads, and MKL (torch's CPU BLAS) without a private
# cache of freed GEMM buffers: the BLAS worker threads' buffers then reuse the memory the main
# thread freed. Without them the peak of the one-step experiment at the paper size was
# 1.86-2.1x its inputs, varying between runs (1.62-1.76x with them), for no measured speed
# difference. MKL_DISABLE_FAST_MM is ignored where torch does not use MKL.
ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(256 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(2**30),
    "MALLOC_TOP_PAD_": str(64 * 2**20),
    "MALLOC_ARENA_MAX": "1",
    "MKL_DISABLE_FAST_MM": "1",
}


def allocator_env(env: dict | None = None) -> dict:
    """``env`` (default: ``os.environ``) with :data:`ALLOCATOR_ENV` added where not already set,
    for child processes (a running process cannot change its own malloc parameters this way)."""
    out = dict(os.environ if env is None else env)
    for key, value in ALLOCATOR_ENV.items():
        out.setdefault(key, value)
    return out


_RAM_CACHE: list[float] = [-1.0, 0.0]  # (monotonic time, bytes): reread at most once a second


def _available_ram() -> int:
    now = time.monotonic()
    if now - _RAM_CACHE[0] < 1.0:
        return int(_RAM_CACHE[1])
    _RAM_CACHE[:] = [now, float(_read_available_ram())]
    return int(_RAM_CACHE[1])


def _read_available_ram() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 8 * 2**30


def memory_budget(device: torch.device | str | None = None) -> int:
    """Bytes one request may use: ``NNREP_MAX_MEMORY`` if set, else 60% of available RAM
    (or 80% of free GPU memory for a CUDA device)."""
    env = os.environ.get("NNREP_MAX_MEMORY")
    if env:
        return _parse_bytes(env)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(dev)
        return int(0.8 * free)
    return int(0.6 * _available_ram())


def check_memory(nbytes: float, *, what: str, reduce: str, device=None) -> None:
    """Refuse a request whose estimated peak memory exceeds :func:`memory_budget`.

    Args:
        nbytes: the estimate in bytes.
        what: what is being computed ("one-step experiment").
        reduce: the parameters to reduce ("n or N").
    """
    budget = memory_budget(device)
    if nbytes > budget:
        raise MemoryBudgetError(
            f"{what} needs about {nbytes / 2**30:.2f} GiB, over the memory budget of "
            f"{budget / 2**30:.2f} GiB (NNREP_MAX_MEMORY): reduce {reduce}"
        )


def as_samples(data, *, name: str = "data", min_rows: int = 2) -> torch.Tensor:
    """Samples as an (n, d) tensor (a 1-D input becomes (n, 1)) with at least ``min_rows`` rows."""
    data = as_tensor(data)
    if data.dim() == 1:
        data = data[:, None]
    if data.dim() != 2 or data.shape[0] < min_rows:
        raise ValueError(
            f"{name} with n={data.shape[0] if data.dim() else 0} rows (shape {tuple(data.shape)}) is "
            f"invalid: must be (n, d) with n >= {min_rows}"
        )
    return data
