"""MFLD objectives ``F(mu) = loss(mu) + lambda1 E_mu ||x||^2`` with closed-form first variations.

Every objective exposes, for an empirical measure ``mu_N`` given as particles ``(N, D)``:

- ``value(particles)`` -> ``F(mu_N)`` (a 0-dim tensor);
- ``first_variation(particles, x)`` -> ``(dF/dmu)(mu_N)(x)`` at points ``x`` of shape ``(M, D)``;
- ``first_variation_grad(particles, batch=None)`` -> ``grad_x (dF/dmu)(mu_N)(X^i)``, shape
  ``(N, D)``, vectorised over particles. ``batch`` (a long tensor of data indices) replaces the
  data average in the loss by the average over the batch (an unbiased estimate when the batch
  is drawn uniformly); the regulariser ``2 lambda1 x`` is always exact.

The MFLD update (Suzuki, Nitanda, Wu 2023, eq. (3)) moves particles along minus this gradient.
"""

from __future__ import annotations

import math

import torch

from .._utils import as_tensor, check_real
from .models import MeanFieldNet, _as_inputs


class Objective:
    """Base class: ``dim`` (particle dimension or None) and ``n_data`` (None: no data term)."""

    dim: int | None = None
    n_data: int | None = None
    lambda1: float = 0.0

    def check_particles(self, particles: torch.Tensor, name: str = "particles") -> torch.Tensor:
        if not isinstance(particles, torch.Tensor):
            particles = as_tensor(particles)
        if particles.ndim != 2 or (self.dim is not None and particles.shape[1] != self.dim):
            want = f"(N, {self.dim})" if self.dim is not None else "(N, D)"
            raise ValueError(
                f"{name}.shape={tuple(particles.shape)} is invalid: must be {want} for "
                f"{type(self).__name__}"
            )
        if not particles.is_floating_point():
            raise TypeError(f"{name}.dtype={particles.dtype} is invalid: must be floating point")
        return particles

    def value(self, particles: torch.Tensor) -> torch.Tensor:
        particles = self.check_particles(particles)
        return self._value_and_grad(particles, None, need_grad=False)[0]

    def first_variation_grad(self, particles: torch.Tensor, batch=None) -> torch.Tensor:
        particles = self.check_particles(particles)
        return self._value_and_grad(particles, self._check_batch(batch), need_grad=True)[1]

    def _check_batch(self, batch):
        if batch is None:
            return None
        if self.n_data is None:
            raise ValueError(f"batch is invalid: {type(self).__name__} has no data to subsample")
        batch = torch.as_tensor(batch)
        if batch.ndim != 1 or batch.dtype not in (torch.int64, torch.int32) or batch.numel() < 1:
            raise ValueError("batch is invalid: must be a 1-D integer tensor of data indices")
        if int(batch.min()) < 0 or int(batch.max()) >= self.n_data:
            raise ValueError(f"batch is invalid: indices must lie in [0, {self.n_data - 1}]")
        return batch

    def _reg(self, particles: torch.Tensor) -> torch.Tensor:
        return self.lambda1 * (particles * particles).sum(1).mean()

    def draw_batch(self, batch_size: int, generator, device) -> torch.Tensor | None:
        """A uniform batch of ``batch_size`` distinct data indices (``None`` when it is all the
        data: exactly the full gradient), drawn from ``generator`` (the SG loop calls this)."""
        n = self.n_data
        if batch_size >= n:
            return None
        where = generator.device if generator is not None else "cpu"
        return torch.randperm(n, generator=generator, device=where)[:batch_size].to(device)

    # subclasses: _value_and_grad(particles, batch, need_grad) -> (value or None, grad or None)
    # value is returned when batch is None (exact F) and may be None otherwise.
    def _value_and_grad(self, particles, batch, need_grad=True):  # pragma: no cover
        raise NotImplementedError


class Quadratic(Objective):
    """Loss 0: ``F(mu) = lambda1 E||x||^2``. MFLD is then an OU chain whose stationary law is
    ``N(0, lambda2 / (2 lambda1 (1 - lambda1 eta)) I)`` (exact for every step size eta), and
    the proximal Gibbs measure is ``N(0, lambda2 / (2 lambda1) I)``."""

    def __init__(self, lambda1: float):
        self.lambda1 = check_real("lambda1", lambda1, low=0.0, low_open=True)

    def __repr__(self) -> str:
        return f"Quadratic(lambda1={self.lambda1:g})"

    def first_variation(self, particles, x):
        x = as_tensor(x).to(particles)
        return self.lambda1 * (x * x).sum(-1)

    def _value_and_grad(self, particles, batch, need_grad=True):
        grad = 2.0 * self.lambda1 * particles if need_grad else None
        return self._reg(particles), grad

    def stationary_variance(self, lambda2: float, eta: float) -> float:
        """Per-coordinate stationary variance of the discrete chain with step ``eta``."""
        lambda2 = check_real("lambda2", lambda2, low=0.0)
        eta = check_real("eta", eta, low=0.0, high=1.0 / self.lambda1, high_open=True)
        return lambda2 / (2.0 * self.lambda1 * (1.0 - self.lambda1 * eta))


