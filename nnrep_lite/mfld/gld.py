"""Gradient Langevin dynamics (GLD), the linear case of MFLD, and its Fokker-Planck equation.

``dX = -grad L(X) dt + sqrt(2/beta) dB`` is MFLD with the *linear* functional
``F(mu) = E_mu L`` and ``lambda2 = 1/beta``; its law solves the Fokker-Planck equation

.. math::

    \\partial_t p = \\nabla\\cdot(p\\nabla L) + \\beta^{-1}\\Delta p
    = \\beta^{-1}\\nabla\\cdot\\big(e^{-\\beta L}\\nabla(e^{\\beta L}p)\\big),

the Wasserstein gradient flow of ``E_p L + beta^{-1} Ent(p)``, whose stationary law is the Gibbs
measure ``exp(-beta L)/Z``. The decay rate of ``p_t`` to it is the spectral gap of the operator,
``>= 1/alpha`` for the log-Sobolev constant ``alpha``; for a double well it collapses like
``exp(-beta * barrier)`` (Eyring-Kramers), the reason MFLD needs a *uniform* LSI.

- :class:`Potential` (and :func:`double_well`, :func:`quadratic`, :func:`curved_double_well`):
  ``L`` and ``grad L`` on ``(n, d)`` points; as an :class:`~nnrep_lite.mfld.Objective` the MFLD
  loop runs GLD (:func:`gld`).
- :class:`FokkerPlanckGrid`: a conservative finite-volume discretisation (the square-root
  approximation: face fluxes ``(1/(beta h^2)) exp(-beta (L_j - L_i)/2)``), exact mass
  conservation and exact detailed balance with the grid Gibbs weights; its spectral gap; the
  solution ``p_t`` at any times.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .._utils import as_generator, check_int, check_real
from .langevin import mfld
from .objectives import Objective


class Potential(Objective):
    """``F(mu) = E_mu L`` for a potential ``L: R^d -> R`` given by ``value_fn`` and ``grad_fn``
    (torch functions of ``(n, d)`` points returning ``(n,)`` and ``(n, d)``). ``barrier``:
    the height of the saddle above the minimum (for the Eyring-Kramers comparison), or None."""

    def __init__(self, value_fn: Callable, grad_fn: Callable, dim: int, *, name: str = "L",
                 barrier: float | None = None, curvatures: tuple | None = None):
        self.value_fn, self.grad_fn = value_fn, grad_fn
        self.dim = check_int("dim", dim, low=1)
        self.name, self.barrier, self.curvatures = name, barrier, curvatures
        self.n_data = None
        self.lambda1 = 0.0

    def __repr__(self) -> str:
        return f"Potential({self.name}, d={self.dim})"

    def potential(self, x) -> torch.Tensor:
        """``L(x)`` for points ``(n, d)``, shape ``(n,)``."""
        return self.value_fn(torch.as_tensor(x))

    def _value_and_grad(self, particles, batch, need_grad=True):
        value = self.value_fn(particles).mean()
        return value, (self.grad_fn(particles) if need_grad else None)


def double_well(barrier: float = 1.0) -> Potential:
    """``L(x) = barrier (x^2 - 1)^2`` in 1-D: minima at ±1, saddle at 0 of height ``barrier``;
    ``L''(±1) = 8 barrier``, ``L''(0) = -4 barrier``."""
    h = check_real("barrier", barrier, low=0.0, low_open=True)
    return Potential(lambda x: h * (x[:, 0] ** 2 - 1) ** 2, lambda x: 4 * h * x * (x**2 - 1), 1,
                     name=f"{h:g}(x²−1)²", barrier=h, curvatures=(8 * h, 4 * h))


def quadratic(a: float = 1.0, dim: int = 1) -> Potential:
    """``L(x) = a ||x||^2 / 2``: GLD is the OU process, the spectral gap of its operator is ``a``."""
    a = check_real("a", a, low=0.0, low_open=True)
    return Potential(lambda x: 0.5 * a * (x * x).sum(1), lambda x: a * x, dim, name=f"{a:g}‖x‖²/2")


def curved_double_well(barrier: float = 1.0, bend: float = 0.6, stiffness: float = 2.0) -> Potential:
    """A 2-D non-convex potential: ``barrier (x^2-1)^2 + stiffness (y - bend x^2)^2 / 2``, two
    minima at ``(±1, bend)`` joined by a curved valley through the saddle ``(0, 0)``."""
    h = check_real("barrier", barrier, low=0.0, low_open=True)

    def value(p):
        x, y = p[:, 0], p[:, 1]
        return h * (x * x - 1) ** 2 + 0.5 * stiffness * (y - bend * x * x) ** 2

    def grad(p):
        x, y = p[:, 0], p[:, 1]
        r = y - bend * x * x
        return torch.stack([4 * h * x * (x * x - 1) - 2 * stiffness * bend * x * r, stiffness * r], 1)

    return Potential(value, grad, 2, name="curved double well", barrier=h)


def gld(potential: Potential, particles, *, beta: float, eta: float, steps: int, generator=None,
        callback=None, callback_every: int = 10, record_every: int = 10):
    """GLD ``X <- X - eta grad L(X) + sqrt(2 eta / beta) xi``: the MFLD loop with the linear
    functional ``E_mu L`` and ``lambda2 = 1/beta``. Returns ``(particles, history)``."""
    beta = check_real("beta", beta, low=0.0, low_open=True)
    return mfld(potential, particles, eta=eta, lambda2=1.0 / beta, steps=steps, generator=generator,
                callback=callback, callback_every=callback_every, record_every=record_every, progress=False)


def gld_stationary_variance(a: float, beta: float, eta: float) -> float:
    """Exact stationary variance of the GLD chain on ``L = a x^2/2``:
    ``X' = (1 - eta a) X + sqrt(2 eta/beta) xi`` has ``(2 eta/beta) / (1 - (1 - eta a)^2)``."""
    return (2 * eta / beta) / (1 - (1 - eta * a) ** 2)


