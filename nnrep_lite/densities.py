"""Target densities with exact Ornstein-Uhlenbeck scores: Gaussian mixtures and embedded densities.

Both classes implement the duck-typed *target* interface used by :mod:`nnrep_lite.diffusion`:
``.dim``, ``.sample(n, generator)``, ``.density(x)``, ``.diffused_density(x, t)`` and
``.score(x, t)`` (the exact :math:`\\nabla_x \\log p_t`), where :math:`p_t` is the law of

.. math::  X_t = \\mu_t X_0 + \\sigma_t Z, \\qquad \\mu_t = e^{-t},\\ \\sigma_t^2 = 1 - e^{-2t}

(the OU process :math:`dX = -X\\,dt + \\sqrt 2\\, dB` of DESIGN.md).
"""

from __future__ import annotations

import math

import torch

from ._utils import as_generator, as_tensor, check_int, check_memory, check_real, randn

__all__ = ["GaussianMixture", "EmbeddedDensity", "randn", "ou_coefficients"]

_LOG_2PI = math.log(2.0 * math.pi)


def ou_coefficients(t: float) -> tuple[float, float]:
    """``(mu_t, sigma_t^2)`` for a float ``t >= 0`` (``sigma_t^2 = -expm1(-2t)``, exact near 0)."""
    return math.exp(-t), -math.expm1(-2.0 * t)


def _check_t(t) -> float:
    return check_real("t", t, low=0.0)


def _as_points(x, dim: int, like: torch.Tensor) -> torch.Tensor:
    x = as_tensor(x)
    if not isinstance(x, torch.Tensor) or x.dim() not in (1, 2):
        raise ValueError(f"x with shape {tuple(x.shape)} is invalid: must have shape (n, {dim})")
    if x.dim() == 1:
        if dim != 1:
            raise ValueError(f"x with shape {tuple(x.shape)} is invalid: must have shape (n, {dim})")
        x = x[:, None]
    if x.shape[1] != dim:
        raise ValueError(f"x with shape {tuple(x.shape)} is invalid: must have shape (n, {dim})")
    return x


