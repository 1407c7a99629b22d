"""B-spline mixture densities on [-1, 1]^d with exact sampling and exact OU scores.

.. math::
    p_0(x) = \\sum_j c_j \\prod_{i=1}^d N_m(2^{k_{ji}} x_i - s_{ji}),
    \\qquad c_j = w_j / Z, \\quad Z = \\sum_j w_j \\prod_i 2^{-k_{ji}}.

Each factor diffuses independently under the OU process, so
:math:`p_t(x) = \\sum_j c_j \\prod_i E_{k_{ji}, s_{ji}}(x_i, t)` and
:math:`\\nabla \\log p_t` are exact at every t (see :mod:`.diffused`). Everything is carried
in log space (log-sum-exp over components), so the score is finite far from the support.

For one scalar t in d = 2 (and in d = 1 from 150000 points x components) the tensor-product
structure is used: per level, the factors of every shift used on either axis come from one
table of log G (:class:`.log_g_table.LogGTable`, checked at every cell midpoint to 1e-12) in one
evaluation for both axes; a level group's mixture is then a matrix product with its weight
array or, when that array is sparse (the fine levels of a random Besov density), a sum over
its components of exp(log factor_1 + log factor_2), in exponentials scaled by the tables'
peaks. Rows where that could underflow are recomputed by the per-component log-sum-exp
(agreement ~1e-15 in log p, ~1e-14 in the score in the tests).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .._utils import as_generator, as_tensor, check_int, check_real
from .cardinal import MAX_ORDER, cardinal_bspline, evaluate_level_grid
from .diffused import log_g, ou_mean_std_float
from .log_g_table import LogGTable


class _LevelPlan(NamedTuple):
    """One level of the level-wise score: the axes that use it, the union of their shift
    ranges (``lo``, ``size``), its table (None: log G directly) and, for a table with h <= 1,
    each axis's points located in it (:meth:`.log_g_table.LogGTable.locate`)."""

    axes: list
    lo: int
    size: int
    table: LogGTable | None
    located: dict | None


