"""Spectrum of the first-layer weights: singular values and the top singular vector of W1."""

from __future__ import annotations

import torch

from .._utils import as_generator

__all__ = ["singular_values", "top_left_singular_vector", "spike_overlap"]


def singular_values(W: torch.Tensor) -> torch.Tensor:
    """All min(d, N) singular values of W (d, N), descending, via ``torch.linalg.svdvals``.

    LAPACK is called on the tall orientation (more rows than columns), about twice as fast.
    """
    return torch.linalg.svdvals(W.T if W.shape[0] < W.shape[1] else W)


def top_left_singular_vector(
    W: torch.Tensor,
    *,
    tol: float | None = None,
    max_iter: int = 500,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Top left singular vector u1 (d,) of W (d, N) by power iteration on W W^T.

    Starts from a random Gaussian vector (never from a guess of the spike direction, which would
    bias the overlap when there is no spike). Each iteration costs two matrix-vector products
    (2 d N flops), so hundreds are cheaper than one full SVD; the error shrinks by (s2/s1)^2 per
    iteration. Stops when ||u_k - u_{k-1}|| <= ``tol`` (default 0.1 sqrt(machine epsilon)) or
    after ``max_iter`` iterations (below the BBP threshold s1 ~ s2 and u1 is any top-bulk vector).
    Returns ``(u1, iterations)``; the sign of u1 is arbitrary.
    """
    if tol is None:
        tol = 0.1 * torch.finfo(W.dtype).eps ** 0.5
    generator = as_generator(generator)
    gdev = generator.device if generator is not None else torch.device("cpu")
    u = torch.randn(W.shape[0], generator=generator, dtype=W.dtype, device=gdev).to(W.device)
    u = u / u.norm()
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        v = W @ (W.T @ u)
        v = v / v.norm()
        change = float((v - u).norm())
        u = v
        if change <= tol:
            break
    return u, it


def spike_overlap(u1: torch.Tensor, beta: torch.Tensor) -> float:
    """|<u1, beta*>| / (||u1|| ||beta*||): alignment of the top singular vector with beta*."""
    return float((u1 @ beta).abs() / (u1.norm() * beta.norm()))
