"""Distances between samples and exact targets: histogram TV, W1 (exact / OT / sliced),
the Girsanov KL bound and the early-stopping TV."""

from __future__ import annotations

import math

import numpy as np
import torch

from .._utils import as_generator, as_tensor, check_choice, check_int, check_real, randn
from .training import _check_times

__all__ = ["bin_edges", "exact_bin_masses", "tv_distance", "density_tv", "histogram_tv_floor", "w1_distance", "w1_floor", "law_bin_masses", "law_tv",
           "girsanov_kl_bound", "integrated_score_error", "score_error_grid", "early_stopping_tv"]


def _points(x, name="samples") -> torch.Tensor:
    x = as_tensor(x)
    if x.dim() == 1:
        x = x[:, None]
    if x.dim() != 2:
        raise ValueError(f"{name} with shape {tuple(x.shape)} is invalid: must be (n, d)")
    return x


def bin_edges(bins: int, bounds=(-1.0, 1.0), *, dtype=torch.float64) -> torch.Tensor:
    """``bins + 1`` equally spaced edges on ``bounds``."""
    bins = check_int("bins", bins, low=1)
    lo, hi = float(bounds[0]), float(bounds[1])
    if not lo < hi:
        raise ValueError(f"bounds={tuple(bounds)} is invalid: must satisfy low < high")
    return torch.linspace(lo, hi, bins + 1, dtype=dtype)


def _gauss_legendre(q: int):
    x, w = np.polynomial.legendre.leggauss(q)
    return torch.as_tensor(x), torch.as_tensor(w)


def exact_bin_masses(density, edges, *, dim: int, nodes: int = 16) -> torch.Tensor:
    """Probabilities of the histogram cells (bins,) or (bins, bins) under ``density``.

    Uses ``density.bin_masses(edges)`` when the target provides it (exact), else a
    ``nodes``-point Gauss-Legendre rule per cell and per axis on ``density.density(x)``
    (or on ``density(x)`` for a plain callable).
    """
    if hasattr(density, "bin_masses"):
        try:
            return density.bin_masses(edges if dim == 1 else [edges] * dim).to(torch.float64).cpu()
        except NotImplementedError:
            pass
    f = density.density if hasattr(density, "density") else density
    xq, wq = _gauss_legendre(nodes)
    lo, hi = edges[:-1], edges[1:]
    half = (hi - lo) / 2
    pts = ((lo + hi) / 2)[:, None] + half[:, None] * xq[None, :]  # (bins, q)
    wts = half[:, None] * wq[None, :]
    b = len(lo)
    if dim == 1:
        vals = f(pts.reshape(-1, 1)).reshape(b, nodes).to(torch.float64).cpu()
        return (vals * wts).sum(1)
    if dim == 2:
        p = pts.reshape(-1)
        gx, gy = torch.meshgrid(p, p, indexing="ij")
        vals = f(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)).to(torch.float64).cpu()
        vals = vals.reshape(b, nodes, b, nodes)
        return torch.einsum("aibj,ai,bj->ab", vals, wts, wts)
    raise ValueError(f"dim={dim} is invalid: must be 1 or 2 for histogram TV")


def tv_distance(samples, density, *, bins: int = 40, bounds=(-1.0, 1.0), nodes: int = 16) -> float:
    """Histogram total variation between ``samples`` (n, d), d <= 2, and a target density.

    .. math::  \\mathrm{TV}_{hist} = \\tfrac12 \\sum_{cells\\ B} |\\hat P_n(B) - P(B)|
               + \\tfrac12 |\\hat P_n(\\text{outside}) - P(\\text{outside})|

    with ``bins`` equal cells per axis on ``bounds`` and exact cell masses :math:`P(B)`
    (:func:`exact_bin_masses`). It is a lower bound on the true TV, and carries a Monte Carlo
    floor of about :math:`\\tfrac12\\sum_B\\sqrt{2P(B)/(\\pi n)}` from the finite sample.
    """
    x = _points(samples).detach().to(device="cpu", dtype=torch.float64)
    n, d = x.shape
    if d > 2:
        raise ValueError(f"samples with d={d} is invalid: histogram TV needs d <= 2 (use w1_distance)")
    if n < 1:
        raise ValueError("samples is invalid: must hold at least one point")
    edges = bin_edges(bins, bounds)
    masses = exact_bin_masses(density, edges, dim=d, nodes=nodes)
    if d == 1:
        counts = torch.histogram(x[:, 0], edges).hist
    else:
        counts = torch.histogramdd(x, bins=[edges, edges]).hist
    inside = ((x >= edges[0]) & (x <= edges[-1])).all(1).sum().item()
    emp = counts / n
    out_emp = 1.0 - inside / n
    out_true = max(0.0, 1.0 - float(masses.sum()))
    return float(0.5 * (emp - masses).abs().sum() + 0.5 * abs(out_emp - out_true))