class BsplineDensity:
    """A positive mixture of tensor-product cardinal B-splines supported in [-1, 1]^d.

    Args:
        levels: (J, d) nonnegative ints, the dyadic levels k_{ji}.
        shifts: (J, d) ints, the shifts s_{ji}.
        weights: (J,) nonnegative, not all zero; normalised so that p_0 integrates to 1.
        order: B-spline order m in [1, 8].

    The support of every term, prod_i [s_{ji} 2^{-k_{ji}}, (s_{ji} + m) 2^{-k_{ji}}], must lie
    inside [-1, 1]^d. Computations run at float64; outputs follow the dtype and device of x.
    """

    def __init__(self, levels, shifts, weights, order: int = 4):
        self.order = check_int("order", order, low=1, high=MAX_ORDER)
        levels = torch.as_tensor(levels)
        shifts = torch.as_tensor(shifts)
        weights = as_tensor(weights).to(torch.float64)
        if levels.ndim == 1:
            levels = levels.unsqueeze(-1)
        if shifts.ndim == 1:
            shifts = shifts.unsqueeze(-1)
        if levels.is_floating_point() or shifts.is_floating_point():
            if not (bool((levels == levels.round()).all()) and bool((shifts == shifts.round()).all())):
                raise TypeError("levels and shifts are invalid: must be integer tensors")
        levels, shifts = levels.long().cpu(), shifts.long().cpu()
        if levels.ndim != 2 or shifts.shape != levels.shape:
            raise ValueError(
                f"levels.shape={tuple(levels.shape)}, shifts.shape={tuple(shifts.shape)} are "
                "invalid: must both be (J, d)"
            )
        if weights.ndim != 1 or weights.shape[0] != levels.shape[0]:
            raise ValueError(
                f"weights.shape={tuple(weights.shape)} is invalid: must be (J,) with J={levels.shape[0]}"
            )
        if levels.shape[0] == 0:
            raise ValueError("levels is invalid: must hold at least one component (J >= 1)")
        if bool((levels < 0).any()):
            raise ValueError(f"levels={int(levels.min())} is invalid: must be integers >= 0")
        if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
            raise ValueError(f"weights={float(weights.min()):g} is invalid: must be finite and >= 0")
        scale = 2.0 ** levels.to(torch.float64)
        lo = shifts.to(torch.float64) / scale
        hi = (shifts + self.order).to(torch.float64) / scale
        if bool((lo < -1).any()) or bool((hi > 1).any()):
            j = int(((lo < -1) | (hi > 1)).any(dim=1).nonzero()[0])
            raise ValueError(
                f"component {j} (levels={levels[j].tolist()}, shifts={shifts[j].tolist()}) has "
                f"support leaving [-1, 1]^d: its support {list(zip(lo[j].tolist(), hi[j].tolist()))} "
                "must lie inside [-1, 1] in every coordinate (need -2^k <= shift <= 2^k - order)"
            )
        mass = weights / scale.prod(dim=1)  # integral of each unnormalised term
        total = mass.sum()
        if not bool(total > 0):
            raise ValueError("weights is invalid: must not all be zero")
        self.levels, self.shifts = levels, shifts
        self.weights = weights / total  # c_j: p_0 = sum_j c_j prod_i N(...)
        self.mixture_probs = mass / total  # probability of drawing component j
        keep = self.weights > 0
        self._log_c = torch.log(self.weights[keep])
        self._lev, self._sh = levels[keep], shifts[keep]
        # unique (level, shift) factors per coordinate, so shared factors are evaluated once
        self._factors = []
        for i in range(self.dim):
            pairs = torch.stack([self._lev[:, i], self._sh[:, i]], dim=1)
            uniq, inverse = torch.unique(pairs, dim=0, return_inverse=True)
            self._factors.append((uniq.tolist(), inverse))
        self._level_grids = self._build_level_grids()

    # ------------------------------------------------------------------ basic facts
    @property
    def dim(self) -> int:
        return int(self.levels.shape[1])

    @property
    def n_components(self) -> int:
        return int(self.levels.shape[0])

    def __repr__(self) -> str:
        return f"BsplineDensity(dim={self.dim}, components={self.n_components}, order={self.order})"

    def _check_x(self, x) -> torch.Tensor:
        x = as_tensor(x)
        if x.ndim == 1 and self.dim == 1:
            x = x.unsqueeze(-1)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x.shape={tuple(x.shape)} is invalid: must be (n, {self.dim})")
        return x

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, generator: torch.Generator | int | None = None, *, device=None,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """Exact samples, shape (n, d): a component j ~ mixture_probs, then per coordinate
        x_i = (s_{ji} + U_1 + ... + U_m) / 2^{k_{ji}} with U ~ Unif[0, 1] (N_m is the density
        of a sum of m uniforms)."""
        n = check_int("n", n, low=1)
        gen = as_generator(generator)
        j = torch.multinomial(self.mixture_probs, n, replacement=True, generator=gen)
        u = torch.rand(n, self.dim, self.order, generator=gen, dtype=torch.float64).sum(-1)
        x = (self.shifts[j].to(torch.float64) + u) / 2.0 ** self.levels[j].to(torch.float64)
        return x.to(device=device or "cpu", dtype=dtype)

    # ------------------------------------------------------------------ t = 0
    def density(self, x) -> torch.Tensor:
        """p_0(x), shape (n,)."""
        x = self._check_x(x)
        x64 = x.to(torch.float64)
        coef = self.weights[self.weights > 0].to(x.device)
        scale = 2.0 ** self._lev.to(x.device, torch.float64)
        shift = self._sh.to(x.device, torch.float64)
        if self._level_grids is not None:
            return self._density_sparse(x64).to(x.dtype)
        out = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
        step = max(1, (1 << 21) // max(1, coef.numel()))  # bounded memory: chunk the points
        for start in range(0, x.shape[0], step):
            xc = x64[start : start + step]
            vals = torch.ones(xc.shape[0], coef.numel(), dtype=torch.float64, device=x.device)
            for i in range(self.dim):
                vals = vals * cardinal_bspline(xc[:, i : i + 1] * scale[:, i] - shift[:, i], self.order)
            out[start : start + step] = vals @ coef
        return out.to(x.dtype)

    def _build_level_grids(self):
        """Per level, the coefficients on the full level grid (for O(n m^d) evaluation)."""
        m, d = self.order, self.dim
        grids = {}
        for k in torch.unique(self._lev).tolist():
            rows = (self._lev == k).all(dim=1)
            if not bool(rows.any()):
                return None  # mixed levels within a component: no grid form
            n = 2 ** (k + 1) + m - 1
            if n**d > 2_000_000:
                return None
            grid = torch.zeros([n] * d, dtype=torch.float64)
            idx = tuple((self._sh[rows, i] + 2**k + m - 1) for i in range(d))
            grid.index_put_(idx, self.weights[self.weights > 0][rows], accumulate=True)
            grids[k] = grid
        if sum(int(((self._lev == k).all(dim=1)).sum()) for k in grids) != self._lev.shape[0]:
            return None
        return grids

    def _density_sparse(self, x64: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x64.shape[0], dtype=torch.float64, device=x64.device)
        for k, grid in self._level_grids.items():
            out = out + evaluate_level_grid(x64, k, self.order, grid.to(x64.device))
        return out

    def log_density(self, x) -> torch.Tensor:
        """log p_0(x), shape (n,); -inf outside the support."""
        return torch.log(self.density(x))

    # ------------------------------------------------------------------ t > 0
    def _log_terms(self, x64: torch.Tensor, t, need_grad: bool):
        """log(c_j prod_i E_ji(x_i, t)) (n, J) and, if asked, per coordinate i the pair
        (d/dx_i log E of each unique factor (n, U_i), the component -> factor index (J,))."""
        n = x64.shape[0]
        logs = self._log_c.to(x64.device).expand(n, -1).clone()
        grads = [] if need_grad else None
        mu, sigma = ou_mean_std_float(t)
        for i, (uniq, inverse) in enumerate(self._factors):
            pairs = torch.as_tensor(uniq, dtype=torch.float64, device=x64.device)  # (U, 2)
            scale = 2.0 ** pairs[:, 0]
            # all unique factors at once: z = 2^a x / mu - b, tau = 2^a sigma / mu, shape (n, U)
            z = (x64[:, i : i + 1] / mu.unsqueeze(-1)) * scale - pairs[:, 1]
            tau = (sigma / mu).unsqueeze(-1) * scale
            lg, dlg = log_g(z.reshape(-1), tau.reshape(-1), self.order)
            lv = lg.reshape(z.shape) - torch.log(mu).unsqueeze(-1)
            inv = inverse.to(x64.device)
            logs = logs + lv[:, inv]
            if need_grad:
                grads.append((dlg.reshape(z.shape) * scale / mu.unsqueeze(-1), inv))
        return logs, grads

    # ------------------------------------------------------------------ scalar t, d <= 2
    def _level_groups(self):
        """Components grouped by their level tuple: per group the levels, the lowest shift of
        every axis, the dense weight array over the shift ranges (B_1,) or (B_1, B_2), the log
        of its sum and, for a 2-D array with few nonzeros, those as (shifts (2, J), weights (J,))
        (else None); built once."""
        groups = getattr(self, "_groups_cache", None)
        if groups is not None:
            return groups
        groups = []
        keys = torch.unique(self._lev, dim=0)
        for key in keys:
            sel = (self._lev == key).all(dim=1)
            sh = self._sh[sel]
            lo = sh.min(dim=0).values
            size = (sh.max(dim=0).values - lo + 1).tolist()
            w = torch.zeros(size, dtype=torch.float64)
            w.index_put_(tuple((sh - lo).T), torch.exp(self._log_c[sel]), accumulate=True)
            groups.append((key.tolist(), lo.tolist(), w, math.log(float(w.sum())), self._sparse_form(w, lo)))
        self._groups_cache = groups
        return groups

    _SPARSE_RATIO = 40  # a group goes per component when its weight array is this many times its nonzeros

    @staticmethod
    def _sparse_form(w: torch.Tensor, lo: torch.Tensor):
        """(shifts, weights) of the nonzeros of a 2-D weight array whose lowest shifts are
        ``lo``, when it has fewer than 1/40 nonzeros: the components' shifts on both axes
        (2, J) and their weights (J,). Such a
        group is evaluated per component (each component's two log factors, one exp) instead
        of through two dense products with the array. Measured on 2 cores: the products cost
        about 0.05 ns per entry of the array and point, a component about 2 ns per point; for
        random_besov's levels 5-6 (64 components in 59 x 59 and 117 x 124 shift ranges) the
        per-component form is several times faster."""
        if w.ndim != 2:
            return None
        nz = w.nonzero()
        if BsplineDensity._SPARSE_RATIO * nz.shape[0] >= w.numel():
            return None
        return (nz + lo).T.contiguous(), w[nz[:, 0], nz[:, 1]].contiguous()

    _BLOCK = 1 << 18  # elements per (points, columns) array of a group's block (2 MB: it stays in
    # cache; measured best of 2^17..2^21 on 2 cores)

    def _levelwise(self, x64: torch.Tensor, t: float, need_grad: bool):
        """``(log p_t, score or None, rows)`` by the tensor-product structure, for scalar t and
        d <= 2. Per level, the factors of every shift used at that level on either axis come
        from one table of log G (:class:`.log_g_table.LogGTable`), built once over all points and
        evaluated for both axes in one call. A level group's mixture is a matrix product with
        its weight array or, for a sparse weight array, a sum over its components of
        exp(log factor_1 + log factor_2); exponentials are scaled by the tables' peaks. Groups
        go one after the other, each in blocks of points sized so that its arrays stay in
        cache; the groups' sums are combined for all points at the end. ``rows`` marks the
        points where a group's scaled sum underflowed while it might still matter; the caller
        recomputes those by the per-component log-sum-exp."""
        mu = math.exp(-t)
        sigma = math.sqrt(-math.expm1(-2.0 * t))
        n, dev = x64.shape[0], x64.device
        groups = [(lev, lows, w.to(dev), log_wsum, None if sp is None else tuple(a.to(dev) for a in sp))
                  for lev, lows, w, log_wsum, sp in self._level_groups()]
        # per level: the axes that use it and the union of their shift ranges
        plan: dict[int, list] = {}
        for lev, lows, w, _, _ in groups:
            for i in range(self.dim):
                axes, lo, hi = plan.get(lev[i], ([], lows[i], lows[i] + w.shape[i] - 1))
                if i not in axes:
                    axes.append(i)
                plan[lev[i]] = (axes, min(lo, lows[i]), max(hi, lows[i] + w.shape[i] - 1))
        x_lo, x_hi = x64.min(dim=0).values.tolist(), x64.max(dim=0).values.tolist()
        levels = {}
        for level, (axes, lo, hi) in plan.items():
            scale = 2.0**level
            z_lo = min(x_lo[i] for i in axes) * scale / mu - hi
            z_hi = max(x_hi[i] for i in axes) * scale / mu - lo
            table = LogGTable.build(z_lo, z_hi, scale * sigma / mu, self.order,
                                    budget=n * len(axes) * (hi - lo + 1) // 4, device=dev)
            # each point's cell fraction and run start, once for all blocks
            located = None if table is None or table.q is None else {
                i: table.locate(x64[:, i] * (scale / mu)) for i in axes}
            levels[level] = _LevelPlan(sorted(axes), lo, hi - lo + 1, table, located)
        n_groups = len(groups)
        sums = torch.empty(n, n_groups, dtype=torch.float64, device=dev)
        tops = torch.empty(n, n_groups, dtype=torch.float64, device=dev)
        grads = torch.empty(n, n_groups, self.dim, dtype=torch.float64, device=dev) if need_grad else None
        for g, group in enumerate(groups):
            _, _, w, _, sparse = group
            cols = max(w.shape) if sparse is None else sparse[1].numel()
            block = max(1024, min(n, self._BLOCK // (cols * self.dim)))
            for start in range(0, n, block):
                sl = slice(start, start + block)
                s, top, gr = self._group_block(x64[sl], mu, sigma, group, levels, need_grad, sl)
                sums[sl, g] = s
                tops[sl, g] = top
                if need_grad:
                    grads[sl, g] = gr
        # all groups at once
        logs_t = torch.log(sums).add_(tops)
        best = logs_t.max(dim=1, keepdim=True).values
        wts = logs_t.sub_(best).exp_()  # a group whose sum underflowed to 0 has weight 0
        total = wts.sum(1)
        logp = torch.log(total).add_(best.squeeze(1))
        # redo: rows without a finite value, and rows where a group underflowed while its bound
        # (top + log of its weight sum) is not negligible
        rows = ~torch.isfinite(logp)
        bound = tops + torch.tensor([grp[3] - 644.0 for grp in groups], dtype=torch.float64, device=dev)
        rows |= ((sums < 1e-280) & (bound > (logp - 40.0).unsqueeze(1))).any(dim=1)
        score = None
        if need_grad:
            coef = torch.where(sums > 0, wts / sums, 0.0).div_(total.unsqueeze(1))  # 0/0 only where masked
            score = (coef.unsqueeze(2) * grads).sum(1)  # (n, groups, d) -> (n, d)
        return logp, score, rows

    def _group_block(self, x64, mu, sigma, group, levels, need_grad, sl):
        """One group on a block of points: its scaled sum s (n,), the scale's log (a float or
        (n,)) and the gradient of s over s (n, d) (None without need_grad)."""
        levels_g, lows, w, _, sparse = group
        if sparse is not None:  # one column per component: its two log factors, one exp
            ks, w_j = sparse
            if levels_g[0] == levels_g[1]:
                got = self._level_factors(x64, mu, sigma, levels_g[0], [0, 1], levels[levels_g[0]], need_grad,
                                          sl, shifts=ks, logs=True)
                parts = [got[0], got[1]]
            else:
                parts = [self._level_factors(x64, mu, sigma, levels_g[i], [i], levels[levels_g[i]],
                                             need_grad, sl, shifts=ks[i : i + 1], logs=True)[i] for i in range(2)]
            (_, l1, d1, _), (_, l2, d2, _) = parts
            e = torch.add(l1, l2).exp_()
            s = e @ w_j
            grads = [d1.mul_(e) @ w_j, d2.mul_(e) @ w_j] if need_grad else None
        else:
            factors, parts = {}, []
            for i in range(self.dim):
                level = levels_g[i]
                plan = levels[level]
                if level not in factors:
                    both = [a for a in plan.axes if levels_g[a] == level]  # this group's axes at this level
                    factors[level] = self._level_factors(x64, mu, sigma, level, both, plan, need_grad, sl)
                top, e, f, der_scale = factors[level][i]
                off = lows[i] - plan.lo
                cut = slice(off, off + w.shape[i])
                parts.append((top, e[:, cut], None if f is None else f[:, cut], der_scale))
            if self.dim == 1:
                (_, e1, f1, _), = parts
                s = e1 @ w
                grads = [f1 @ w] if need_grad else None
            else:
                (_, e1, f1, _), (_, e2, f2, _) = parts
                tmp = e1 @ w
                s = (tmp * e2).sum(1)
                grads = [((f1 @ w) * e2).sum(1), (tmp * f2).sum(1)] if need_grad else None
        top = sum(p[0] for p in parts)
        gr = None
        if need_grad:
            gr = torch.stack([g.mul_(p[3]) if p[3] != 1.0 else g for g, p in zip(grads, parts)], dim=1)
        return s, top, gr

    def _level_factors(self, x64, mu, sigma, level, axes, plan, need_grad, sl, *, shifts=None, logs=False):
        """Per axis of ``axes``: (top, e, f, der_scale) with e = exp(log G - top) at the level's
        ``plan.size`` shifts from ``plan.lo``, or at the shifts ``shifts[j]`` for axis
        ``axes[j]`` (one column per component), shape (n, columns); f = e d log G (in units that
        der_scale turns into d/dx); top a float or an (n,) tensor. All axes in one evaluation.
        With ``logs``: (top, log G - top, d log G, der_scale), nothing exponentiated. ``sl``:
        the block's rows among all points."""
        n, dev = x64.shape[0], x64.device
        lo, size, table, located = plan.lo, plan.size, plan.table, plan.located
        if located is not None:  # the block's rows of the fractions and run starts
            loc = [located[a] for a in axes]
            located = (loc[0][0][sl], loc[0][1][sl]) if len(axes) == 1 else (
                torch.cat([p[0][sl] for p in loc]), torch.cat([p[1][sl] for p in loc]))
        scale, log_mu = 2.0**level, math.log(mu)
        xs = None if located is not None else (
            (x64[:, axes[0]] if len(axes) == 1 else x64[:, axes].T.reshape(-1)) * (scale / mu))
        ks = shifts  # (axes, J): row j for the j-th block of n points
        if table is None:
            if shifts is None:
                z = xs.unsqueeze(1) - torch.arange(lo, lo + size, device=dev).to(torch.float64)
            else:
                z = (xs.view(len(axes), n, 1) - ks.to(torch.float64).unsqueeze(1)).view(len(axes) * n, -1)
            lg, dlg = log_g(z.reshape(-1), torch.full((z.numel(),), scale * sigma / mu,
                                                      dtype=torch.float64, device=dev), self.order)
            lv, dv = lg.view(z.shape).sub_(log_mu), dlg.view(z.shape).mul_(scale / mu)
            top = lv.max(dim=1, keepdim=True).values
            e = lv.sub_(top) if logs else lv.sub_(top).exp_()
            top, der_scale = top.squeeze(1), 1.0
        else:
            # scale by the table's largest log G (a constant) instead of each row's: rows far
            # from every shift underflow and are redone per component by the caller; the
            # derivatives stay in cell units (the scale multiplies the reduced sums)
            if shifts is None:
                lv, dv = table.at_shifts(xs, lo, size, shift=-table.peak, scale=None, check=False,
                                         located=located)
            else:
                lv, dv = table.at_shifts(xs, ks, shift=-table.peak, scale=None, check=False, located=located)
            e = lv if logs else lv.exp_()
            top, der_scale = table.peak - log_mu, scale / mu / table.h
        f = dv if logs or not need_grad else dv.mul_(e)
        out = {}
        for j, axis in enumerate(axes):
            part = slice(j * n, (j + 1) * n)
            out[axis] = (top if isinstance(top, float) else top[part], e[part],
                         None if f is None else f[part], der_scale)
        return out

    def _log_and_score(self, x64: torch.Tensor, t, need_grad: bool):
        """log p_t and (if asked) the score at float64; scalar t in d <= 2 goes level-wise."""
        n = x64.shape[0]
        scalar = not torch.is_tensor(t) or t.ndim == 0 or (t.numel() == 1 and n != 1)
        tt = self._time(t, n, x64.device)
        # level-wise pays in 2-D, and in 1-D once points x components is large (its tables cost
        # a fixed build per call); measured on 2 cores: equal at 5000 points x 18 components,
        # 1.6x faster at 20000 x 18, 2-4x faster at 5000 x 173 (per component below that)
        if scalar and (self.dim == 2 or (self.dim == 1 and n * self.n_components >= 150_000)):
            logp, score, rows = self._levelwise(x64, float(tt[0]), need_grad)
            if bool(rows.any()):
                idx = rows.nonzero().squeeze(1)
                lp, sc = self._log_and_score_terms(x64[idx], tt[idx], need_grad)
                logp[idx] = lp
                if need_grad:
                    score[idx] = sc
            return logp, score
        return self._log_and_score_terms(x64, tt, need_grad)

    def _log_and_score_terms(self, x64: torch.Tensor, tt: torch.Tensor, need_grad: bool):
        """The per-component log-sum-exp (any t, any d)."""
        logs, grads = self._log_terms(x64, tt, need_grad=need_grad)
        top = logs.max(dim=1, keepdim=True).values
        e = torch.exp(logs - top)
        total = e.sum(1)
        logp = torch.log(total) + top.squeeze(-1)
        if not need_grad:
            return logp, None
        return logp, self._combine_grads(e / total.unsqueeze(-1), grads)

    @staticmethod
    def _combine_grads(resp: torch.Tensor, grads) -> torch.Tensor:
        """sum_j resp_j d/dx_i log E_ji = sum_u (sum_{j -> u} resp_j) dv_u per coordinate: the
        responsibilities are summed onto the unique factors (no (n, J, d) tensor)."""
        cols = []
        for dv, inv in grads:
            acc = torch.zeros_like(dv).index_add_(1, inv, resp)
            cols.append((acc * dv).sum(1))
        return torch.stack(cols, dim=1)

    def _time(self, t, n: int, device) -> torch.Tensor:
        t = as_tensor(t).to(device=device, dtype=torch.float64)
        if t.ndim == 0:
            t = t.expand(n)
        elif t.ndim == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.shape != (n,):
            raise ValueError(f"t.shape={tuple(t.shape)} is invalid: must be a scalar or (n,) with n={n}")
        if not bool(torch.isfinite(t).all()) or bool((t <= 0).any()):
            raise ValueError(f"t={float(t.min()):g} is invalid: must be a finite time > 0 (use .density at t = 0)")
        return t

    def log_diffused_density(self, x, t) -> torch.Tensor:
        """log p_t(x), shape (n,)."""
        x = self._check_x(x)
        return self._log_and_score(x.to(torch.float64), t, need_grad=False)[0].to(x.dtype)

    def diffused_density(self, x, t) -> torch.Tensor:
        """p_t(x) = int p_0(y) phi_{sigma_t}(x - mu_t y) dy, shape (n,)."""
        return torch.exp(self.log_diffused_density(x, t))

    def log_density_and_score(self, x, t) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log p_t(x), grad log p_t(x))`` in one pass, shapes (n,) and (n, d)."""
        x = self._check_x(x)
        logp, score = self._log_and_score(x.to(torch.float64), t, need_grad=True)
        return logp.to(x.dtype), score.to(x.dtype)

    def score(self, x, t) -> torch.Tensor:
        """Exact grad_x log p_t(x), shape (n, d); t a float > 0 or an (n,) tensor."""
        x = self._check_x(x)
        return self._log_and_score(x.to(torch.float64), t, need_grad=True)[1].to(x.dtype)

    # ------------------------------------------------------------------ exact bin masses
    def bin_masses(self, edges) -> torch.Tensor:
        """Exact p_0 mass of each histogram cell (d <= 2).

        Args:
            edges: a 1-D tensor of bin edges (used for every coordinate) or a list of d of them.

        Returns:
            (B_1,) or (B_1, B_2) masses, from the antiderivative of N_m (a sum of m+1 uniforms'
            CDF, evaluated with the truncated-power formula at float64).
        """
        if self.dim > 2:
            raise ValueError(f"dim={self.dim} is invalid for bin_masses: must be 1 or 2")
        if isinstance(edges, (list, tuple)) and len(edges) == self.dim and not isinstance(edges[0], (int, float)):
            edge_list = [as_tensor(e).to(torch.float64).cpu() for e in edges]
        else:
            edge_list = [as_tensor(edges).to(torch.float64).cpu()] * self.dim
        per_dim = []
        for i, e in enumerate(edge_list):
            if e.ndim != 1 or e.numel() < 2 or not bool((e[1:] > e[:-1]).all()):
                raise ValueError("edges is invalid: must be increasing 1-D tensors with >= 2 entries")
            scale = 2.0 ** self.levels[:, i].to(torch.float64)
            z = e.unsqueeze(-1) * scale - self.shifts[:, i].to(torch.float64)  # (E, J)
            cdf = bspline_cdf(z, self.order)
            per_dim.append((cdf[1:] - cdf[:-1]) / scale)  # (B, J): integral of the factor
        if self.dim == 1:
            return per_dim[0] @ self.weights
        return torch.einsum("aj,bj,j->ab", per_dim[0], per_dim[1], self.weights)

    # ------------------------------------------------------------------ random Besov
    @classmethod
    def random_besov(cls, smoothness: float, dim: int, *, order: int = 4, max_level: int = 6,
                     p: float = 2.0, terms_per_level: int = 64,
                     generator: torch.Generator | int | None = None) -> BsplineDensity:
        """A random positive density on [-1, 1]^d of Besov smoothness ``s``.

        On each level k from the coarsest that fits in [-1, 1] (2^{k+1} >= m) to ``max_level``,
        M_k = min(#shifts at level k, terms_per_level) shifts are drawn uniformly without
        replacement and get coefficients

        .. math:: \\alpha_{k,j} = 2^{-sk}\\, (2^{kd} / M_k)^{1/p}\\, U_{k,j},
                  \\quad U_{k,j} \\sim \\mathrm{Unif}[1/2, 3/2],

        so each level contributes Theta(1) to the DeVore-Popov sequence norm
        :math:`2^{sk} (2^{-kd} \\sum_j |\\alpha_{k,j}|^p)^{1/p}`: the density lies in
        :math:`B^s_{p,\\infty}` with norm of order one (for s below the spline order). The
        attribute ``besov_coefficients`` keeps (level, shifts, alpha) per level.
        """
        s = check_real("smoothness", smoothness, low=0.0, low_open=True, high=float(MAX_ORDER))
        d = check_int("dim", dim, low=1, high=8)
        m = check_int("order", order, low=1, high=MAX_ORDER)
        k0 = max(0, math.ceil(math.log2(m / 2))) if m > 2 else 0
        kmax = check_int("max_level", max_level, low=k0, high=12)
        p = check_real("p", p, low=0.0, low_open=True)
        tpl = check_int("terms_per_level", terms_per_level, low=1)
        gen = as_generator(generator)
        levels, shifts, weights = [], [], []
        for k in range(k0, kmax + 1):
            per_axis = 2 ** (k + 1) - m + 1  # shifts -2^k .. 2^k - m
            total = per_axis**d
            mk = min(total, tpl)
            flat = torch.randperm(total, generator=gen)[:mk]
            idx = torch.stack([(flat // per_axis**i) % per_axis for i in range(d)], dim=1) - 2**k
            u = 0.5 + torch.rand(mk, generator=gen, dtype=torch.float64)
            alpha = 2.0 ** (-s * k) * (2.0 ** (k * d) / mk) ** (1.0 / p) * u
            levels.append(torch.full((mk, d), k, dtype=torch.long))
            shifts.append(idx)
            weights.append(alpha)
        obj = cls(torch.cat(levels), torch.cat(shifts), torch.cat(weights), order=m)
        obj.smoothness = s
        return obj


def bspline_cdf(z: torch.Tensor, order: int) -> torch.Tensor:
    """The CDF of N_m: (1/m!) sum_k (-1)^k C(m, k) (z - k)_+^m on [0, m], 0 below, 1 above.

    Evaluated with the reflection CDF(z) = 1 - CDF(m - z) for z > m/2 (no cancellation).
    """
    m = order
    zc = z.clamp(0.0, float(m))
    reflect = zc > m / 2
    zr = torch.where(reflect, m - zc, zc)
    acc = torch.zeros_like(zr)
    for k in range(m + 1):
        acc = acc + (-1) ** k * math.comb(m, k) * torch.clamp(zr - k, min=0.0) ** m
    acc = acc / math.factorial(m)
    return torch.where(reflect, 1.0 - acc, acc)
