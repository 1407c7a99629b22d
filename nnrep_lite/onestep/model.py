"""Two-layer network, single-index teacher and the one large gradient step (Ba et al. 2022).

Shapes: X (n, d), y (n,), W (d, N), a (N,). The network is

.. math::

    f(x) = \\frac{1}{\\sqrt N} a^\\top \\sigma(W^\\top x), \\qquad
    G_0 = -\\nabla_W \\frac{1}{2n} \\sum_i (y_i - f(x_i))^2, \\qquad
    W_1 = W_0 + \\eta \\sqrt N G_0 .

All products with X are chunked over samples, so that no (n, N) matrix is ever held whole:
peak memory stays near the size of the inputs.
"""

from __future__ import annotations

import math

import torch

from .._utils import DivergenceError, as_generator, check_int, check_real
from .theory import get_activation, hermite_coefficients

__all__ = [
    "sample_teacher",
    "init_params",
    "one_step",
    "rank_one_gradient",
    "rank_one_error",
    "operator_norm",
    "row_chunk",
]

#: Number of matrix entries per chunk (1M entries: 4 MB in float32; 512 x 2048 blocks still
#: run GEMMs at full speed).
CHUNK_ENTRIES = 1 << 20


def row_chunk(width: int, chunk_entries: int | None = None) -> int:
    """Rows per chunk so that a (rows, width) block holds about ``CHUNK_ENTRIES`` entries."""
    return max(1, (chunk_entries or CHUNK_ENTRIES) // max(int(width), 1))


def _randn(shape, generator, dtype, device):
    """Standard normals drawn in float32 on the generator's device, then cast and moved.

    Drawing in one dtype makes float32 and float64 runs see the same draw (and the same seed
    the same CPU result, bit for bit).
    """
    gdev = generator.device if generator is not None else torch.device("cpu")
    out = torch.randn(shape, generator=generator, dtype=torch.float32, device=gdev)
    return out.to(device=device, dtype=dtype)


def sample_teacher(
    n: int,
    beta: torch.Tensor,
    *,
    target: str = "erf",
    noise: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw x ~ N(0, I_d) and y = sigma*(<x, beta*>) + eps, eps ~ N(0, noise^2).

    ``beta`` (d,) fixes dtype and device. Returns ``(X, y, f)``: X (n, d), the noisy labels y (n,)
    and the noise-free teacher values f = sigma*(X beta) (n,).
    """
    n = check_int("n", n, low=1)
    noise = check_real("noise", noise, low=0.0)
    act = get_activation(target, "target")
    generator = as_generator(generator)
    X = _randn((n, beta.shape[0]), generator, beta.dtype, beta.device)
    f = act.fn(X @ beta)
    eps = _randn((n,), generator, beta.dtype, beta.device)
    return X, f + noise * eps, f


def init_params(
    d: int,
    N: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Initialisation of Ba et al.: W0_ij ~ N(0, 1/d), a_i ~ N(0, 1/N) and beta* uniform on S^{d-1}.

    Returns ``(W0, a, beta)`` with shapes (d, N), (N,), (d,).
    """
    d = check_int("d", d, low=1)
    N = check_int("N", N, low=1)
    generator = as_generator(generator)
    device = torch.device(device) if device is not None else torch.device("cpu")
    beta = _randn((d,), generator, dtype, device)
    beta = beta / beta.norm()
    W0 = _randn((d, N), generator, dtype, device).div_(math.sqrt(d))
    a = _randn((N,), generator, dtype, device).div_(math.sqrt(N))
    return W0, a, beta


def _check_shapes(X, y, W0, a):
    if X.ndim != 2:
        raise ValueError(f"X.shape={tuple(X.shape)} is invalid: must be (n, d)")
    n, d = X.shape
    if y.shape != (n,):
        raise ValueError(f"y.shape={tuple(y.shape)} is invalid: must be ({n},) to match X")
    if W0.ndim != 2 or W0.shape[0] != d:
        raise ValueError(f"W0.shape={tuple(W0.shape)} is invalid: must be ({d}, N) to match X")
    if a.shape != (W0.shape[1],):
        raise ValueError(f"a.shape={tuple(a.shape)} is invalid: must be ({W0.shape[1]},)")


def negative_gradient(
    X: torch.Tensor, y: torch.Tensor, W0: torch.Tensor, a: torch.Tensor, *, activation: str = "erf"
) -> torch.Tensor:
    """G0 = -grad_W (1/2n) sum_i (y_i - f(x_i))^2 at W0, shape (d, N).

    G0 = 1/(n sqrt N) X^T [ (r 1^T) * sigma'(X W0) * (1 a^T) ] with residuals r = y - f(X),
    accumulated over chunks of samples.
    """
    _check_shapes(X, y, W0, a)
    act = get_activation(activation)
    n, N = X.shape[0], W0.shape[1]
    G = torch.zeros_like(W0)
    step = row_chunk(N)
    sq = math.sqrt(N)
    for s in range(0, n, step):
        Xc = X[s : s + step]
        Z = Xc @ W0
        r = y[s : s + step] - act.fn(Z) @ a / sq
        D = act.prime_(Z)
        D.mul_(r[:, None]).mul_(a[None, :])
        G.addmm_(Xc.T, D)
    return G.div_(n * sq)


def one_step(
    X: torch.Tensor,
    y: torch.Tensor,
    W0: torch.Tensor,
    a: torch.Tensor,
    *,
    eta: float,
    activation: str = "erf",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One full-batch gradient step on the first layer: returns ``(W1, G0)``, both (d, N).

    W1 = W0 + eta sqrt(N) G0 with G0 the negative gradient of the squared loss (1/2n) sum
    (y - f)^2 (Ba et al. 2022, eq. (2.2)); ``a`` stays fixed. Device and dtype follow X.
    """
    eta = check_real("eta", eta, low=0.0)
    G0 = negative_gradient(X, y, W0, a, activation=activation)
    if not bool(torch.isfinite(G0).all()):
        raise DivergenceError(
            "the gradient G0 became NaN/Inf at step 1; check X, y, W0 and a for NaN/Inf "
            "or use dtype=torch.float64"
        )
    W1 = W0 + (eta * math.sqrt(W0.shape[1])) * G0
    return W1, G0


def rank_one_gradient(
    X: torch.Tensor, y: torch.Tensor, a: torch.Tensor, *, activation: str = "erf"
) -> torch.Tensor:
    """Rank-one part A = mu1/(n sqrt N) X^T y a^T of the gradient, shape (d, N).

    mu1 = E[z sigma(z)] of the student activation (Ba et al. 2022, Prop. 2).
    """
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X.shape={tuple(X.shape)}, y.shape={tuple(y.shape)} is invalid: must be (n, d), (n,)")
    mu1 = hermite_coefficients(activation)["mu1"]
    n, N = X.shape[0], a.shape[0]
    return torch.outer(X.T @ y, a) * (mu1 / (n * math.sqrt(N)))


def operator_norm(M: torch.Tensor) -> float:
    """Spectral norm ||M||_2 (largest singular value) via ``torch.linalg.svdvals``."""
    return float(torch.linalg.svdvals(M.T if M.shape[0] < M.shape[1] else M)[0])


def rank_one_error(
    G0: torch.Tensor, X: torch.Tensor, y: torch.Tensor, a: torch.Tensor, *, activation: str = "erf"
) -> float:
    """Relative operator-norm error ||G0 - A|| / ||G0|| of the rank-one approximation.

    Ba et al. (2022, Prop. 2): ||G0 - A|| <~ log^2(n) / sqrt(n) ||G0|| in the proportional regime.
    """
    mu1 = hermite_coefficients(activation)["mu1"]
    n, N = X.shape[0], a.shape[0]
    R = G0.clone().addr_(X.T @ y, a, alpha=-mu1 / (n * math.sqrt(N)))  # G0 - A, one copy
    return operator_norm(R) / operator_norm(G0)