def law_bin_masses(edges, masses, bins_edges) -> torch.Tensor:
    """Masses of the cells ``bins_edges`` under a law given by its cell masses on ``edges`` (as
    from :func:`~nnrep_lite.diffusion.reverse_chain_law`): differences of its CDF, linear inside
    a cell (exact where every bin edge is a cell edge)."""
    edges = as_tensor(edges).to(torch.float64).cpu()
    masses = as_tensor(masses).to(torch.float64).cpu()
    if edges.ndim != 1 or tuple(masses.shape) != (edges.numel() - 1,):
        raise ValueError(f"masses.shape={tuple(masses.shape)} is invalid: must be (len(edges) - 1,) = "
                         f"({edges.numel() - 1},)")
    if not bool(torch.isfinite(masses).all()) or bool((masses < 0).any()):
        raise ValueError("masses is invalid: must be finite and >= 0")
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), masses.cumsum(0)])
    b = as_tensor(bins_edges).to(torch.float64).cpu()
    return torch.diff(torch.from_numpy(np.interp(b.numpy(), edges.numpy(), cdf.numpy())))


def law_tv(edges, masses, density, *, bins: int = 40, bounds=(-1.0, 1.0), nodes: int = 16) -> float:
    """The histogram TV of :func:`tv_distance` (the same ``bins`` cells on ``bounds`` and the
    outside), for a 1-D law given by cell masses instead of samples: no Monte Carlo floor.
    Mass the law does not hold (``1 - masses.sum()``, e.g. what a chain carried off its grid)
    counts as outside ``bounds``."""
    cells = bin_edges(bins, bounds)
    law = law_bin_masses(edges, masses, cells)
    target = exact_bin_masses(density, cells, dim=1, nodes=nodes)
    out_law = max(0.0, 1.0 - float(law.sum()))
    out_true = max(0.0, 1.0 - float(target.sum()))
    return float(0.5 * (law - target).abs().sum() + 0.5 * abs(out_law - out_true))


def histogram_tv_floor(masses, n_eval: int) -> tuple[float, float]:
    """Mean and standard deviation of :func:`tv_distance` of ``n_eval`` exact samples against the
    exact cell masses ``masses`` (bins,): the Monte Carlo floor of the histogram TV, the value
    a perfect sampler measures. Each cell count is about normal with variance
    :math:`P_B(1-P_B)/n`, so

    .. math::  E\\,\\mathrm{TV}_{hist} \\approx \\tfrac12\\sum_B \\sqrt{2P_B(1-P_B)/(\\pi n)},\\qquad
               \\mathrm{sd} \\approx \\tfrac12\\sqrt{(1-2/\\pi)\\sum_B P_B(1-P_B)/n}.

    Errors near or below this floor are hidden by the metric, not made by the estimator."""
    n_eval = check_int("n_eval", n_eval, low=1)
    p = as_tensor(masses).to(torch.float64).reshape(-1).clamp_min(0.0)
    var = p * (1.0 - p) / n_eval
    return 0.5 * float((2.0 * var / math.pi).sqrt().sum()), 0.5 * math.sqrt((1 - 2 / math.pi) * float(var.sum()))


