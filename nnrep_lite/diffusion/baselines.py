"""Baselines a lecturer compares diffusion models against: the Gaussian kernel density
estimator with the minimax bandwidth, and the empirical distribution."""

from __future__ import annotations

import math

import torch

from .._utils import as_samples, as_tensor, check_int, check_real
from ..densities import GaussianMixture, _as_points, _check_t, ou_coefficients

#: Kernels farther than this many bandwidths from x are left out of the 1-D sum
#: (each would add less than exp(-40.5) ~ 3e-18 of its own peak: below float64 rounding).
_CUTOFF = 9.0

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

        self._sorted = data[:, 0].to(torch.float64).sort().values if data.shape[1] == 1 else None

    def __repr__(self) -> str:
        return f"GaussianKDE(n={self.means.shape[0]}, d={self.dim}, h={self.bandwidth:.4g})"

    def diffused_density(self, x, t) -> torch.Tensor:
        """:math:`\\hat p_t(x) = \\frac1n\\sum_i \\phi_{h_t}(x - \\mu_t X_i)`,
        :math:`h_t^2 = \\mu_t^2 h^2 + \\sigma_t^2`, shape (n,). In 1-D a windowed sum over the
        sorted data (kernels within 9 bandwidths of x: the same value to rounding, far fewer
        terms at large n); otherwise the mixture's log-sum-exp."""
        t = _check_t(t)
        if self._sorted is None:
            return super().diffused_density(x, t)
        x_in = _as_points(x, 1, self.means)
        mu, s2 = ou_coefficients(t)
        bw = math.sqrt(mu * mu * self.bandwidth**2 + s2)
        centres = mu * self._sorted.to(x_in.device)
        xs = x_in[:, 0].to(torch.float64)
        order = xs.argsort()
        xo = xs[order]
        out = torch.empty_like(xo)
        block = 256
        for start in range(0, xo.numel(), block):
            xb = xo[start:start + block]
            lo = int(torch.searchsorted(centres, xb[0] - _CUTOFF * bw))
            hi = int(torch.searchsorted(centres, xb[-1] + _CUTOFF * bw))
            z = (xb[:, None] - centres[None, lo:hi]) / bw
            out[start:start + block] = torch.exp(-0.5 * z * z).sum(1)
        vals = torch.empty_like(out)
        vals[order] = out / (centres.numel() * bw * math.sqrt(2 * math.pi))
        return vals.to(x_in.dtype)

    def density(self, x) -> torch.Tensor:
        """:math:`\\hat p(x)`, shape (n,) (see :meth:`diffused_density`)."""
        return self.diffused_density(x, 0.0)


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