class Regression(Objective):
    """Squared loss of a mean-field network,

    .. math::

        F(\\mu) = \\frac{1}{2n} \\sum_{j=1}^n (f_\\mu(z_j) - y_j)^2 + \\lambda_1 E_\\mu\\|x\\|^2,
        \\qquad \\frac{\\delta F}{\\delta \\mu}(x) = \\frac1n \\sum_j (f_\\mu(z_j) - y_j) h(x; z_j)
        + \\lambda_1 \\|x\\|^2.

    ``z`` of shape ``(n, d)`` (or ``(n,)``), ``y`` of shape ``(n,)``; particles ``(N, d + 2)``.
    The gradient is closed form: with ``a = tanh(r)``, ``S = sigma(W z + b)``, residual ``e``,
    ``grad_r = (1 - a^2) S e / n`` and ``grad_(w,b) = a (sigma'(U) * e) [z, 1] / n``; for tanh
    the ``(N, n)`` work is one addmm, one in-place sigmoid (``tanh u = 2 sigmoid(2u) - 1``), two
    mat-vecs, one in-place ``sigmoid (1 - sigmoid)`` and one matmul: no autograd, no copies.
    """

    def __init__(self, z, y, *, lambda1: float, model: MeanFieldNet | None = None):
        z = _as_inputs(z)
        y = as_tensor(y).to(dtype=z.dtype, device=z.device)
        if y.ndim != 1 or y.shape[0] != z.shape[0]:
            raise ValueError(
                f"y.shape={tuple(y.shape)} is invalid: must be ({z.shape[0]},) to match z"
            )
        self.model = MeanFieldNet() if model is None else model
        if not isinstance(self.model, MeanFieldNet):
            raise TypeError(f"model={self.model!r} is invalid: must be a MeanFieldNet")
        self.lambda1 = check_real("lambda1", lambda1, low=0.0)
        self.z, self.y = z, y
        self.zaug = torch.cat([z, torch.ones_like(z[:, :1])], 1)  # (n, d + 1)
        self._zaug2t_cache: tuple | None = None  # (key of zaug, 2 [z, 1]^T)
        self.n_data = z.shape[0]
        self.input_dim = z.shape[1]
        self.dim = z.shape[1] + 2

    def __repr__(self) -> str:
        return f"Regression(n={self.n_data}, d={self.input_dim}, lambda1={self.lambda1:g}, model={self.model!r})"

    def predict(self, particles, z=None):
        """``f_{mu_N}`` at ``z`` (default: the training inputs), shape ``(n,)``."""
        return self.model.forward(particles, self.z if z is None else z)

    def first_variation(self, particles, x):
        particles = self.check_particles(particles)
        x = self.check_particles(as_tensor(x).to(particles), "x")
        res = self.predict(particles) - self.y.to(particles)
        h = self.model.neurons(x, self.z.to(particles))  # (M, n)
        return h @ res / self.n_data + self.lambda1 * (x * x).sum(1)

    def _value_and_grad(self, particles, batch, need_grad=True):
        zaug = self.zaug.to(particles)
        y = self.y.to(particles)
        if batch is not None:
            zaug, y = zaug[batch], y[batch]
        if self.model.activation == "tanh":
            return self._tanh_value_and_grad(particles, zaug, y, need_grad, batch is None)
        m, n_part = zaug.shape[0], particles.shape[0]
        a = torch.tanh(particles[:, 0])
        u = particles[:, 1:] @ zaug.T  # (N, m)
        s = torch.erf(u)
        res = torch.mv(s.T, a).div_(n_part).sub_(y)  # f - y, (m,)
        value = 0.5 * (res @ res) / m + self._reg(particles) if batch is None else None
        if not need_grad:
            return value, None
        grad = torch.empty_like(particles)
        grad[:, 0] = (1.0 - a * a) * torch.mv(s, res) / m
        sp = u.square_().neg_().exp_().mul_(2.0 / math.sqrt(math.pi))  # erf'(u), in place
        grad[:, 1:] = a[:, None] * (sp @ (res[:, None] * zaug)) / m
        if self.lambda1:
            grad.add_(particles, alpha=2.0 * self.lambda1)
        return value, grad

    def _tanh_value_and_grad(self, particles, zaug, y, need_grad, exact):
        """tanh(u) = 2 sigmoid(2u) - 1 and tanh' = 4 sigmoid (1 - sigmoid): sigmoid is several
        times cheaper than tanh on CPU, and the affine map folds into the mat-vecs. Few
        operations per step: small problems (a live panel's 256 particles) are bound by the
        per-operation cost, large ones by the passes over the (N, m) array."""
        m, n_part = zaug.shape[0], particles.shape[0]
        a = torch.tanh(particles[:, 0])
        # sigma = sigmoid(2 (w^T z + b)), shape (N, m): one product against 2 [z, 1]^T (the bias
        # folded in; kept for the full batch), one in-place sigmoid
        sig = torch.mm(particles[:, 1:], self._zaug2t(zaug, exact))
        sig.sigmoid_()
        # e = f - y, f = mean_i a_i (2 sigma_i - 1)
        res = torch.addmv(y, sig.T, a, beta=-1.0, alpha=2.0 / n_part).sub_(a.sum(), alpha=1.0 / n_part)
        value = None
        if exact:  # (1/2m) |e|^2 + lambda1 mean_i |x_i|^2
            flat = particles.reshape(-1)
            value = torch.dot(res, res).mul_(0.5 / m).add_(torch.dot(flat, flat), alpha=self.lambda1 / n_part)
        if not need_grad:
            return value, None
        grad = torch.empty_like(particles)
        # grad_r = (1 - a^2) (1/m) sum_j e_j tanh(u_ij) = (1 - a^2)(2 sigma e - sum e)/m
        torch.mul(torch.addmv(res.sum(), sig, res, beta=-1.0 / m, alpha=2.0 / m), torch.addcmul(
            torch.ones_like(a), a, a, value=-1.0), out=grad[:, 0])
        # grad_(w,b) = a (1/m) sum_j e_j 4 sigma (1 - sigma) [z_j, 1]
        torch.addcmul(sig, sig, sig, value=-1.0, out=sig)
        # sigma' (e [z, 1]), (N, d+1). For very few input columns BLAS is 2-4x faster on the
        # transposed product (d+1, m) x (m, N); from about 8 columns on, the direct one is faster.
        ez = res[:, None] * zaug
        prod = torch.mm(sig, ez) if zaug.shape[1] >= 8 else torch.mm(ez.T, sig.T).T
        torch.mul(prod, a[:, None], out=grad[:, 1:]).mul_(4.0 / m)
        if self.lambda1:
            grad.add_(particles, alpha=2.0 * self.lambda1)
        return value, grad

    def _zaug2t(self, zaug: torch.Tensor, full: bool) -> torch.Tensor:
        """2 [z, 1]^T, (d+1, m): kept for the full batch (one per dtype and device), built for
        a minibatch."""
        if not full:
            return zaug.T * 2.0
        key = (zaug.data_ptr(), tuple(zaug.shape), zaug.dtype, zaug.device)
        cached = self._zaug2t_cache
        if cached is None or cached[0] != key:
            cached = self._zaug2t_cache = (key, (zaug.T * 2.0).contiguous())
        return cached[1]


