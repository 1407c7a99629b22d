"""Spectrum of the first-layer weights: singular values and the top singular vector of W1."""

from __future__ import annotations

import torch

from .._utils import as_generator

__all__ = ["singular_values", "top_left_singular_vector", "spectrum_and_top_vector", "spike_overlap", "StepGram"]


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


class StepGram:
    """The spectrum of ``W1 = W0 + c G0`` for any step ``c``, from three Gram products:
    ``W1 W1^T = A + c B + c^2 C`` with ``A = W0 W0^T``, ``B = W0 G0^T + G0 W0^T``,
    ``C = G0 G0^T`` (or the ``W^T W`` side when d > N), in float64.

    A live step-size slider then costs no matrix product of W: :meth:`spectrum_and_top_vector`
    forms the Gram matrix in three passes, takes its eigenvalues (``eigvalsh``: about half of
    ``eigh``) and u1 by two steps of inverse iteration shifted just above the top eigenvalue
    (one Cholesky factorisation of ``sigma I - W1 W1^T``, positive definite; each step shrinks the
    error by ``(sigma - lambda_1) / (sigma - lambda_2)``, about 1e-8 with a spike). Same values
    as :func:`spectrum_and_top_vector` on ``W0 + c G0`` (tested to 1e-10).

    The products are formed when first needed: the first call, at ``c0``, forms only
    ``W1 W1^T`` at ``c0`` (one product: a new draw is drawn after a third of the work), and
    :meth:`complete` (called by the first call at another step, or by a panel after it has
    drawn) forms ``A`` (unless given) and ``C``, with ``B = (W1 W1^T - A - c0^2 C) / c0``
    (``c0 = 0``: its own product).
    """

    def __init__(self, W0: torch.Tensor, G0: torch.Tensor, *, A: torch.Tensor | None = None):
        """``A``: ``W0 W0^T`` (or ``W0^T W0`` when d > N) in float64 if already formed (e.g.
        kept while only G0 changes), as :attr:`A` of an earlier ``StepGram`` of the same W0."""
        if W0.shape != G0.shape or W0.dim() != 2:
            raise ValueError(f"G0.shape={tuple(G0.shape)} is invalid: must equal W0.shape={tuple(W0.shape)} (d, N)")
        self.dtype = W0.dtype
        self.wide = W0.shape[0] <= W0.shape[1]
        w, g = W0.to(torch.float64), G0.to(torch.float64)
        if not self.wide:
            w, g = w.T, g.T
        self._w, self._g = w, g  # float64, the Gram side first: (min(d, N), max(d, N))
        self._A, self._B, self._C = A, None, None
        self._first = None  # (c0, W1 W1^T at c0) before complete()

    @property
    def A(self) -> torch.Tensor:
        if self._A is None:
            self._A = self._w @ self._w.T
        return self._A

    @property
    def B(self) -> torch.Tensor:
        self.complete()
        return self._B

    @property
    def C(self) -> torch.Tensor:
        self.complete()
        return self._C

    def complete(self) -> StepGram:
        """Form ``A``, ``B`` and ``C`` (after which any step costs no product of W); returns self."""
        if self._B is not None:
            return self
        A = self.A
        self._C = self._g @ self._g.T
        if self._first is not None and self._first[0] != 0.0:
            c0, gram0 = self._first
            self._B = (gram0 - A - (c0 * c0) * self._C) / c0
        else:
            cross = self._w @ self._g.T
            self._B = cross + cross.T
        return self

    def gram(self, c: float) -> torch.Tensor:
        """``W1 W1^T`` (or ``W1^T W1`` when d > N) at step ``c``, float64."""
        c = float(c)
        if c != c or c in (float("inf"), float("-inf")):
            raise ValueError(f"c={c} is invalid: must be finite")
        if self._first is not None and self._first[0] == c:
            return self._first[1]
        if self._B is None and self._first is None:  # the first step asked for: one product
            w1 = self._w + c * self._g
            self._first = (c, w1 @ w1.T)
            return self._first[1]
        self.complete()
        return self._A + c * self._B + (c * c) * self._C

    def spectrum_and_top_vector(self, c: float) -> tuple[torch.Tensor, torch.Tensor]:
        """All min(d, N) singular values of ``W0 + c G0``, descending, and its top left singular
        vector u1 (d,); in W0's dtype; the sign of u1 is arbitrary."""
        gram = self.gram(c)
        c = float(c)
        evals = torch.linalg.eigvalsh(gram)
        top = float(evals[-1])
        shift = top + 1e-9 * max(abs(top), 1e-300) + 1e-300
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        chol, info = torch.linalg.cholesky_ex(shift * eye - gram)
        if int(info) != 0:  # not positive definite at this shift (round-off): the full eigh
            v = torch.linalg.eigh(gram)[1][:, -1]
        else:
            gen = torch.Generator(device="cpu").manual_seed(0)
            v = torch.randn(gram.shape[0], 1, generator=gen, dtype=gram.dtype).to(gram.device)
            for _ in range(2):
                v = torch.cholesky_solve(v, chol)
                v = v / v.norm()
            v = v[:, 0]
        if not self.wide:  # v is a right singular vector: u1 = W1 v / |W1 v| = (W0 v + c G0 v) / |.|
            v = self._w.T @ v + c * (self._g.T @ v)
            v = v / v.norm()
        s = evals.clamp_min(0.0).sqrt().flip(0)
        return s.to(self.dtype), v.to(self.dtype)


def spike_overlap(u1: torch.Tensor, beta: torch.Tensor) -> float:
    """|<u1, beta*>| / (||u1|| ||beta*||): alignment of the top singular vector with beta*."""
    return float((u1 @ beta).abs() / (u1.norm() * beta.norm()))
