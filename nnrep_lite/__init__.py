"""nnrep-lite: live, exact notebooks for representation theory and optimization of
neural networks (Suzuki, 2023): diffusion-model minimax rates on Besov B-spline
densities, mean-field Langevin dynamics, and one-step feature learning.

The library is pure torch/numpy computation. Plotting lives in :mod:`nnrep_lite.viz`
and ipywidgets panels in :mod:`nnrep_lite.widgets` (the only layer that imports
ipywidgets). Submodules are imported lazily so that ``import nnrep_lite`` stays fast.
"""

from __future__ import annotations

import importlib

from ._utils import (
    DivergenceError,
    MemoryBudgetError,
    as_generator,
    check_parameters,
    default_device,
    memory_budget,
    resolve_profile,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "default_device",
    "as_generator",
    "resolve_profile",
    "DivergenceError",
    "MemoryBudgetError",
    "check_parameters",
    "memory_budget",
    "bspline",
    "densities",
    "diffusion",
    "mfld",
    "onestep",
    "viz",
    "widgets",
]

_SUBMODULES = {"bspline", "densities", "diffusion", "mfld", "onestep", "viz", "widgets", "sweep", "cli"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "record":
        from .sweep import record

        return record
    raise AttributeError(f"module 'nnrep_lite' has no attribute {name!r}")