def _gauss(sqd: torch.Tensor, var: float) -> torch.Tensor:
    return torch.exp(sqd / (-2.0 * var))


def _sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return d.clamp_min_(0.0)


class MMDDensity(Objective):
    """Density estimation by ``F(mu) = MMD^2(g * mu, data) + lambda1 E||x||^2``.

    Kernel ``k(x, y) = exp(-||x - y||^2 / (2 s^2))`` with ``s = bandwidth``, smoothing
    ``g = N(0, tau^2 I)`` with ``tau = smoothing``. Gaussian-Gaussian convolutions are closed
    form: ``E k(x + e, y) = c_1 exp(-||x-y||^2 / (2 (s^2 + tau^2)))``, ``c_1 = (s^2/(s^2+tau^2))^{d/2}``
    and ``E k(x + e, x' + e') = c_2 exp(-||x-x'||^2 / (2 (s^2 + 2 tau^2)))``,
    ``c_2 = (s^2/(s^2+2tau^2))^{d/2}``, so

    .. math::

        \\frac{\\delta F}{\\delta\\mu}(x) = 2 E_{x'\\sim\\mu} K_2(x, x') - \\frac2n \\sum_j K_1(x, y_j)
        + \\lambda_1\\|x\\|^2 .

    ``data`` of shape ``(n, d)`` (or ``(n,)``); particles ``(N, d)``.
    """

    def __init__(self, data, *, bandwidth: float, smoothing: float = 0.0, lambda1: float = 0.0):
        data = _as_inputs(data)
        self.data = data
        self.bandwidth = check_real("bandwidth", bandwidth, low=0.0, low_open=True)
        self.smoothing = check_real("smoothing", smoothing, low=0.0)
        self.lambda1 = check_real("lambda1", lambda1, low=0.0)
        self.n_data, self.dim = data.shape
        s2, t2, d = self.bandwidth**2, self.smoothing**2, self.dim
        self.var1, self.var2 = s2 + t2, s2 + 2 * t2
        self.c1, self.c2 = (s2 / self.var1) ** (d / 2), (s2 / self.var2) ** (d / 2)
        dd = _sqdist(data, data)
        self.data_term = float(_gauss(dd, s2).mean())
        self._cols_cache: tuple | None = None  # (shape key, column weights)

    def __repr__(self) -> str:
        return (
            f"MMDDensity(n={self.n_data}, d={self.dim}, bandwidth={self.bandwidth:g}, "
            f"smoothing={self.smoothing:g}, lambda1={self.lambda1:g})"
        )

    def smoothed_density(self, particles, x):
        """``(g * mu_N)(x)``, shape ``(M,)``: the estimated density at points ``x`` ``(M, d)``."""
        particles = self.check_particles(particles)
        x = self.check_particles(_as_inputs(x, particles), "x")
        t2 = max(self.smoothing**2, 1e-300)
        norm = (2 * math.pi * t2) ** (-self.dim / 2)
        return norm * _gauss(_sqdist(x, particles), t2).mean(1)

    def first_variation(self, particles, x):
        particles = self.check_particles(particles)
        x = self.check_particles(_as_inputs(x, particles), "x")
        data = self.data.to(particles)
        v = 2 * self.c2 * _gauss(_sqdist(x, particles), self.var2).mean(1)
        v = v - 2 * self.c1 * _gauss(_sqdist(x, data), self.var1).mean(1)
        return v + self.lambda1 * (x * x).sum(1)

    def _columns(self, n_part: int, n_dat: int, like: torch.Tensor):
        """Per column of the joint kernel matrix against ``[particles; data]``: the exponent
        scale -1/(2 var), and the gradient and value weights with the kernel's constant c
        folded in (cached per shape)."""
        key = (n_part, n_dat, like.dtype, like.device)
        if self._cols_cache is None or self._cols_cache[0] != key:
            def two(a, b):
                return torch.cat([torch.full((n_part,), a, dtype=like.dtype, device=like.device),
                                  torch.full((n_dat,), b, dtype=like.dtype, device=like.device)])
            self._cols_cache = (key, (two(-0.5 / self.var2, -0.5 / self.var1),
                                      two(-2.0 * self.c2 / (n_part * self.var2), 2.0 * self.c1 / (n_dat * self.var1)),
                                      two(self.c2 / n_part**2, -2.0 * self.c1 / (n_part * n_dat))))
        return self._cols_cache[1]

    def _value_and_grad(self, particles, batch, need_grad=True):
        # one matrix exp(-|x - y|^2 / (2 var)) against [particles; data] (N, N + n): var_2 in the
        # particle columns, var_1 in the data columns; the constants c ride in the weights
        data = self.data.to(particles)
        dat = data if batch is None else data[batch]
        n_part, dim = particles.shape
        ys = torch.cat([particles, dat])
        if dim <= 2:  # squared distances coordinate by coordinate: no cancellation, fewer passes
            k = torch.sub(particles[:, :1], ys[:, 0]).square_()
            for j in range(1, dim):
                diff = torch.sub(particles[:, j : j + 1], ys[:, j])
                k.addcmul_(diff, diff)
        else:
            k = _sqdist(particles, ys)
        scale, alpha, beta = self._columns(n_part, dat.shape[0], particles)
        k.mul_(scale).exp_()
        value = None
        if batch is None:  # mean K_2 - 2 mean K_1 + data term + regulariser
            value = torch.mv(k, beta).sum() + self.data_term + self._reg(particles)
        if not need_grad:
            return value, None
        # grad_x K(x, y) = -K (x - y) / var: sum_y a_y K(x, y) (x - y) with the weights a
        a = k.mul_(alpha)
        grad = torch.mm(a, ys).neg_().addcmul_(a.sum(1, keepdim=True), particles)
        if self.lambda1:
            grad.add_(particles, alpha=2.0 * self.lambda1)
        return value, grad