def density_tv(estimate, target, *, bounds=(-1.0, 1.0), cells: int = 512, nodes: int = 6) -> float:
    """Total variation :math:`\\tfrac12\\int|\\hat p - p|` between two 1-D densities, by quadrature:
    no sampling, hence no Monte Carlo floor (unlike :func:`tv_distance`, the histogram TV of samples).

    .. math::  \\mathrm{TV} = \\tfrac12\\int_a^b |\\hat p - p|\\,dx
               + \\tfrac12\\,\\big|\\hat P(\\mathbb R\\setminus[a,b]) - P(\\mathbb R\\setminus[a,b])\\big|

    with a ``nodes``-point Gauss-Legendre rule on ``cells`` equal cells of ``bounds`` = [a, b];
    the masses outside are 1 minus the same quadrature of the masses inside. This is exact (up to
    quadrature error) when one of the two densities vanishes outside [a, b] (e.g. a target
    supported there), and a lower bound otherwise. ``estimate`` and ``target`` are objects with
    ``.density(x)`` (x of shape (n, 1), returns (n,)), e.g. a :class:`GaussianKDE` and a
    :class:`~nnrep_lite.bspline.BsplineDensity`, or plain callables.
    """
    cells = check_int("cells", cells, low=1)
    nodes = check_int("nodes", nodes, low=1)
    for name, obj in (("estimate", estimate), ("target", target)):
        if getattr(obj, "dim", 1) != 1:
            raise ValueError(f"{name} with dim={obj.dim} is invalid: density_tv needs dim 1")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not lo < hi:
        raise ValueError(f"bounds={tuple(bounds)} is invalid: must satisfy low < high")
    edges = torch.linspace(lo, hi, cells + 1, dtype=torch.float64)
    xq, wq = _gauss_legendre(nodes)
    half = (edges[1:] - edges[:-1]) / 2
    x = (((edges[1:] + edges[:-1]) / 2)[:, None] + half[:, None] * xq).reshape(-1, 1)
    w = (half[:, None] * wq).reshape(-1)

    def values(obj):
        f = obj.density if hasattr(obj, "density") else obj
        return f(x).to(torch.float64).cpu().reshape(-1)

    a, b = values(estimate), values(target)
    inside = 0.5 * float(((a - b).abs() * w).sum())
    outside = 0.5 * abs(float((a * w).sum()) - float((b * w).sum()))  # |(1 - A) - (1 - B)|
    return inside + outside


