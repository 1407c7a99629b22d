"""The OU-diffused B-spline: an exact score oracle.

.. math::
    E_{a,b}(x, t) = \\int N_m(2^a y - b)\\, \\varphi_{\\sigma_t}(x - \\mu_t y)\\, dy
                  = \\frac{1}{\\mu_t} G_m\\!\\left(\\frac{2^a x}{\\mu_t} - b;\\ \\tau\\right),
    \\qquad \\tau = \\frac{2^a \\sigma_t}{\\mu_t},

with :math:`\\mu_t = e^{-t}`, :math:`\\sigma_t^2 = 1 - e^{-2t}` and
:math:`G_m(z; \\tau) = E[N_m(z - \\tau V)]`, :math:`V \\sim N(0, 1)`.

How it is computed (DESIGN.md, "Diffused B-spline"; dispatch in :func:`log_g`):

* Quadratures, run as matrix products (one (n, 3) x (3, J) product, one in-place exp, one
  (2, J) x (J, n) product): the Gauss rule for the weight N_m (12 to 40 nodes, chosen by how
  much the Gaussian's log varies across the support) and, for larger tilts, per-piece
  Gauss-Legendre rules. Nodes per rule were calibrated against a 96-node-per-piece rule.
* The closed form for small tau and the far tails:
  :math:`G_m = \\frac{\\tau^{m-1}}{(m-1)!} \\sum_k (-1)^k \\binom{m}{k} I_{m-1}((z-k)/\\tau)`
  with :math:`I_p(h) = E[(h - V)_+^p]`, after the reflection :math:`z \\to m - z` for
  :math:`z > m/2` (so that no large polynomial terms cancel). Terms with :math:`h < 0` are
  computed as :math:`\\varphi(h) M_p(h)` with a scaled Mills-ratio recursion (or Gauss-Laguerre
  rules / the asymptotic series far in the tail), and everything is carried in log space, so
  the density and the score stay finite and accurate far outside the support.

Accuracy (tested against adaptive quadrature at float64): relative 1e-8 where
E > 1e-12 sup E and absolute 1e-12 sup E elsewhere, for order <= 6, level <= 10,
t in [1e-5, 10].
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .._utils import as_tensor, check_int
from .cardinal import MAX_ORDER, _pieces, cardinal_bspline

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)
_GL_NODES = 12  # Gauss-Legendre nodes per unit piece (default of the per-piece rules)
_LAGUERRE_NODES = 28
_TAIL_SWITCH = 3.0  # |h| beyond which M_p(h) uses the Gauss-Laguerre rule
_ASYMPTOTIC_SWITCH = 20.0  # |h| beyond which M_p(h) uses its asymptotic series
_ASYMPTOTIC_TERMS = 10
_CHUNK = 1 << 15


def ou_mean_std_float(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """mu_t = exp(-t) and sigma_t = sqrt(1 - exp(-2t)) (accurate for small t)."""
    return torch.exp(-t), torch.sqrt(-torch.expm1(-2.0 * t))


@lru_cache(maxsize=64)
def _gl_rule(order: int, device: str, nodes: int = _GL_NODES) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes u_j on [0, m] and log(weight_j * N_m(u_j)) for the per-piece Legendre rule."""
    xi, w = np.polynomial.legendre.leggauss(nodes)
    nodes = np.concatenate([i + (xi + 1.0) / 2.0 for i in range(order)])
    weights = np.concatenate([w / 2.0 for _ in range(order)])
    u = torch.as_tensor(nodes, dtype=torch.float64)
    vals = cardinal_bspline(u, order)
    logw = torch.log(torch.as_tensor(weights, dtype=torch.float64) * vals)
    return u.to(device), logw.to(device)


# Gauss-Laguerre bands for M_p(-x), 3 < x <= 20: nodes per band, 3e-14 relative or better for
# p <= 7 (checked against 30-digit quadrature); the integrand flattens as x grows
_LAGUERRE_BANDS = ((4.0, 28), (6.0, 20), (12.0, 16), (_ASYMPTOTIC_SWITCH, 12))


