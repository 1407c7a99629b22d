"""Spectrum of the first-layer weights: singular values and the top singular vector of W1."""

from __future__ import annotations

import torch

from .._utils import as_generator

__all__ = ["singular_values", "top_left_singular_vector", "spectrum_and_top_vector", "spike_overlap"]


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


def spectrum_and_top_vector(W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All min(d, N) singular values of W (d, N), descending, and its top left singular vector
    u1 (d,), from one symmetric eigendecomposition of the smaller Gram matrix (W W^T or W^T W)
    formed in float64.

    For a live panel: one ``eigh`` of a 512 x 512 Gram matrix costs about as much as
    ``svdvals`` alone and half of ``svdvals`` plus the power iteration of
    :func:`top_left_singular_vector` (which needs hundreds of steps when there is no spike).
    In float64 the squared singular values carry an absolute error ~1e-16 s1^2, far below the
    float32 weights' own rounding. Returned in W's dtype; the sign of u1 is arbitrary. Below the
    BBP threshold u1 is the top vector of the bulk, as with any method.
    """
    d, N = W.shape
    W64 = W.to(torch.float64)
    if d <= N:
        evals, evecs = torch.linalg.eigh(W64 @ W64.T)
        u1 = evecs[:, -1]
    else:
        evals, evecs = torch.linalg.eigh(W64.T @ W64)
        u1 = W64 @ evecs[:, -1]
        u1 = u1 / u1.norm()
    s = evals.clamp_min(0.0).sqrt().flip(0)
    return s.to(W.dtype), u1.to(W.dtype)


def spike_overlap(u1: torch.Tensor, beta: torch.Tensor) -> float:
    """|<u1, beta*>| / (||u1|| ||beta*||): alignment of the top singular vector with beta*."""
    return float((u1 @ beta).abs() / (u1.norm() * beta.norm()))
