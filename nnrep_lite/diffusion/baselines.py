"""Baselines a lecturer compares diffusion models against: the Gaussian kernel density
estimator with the minimax bandwidth, and the empirical distribution."""

from __future__ import annotations

import torch

from .._utils import as_samples, as_tensor, check_int, check_real
from ..densities import GaussianMixture

__all__ = ["minimax_bandwidth", "kde", "GaussianKDE"]


def minimax_bandwidth(n: int, smoothness: float, dim: int, *, scale: float = 1.0) -> float:
    """:math:`h = c\\, n^{-1/(2s+d)}`, the bandwidth that balances the bias :math:`h^s` against the
    variance :math:`(nh^d)^{-1/2}` and gives the minimax TV rate :math:`n^{-s/(2s+d)}`."""
    n = check_int("n", n, low=2)
    s = check_real("smoothness", smoothness, low=0.0, low_open=True)
    dim = check_int("dim", dim, low=1)
    return check_real("scale", scale, low=0.0, low_open=True) * n ** (-1.0 / (2.0 * s + dim))


class GaussianKDE(GaussianMixture):
    """Gaussian kernel density estimate :math:`\\hat p(x) = \\frac1n\\sum_i \\phi_h(x - X_i)`,
    i.e. a :class:`GaussianMixture` with one component :math:`N(X_i, h^2 I)` per data point, so it
    has exact sampling, exact bin masses (:meth:`bin_masses`) and exact OU scores.

    A Gaussian kernel has order 2: the bias is :math:`O(h^{\\min(s, 2)})`, so the KDE reaches the
    minimax rate for smoothness s <= 2 and saturates at :math:`n^{-2/(4+d)}` above it.
    data : (n, d); bandwidth h > 0.
    """

    def __init__(self, data, bandwidth: float):
        data = as_samples(data)
        h = check_real("bandwidth", bandwidth, low=0.0, low_open=True)
        self.bandwidth = h
        super().__init__(data, torch.full_like(data, h * h))

    def __repr__(self) -> str:
        return f"GaussianKDE(n={self.means.shape[0]}, d={self.dim}, h={self.bandwidth:.4g})"


def kde(data, *, smoothness: float | None = None, bandwidth: float | None = None,
        scale: float | None = None) -> GaussianKDE:
    """A :class:`GaussianKDE` of ``data`` (n, d) with the given ``bandwidth`` or, if omitted,
    :func:`minimax_bandwidth` for ``smoothness`` with the scale ``1.06 * std(data)``
    (Silverman's constant, so that s = 2, d = 1 is Silverman's rule)."""
    data = as_tensor(data)
    if data.dim() == 1:
        data = data[:, None]
    if bandwidth is None:
        if smoothness is None:
            raise ValueError("smoothness=None is invalid: give smoothness or bandwidth")
        if scale is None:
            scale = 1.06 * float(data.std(0).mean())
        bandwidth = minimax_bandwidth(data.shape[0], smoothness, data.shape[1], scale=scale)
    return GaussianKDE(data, bandwidth)