@lru_cache(maxsize=32)
def _laguerre_matrix(pmax: int, device: str, nodes: int = _LAGUERRE_NODES) -> tuple[torch.Tensor, torch.Tensor]:
    """``r_k^2 / 2`` (nodes,) and ``w_k r_k^p`` for p = pmax - 1, pmax (nodes, 2)."""
    r, w = np.polynomial.laguerre.laggauss(nodes)
    ps = (max(pmax - 1, 0), pmax)
    return (torch.as_tensor(0.5 * r * r, dtype=torch.float64, device=device),
            torch.as_tensor(np.stack([w * r**p for p in ps], axis=1), dtype=torch.float64, device=device))


def _phi_log(h: torch.Tensor) -> torch.Tensor:
    return -0.5 * h * h - _LOG_SQRT_2PI


def _scaled_moments(h: torch.Tensor, pmax: int) -> list[torch.Tensor]:
    """M_p(h) = I_p(h) / phi(h) for p = -1..pmax and h < 0 (returned list index p + 1).

    Near zero the Mills-ratio recursion ``M_0 = Q(x)/phi(x)``, ``M_1 = h M_0 + 1``,
    ``M_p = h M_{p-1} + (p-1) M_{p-2}`` is used; for ``|h| > 3`` the representation
    ``M_p(h) = |h|^{-(p+1)} int_0^inf r^p e^{-r} e^{-r^2 / (2 h^2)} dr`` with Gauss-Laguerre
    rules (the recursion loses digits there; fewer nodes as |h| grows), and for ``|h| > 20`` the
    asymptotic series; beyond |h| = 3 only for the two orders the callers use (``pmax - 1``
    and ``pmax``).
    """
    x = -h
    out = [torch.ones_like(h)]
    m0 = _SQRT_HALF_PI * torch.special.erfcx(x / math.sqrt(2.0))
    out.append(m0)
    if pmax >= 1:
        out.append(h * m0 + 1.0)
    for p in range(2, pmax + 1):
        out.append(h * out[-1] + (p - 1) * out[-2])
    lo = _TAIL_SWITCH
    for hi, nodes in _LAGUERRE_BANDS:
        band = (x > lo) & (x <= hi)
        lo = hi
        if not bool(band.any()):
            continue
        rr, wr = _laguerre_matrix(pmax, str(h.device), nodes)
        idx = band.nonzero().squeeze(-1)
        inv = 1.0 / x[idx]
        # one exp per (point, node) and one matrix product for the two orders used
        sums = torch.exp(torch.outer(-(inv * inv), rr)) @ wr  # (nb, 2)
        for col, p in enumerate((max(pmax - 1, 0), pmax)):
            out[p + 1] = out[p + 1].index_copy(0, idx, sums[:, col] * inv ** (p + 1))
    far = x > _ASYMPTOTIC_SWITCH
    if bool(far.any()):
        # M_p = p! x^{-(p+1)} sum_k (-1)^k (p+2k)! / (p! k! 2^k) x^{-2k}: 1e-13 for x > 20
        xf = x[far]
        inv2 = 1.0 / (xf * xf)
        for p in range(max(pmax - 1, 0), pmax + 1):  # the callers use M_{m-1} and M_{m-2} only
            acc = torch.zeros_like(xf)
            for k in reversed(range(_ASYMPTOTIC_TERMS)):
                c = (-1) ** k * math.factorial(p + 2 * k) / (math.factorial(k) * 2**k)
                acc = acc * inv2 + c
            out[p + 1] = out[p + 1].masked_scatter(far, acc / xf ** (p + 1))
    return out


def _moments_nonneg(h: torch.Tensor, pmax: int) -> list[torch.Tensor]:
    """I_p(h) for p = -1..pmax and h >= 0 (forward recursion, all terms positive)."""
    phi = torch.exp(_phi_log(h))
    i0 = 0.5 * torch.special.erfc(-h / math.sqrt(2.0))
    out = [phi, i0]
    if pmax >= 1:
        out.append(h * i0 + phi)
    for p in range(2, pmax + 1):
        out.append(h * out[-1] + (p - 1) * out[-2])
    return out


