"""Kernel Stein discrepancy variational inference and two targets given by their scores.

``KSD^2(mu, p) = E_{x, x' ~ mu} u_p(x, x')`` with the Stein kernel of the Gaussian kernel
``k(x, x') = exp(-||x - x'||^2 / (2 h^2))`` (Liu, Lee, Jordan 2016; Chwialkowski et al. 2016):

.. math::

    u_p(x, x') = k(x, x') \\Big[ s(x)^\\top s(x') + \\frac{(s(x) - s(x'))^\\top \\delta}{h^2}
    + \\frac{d}{h^2} - \\frac{\\|\\delta\\|^2}{h^4} \\Big], \\qquad \\delta = x - x',

``s = grad log p``. A target provides ``score(x)`` ``(N, d)`` and ``score_jacobian(x)``
``(N, d, d)`` (the Hessian of ``log p``), so the first-variation gradient is closed form.
"""

from __future__ import annotations

import math

import torch

from .._utils import as_generator, as_tensor, check_int, check_real
from .objectives import Objective


class GaussianMixtureTarget:
    """``p = sum_k w_k N(m_k, v_k I)`` with isotropic components: exact score and Hessian.

    means ``(K, d)``, variances ``(K,)`` (or a float), weights ``(K,)``.
    """

    def __init__(self, means, variances, weights=None):
        self.means = as_tensor(means)
        if self.means.ndim == 1:
            self.means = self.means[:, None]
        k, self.dim = self.means.shape
        v = as_tensor(variances).to(self.means)
        self.variances = v.expand(k).clone() if v.ndim == 0 else v
        w = torch.full((k,), 1.0 / k) if weights is None else as_tensor(weights)
        w = w.to(self.means)
        if self.variances.shape != (k,) or w.shape != (k,) or (self.variances <= 0).any() or (w < 0).any():
            raise ValueError("variances/weights are invalid: must be positive (K,) tensors")
        self.weights = w / w.sum()

    def _resp(self, x):
        x = x.to(self.means)
        diff = x[:, None, :] - self.means[None]  # (N, K, d)
        logc = (
            torch.log(self.weights)
            - 0.5 * self.dim * torch.log(2 * math.pi * self.variances)
            - 0.5 * (diff**2).sum(-1) / self.variances
        )
        return diff, torch.softmax(logc, 1), logc

    def log_density(self, x):
        return torch.logsumexp(self._resp(_rows(x, self.dim))[2], 1)

    def density(self, x):
        return torch.exp(self.log_density(x))

    def score(self, x):
        diff, r, _ = self._resp(_rows(x, self.dim))
        return -(r[..., None] * diff / self.variances[:, None]).sum(1)

    def score_jacobian(self, x):
        diff, r, _ = self._resp(_rows(x, self.dim))
        g = -diff / self.variances[:, None]  # per-component scores (N, K, d)
        s = (r[..., None] * g).sum(1)
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device)
        hk = -(r / self.variances)[..., None, None] * eye  # sum_k r_k H_k
        outer = (r[..., None, None] * g[..., :, None] * g[..., None, :]).sum(1)
        return hk.sum(1) + outer - s[:, :, None] * s[:, None, :]

    def sample(self, n, generator=None):
        gen = as_generator(generator)
        idx = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        eps = torch.randn(n, self.dim, generator=gen, dtype=self.means.dtype)
        return self.means[idx] + eps * self.variances[idx].sqrt()[:, None]


class LogisticPosterior:
    """Posterior of Bayesian logistic regression, ``theta ~ N(0, prior_var I)``,
    ``P(y=1 | x, theta) = sigmoid(x^T theta)``: score
    ``sum_i (y_i - sigmoid(x_i^T theta)) x_i - theta / prior_var`` and Hessian
    ``-sum_i sigmoid (1 - sigmoid) x_i x_i^T - I / prior_var``. ``X (n, d)``, ``y (n,)`` in {0,1}.
    """

    def __init__(self, X, y, prior_var: float = 1.0):
        self.X = as_tensor(X)
        self.y = as_tensor(y).to(self.X)
        self.prior_var = check_real("prior_var", prior_var, low=0.0, low_open=True)
        self.dim = self.X.shape[1]

    @classmethod
    def synthetic(cls, n: int = 40, *, theta=(1.5, -1.0), prior_var: float = 1.0, generator=None):
        """``n`` points ``x ~ N(0, I_2)``, labels drawn from the model at ``theta``."""
        n = check_int("n", n, low=1)
        gen = as_generator(generator)
        theta = torch.as_tensor(theta, dtype=torch.float64)
        X = torch.randn(n, theta.numel(), generator=gen, dtype=torch.float64)
        p = torch.sigmoid(X @ theta)
        y = (torch.rand(n, generator=gen, dtype=torch.float64) < p).to(torch.float64)
        return cls(X, y, prior_var)

    def log_density(self, theta):
        """Unnormalised log posterior."""
        theta = _rows(theta, self.dim)
        logits = theta @ self.X.to(theta).T
        ll = (self.y.to(theta) * logits - torch.nn.functional.softplus(logits)).sum(1)
        return ll - 0.5 * (theta * theta).sum(1) / self.prior_var

    def score(self, theta):
        theta = _rows(theta, self.dim)
        X = self.X.to(theta)
        p = torch.sigmoid(theta @ X.T)
        return (self.y.to(theta) - p) @ X - theta / self.prior_var

    def score_jacobian(self, theta):
        theta = _rows(theta, self.dim)
        X = self.X.to(theta)
        p = torch.sigmoid(theta @ X.T)
        w = p * (1 - p)  # (N, n)
        eye = torch.eye(self.dim, dtype=theta.dtype, device=theta.device)
        return -torch.einsum("Nn,ni,nj->Nij", w, X, X) - eye / self.prior_var


