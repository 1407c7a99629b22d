"""A small score network: MLP on (x, sinusoidal embedding of log t), noise-prediction output."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._utils import check_int, check_real

__all__ = ["ScoreMLP", "sinusoidal_embedding", "fourier_features"]


def sinusoidal_embedding(t: torch.Tensor, n_features: int = 32) -> torch.Tensor:
    """Sinusoidal features of :math:`u = \\log t`: ``[sin(f_k u), cos(f_k u)]`` with
    frequencies :math:`f_k` spaced geometrically in [1/8, 8]. t : (n,), positive. Returns
    (n, n_features). Using log t resolves the small-t region where the score changes fastest."""
    half = n_features // 2
    freqs = torch.exp(torch.linspace(math.log(1 / 8), math.log(8.0), half, device=t.device, dtype=t.dtype))
    u = torch.log(t)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(u), torch.cos(u)], dim=1)


def fourier_features(x: torch.Tensor, n_features: int, max_frequency: float) -> torch.Tensor:
    """``[sin(f_k x_i), cos(f_k x_i)]`` for every coordinate i and ``n_features`` frequencies
    :math:`f_k` spaced geometrically in [1, max_frequency]. x : (n, d). Returns (n, 2 d n_features).
    They let a small MLP resolve fine structure in x (the score of a density with B-spline terms
    down to level 6 at small t) that it otherwise learns slowly (spectral bias)."""
    freqs = torch.exp(torch.linspace(0.0, math.log(max_frequency), n_features, device=x.device, dtype=x.dtype))
    u = (x[:, :, None] * freqs).reshape(x.shape[0], -1)
    return torch.cat([torch.sin(u), torch.cos(u)], dim=1)


class ScoreMLP(nn.Module):
    """Score model :math:`s_\\theta(x, t) = -\\hat\\varepsilon_\\theta(x, t) / \\sigma_t`.

    The MLP (``depth`` hidden layers of ``width`` SiLU units) predicts the noise
    :math:`\\varepsilon` of :math:`x_t = \\mu_t x_0 + \\sigma_t \\varepsilon` from ``x`` and a
    sinusoidal embedding of :math:`\\log t`; dividing by :math:`\\sigma_t` makes the
    :math:`1/\\sigma_t` blow-up of the true score near t = 0 exact rather than learned, so the
    network output stays O(1) (well conditioned) at every t. The last layer starts at zero
    (initial score 0). ``x_features`` > 0 adds :func:`fourier_features` of x (that many
    frequencies in [1, ``x_max_frequency``]) to the input.

    forward(x, t): x (n, d); t a float or a tensor of shape (), (n,) or (n, 1) with t > 0.
    Returns the score, (n, d), in x's dtype and device (the network runs in its own dtype).
    ``seed`` makes the initialisation reproducible without touching the global RNG.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3, *, time_features: int = 32,
                 x_features: int = 0, x_max_frequency: float = 16.0,
                 seed: int | None = None, device=None, dtype=None):
        super().__init__()
        self.dim = check_int("dim", dim, low=1)
        self.width = check_int("width", width, low=1)
        self.depth = check_int("depth", depth, low=1)
        self.time_features = check_int("time_features", time_features, low=2)
        self.x_features = check_int("x_features", x_features, low=0)
        self.x_max_frequency = check_real("x_max_frequency", x_max_frequency, low=1.0)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(check_int("seed", seed, low=0))
            layers: list[nn.Module] = []
            fan_in = dim + time_features + 2 * dim * self.x_features
            for _ in range(depth):
                layers += [nn.Linear(fan_in, width), nn.SiLU()]
                fan_in = width
            last = nn.Linear(fan_in, dim)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            layers.append(last)
            self.net = nn.Sequential(*layers)
        self.to(device=device, dtype=dtype)

    def config(self) -> dict:
        return {"dim": self.dim, "width": self.width, "depth": self.depth, "time_features": self.time_features,
                "x_features": self.x_features, "x_max_frequency": self.x_max_frequency}

    def _prepare(self, x, t):
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x with shape {tuple(x.shape)} is invalid: must be (n, {self.dim})")
        p = next(self.parameters())
        xin = x.to(device=p.device, dtype=p.dtype)
        if not isinstance(t, torch.Tensor):
            t = torch.tensor(float(t))
        t = t.to(device=p.device, dtype=p.dtype).reshape(-1)
        if t.numel() == 1:
            t = t.expand(x.shape[0])
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t with {t.shape[0]} entries is invalid: must be a scalar or one per row of x")
        return xin, t

    def _inputs(self, xin, t):
        parts = [xin, sinusoidal_embedding(t, self.time_features)]
        if self.x_features:
            parts.append(fourier_features(xin, self.x_features, self.x_max_frequency))
        return torch.cat(parts, dim=1)

    def noise(self, x: torch.Tensor, t) -> torch.Tensor:
        """The noise prediction :math:`\\hat\\varepsilon_\\theta(x, t)`, (n, d), network dtype."""
        xin, t = self._prepare(x, t)
        return self.net(self._inputs(xin, t))

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        xin, tt = self._prepare(x, t)
        eps = self.net(self._inputs(xin, tt))
        sigma = torch.sqrt(-torch.expm1(-2.0 * tt))[:, None]
        return (-eps / sigma).to(device=x.device, dtype=x.dtype)