class ReplicatedRegression(Objective):
    """``R`` independent copies of a tanh :class:`Regression`, each with its own ``N`` particles,
    advanced by one vectorised loop: particles ``(R * N, D)`` (replica ``r`` owns rows
    ``r N .. (r+1) N - 1``). The copies never interact (each has its own ``mu_N``), so one
    :func:`~nnrep_lite.mfld.mfld` call runs ``R`` independent MFLD runs (used for seed averages).
    ``value`` is the mean of the ``R`` objectives; :meth:`replica_values` gives each one.
    """

    def __init__(self, base: Regression, replicas: int):
        from .._utils import check_int

        if not isinstance(base, Regression) or base.model.activation != "tanh":
            raise TypeError(f"base={base!r} is invalid: must be a tanh Regression")
        self.base = base
        self.replicas = check_int("replicas", replicas, low=1)
        self.dim, self.n_data, self.lambda1 = base.dim, base.n_data, base.lambda1
        self.model, self.input_dim = base.model, base.input_dim

    def _split(self, particles):
        if particles.shape[0] % self.replicas:
            raise ValueError(
                f"particles.shape={tuple(particles.shape)} is invalid: rows must be a multiple of "
                f"replicas={self.replicas}"
            )
        return particles.reshape(self.replicas, -1, particles.shape[1])

    def predict(self, particles, z=None):
        """``f_{mu_N^r}`` for each replica, shape ``(R, n)``."""
        return torch.stack([self.base.predict(p, z) for p in self._split(particles)])

    def replica_values(self, particles):
        return torch.stack([self.base.value(p) for p in self._split(particles)])

    def first_variation(self, particles, x):  # pragma: no cover - not defined for replicas
        raise TypeError("first_variation is not defined for replicated runs: use one replica")

    def draw_batch(self, batch_size: int, generator, device) -> torch.Tensor | None:
        """An independent uniform batch for each replica, shape ``(R, B)`` (``None`` for all the
        data): the replicas stay independent runs of SG-MFLD, so their spread is a standard error."""
        n = self.n_data
        if batch_size >= n:
            return None
        where = generator.device if generator is not None else "cpu"
        keys = torch.rand(self.replicas, n, generator=generator, device=where)
        return keys.argsort(1)[:, :batch_size].to(device)

    def _value_and_grad(self, particles, batch, need_grad=True):
        base = self.base
        zaug, y = base.zaug.to(particles), base.y.to(particles)
        p = self._split(particles)  # (R, N, D)
        r_, n_part, dim = p.shape
        if batch is not None:  # (B,) shared by all replicas, or (R, B): one batch per replica
            zaug, y = zaug[batch], y[batch]
        if zaug.ndim == 2:
            zaug, y = zaug.expand(r_, -1, -1), y.expand(r_, -1)
        m = zaug.shape[1]
        a = torch.tanh(p[:, :, 0])  # (R, N)
        zt = zaug[:, :, :-1].transpose(1, 2)  # (R, d, m)
        sig = torch.baddbmm(p[:, :, -1:], p[:, :, 1:-1], zt, beta=2.0, alpha=2.0).sigmoid_()
        res = torch.bmm(a[:, None, :], sig)[:, 0].mul_(2.0 / n_part)
        res.sub_(a.sum(1, keepdim=True) / n_part).sub_(y)  # (R, m)
        value = None
        if batch is None:
            reg = (p * p).sum(2).mean(1)
            value = (0.5 * (res * res).sum(1) / m + self.lambda1 * reg).mean()
        if not need_grad:
            return value, None
        grad = torch.empty_like(p)
        sr = torch.bmm(sig, res[:, :, None])[:, :, 0]  # (R, N)
        grad[:, :, 0] = (1.0 - a * a) * (2.0 * sr - res.sum(1, keepdim=True)) / m
        torch.addcmul(sig, sig, sig, value=-1.0, out=sig)
        rzt = (res[:, :, None] * zaug).transpose(1, 2)  # (R, d + 1, m)
        grad[:, :, 1:] = torch.bmm(rzt, sig.transpose(1, 2)).transpose(1, 2) * (a[:, :, None] * (4.0 / m))
        grad = grad.reshape(r_ * n_part, dim)
        if self.lambda1:
            grad.add_(particles, alpha=2.0 * self.lambda1)
        return value, grad