def _log_g_closed(z: torch.Tensor, tau: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """log G_m(z; tau) and d/dz log G_m for tau < 1 (closed form, log-scaled)."""
    reflect = z > 0.5 * m
    zr = torch.where(reflect, m - z, z)
    k = torch.arange(m + 1, dtype=z.dtype, device=z.device)
    coef = torch.tensor([(-1.0) ** j * math.comb(m, j) for j in range(m + 1)], dtype=z.dtype, device=z.device)
    h = (zr.unsqueeze(-1) - k) / tau.unsqueeze(-1)  # (n, m+1), h[:, 0] is the largest
    h0 = h[:, :1]
    # log of the common scale: phi(h0) where h0 < 0, else 1
    log_scale = torch.where(h0 < 0, _phi_log(h0), torch.zeros_like(h0))
    p_val, p_der = m - 1, m - 2  # I_{m-1} for the value, I_{m-2} for the derivative
    # terms below e^-70 of the leading one cannot change a float64 sum: skip them
    rel_log = _phi_log(h) - log_scale
    neg = (h < 0) & (rel_log > -70.0)
    val = torch.zeros_like(h)
    der = torch.zeros_like(h)
    if bool(neg.any()):
        hn = h[neg]
        mom = _scaled_moments(hn, p_val)
        factor = torch.exp(rel_log[neg])
        val[neg] = factor * mom[p_val + 1]
        der[neg] = factor * mom[p_der + 1]
    pos = h >= 0
    if bool(pos.any()):
        hp = h[pos]
        mom = _moments_nonneg(hp, p_val)
        val[pos] = mom[p_val + 1]
        der[pos] = mom[p_der + 1]
    s_val = (coef * val).sum(-1)
    s_der = (coef * der).sum(-1)
    tiny = torch.finfo(z.dtype).tiny
    s_val_pos = s_val > tiny
    # In the far tail rounding could make the sum non-positive: keep the dominant k = 0 term.
    s_der = torch.where(s_val_pos, s_der, der[:, 0])
    s_val = torch.where(s_val_pos, s_val, val[:, 0])
    log_g = (
        (m - 1) * torch.log(tau) - math.lgamma(m) + log_scale.squeeze(-1) + torch.log(s_val)
    )
    dlog = max(m - 1, 1) / tau * s_der / s_val
    dlog = torch.where(reflect, -dlog, dlog)
    return log_g, dlog


@lru_cache(maxsize=64)
def _nm_gauss_rule(order: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss rule for the weight N_m on [0, m]: ``nodes`` points and weights, exact for
    polynomials of degree < 2 nodes. Recurrence coefficients by the Stieltjes procedure on the
    64-point-per-piece Legendre discretisation (exact for these degrees), then Golub-Welsch."""
    xi, w = np.polynomial.legendre.leggauss(64)
    u = np.concatenate([i + (xi + 1.0) / 2.0 for i in range(order)])
    wt = np.concatenate([w / 2.0] * order) * cardinal_bspline(torch.as_tensor(u), order).numpy()
    alpha, beta = np.zeros(nodes), np.zeros(nodes)
    p_prev, p = np.zeros_like(u), np.ones_like(u)
    norm = float(np.sum(wt))
    beta[0] = norm
    for k in range(nodes):
        alpha[k] = np.sum(wt * u * p * p) / norm
        p_next = (u - alpha[k]) * p - (beta[k] if k else 0.0) * p_prev
        norm_next = float(np.sum(wt * p_next * p_next))
        if k + 1 < nodes:
            beta[k + 1] = norm_next / norm
        p_prev, p, norm = p, p_next, norm_next
    off = np.sqrt(beta[1:])
    vals, vecs = np.linalg.eigh(np.diag(alpha) + np.diag(off, 1) + np.diag(off, -1))
    return vals, beta[0] * vecs[0] ** 2


@lru_cache(maxsize=64)
def _quad_tables(order: int, device: str, nodes: int, pieces: int):
    """Centred nodes w_j = u_j - m/2 as the rows ``[1, w_j, w_j^2]`` (3, J), the offsets
    ``log(weight_j N_m(u_j)) - max`` (J,), that max, and ``[1, w_j]`` as rows (2, J).
    ``pieces > 0``: the per-piece Legendre rule on the first ``pieces`` unit pieces;
    ``pieces == 0``: the Gauss rule for the weight N_m (:func:`_nm_gauss_rule`)."""
    if pieces:
        u, logw = _gl_rule(order, device, nodes)
        u, logw = u[: pieces * nodes], logw[: pieces * nodes]
    else:
        nu, nw = _nm_gauss_rule(order, nodes)
        u = torch.as_tensor(nu, dtype=torch.float64, device=device)
        logw = torch.log(torch.as_tensor(nw, dtype=torch.float64, device=device))
    w = u - 0.5 * order
    top = float(logw.max())
    feats = torch.stack([torch.ones_like(w), w, w * w])
    return feats, logw - top, top, torch.stack([torch.ones_like(w), w])


def _log_g_quad(z: torch.Tensor, tau: torch.Tensor, m: int, nodes: int = _GL_NODES, pieces: int | None = None):
    """log G_m(z; tau) and d/dz log G_m by a fixed quadrature rule (per-piece Gauss-Legendre,
    or the Gauss rule for the weight N_m when ``pieces == 0``), as matrix products.

    With the centred node w_j, z' = z - m/2 and the bound ``R = max_j log w_j - d^2 / (2 tau^2)``
    (d: the distance from z' to the support [-m/2, m/2]), every exponent minus R is
    ``(d^2 - z'^2)/(2 tau^2) + (z'/tau^2) w_j - w_j^2/(2 tau^2) + (log w_j - max)`` <= 0: one
    (n, 3) x (3, J) product, one in-place exp, one (2, J) x (J, n) product give sum_j e_j and
    sum_j e_j w_j, hence log G and its derivative. Accurate (1e-12) where the tilt
    d / tau^2 <= 3 and tau >= 0.3 with 12 nodes (the dispatch in :func:`log_g` chooses the
    rule). ``0 < pieces < m`` keeps the nodes of the first pieces only: for z left of the support
    with tilt t the piece k contributes below e^{-k t} of the first.
    """
    feats, off, top, cols = _quad_tables(m, str(z.device), nodes, m if pieces is None else pieces)
    c = 0.5 * m
    zc = z - c
    inv2 = (tau * tau).reciprocal_()
    az = zc.abs()
    dist = (az - c).clamp_min_(0.0)
    # d^2 - z'^2 = -min(|z'|, c) (|z'| + d): no cancellation of two large squares
    a0 = az.clamp_max(c).mul_(az + dist).mul_(-0.5 * inv2)
    coef = torch.stack([a0, zc * inv2, -0.5 * inv2], dim=1)
    e = torch.addmm(off, coef, feats).exp_()
    s = torch.mm(cols, e.T)  # (2, n): sum e_j, sum e_j w_j (2-3x faster than e @ cols.T)
    s0 = s[0]
    # log G = log s0 + top - d^2 / (2 tau^2) - log tau - log sqrt(2 pi); log tau = -log(inv2) / 2
    log_g = torch.log(s0).add_(dist.square_().mul_(-0.5 * inv2)).add_(0.5 * torch.log(inv2)).add_(
        top - _LOG_SQRT_2PI)
    dlog = s[1].div_(s0).sub_(zc).mul_(inv2)
    return log_g, dlog


_QUAD_TAU_MIN = 0.3  # below: the closed form (the Gaussian is narrower than the nodes resolve)
_QUAD_CHUNK = 16384  # rows per product-form block (measured best of 2k..32k on 2 cores)


# Gauss rules for the weight N_m: nodes -> the largest spread V = m (tilt + m / (2 tau^2)) (the
# variation of the Gaussian's log across the support) for orders 1..8 at which 60000 random
# (tau in [0.15, 500], tilt in [0, 48]) cases stayed within 3e-13 of a 96-node-per-piece rule
# (log G relative to max(1, |log G|); derivative relative / 30); used with a 0.85 margin.
_NM_SPREAD = {
    10: (4, 4, 5, 6, 6, 7, 8, 9),
    12: (8, 9, 10, 11, 12, 13, 14, 15),
    16: (19, 21, 23, 25, 27, 29, 31, 34),
    20: (45, 39, 42, 45, 48, 51, 54, 56),
    24: (71, 64, 66, 71, 75, 78, 78, 78),
    32: (129, 129, 129, 137, 139, 136, 134, 132),
    40: (180, 180, 180, 221, 215, 209, 182, 185),
}


def _nm_tiers(order: int) -> tuple[tuple[int, float], ...]:
    return tuple((k, 0.85 * v[order - 1]) for k, v in _NM_SPREAD.items())


def _quad_tiers(order: int):
    """Per-piece Legendre rules ``(tau_min, tilt_max, nodes per piece, pieces)`` for what the
    N_m-weighted rules do not cover (large tilts, narrow Gaussians), first match wins."""
    hi = 4 if order > 6 else 0
    return ((_QUAD_TAU_MIN, 20.0, 16 + hi, order),
            # piece 2 and beyond: below e^{-40} of piece 0 when the tilt exceeds 20
            (_QUAD_TAU_MIN, 48.0, 24 + 2 * hi, min(order, 2)),
            # narrow Gaussians near the support (against the closed form, orders 1..8, tilt <= 8:
            # <= 1e-14 with 20 nodes from tau = 0.15, 2e-13 with 24 from 0.1, 3e-14 with 32 from 0.08)
            (0.15, 8.0, 20 + hi, order),
            (0.1, 8.0, 24 + hi, order),
            (0.08, 8.0, 32, order))


@lru_cache(maxsize=16)
def _dispatch_tables(order: int) -> tuple[tuple[float, ...], list[tuple[int, int]]]:
    """The N_m-rule spread bounds (compared in order) and the list of rules, one per tier code:
    ``(nodes, pieces)`` (pieces 0: the N_m-weighted rule; nodes 0: closed form)."""
    tiers = _nm_tiers(order)
    rules = [(k, 0) for k, _ in tiers] + [(k, p) for _, _, k, p in _quad_tiers(order)] + [(0, 0)]
    return tuple(v for _, v in tiers), rules


def log_g(z: torch.Tensor, tau: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
    """log G_m(z; tau) and its z-derivative, elementwise (float64, tau > 0, 1-D inputs).

    After the reflection z -> m - z (N_m is symmetric) every point lies at or left of the
    support's middle; with the tilt dist(z, [0, m]) / tau^2 and the spread
    V = m (tilt + m / (2 tau^2)) (how much the Gaussian's log varies across the support) the
    rule is: the Gauss rule for the weight N_m with the fewest nodes whose calibrated spread
    covers V (:data:`_NM_SPREAD`); beyond, the per-piece Legendre rules (:func:`_quad_tiers`)
    while tau >= 0.3 and the tilt <= 48; the closed form elsewhere (small tau and far tails,
    where its alternating sum no longer cancels). All quadratures run as products
    (:func:`_log_g_quad`); one sort by tier makes each tier a contiguous block.
    """
    bounds, rules = _dispatch_tables(order)
    half = 0.5 * order
    reflect = z > half
    zr = torch.where(reflect, order - z, z)
    inv2 = (tau * tau).reciprocal_()
    tilt = zr.neg().clamp_min_(0.0).mul_(inv2)
    spread = (inv2 * half).add_(tilt).mul_(order)
    n_nm = len(bounds)
    code = torch.zeros_like(z, dtype=torch.uint8)
    for b in bounds:  # comparisons beat bucketize for a handful of bounds
        code += spread > b
    beyond = (code == n_nm).nonzero().squeeze(-1)
    if beyond.numel():
        tl, ta = tilt[beyond], tau[beyond]
        sub = torch.full_like(beyond, len(rules) - 1, dtype=torch.uint8)  # closed form unless...
        for k, (tau_min, tilt_max, _, _) in reversed(list(enumerate(_quad_tiers(order)))):
            sub = torch.where((ta >= tau_min) & (tl <= tilt_max), n_nm + k, sub)
        code[beyond] = sub
    # one sort makes every tier a contiguous slice: one gather in, one scatter out
    code_sorted, perm = torch.sort(code)
    edges = torch.searchsorted(code_sorted, torch.arange(len(rules) + 1, dtype=torch.uint8,
                                                         device=z.device)).tolist()
    single = sum(edges[k + 1] > edges[k] for k in range(len(rules))) == 1
    zs, ts = (zr, tau) if single else (zr[perm], tau[perm])
    vs = torch.empty_like(z)
    ds = torch.empty_like(z)
    for k, (nodes, pieces) in enumerate(rules):
        lo, hi = edges[k], edges[k + 1]
        chunk = _CHUNK if nodes == 0 else _QUAD_CHUNK
        for start in range(lo, hi, chunk):
            sel = slice(start, min(start + chunk, hi))
            if nodes == 0:
                vs[sel], ds[sel] = _log_g_closed(zs[sel], ts[sel], order)
            else:
                vs[sel], ds[sel] = _log_g_quad(zs[sel], ts[sel], order, nodes, pieces)
    if single:
        out_v, out_d = vs, ds
    else:
        out_v = torch.empty_like(z).index_copy_(0, perm, vs)
        out_d = torch.empty_like(z).index_copy_(0, perm, ds)
    return out_v, torch.where(reflect, out_d.neg(), out_d)


def _check_args(t, order, level, shift, max_order: int = MAX_ORDER):
    m = check_int("order", order, low=1, high=max_order)
    a = check_int("level", level, low=0, high=30)
    b = check_int("shift", shift)
    t = as_tensor(t)
    if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        bad = t[(~torch.isfinite(t)) | (t < 0)].flatten()[0].item()
        raise ValueError(f"t={bad:g} is invalid: must be a finite time >= 0")
    return m, a, b, t


def log_diffused_bspline(x, t, *, order: int, level: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log E_{a,b}(x, t), d/dx log E_{a,b}(x, t))``, computed at float64.

    x and t broadcast; t must be > 0 (use :func:`cardinal_bspline` at t = 0).
    """
    m, a, b, t = _check_args(t, order, level, shift)
    x = as_tensor(x)
    x64, t64 = torch.broadcast_tensors(x.to(torch.float64), t.to(device=x.device, dtype=torch.float64))
    shape = x64.shape
    x64, t64 = x64.reshape(-1), t64.reshape(-1)
    if bool((t64 <= 0).any()):
        raise ValueError("t=0 is invalid here: must be > 0 for the log-density (use cardinal_bspline)")
    lg, dlg = _log_diffused(x64, t64, m, a, b)
    return lg.reshape(shape), dlg.reshape(shape)


def _log_diffused(x64: torch.Tensor, t64: torch.Tensor, m: int, a: int, b: int):
    """log E and d/dx log E for flat float64 x and t > 0 (arguments already checked)."""
    mu, sigma = ou_mean_std_float(t64)
    scale = 2.0**a
    inv_mu = 1.0 / mu
    z = (scale * x64).mul_(inv_mu).sub_(b)
    tau = (scale * sigma).mul_(inv_mu)
    lg, dlg = log_g(z, tau, m)
    return lg.add_(torch.log(inv_mu)), dlg.mul_(inv_mu).mul_(scale)


def _zero_time(x64, a, b, m, grad: bool):
    z = (2.0**a) * x64 - b
    if not grad:
        return cardinal_bspline(z, m)
    if m == 1:
        return torch.zeros_like(z)
    p = _pieces(z, m - 1)[..., 0] - _pieces(z - 1, m - 1)[..., 0]
    return (2.0**a) * p


def _evaluate(x, t, order, level, shift, grad: bool) -> torch.Tensor:
    m, a, b, t = _check_args(t, order, level, shift)
    x = as_tensor(x)
    out_dtype = x.dtype if x.is_floating_point() else torch.float64
    x64, t64 = torch.broadcast_tensors(x.to(torch.float64), t.to(device=x.device, dtype=torch.float64))
    shape = x64.shape
    x64, t64 = x64.reshape(-1), t64.reshape(-1)
    zero = t64 == 0
    if not bool(zero.any()):  # the common case: no masks, no copies
        lg, dlg = _log_diffused(x64, t64, m, a, b)
        val = lg.exp_()
        return (val.mul_(dlg) if grad else val).reshape(shape).to(out_dtype)
    out = torch.empty_like(x64)
    out[zero] = _zero_time(x64[zero], a, b, m, grad)
    pos = ~zero
    if bool(pos.any()):
        lg, dlg = _log_diffused(x64[pos], t64[pos], m, a, b)
        val = torch.exp(lg)
        out[pos] = val * dlg if grad else val
    return out.reshape(shape).to(out_dtype)


def diffused_bspline(x, t, *, order: int, level: int, shift: int) -> torch.Tensor:
    """E_{a,b}(x, t) = int N_m(2^a y - b) phi_{sigma_t}(x - mu_t y) dy (DESIGN.md).

    Args:
        x: points, any shape (1-D coordinate values).
        t: OU time >= 0, a float or a tensor broadcastable with x. ``t = 0`` gives
            ``N_m(2^a x - b)``.
        order: m in [1, 8]; level: a >= 0; shift: b (int).

    Returns:
        Tensor of the broadcast shape, dtype of ``x`` (float64 for non-tensor input),
        computed internally at float64.
    """
    return _evaluate(x, t, order, level, shift, grad=False)


def diffused_bspline_grad(x, t, *, order: int, level: int, shift: int) -> torch.Tensor:
    """dE_{a,b}/dx(x, t) = (2^a / mu_t^2) G_m'(z), G_m' = G_{m-1}(z) - G_{m-1}(z - 1)."""
    return _evaluate(x, t, order, level, shift, grad=True)
