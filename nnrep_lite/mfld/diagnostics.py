"""MFLD diagnostics: kNN entropy, free energy, the proximal Gibbs measure and its KL gap,
propagation of chaos, and the mean-field prediction error.

Conventions: ``Ent(mu) = int mu log mu = -H(mu)`` with ``H`` the differential entropy, so the
free energy is ``L(mu) = F(mu) + lambda2 Ent(mu) = F(mu) - lambda2 H(mu)``. The proximal Gibbs
measure is ``p_mu ∝ exp(-(1/lambda2) dF/dmu)`` (Nitanda, Wu, Suzuki 2022), and
``L(mu) - L(mu*) <= lambda2 KL(mu || p_mu)``: the gap this module estimates.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._utils import as_tensor, check_int, check_real
from .objectives import Objective


def knn_entropy(particles, k: int = 1) -> float:
    """Kozachenko-Leonenko estimate of the differential entropy ``H`` of ``particles`` ``(N, d)``:

    .. math::

        \\hat H = \\psi(N) - \\psi(k) + \\log V_d + \\frac{d}{N} \\sum_i \\log \\varepsilon_i,

    ``eps_i`` the distance from ``X_i`` to its ``k``-th nearest other particle, ``V_d`` the
    volume of the unit ball (Kozachenko & Leonenko 1987; Kraskov et al. 2004). Returns a float.
    """
    from scipy.spatial import cKDTree
    from scipy.special import digamma, gammaln

    x = as_tensor(particles)
    if x.ndim == 1:
        x = x[:, None]
    n, d = x.shape
    k = check_int("k", k, low=1, high=max(1, n - 1))
    if n < 2:
        raise ValueError(f"particles.shape={tuple(x.shape)} is invalid: need at least 2 particles")
    arr = x.detach().cpu().double().numpy()
    dist, _ = cKDTree(arr).query(arr, k=k + 1)
    eps = np.maximum(dist[:, k], 1e-300)
    log_vd = 0.5 * d * math.log(math.pi) - float(gammaln(0.5 * d + 1))
    return float(digamma(n) - digamma(k) + log_vd + d * np.mean(np.log(eps)))


def free_energy(objective: Objective, particles, lambda2: float, k: int = 1) -> float:
    """``L(mu_N) = F(mu_N) - lambda2 * H_kNN(mu_N)`` (float): the objective of MFLD with the
    entropy of the particles estimated by :func:`knn_entropy`."""
    lambda2 = check_real("lambda2", lambda2, low=0.0)
    f = float(objective.value(particles))
    return f if lambda2 == 0 else f - lambda2 * knn_entropy(particles, k)


def _grid(bounds, points, dim, like):
    points = check_int("points", points, low=2)
    b = torch.as_tensor(bounds, dtype=like.dtype)
    if b.shape != (dim, 2) or not bool((b[:, 1] > b[:, 0]).all()):
        raise ValueError(f"bounds={bounds!r} is invalid: must be ({dim}, 2) with low < high per axis")
    axes = [torch.linspace(float(lo), float(hi), points, dtype=like.dtype) for lo, hi in b]
    mesh = torch.meshgrid(*axes, indexing="ij")
    pts = torch.stack([m.reshape(-1) for m in mesh], 1).to(like.device)
    cell = float(torch.prod((b[:, 1] - b[:, 0]) / (points - 1)))
    return axes, pts, cell


def default_bounds(particles, margin: float = 0.5) -> list[list[float]]:
    """Per-axis ``[min - margin * range, max + margin * range]`` of the particles."""
    x = as_tensor(particles).detach().cpu().double()
    lo, hi = x.min(0).values, x.max(0).values
    span = (hi - lo).clamp_min(1e-3)
    return torch.stack([lo - margin * span, hi + margin * span], 1).tolist()


def proximal_gibbs(objective: Objective, particles, lambda2: float, *, bounds=None, points: int = 60):
    """The proximal Gibbs density ``p_mu(x) ∝ exp(-(1/lambda2) (dF/dmu)(mu_N)(x))`` on a grid.

    Particle dimension ``D <= 3``. ``bounds`` ``(D, 2)`` (default :func:`default_bounds`),
    ``points`` per axis. Returns a dict with ``axes`` (list of ``(points,)`` tensors),
    ``density`` (shape ``(points,) * D``, normalised by the Riemann sum), ``log_z`` (log of
    the normaliser of ``exp(-V/lambda2)``), ``potential`` ``V = dF/dmu`` on the grid, and ``cell``.
    """
    particles = objective.check_particles(particles)
    lambda2 = check_real("lambda2", lambda2, low=0.0, low_open=True)
    dim = particles.shape[1]
    if dim > 3:
        raise ValueError(f"particles.shape={tuple(particles.shape)} is invalid: proximal_gibbs needs D <= 3")
    bounds = default_bounds(particles) if bounds is None else bounds
    axes, pts, cell = _grid(bounds, points, dim, particles)
    v = objective.first_variation(particles, pts)
    logw = -v / lambda2
    log_z = float(torch.logsumexp(logw, 0)) + math.log(cell)
    dens = torch.exp(logw - log_z).reshape((points,) * dim)
    return {"axes": axes, "density": dens, "log_z": log_z, "potential": v.reshape((points,) * dim), "cell": cell}


def proximal_gibbs_gap(
    objective: Objective, particles, lambda2: float, *, bounds=None, points: int = 60, k: int = 1
) -> float:
    """``KL(mu_N || p_mu)`` estimated as ``-H_kNN(mu_N) + mean_i V(X_i) / lambda2 + log Z``,
    ``V = (dF/dmu)(mu_N)`` and ``Z`` from the grid of :func:`proximal_gibbs`. Then
    ``lambda2 * KL`` bounds the free-energy gap ``L(mu) - L(mu*)`` (Nitanda et al. 2022)."""
    particles = objective.check_particles(particles)
    g = proximal_gibbs(objective, particles, lambda2, bounds=bounds, points=points)
    v_part = objective.first_variation(particles, particles)
    return -knn_entropy(particles, k) + float(v_part.mean()) / lambda2 + g["log_z"]


def w2_distance(a, b) -> float:
    """Exact ``W2`` between the uniform empirical measures on ``a (N, d)`` and ``b (M, d)``
    (POT's network simplex; squared Euclidean cost)."""
    import ot

    a = as_tensor(a).detach().cpu().double().numpy()
    b = as_tensor(b).detach().cpu().double().numpy()
    a = a[:, None] if a.ndim == 1 else a
    b = b[:, None] if b.ndim == 1 else b
    cost = ot.dist(a, b, metric="sqeuclidean")
    wa = np.full(a.shape[0], 1.0 / a.shape[0])
    wb = np.full(b.shape[0], 1.0 / b.shape[0])
    return math.sqrt(max(float(ot.emd2(wa, wb, cost, numItermax=10**7)), 0.0))


def chaos_w2(runs, reference, *, max_reference: int = 2000) -> dict:
    """Propagation of chaos measured in ``W2`` against a large-N reference.

    ``runs`` ``(R, N, D)``: the particles of ``R`` independent runs; ``reference`` ``(M, D)``:
    particles of a large-N run (sub-sampled to ``max_reference`` evenly). Returns
    ``empirical`` (mean over runs of ``W2(mu_N^r, ref)``, the N-particle empirical measure)
    and ``marginal`` (``W2`` between the law of particle 0 over the runs and ``ref``).
    """
    runs = as_tensor(runs)
    if runs.ndim != 3:
        raise ValueError(f"runs.shape={tuple(runs.shape)} is invalid: must be (R, N, D)")
    ref = as_tensor(reference)
    if ref.shape[0] > max_reference:
        ref = ref[torch.linspace(0, ref.shape[0] - 1, max_reference).long()]
    emp = [w2_distance(r, ref) for r in runs]
    return {"empirical": float(np.mean(emp)), "empirical_runs": emp, "marginal": w2_distance(runs[:, 0], ref)}


def prediction_error(objective, particles, f_ref) -> float:
    """``(1/n) sum_j (f_{mu_N}(z_j) - f_ref(z_j))^2`` over the inputs of a ``Regression``."""
    f = objective.predict(particles)
    d = f - as_tensor(f_ref).to(f)
    return float((d * d).mean())