def _rows(x, dim):
    x = as_tensor(x)
    return x[:, None] if x.ndim == 1 and dim == 1 else x


class KSDVariational(Objective):
    """``F(mu) = KSD^2(mu, p) + lambda1 E||x||^2`` for a target given by its score.

    ``target_score``: an object with ``score(x)`` and ``score_jacobian(x)`` (e.g.
    :class:`GaussianMixtureTarget`, :class:`LogisticPosterior`), or a plain callable
    ``x -> score`` whose Jacobian is then taken by ``torch.func`` (slower). First variation
    ``dF/dmu(x) = 2 E_{x'~mu} u_p(x, x') + lambda1 ||x||^2`` and its gradient in closed form.
    """

    def __init__(self, target_score, *, bandwidth: float, lambda1: float = 0.0):
        self.target = target_score
        if hasattr(target_score, "score"):
            self._score = target_score.score
            self._jac = getattr(target_score, "score_jacobian", None)
        elif callable(target_score):
            self._score, self._jac = target_score, None
        else:
            raise TypeError(f"target_score={target_score!r} is invalid: must be callable or have .score")
        if self._jac is None:
            self._jac = self._autograd_jacobian
        self.bandwidth = check_real("bandwidth", bandwidth, low=0.0, low_open=True)
        self.lambda1 = check_real("lambda1", lambda1, low=0.0)
        self.dim = getattr(target_score, "dim", None)

    def _autograd_jacobian(self, x):
        f = lambda v: self._score(v[None])[0]  # noqa: E731
        return torch.vmap(torch.func.jacrev(f))(x)

    def __repr__(self) -> str:
        return f"KSDVariational(bandwidth={self.bandwidth:g}, lambda1={self.lambda1:g})"

    def _stein(self, x, sx, y, sy):
        h2 = self.bandwidth**2
        delta = x[:, None, :] - y[None, :, :]  # (M, N, d)
        r2 = (delta * delta).sum(-1)
        k = torch.exp(-r2 / (2 * h2))
        bracket = (
            sx @ sy.T
            + ((sx[:, None, :] - sy[None, :, :]) * delta).sum(-1) / h2
            + x.shape[1] / h2
            - r2 / h2**2
        )
        return k, delta, bracket

    def stein_kernel(self, x, y):
        """``u_p(x_i, y_j)``, shape ``(M, N)``."""
        k, _, bracket = self._stein(x, self._score(x), y, self._score(y))
        return k * bracket

    def first_variation(self, particles, x):
        particles = self.check_particles(particles)
        x = self.check_particles(_rows(x, particles.shape[1]).to(particles), "x")
        return 2 * self.stein_kernel(x, particles).mean(1) + self.lambda1 * (x * x).sum(1)

    def _value_and_grad(self, particles, batch, need_grad=True):
        h2 = self.bandwidth**2
        s = self._score(particles)
        k, delta, bracket = self._stein(particles, s, particles, s)
        value = (k * bracket).mean() + self._reg(particles)
        if not need_grad:
            return value, None
        jac = self._jac(particles)  # (N, d, d), symmetric
        n = particles.shape[0]
        kb = k * bracket
        # grad_x u(x, x') = k [ -delta/h2 * bracket + J(x)(s' + delta/h2) + (s - s')/h2 - 2 delta/h2^2 ]
        ks = k @ s  # sum_j k_ij s_j
        kdelta = (k[..., None] * delta).sum(1)  # sum_j k_ij delta_ij
        term_a = -(kb[..., None] * delta).sum(1) / h2
        term_b = torch.einsum("nij,nj->ni", jac, ks + kdelta / h2)
        term_c = (k.sum(1)[:, None] * s - ks) / h2
        term_d = -2 * kdelta / h2**2
        grad = 2.0 * (term_a + term_b + term_c + term_d) / n
        if self.lambda1:
            grad = grad + 2.0 * self.lambda1 * particles
        return value, grad
