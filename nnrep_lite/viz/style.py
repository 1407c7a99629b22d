"""Shared figure conventions: the colour-blind-safe palette and tensor-to-array conversion."""

from __future__ import annotations

import numpy as np

# Okabe-Ito: distinguishable with every common colour-vision deficiency
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def to_numpy(x) -> np.ndarray:
    """A float64 numpy array on the CPU from a tensor (any device), array or sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)
