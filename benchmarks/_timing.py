"""Timing helpers shared by the benchmark modules (same-process ratios, never absolute gates)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def _sync(device: str | torch.device | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, device=None) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def record(name: str, ours_s: float, baseline_s: float, target: float, baseline: str, params: dict) -> dict:
    """One benchmark record; ``ratio = ours_s / baseline_s``."""
    return {
        "name": name,
        "ratio": ours_s / baseline_s,
        "target": target,
        "baseline": baseline,
        "ours_s": ours_s,
        "baseline_s": baseline_s,
        "params": params,
    }


def paired_median_times(ours: Callable[[], object], base: Callable[[], object], repeat: int = 11,
                        warmup: int = 2, device=None) -> tuple[float, float]:
    """Median times of ``ours`` and ``base``, run alternately (A, B, A, B, ...) so that a slow
    phase of a shared machine hits both sides alike; returns ``(ours_s, base_s)``."""
    for _ in range(warmup):
        ours()
        base()
    _sync(device)
    ta, tb = [], []
    for _ in range(repeat):
        for fn, acc in ((ours, ta), (base, tb)):
            t0 = time.perf_counter()
            fn()
            _sync(device)
            acc.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)
