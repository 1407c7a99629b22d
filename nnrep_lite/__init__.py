"""nnrep-lite: live, exact notebooks for representation theory and optimization of
neural networks (Suzuki, 2023): diffusion-model minimax rates on Besov B-spline
densities, mean-field Langevin dynamics, and one-step feature learning.

The library is pure torch/numpy computation. Plotting lives in :mod:`nnrep_lite.viz`
and ipywidgets panels in :mod:`nnrep_lite.widgets` (the only layer that imports
ipywidgets). Everything is imported lazily, so ``import nnrep_lite`` does not even import
torch until a name is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_HELPERS = {
    "DivergenceError", "MemoryBudgetError", "as_generator", "default_device", "memory_budget",
    "resolve_profile",
}
#: names from the workflow layer (records and notebook parameters), imported on first use
_WORKFLOW = {"record": "records", "check_parameters": "parameters"}
_SUBMODULES = {"bspline", "densities", "diffusion", "mfld", "onestep", "viz", "widgets", "workflow",
               "sweep", "cli"}

__all__ = ["__version__", *sorted(_WORKFLOW), *sorted(_HELPERS), *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _HELPERS:
        return getattr(importlib.import_module("._utils", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _WORKFLOW:
        return getattr(importlib.import_module(f".workflow.{_WORKFLOW[name]}", __name__), name)
    raise AttributeError(f"module 'nnrep_lite' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