class FokkerPlanckGrid:
    """The Fokker-Planck operator of GLD on a uniform tensor grid of cell centres over ``bounds``
    (one ``(lo, hi)`` per dimension, ``points`` cells each; zero flux at the boundary).

    The square-root approximation (a conservative finite-volume scheme): the mass ``m_i`` of cell
    ``i`` moves to a neighbour ``j`` at rate ``k_ij = (1/(beta h^2)) exp(-beta (L_j - L_i)/2)``.
    Columns of the generator ``Q`` sum to 0 (mass is conserved exactly) and
    ``k_ij pi_i = k_ji pi_j`` for ``pi_i ∝ exp(-beta L_i)`` (its stationary state is the grid
    Gibbs measure exactly); as ``h -> 0`` it converges to the Fokker-Planck equation (second order).
    """

    def __init__(self, potential: Potential, beta: float, bounds, points: int):
        from scipy import sparse

        self.potential = potential
        self.beta = check_real("beta", beta, low=0.0, low_open=True)
        self.points = check_int("points", points, low=3)
        bounds = np.asarray(bounds, float).reshape(-1, 2)
        if bounds.shape[0] != potential.dim:
            raise ValueError(f"bounds is invalid: needs {potential.dim} (lo, hi) pairs, got {bounds.shape[0]}")
        self.h = (bounds[:, 1] - bounds[:, 0]) / points
        self.axes = [lo + (np.arange(points) + 0.5) * h for (lo, _), h in zip(bounds, self.h)]
        mesh = np.meshgrid(*self.axes, indexing="ij")
        self.centres = np.stack([m.ravel() for m in mesh], 1)
        self.L = potential.potential(torch.as_tensor(self.centres)).numpy().astype(float)
        self.cell_volume = float(np.prod(self.h))
        w = np.exp(-self.beta * (self.L - self.L.min()))
        self.gibbs_mass = w / w.sum()  # pi_i: the grid Gibbs measure (cell masses)
        size, shape = self.L.size, (points,) * potential.dim
        idx = np.arange(size).reshape(shape)
        rows, cols, vals = [], [], []
        for axis in range(potential.dim):
            a = np.take(idx, np.arange(points - 1), axis=axis).ravel()
            b = np.take(idx, np.arange(1, points), axis=axis).ravel()
            c = 1.0 / (self.beta * self.h[axis] ** 2)
            dl = self.L[b] - self.L[a]
            k_ab, k_ba = c * np.exp(-0.5 * self.beta * dl), c * np.exp(0.5 * self.beta * dl)
            rows += [b, a]
            cols += [a, b]
            vals += [k_ab, k_ba]  # Q[j, i] = rate i -> j (dm/dt = Q m)
        rows, cols, vals = (np.concatenate(v) for v in (rows, cols, vals))
        off = sparse.csr_matrix((vals, (rows, cols)), shape=(size, size))
        self.Q = (off - sparse.diags(np.asarray(off.sum(0)).ravel())).tocsc()
        s = np.sqrt(self.gibbs_mass)
        # S = D^{-1/2} Q D^{1/2} is symmetric (detailed balance): the same spectrum, real
        self.S = (sparse.diags(1 / s) @ self.Q @ sparse.diags(s)).tocsc()
        self.S = 0.5 * (self.S + self.S.T)

    def gibbs_density(self) -> np.ndarray:
        """``exp(-beta L)/Z`` at the cell centres, ``Z`` by the midpoint rule on the grid."""
        return self.gibbs_mass / self.cell_volume

    def spectral_gap(self, k: int = 2) -> float:
        """The smallest nonzero eigenvalue ``-lambda_1`` of the operator (the decay rate of
        ``p_t`` to the Gibbs measure)."""
        return float(np.sort(-self.eigenvalues(k))[1])

    def eigenvalues(self, k: int = 2) -> np.ndarray:
        """The ``k`` eigenvalues of ``Q`` nearest 0 (descending: 0 first)."""
        return np.sort(self._eigh()[0])[::-1][:k]

    def _eigh(self):
        """Eigenpairs of the symmetric form ``S`` (dense; cached)."""
        if getattr(self, "_eig", None) is None:
            if self.S.shape[0] > 5000:
                raise ValueError(f"points={self.points} is invalid here: {self.S.shape[0]} cells are too many "
                                 "for the dense solution; use fewer points")
            self._eig = np.linalg.eigh(self.S.toarray())
        return self._eig

    def masses(self, p0_mass, times) -> np.ndarray:
        """Cell masses ``m(t) = exp(Q t) m_0`` at ``times``, shape ``(len, cells)``: exact in time
        through the eigenpairs of the symmetric form, ``exp(Q t) = D^{1/2} V e^{Λ t} V^T D^{-1/2}``."""
        m0 = np.asarray(p0_mass, float)
        if m0.shape != (self.L.size,):
            raise ValueError(f"p0_mass.shape={m0.shape} is invalid: must be ({self.L.size},)")
        times = np.asarray(times, float)
        if np.any(times < 0):
            raise ValueError("times is invalid: must be >= 0")
        lam, vec = self._eigh()
        lam = np.minimum(lam, 0.0)  # the stationary eigenvalue is 0 up to round-off
        s = np.sqrt(self.gibbs_mass)
        coef = vec.T @ (m0 / s)
        out = (np.exp(np.outer(times, lam)) * coef) @ vec.T * s
        return np.clip(out, 0.0, None)

    def cell_masses_of(self, density_fn) -> np.ndarray:
        """Normalised cell masses of a density given as a function of ``(n, d)`` numpy points."""
        m = np.clip(np.asarray(density_fn(self.centres), float), 0, None)
        return m / m.sum()

    def histogram(self, particles) -> np.ndarray:
        """Empirical cell masses of ``particles`` ``(n, d)`` (points outside the grid are dropped
        from the counts but not from the total)."""
        x = np.asarray(particles.detach().cpu() if hasattr(particles, "detach") else particles, float)
        x = x.reshape(len(x), -1)
        edges = [np.concatenate([a - h / 2, [a[-1] + h / 2]]) for a, h in zip(self.axes, self.h)]
        counts, _ = np.histogramdd(x, bins=edges)
        return counts.ravel() / len(x)