def _w1_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W1 between two empirical measures on the line: integral of |F_a - F_b|."""
    a, b = np.sort(a), np.sort(b)
    allv = np.sort(np.concatenate([a, b]))
    deltas = np.diff(allv)
    fa = np.searchsorted(a, allv[:-1], side="right") / a.size
    fb = np.searchsorted(b, allv[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * deltas))


def w1_distance(a, b, *, method: str = "auto", max_exact: int = 5000, n_projections: int = 500,
                generator=None) -> float:
    """Wasserstein-1 distance between the empirical measures of ``a`` (n, d) and ``b`` (m, d).

    - d = 1: exact, :math:`\\int |F_a - F_b|` (same as ``scipy.stats.wasserstein_distance``);
    - d > 1 and ``method="exact"`` or (``"auto"`` and max(n, m) <= ``max_exact``): exact optimal
      transport with Euclidean cost by POT's network simplex ``ot.emd2``;
    - otherwise (``"sliced"``, or ``"auto"`` beyond ``max_exact`` points): the sliced W1,
      the mean of exact 1-D W1 over ``n_projections`` random directions. Sliced W1 is smaller
      than W1 (by a dimension-dependent factor), so compare values computed the same way.
    """
    check_choice("method", method, ("auto", "exact", "sliced"))
    max_exact = check_int("max_exact", max_exact, low=1)
    n_projections = check_int("n_projections", n_projections, low=1)
    a = _points(a, "a").detach().to("cpu", torch.float64)
    b = _points(b, "b").detach().to("cpu", torch.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"b with d={b.shape[1]} is invalid: must match a's d={a.shape[1]}")
    if a.shape[0] < 1 or b.shape[0] < 1:
        raise ValueError("a and b are invalid: must each hold at least one point")
    d = a.shape[1]
    if d == 1:
        return _w1_1d(a[:, 0].numpy(), b[:, 0].numpy())
    if method == "exact" or (method == "auto" and max(a.shape[0], b.shape[0]) <= max_exact):
        import ot

        an, bn = a.numpy(), b.numpy()
        cost = ot.dist(an, bn, metric="euclidean")
        wa = np.full(an.shape[0], 1.0 / an.shape[0])
        wb = np.full(bn.shape[0], 1.0 / bn.shape[0])
        return float(ot.emd2(wa, wb, cost, numItermax=10_000_000))
    theta = randn((n_projections, d), generator=as_generator(generator), dtype=torch.float64)
    theta = theta / theta.norm(dim=1, keepdim=True)
    pa, pb = (a @ theta.T).numpy(), (b @ theta.T).numpy()
    return float(np.mean([_w1_1d(pa[:, k], pb[:, k]) for k in range(n_projections)]))


def w1_floor(target, n_eval: int, *, repeats: int = 6, generator=None, **w1_kwargs) -> tuple[float, float]:
    r"""Mean and standard deviation over ``repeats`` pairs of :func:`w1_distance` (with
    ``w1_kwargs``) between two independent exact samples of ``target`` of size ``n_eval`` each:
    the floor of the sampled W1, what a perfect sampler measures against ``n_eval`` fresh target
    samples. For data in one intrinsic dimension (CDF ``F`` along the line) it is, for large
    ``n_eval``, :math:`E\,W_1 \approx 2(\pi n_{eval})^{-1/2}\int\sqrt{F(1-F)}\,dx` (the
    difference of two Brownian bridges): it falls like :math:`n_{eval}^{-1/2}`, whatever the
    ambient dimension. ``target`` needs ``sample(n, generator)``."""
    n_eval = check_int("n_eval", n_eval, low=1)
    repeats = check_int("repeats", repeats, low=2)
    gen = as_generator(generator)
    vals = np.array([w1_distance(target.sample(n_eval, gen), target.sample(n_eval, gen), **w1_kwargs)
                     for _ in range(repeats)])
    return float(vals.mean()), float(vals.std(ddof=1))


def girsanov_kl_bound(score_fn, target, *, t_min: float, t_max: float, n_mc: int = 4096,
                      n_times: int = 64, generator=None) -> dict:
    """The right side of the Girsanov KL bound (DESIGN.md) for the reverse SDE run from t_max
    to t_min with score ``score_fn``, against the exact score of ``target``:

    .. math::  \\mathrm{KL}(p_{t_{min}} \\,\\|\\, \\mathrm{law}(Y)) \\le
               \\underbrace{\\mathrm{KL}(p_{T} \\| N(0,I))}_{\\text{truncation}}
               + \\underbrace{\\tfrac14 \\int_{t_{min}}^{T} E\\|s(X_t,t) - \\nabla\\log p_t(X_t)\\|^2 dt}_{\\text{score error}}.

    The score term is a Monte Carlo estimate with ``n_mc`` pairs (t, X_t): ``n_times`` stratified
    log-uniform times on [t_min, t_max] (importance weight :math:`t\\log(t_{max}/t_{min})`), each
    with ``n_mc // n_times`` points X_t drawn exactly from the target through the OU kernel;
    ``score_fn`` and ``target.score`` are called with one scalar t at a time. The truncation term uses the convexity bound
    :math:`\\mathrm{KL}(p_T\\|N) \\le E_{X_0} \\mathrm{KL}(N(\\mu_T X_0, \\sigma_T^2 I)\\|N(0,I))
    = \\tfrac12(\\mu_T^2 E\\|X_0\\|^2 - d(\\mu_T^2 + \\log\\sigma_T^2))`, which is
    :math:`\\approx e^{-2T}E\\|X_0\\|^2/2`. The continuous-time bound ignores the time
    discretisation of the sampler. Returns a dict with ``score_term``, ``score_term_se``
    (standard error), ``truncation``, ``kl_bound`` and ``tv_bound`` (Pinsker, :math:`\\sqrt{KL/2}`).
    """
    t_min, t_max = _check_times(t_min, t_max)
    n_mc = check_int("n_mc", n_mc, low=2)
    n_times = check_int("n_times", n_times, low=2)
    gen = as_generator(generator)
    per = max(1, n_mc // n_times)
    x0 = _points(target.sample(per * n_times, gen))
    d = x0.shape[1]
    # stratified log-uniform times: one stratum of log t per group of `per` samples
    jitter = (torch.rand(n_times, dtype=torch.float64) if gen is None else
              torch.rand(n_times, generator=gen, device=gen.device, dtype=torch.float64).cpu())
    u = (torch.arange(n_times, dtype=torch.float64) + jitter) / n_times
    ts = (t_min * torch.exp(u * math.log(t_max / t_min))).tolist()
    vals = []
    with torch.no_grad():
        for j, t in enumerate(ts):
            x = x0[j * per : (j + 1) * per]
            mu, s2 = math.exp(-t), -math.expm1(-2.0 * t)
            xt = mu * x + math.sqrt(s2) * randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            diff = score_fn(xt, t).to(torch.float64) - target.score(xt, t).to(torch.float64)
            vals.append(t * float((diff**2).sum(1).mean()))
    vals = torch.tensor(vals, dtype=torch.float64) * math.log(t_max / t_min)
    score_term = 0.25 * float(vals.mean())
    se = 0.25 * float(vals.std() / math.sqrt(n_times))
    mu_t = math.exp(-t_max)
    log_s2 = math.log(-math.expm1(-2.0 * t_max))
    m2 = float((x0**2).sum(1).mean())
    trunc = 0.5 * (mu_t**2 * m2 - d * (mu_t**2 + log_s2))
    kl = score_term + trunc
    return {"score_term": score_term, "score_term_se": se, "truncation": trunc, "kl_bound": kl,
            "tv_bound": math.sqrt(max(kl, 0.0) / 2.0)}


def early_stopping_tv(target, t_min: float, *, bounds=(-1.0, 1.0), cells: int = 2000,
                      nodes: int = 8) -> float:
    """:math:`\\mathrm{TV}(p_0, p_{t_{min}}) = \\tfrac12\\int |p_0 - p_{t_{min}}|` for a 1-D target,
    by a ``nodes``-point Gauss-Legendre rule on ``cells`` cells covering ``bounds`` widened by
    8 :math:`\\sigma_{t_{min}}`. This is the error that early stopping adds even with the exact
    score and infinitely many steps."""
    t_min = check_real("t_min", t_min, low=0.0, low_open=True)
    if target.dim != 1:
        raise ValueError(f"target with dim={target.dim} is invalid: early_stopping_tv needs dim 1")
    sig = math.sqrt(-math.expm1(-2 * t_min))
    lo, hi = float(bounds[0]) - 8 * sig, float(bounds[1]) + 8 * sig
    edges = torch.linspace(lo, hi, check_int("cells", cells, low=1) + 1, dtype=torch.float64)
    xq, wq = _gauss_legendre(nodes)
    half = (edges[1:] - edges[:-1]) / 2
    pts = ((edges[1:] + edges[:-1]) / 2)[:, None] + half[:, None] * xq
    w = (half[:, None] * wq).reshape(-1)
    x = pts.reshape(-1, 1)
    p0 = target.density(x).to(torch.float64).cpu()
    pt = target.diffused_density(x, t_min).to(torch.float64).cpu()
    return float(0.5 * ((p0 - pt).abs() * w).sum())


def integrated_score_error(score_fn, target, *, t_min: float = 1e-3, t_max: float = 8.0, n_mc: int = 16384,
                           n_times: int = 64, generator=None) -> dict:
    """:math:`\\int_{t_{min}}^{T} E_{p_t}\\|s(X_t,t) - \\nabla\\log p_t(X_t)\\|^2 dt` by
    :func:`girsanov_kl_bound` (4 x its score term). Returns ``error``, ``error_se`` and
    ``tv_bound`` (Pinsker on the Girsanov KL bound, truncation term included)."""
    b = girsanov_kl_bound(score_fn, target, t_min=t_min, t_max=t_max, n_mc=n_mc, n_times=n_times, generator=generator)
    return {"error": 4.0 * b["score_term"], "error_se": 4.0 * b["score_term_se"], "tv_bound": b["tv_bound"]}


def score_error_grid(score_fn, target, *, n_x: int = 200, n_t: int = 60, t_min: float = 1e-3,
                     t_max: float = 8.0, bounds=(-1.2, 1.2)):
    """The scaled score error :math:`\\sigma_t\\,|s(x, t) - \\nabla\\log p_t(x)|` of a 1-D score on a
    grid of ``n_x`` points in ``bounds`` and ``n_t`` log-spaced times (the scale :math:`\\sigma_t`
    is the noise-prediction error, O(1) at every t). Returns ``(xs (n_x,), ts (n_t,), err (n_t, n_x))``."""
    t_min, t_max = _check_times(t_min, t_max)
    n_x, n_t = check_int("n_x", n_x, low=2), check_int("n_t", n_t, low=2)
    if target.dim != 1:
        raise ValueError(f"target with dim={target.dim} is invalid: score_error_grid needs dim 1")
    xs = torch.linspace(float(bounds[0]), float(bounds[1]), n_x, dtype=torch.float64)
    ts = torch.exp(torch.linspace(math.log(t_min), math.log(t_max), n_t, dtype=torch.float64))
    rows = []
    with torch.no_grad():
        for t in ts.tolist():
            diff = score_fn(xs[:, None], t).to(torch.float64) - target.score(xs[:, None], t).to(torch.float64)
            rows.append(math.sqrt(-math.expm1(-2 * t)) * diff.abs()[:, 0])
    return xs, ts, torch.stack(rows)