class GaussianMixture:
    """Mixture :math:`p_0 = \\sum_k w_k N(m_k, C_k)` in :math:`\\mathbb R^d`.

    Under the OU process each component stays Gaussian:
    :math:`p_t = \\sum_k w_k N(\\mu_t m_k, \\mu_t^2 C_k + \\sigma_t^2 I)`, so the diffused density
    and the score

    .. math::  \\nabla \\log p_t(x) = -\\sum_k r_k(x)\\, \\Sigma_{k,t}^{-1}(x - \\mu_t m_k),
               \\qquad r_k \\propto w_k N(x; \\mu_t m_k, \\Sigma_{k,t})

    are exact for every ``t > 0``. Rank-deficient ``C_k`` are allowed (the data then live on
    affine subspaces); ``t = 0`` density/score then raise, since :math:`p_0` has no Lebesgue density.

    Parameters
    ----------
    means : (K, d)
    covs : (K, d, d) symmetric positive semidefinite, or (K, d) for diagonal covariances
    weights : (K,) nonnegative, normalised internally (default uniform)
    """

    def __init__(self, means, covs, weights=None):
        means = as_tensor(means)
        if means.dim() == 1:
            means = means[:, None]
        if means.dim() != 2:
            raise ValueError(f"means with shape {tuple(means.shape)} is invalid: must be (K, d)")
        k, d = means.shape
        covs = as_tensor(covs, dtype=means.dtype, device=means.device)
        if covs.dim() == 1 and d == 1:
            covs = covs[:, None]
        if covs.dim() == 2 and covs.shape == (k, d):
            covs = torch.diag_embed(covs)
        if covs.shape != (k, d, d):
            raise ValueError(
                f"covs with shape {tuple(covs.shape)} is invalid: must be ({k}, {d}, {d}) or ({k}, {d})"
            )
        if not torch.allclose(covs, covs.transpose(-1, -2), atol=1e-10, rtol=1e-8):
            raise ValueError("covs is invalid: must be symmetric matrices")
        evals, evecs = torch.linalg.eigh(covs)
        scale = evals.abs().amax().clamp_min(1.0)
        if bool((evals < -1e-10 * scale).any()):
            raise ValueError(
                f"covs is invalid: must be positive semidefinite (min eigenvalue {evals.min().item():.3g})"
            )
        # eigenvalues at rounding level are exact zeros (keeps samples on the subspace)
        evals = torch.where(evals <= 1e-13 * scale, torch.zeros_like(evals), evals)
        if weights is None:
            weights = torch.full((k,), 1.0 / k, dtype=means.dtype, device=means.device)
        weights = as_tensor(weights, dtype=means.dtype, device=means.device).reshape(-1)
        if weights.shape != (k,) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
            raise ValueError(
                f"weights is invalid: must be {k} nonnegative numbers with a positive sum"
            )
        self.means = means
        self.covs = covs
        self.weights = weights / weights.sum()
        self._sqrt = evecs * evals.sqrt()[:, None, :]  # C_k = A A^T
        self._singular = bool((evals.amin(-1) <= 1e-12 * scale).any())

    # -------------------------------------------------------------- basic properties
    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.means.dtype

    @property
    def device(self) -> torch.device:
        return self.means.device

    def __repr__(self) -> str:
        return f"GaussianMixture(K={self.means.shape[0]}, d={self.dim})"

    def cache_key(self) -> dict:
        return {"class": "GaussianMixture", "means": self.means, "covs": self.covs, "weights": self.weights}

    # -------------------------------------------------------------- sampling
    def sample(self, n: int, generator=None) -> torch.Tensor:
        """Exact samples, shape (n, d)."""
        n = check_int("n", n, low=1)
        gen = as_generator(generator)
        w = self.weights.to(device=gen.device if gen is not None else "cpu", dtype=torch.float64)
        idx = torch.multinomial(w, n, replacement=True, generator=gen)
        idx = idx.to(self.device)
        z = randn((n, self.dim), generator=gen, device=self.device, dtype=self.dtype)
        return self.means[idx] + torch.einsum("nij,nj->ni", self._sqrt[idx], z)

    # -------------------------------------------------------------- densities and scores
    def _params_t(self, t: float):
        mu, s2 = ou_coefficients(t)
        eye = torch.eye(self.dim, dtype=self.dtype, device=self.device)
        cov_t = mu * mu * self.covs + s2 * eye
        if t == 0.0 and self._singular:
            raise ValueError(
                "t=0 is invalid: must be > 0 for a mixture with rank-deficient covariances "
                "(p_0 has no Lebesgue density)"
            )
        chol = torch.linalg.cholesky(cov_t)
        return mu * self.means, cov_t, chol

    def _component_logpdf(self, x: torch.Tensor, t: float):
        m_t, _, chol = self._params_t(t)
        prec = torch.cholesky_inverse(chol)  # (K, d, d)
        diff = x[:, None, :] - m_t[None]  # (n, K, d)
        prec_diff = torch.einsum("kde,nke->nkd", prec, diff)
        maha = (diff * prec_diff).sum(-1)
        logdet = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        return -0.5 * maha - 0.5 * logdet - 0.5 * self.dim * _LOG_2PI, prec_diff

    def _chunk_size(self, n: int, device) -> int:
        """Points per chunk so that the (chunk, K, d) work arrays stay near 256 MB; a single
        point that cannot fit the memory budget is refused (NNREP_MAX_MEMORY)."""
        per_point = 4 * self.means.shape[0] * self.dim * self.means.element_size()
        check_memory(per_point, what="one point of the mixture evaluation", reduce="the number of components",
                     device=device)
        return max(1, min(n, (256 << 20) // per_point))

    def log_diffused_density(self, x, t) -> torch.Tensor:
        """:math:`\\log p_t(x)`, shape (n,) (evaluated in chunks of points: bounded memory)."""
        t = _check_t(t)
        x = _as_points(x, self.dim, self.means).to(self.dtype)
        step = self._chunk_size(x.shape[0], x.device)
        parts = []
        for start in range(0, x.shape[0], step):
            logpdf, _ = self._component_logpdf(x[start : start + step], t)
            parts.append(torch.logsumexp(logpdf + torch.log(self.weights), dim=1))
        return torch.cat(parts) if parts else x.new_zeros(0)

    def diffused_density(self, x, t) -> torch.Tensor:
        """:math:`p_t(x)`, shape (n,)."""
        return self.log_diffused_density(x, t).exp()

    def log_density(self, x) -> torch.Tensor:
        return self.log_diffused_density(x, 0.0)

    def density(self, x) -> torch.Tensor:
        return self.diffused_density(x, 0.0)

    def score(self, x, t) -> torch.Tensor:
        """Exact :math:`\\nabla_x \\log p_t(x)`, shape (n, d); output dtype/device follow ``x``."""
        t = _check_t(t)
        x_in = _as_points(x, self.dim, self.means)
        x = x_in.to(device=self.device, dtype=self.dtype)
        step = self._chunk_size(x.shape[0], x.device)
        parts = []
        for start in range(0, x.shape[0], step):
            logpdf, prec_diff = self._component_logpdf(x[start : start + step], t)
            resp = torch.softmax(logpdf + torch.log(self.weights), dim=1)  # (n, K)
            parts.append(-(resp[..., None] * prec_diff).sum(1))
        out = torch.cat(parts) if parts else x.new_zeros(0, self.dim)
        return out.to(device=x_in.device, dtype=x_in.dtype)

    def bin_masses(self, edges, t: float = 0.0) -> torch.Tensor:
        """Exact probabilities of the histogram cells of ``p_t``.

        ``edges``: a 1-D tensor of bin edges (d = 1) or a list of d such tensors with
        diagonal covariances (the cell probability factorises). Shape: (bins,) or (b1, b2, ...).
        """
        t = _check_t(t)
        if isinstance(edges, torch.Tensor) or (self.dim == 1 and not isinstance(edges, (list, tuple))):
            edges = [edges]
        if len(edges) != self.dim:
            raise ValueError(f"edges is invalid: must hold {self.dim} edge vectors")
        diag = torch.diagonal(self.covs, dim1=-2, dim2=-1)
        if self.dim > 1 and not torch.allclose(torch.diag_embed(diag), self.covs):
            raise NotImplementedError("bin_masses needs diagonal covariances when d > 1")
        mu, s2 = ou_coefficients(t)
        std = (mu * mu * diag + s2).sqrt()  # (K, d)
        per_dim = []
        for i, e in enumerate(edges):
            e = as_tensor(e, dtype=self.dtype, device=self.device)
            if not bool((std[:, i] > 0).all()):
                cdf = (e[None, :] >= mu * self.means[:, i : i + 1]).to(self.dtype)
            else:
                z = (e[None, :] - mu * self.means[:, i : i + 1]) / std[:, i : i + 1]
                cdf = torch.special.ndtr(z)
            per_dim.append(cdf[:, 1:] - cdf[:, :-1])  # (K, b_i)
        out = self.weights
        if self.dim == 1:
            return (out[:, None] * per_dim[0]).sum(0)
        letters = "abcdefgh"[: self.dim]
        expr = "k," + ",".join(f"k{c}" for c in letters) + "->" + letters
        return torch.einsum(expr, out, *per_dim)


class EmbeddedDensity:
    """A d'-dimensional density placed on a d'-dimensional subspace of :math:`\\mathbb R^d`.

    :math:`X_0 = U Y_0` with ``basis`` :math:`U` (d x d') orthonormal and :math:`Y_0 \\sim` ``base``.
    The diffused law factorises into the base diffused along :math:`U` and pure noise across it,
    giving the exact score of DESIGN.md:

    .. math::  \\nabla \\log p_t(x) = U s'_t(U^\\top x) - (I - U U^\\top) x / \\sigma_t^2 .

    ``base`` must provide ``.dim``, ``.sample``, ``.score(y, t)`` and, for densities,
    ``.diffused_density(y, t)``. The score and the density exist only for ``t > 0`` when d' < d.
    """

    def __init__(self, base, basis):
        basis = as_tensor(basis)
        if basis.dim() != 2:
            raise ValueError(f"basis with shape {tuple(basis.shape)} is invalid: must be (d, d')")
        d, dp = basis.shape
        if dp != base.dim or dp > d:
            raise ValueError(
                f"basis with shape {tuple(basis.shape)} is invalid: must be (d, {base.dim}) with d >= {base.dim}"
            )
        tol = 1e-10 if basis.dtype == torch.float64 else 1e-5
        gram = basis.T @ basis
        if not torch.allclose(gram, torch.eye(dp, dtype=basis.dtype, device=basis.device), atol=tol):
            raise ValueError("basis is invalid: must have orthonormal columns (U^T U = I)")
        self.base = base
        self.basis = basis

    @classmethod
    def random(cls, base, dim: int, *, generator=None, dtype=torch.float64, device=None):
        """Embed ``base`` through a random orthonormal (dim x base.dim) basis (QR of a Gaussian)."""
        dim = check_int("dim", dim, low=base.dim)
        g = randn((dim, base.dim), generator=as_generator(generator), device=device, dtype=dtype)
        q, r = torch.linalg.qr(g)
        q = q * torch.sign(torch.diagonal(r))[None, :]
        return cls(base, q)

    @property
    def dim(self) -> int:
        return self.basis.shape[0]

    @property
    def intrinsic_dim(self) -> int:
        return self.basis.shape[1]

    def __repr__(self) -> str:
        return f"EmbeddedDensity(base={self.base!r}, d={self.dim}, d'={self.intrinsic_dim})"

    def cache_key(self) -> dict:
        base = self.base.cache_key() if hasattr(self.base, "cache_key") else self.base
        return {"class": "EmbeddedDensity", "base": base, "basis": self.basis}

    def sample(self, n: int, generator=None) -> torch.Tensor:
        """Exact samples :math:`U Y_0`, shape (n, d)."""
        y = self.base.sample(n, generator)
        return y.to(self.basis.dtype) @ self.basis.T.to(y.device)

    def _split(self, x):
        x = _as_points(x, self.dim, self.basis)
        u = self.basis.to(device=x.device, dtype=x.dtype)
        y = x @ u
        return x, u, y, x - y @ u.T

    def _check_positive_t(self, t) -> float:
        t = _check_t(t)
        if t == 0.0 and self.intrinsic_dim < self.dim:
            raise ValueError(
                f"t=0 is invalid: must be > 0 when d'={self.intrinsic_dim} < d={self.dim} "
                "(p_0 lives on a subspace and has no Lebesgue density)"
            )
        return t

    def score(self, x, t) -> torch.Tensor:
        """Exact score, shape (n, d); dtype/device follow ``x``."""
        t = self._check_positive_t(t)
        x, u, y, perp = self._split(x)
        _, s2 = ou_coefficients(t)
        s_base = self.base.score(y, t).to(device=x.device, dtype=x.dtype)
        out = s_base @ u.T
        if self.intrinsic_dim < self.dim:
            out = out - perp / s2
        return out

    def log_diffused_density(self, x, t) -> torch.Tensor:
        t = self._check_positive_t(t)
        x, u, y, perp = self._split(x)
        if hasattr(self.base, "log_diffused_density"):
            base_log = self.base.log_diffused_density(y, t)
        else:
            base_log = torch.log(self.base.diffused_density(y, t))
        base_log = base_log.to(device=x.device, dtype=x.dtype)
        k = self.dim - self.intrinsic_dim
        if k == 0:
            return base_log
        _, s2 = ou_coefficients(t)
        return base_log - 0.5 * (perp**2).sum(-1) / s2 - 0.5 * k * (_LOG_2PI + math.log(s2))

    def diffused_density(self, x, t) -> torch.Tensor:
        return self.log_diffused_density(x, t).exp()

    def density(self, x) -> torch.Tensor:
        return self.diffused_density(x, 0.0)
