"""The mean-field two-layer network and synthetic regression data.

A particle is ``x = (r, w, b)`` with ``r`` a scalar, ``w`` in R^d and ``b`` a scalar, stored as
one row ``[r, w_1, ..., w_d, b]`` of a ``(N, d + 2)`` tensor. The network is the mean over
particles of a bounded smooth neuron,

.. math::

    f_\\mu(z) = \\int h(x; z)\\, d\\mu(x), \\qquad h(x; z) = \\tanh(r)\\, \\sigma(w^\\top z + b),

with ``sigma`` = tanh (default) or erf, so that ``|h| <= 1`` and every derivative of ``h`` in
``x`` is bounded on bounded inputs: the boundedness assumption of the MFLD theory (Suzuki,
Nitanda, Wu 2023; Nitanda, Wu, Suzuki 2022), which rules out the unbounded ``r * sigma(...)``.
"""

from __future__ import annotations

import math

import torch

from .._utils import as_generator, as_tensor, check_choice, check_int, check_real

ACTIVATIONS = ("tanh", "erf")


class MeanFieldNet:
    """``f_mu(z) = mean_i tanh(r_i) sigma(w_i^T z + b_i)`` over particles ``(r_i, w_i, b_i)``.

    Parameters
    ----------
    activation : {"tanh", "erf"}
        The inner nonlinearity ``sigma``; the outer factor is always ``tanh(r)`` (bounded).
    """

    def __init__(self, activation: str = "tanh"):
        self.activation = check_choice("activation", activation, ACTIVATIONS)

    def __repr__(self) -> str:
        return f"MeanFieldNet(activation={self.activation!r})"

    @staticmethod
    def particle_dim(input_dim: int) -> int:
        """Dimension ``d + 2`` of a particle for inputs in R^d."""
        return check_int("input_dim", input_dim, low=1) + 2

    def sigma(self, u: torch.Tensor) -> torch.Tensor:
        return torch.tanh(u) if self.activation == "tanh" else torch.erf(u)

    def sigma_prime(self, u: torch.Tensor) -> torch.Tensor:
        if self.activation == "tanh":
            return 1.0 - torch.tanh(u) ** 2
        return (2.0 / math.sqrt(math.pi)) * torch.exp(-(u**2))

    def neurons(self, particles: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``h(x_i; z_j)``, shape ``(N, n)`` for particles ``(N, d+2)`` and inputs ``(n, d)``."""
        z = _as_inputs(z, particles)
        _check_particles(particles, z.shape[1])
        u = particles[:, 1:-1] @ z.T + particles[:, -1:]
        return torch.tanh(particles[:, :1]) * self.sigma(u)

    def forward(self, particles: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``f_{mu_N}(z_j) = (1/N) sum_i h(x_i; z_j)``, shape ``(n,)``.

        Evaluated in chunks of particles so that large ``N * n`` stays in memory.
        """
        z = _as_inputs(z, particles)
        _check_particles(particles, z.shape[1])
        out = torch.zeros(z.shape[0], dtype=particles.dtype, device=particles.device)
        chunk = max(1, 2**22 // max(1, z.shape[0]))
        for s in range(0, particles.shape[0], chunk):
            p = particles[s : s + chunk]
            u = p[:, 1:-1] @ z.T + p[:, -1:]
            out += torch.tanh(p[:, 0]) @ self.sigma(u)
        return out / particles.shape[0]

    __call__ = forward

    def init_particles(
        self,
        n_particles: int,
        input_dim: int,
        *,
        scale: float = 1.0,
        generator: torch.Generator | int | None = None,
        dtype: torch.dtype = torch.float64,
        device=None,
    ) -> torch.Tensor:
        """``N`` particles with i.i.d. ``N(0, scale^2)`` coordinates, shape ``(N, d+2)``."""
        n_particles = check_int("n_particles", n_particles, low=1)
        dim = self.particle_dim(input_dim)
        scale = check_real("scale", scale, low=0.0)
        gen = as_generator(generator)
        x = torch.randn(n_particles, dim, generator=gen, dtype=dtype)
        return (scale * x).to(device) if device is not None else scale * x


def _as_inputs(z, like: torch.Tensor | None = None) -> torch.Tensor:
    z = as_tensor(z)
    if like is not None:
        z = z.to(dtype=like.dtype, device=like.device)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2:
        raise ValueError(f"z.shape={tuple(z.shape)} is invalid: must be (n,) or (n, d)")
    return z


def _check_particles(particles: torch.Tensor, input_dim: int) -> None:
    if particles.ndim != 2 or particles.shape[1] != input_dim + 2:
        raise ValueError(
            f"particles.shape={tuple(particles.shape)} is invalid: must be (N, {input_dim + 2}) "
            f"= (N, input_dim + 2) for inputs of dimension {input_dim}"
        )


def make_regression(
    n: int,
    input_dim: int = 1,
    *,
    target: str = "teacher",
    teacher_width: int = 8,
    noise: float = 0.0,
    generator: torch.Generator | int | None = None,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic regression data ``(z, y)``, ``z`` of shape ``(n, d)`` uniform on [-1, 1]^d.

    ``target="teacher"``: ``y = f_teacher(z)`` for a :class:`MeanFieldNet` with
    ``teacher_width`` random particles (inner weights scaled by 2, outer ``r`` by 1.5);
    ``target="sine"``: ``y = 0.6 sin(pi z_1) cos(pi z_2 / 2)`` (``cos`` factor only when
    ``d >= 2``). Gaussian label noise of standard deviation ``noise`` is added.
    """
    n = check_int("n", n, low=1)
    input_dim = check_int("input_dim", input_dim, low=1)
    check_choice("target", target, ("teacher", "sine"))
    teacher_width = check_int("teacher_width", teacher_width, low=1)
    noise = check_real("noise", noise, low=0.0)
    gen = as_generator(generator)
    z = 2.0 * torch.rand(n, input_dim, generator=gen, dtype=dtype) - 1.0
    if target == "teacher":
        t = torch.randn(teacher_width, input_dim + 2, generator=gen, dtype=dtype)
        t[:, 0] *= 1.5
        t[:, 1:] *= 2.0
        y = MeanFieldNet().forward(t, z)
    else:
        y = 0.6 * torch.sin(math.pi * z[:, 0])
        if input_dim >= 2:
            y = y * torch.cos(0.5 * math.pi * z[:, 1])
    if noise > 0:
        y = y + noise * torch.randn(n, generator=gen, dtype=dtype)
    if device is not None:
        z, y = z.to(device), y.to(device)
    return z, y