def tv(p_mass, q_mass) -> float:
    """Total variation ``(1/2) sum |p_i - q_i|`` between two vectors of cell masses."""
    return 0.5 * float(np.abs(np.asarray(p_mass) - np.asarray(q_mass)).sum())


def gibbs_samples_tv_floor(grid: FokkerPlanckGrid, n: int, *, repeats: int = 5, generator=None) -> dict:
    """The Monte-Carlo floor of the histogram TV: ``n`` exact draws from the grid Gibbs measure
    (cells by their masses, uniform inside a cell), binned on the grid, against its masses;
    mean and spread over ``repeats``."""
    n = check_int("n", n, low=1)
    gen = as_generator(generator)
    probs = torch.as_tensor(grid.gibbs_mass)
    vals = []
    for _ in range(check_int("repeats", repeats, low=1)):
        cells = torch.multinomial(probs, n, replacement=True, generator=gen).numpy()
        counts = np.bincount(cells, minlength=probs.numel()) / n
        vals.append(tv(counts, grid.gibbs_mass))
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if repeats > 1 else 0.0}


def gld_experiment(potential: Potential, *, beta: float, eta: float, time: float, n_particles: int,
                   x0_mean, x0_std: float, bounds, points: int, snapshots: int = 40, seed: int = 0,
                   dtype=torch.float64, particles: bool = True) -> dict:
    """Particles (GLD) and the grid Fokker-Planck solution from the same Gaussian start, side by
    side over ``[0, time]``: at ``snapshots`` times the particles' histogram masses, the FP masses
    and the TV of both to the Gibbs measure; the spectral gap of the operator; the particles'
    final TV against the Monte-Carlo floor of ``n_particles`` exact Gibbs draws; and the decay
    rate of the particles' TV (the floor taken out in quadrature) fitted where it lies above three times that floor,
    after the faster modes have decayed (``t >= 2 / lambda_3``).

    ``particles=False`` skips the particles (a preview: the grid solution, its spectral gap and
    the Monte-Carlo floor cost about a tenth of the run): their masses, TVs, rate and final TV
    are NaN, ``"particles"`` is None, at the same snapshot times."""
    grid = FokkerPlanckGrid(potential, beta, bounds, points)
    gen = as_generator(seed)
    mean = torch.as_tensor(x0_mean, dtype=dtype).reshape(1, -1)
    x = mean + x0_std * torch.randn(n_particles, potential.dim, generator=gen, dtype=dtype)
    steps = max(1, round(time / eta))
    every = max(1, steps // snapshots)
    mu0 = mean.numpy().ravel()
    m0 = grid.cell_masses_of(lambda c: np.exp(-((c - mu0) ** 2).sum(1) / (2 * x0_std**2)))
    # the snapshots: the start, then where the loop calls back (every `every` steps and the last)
    ks = list(range(every, steps + 1, every)) + ([steps] if steps % every else [])
    times = np.asarray([0.0] + [k * eta for k in ks])
    if particles:
        part_masses = [grid.histogram(x)]
        x, _ = gld(potential, x, beta=beta, eta=eta, steps=steps, generator=gen,
                   callback=lambda info: part_masses.append(grid.histogram(info["particles"])),
                   callback_every=every, record_every=steps)
    else:  # a preview: no particles
        part_masses = [np.full(grid.L.size, np.nan) for _ in times]
        x = None
    fp = grid.masses(m0, times)
    lam = -grid.eigenvalues(3)
    gap = float(lam[1])
    floor = gibbs_samples_tv_floor(grid, n_particles, generator=seed + 1)
    tv_part = np.array([tv(m, grid.gibbs_mass) for m in part_masses])
    tv_fp = np.array([tv(m, grid.gibbs_mass) for m in fp])
    # the window: after the faster modes have decayed (t >= 2/lambda_3), above 3x the MC floor
    with np.errstate(invalid="ignore"):
        sel = tv_part > 3 * floor["mean"]  # all False without particles (NaN)
    sel &= times >= 2.0 / lam[2]
    rate = math.nan
    if sel.sum() >= 3:
        # the histogram's noise adds to the TV roughly in quadrature: take it out the same way
        signal = np.sqrt(tv_part[sel] ** 2 - floor["mean"] ** 2)
        rate = -float(np.polyfit(times[sel], np.log(signal), 1)[0])
    fp_sel = (tv_fp > 1e-8) & (times > 0.2 * times[-1])
    fp_rate = -float(np.polyfit(times[fp_sel], np.log(tv_fp[fp_sel]), 1)[0]) if fp_sel.sum() >= 3 else math.nan
    return {"grid": grid, "times": times, "particle_masses": np.asarray(part_masses), "fp_masses": fp,
            "tv_particles": tv_part, "tv_fp": tv_fp, "gap": gap, "rate": rate, "fp_rate": fp_rate,
            "tv_floor": floor, "tv_final": float(tv_part[-1]), "particles": x, "beta": beta, "eta": eta,
            "has_particles": bool(particles),
            "rate_window": (float(times[sel][0]), float(times[sel][-1])) if sel.any() else None}


def kramers_gap(potential: Potential, beta: float) -> float:
    """Eyring-Kramers for a symmetric 1-D double well: the gap is the sum of the two hopping
    rates, ``2 sqrt(L''(min) |L''(saddle)|)/(2 pi) exp(-beta barrier)``."""
    if potential.barrier is None or potential.curvatures is None:
        raise ValueError("potential is invalid: needs barrier and curvatures (use double_well)")
    c_min, c_saddle = potential.curvatures
    return 2 * math.sqrt(c_min * c_saddle) / (2 * math.pi) * math.exp(-beta * potential.barrier)
