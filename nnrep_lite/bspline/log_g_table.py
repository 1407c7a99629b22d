"""A cubic Hermite table of log G_m(.; tau) for many points at one tau: the level-wise exact score of
:class:`~nnrep_lite.bspline.density.BsplineDensity` evaluates every point of a level from one table.
Imports the pointwise evaluation :func:`~nnrep_lite.bspline.diffused.log_g` and torch only.
"""

from __future__ import annotations

import math

import torch

from .diffused import log_g

_TABLE_TOL = 1e-12  # log G at every cell midpoint, relative to max(1, |log G|); derivative: 1e-10 (|d| + 1/tau)
_TABLE_MAX_NODES = 1 << 16
_TABLE_START = 16.0  # initial spacing: the power of two at or below tau / 16 (then halved until the midpoints agree)


class LogGTable:
    """Cubic Hermite table of (log G_m(.; tau), d/dz log G_m) over ``[lo, hi]``; see
    :meth:`build`, :meth:`__call__` and :meth:`at_shifts`.

    The spacing is a power of two, ``h = 2^-j``. When ``h <= 1`` (``q = 1 / h`` an integer)
    the points ``z = xs - k`` of one point at every integer shift k share their position inside
    a cell (u = (xs - lo) q - k q): per point one cell index and one fraction serve all
    shifts. The coefficients are then also kept in a layout where the cells of consecutive
    shifts are adjacent (the cell's residue modulo q first, then its integer part in reverse),
    so that a point's coefficients at ``count`` consecutive shifts are one contiguous run:
    :meth:`at_shifts` gathers runs, not elements (about 10x faster than an element gather).
    Wide Gaussians (tau >= 32) over ranges too wide for unit cells start with ``h >= 2``,
    where each (point, shift) gets its own cell."""

    def __init__(self, coef: torch.Tensor, lo: float, h: float, order: int):
        self.lo, self.h, self.order = lo, h, order
        self.coefs = tuple(coef[:, j].contiguous() for j in range(4))
        # the largest node value: a scaling constant for exponentials (the interpolant may
        # exceed it slightly between nodes, which is harmless)
        self.peak = float(coef[:, 0].max())
        self.q = round(1.0 / h) if h <= 1.0 else None
        self._shifted: tuple = (None, None)
        if self.q is not None:
            self._n_int = -(-coef.shape[0] // self.q)  # integer parts (cell = I q + residue)
            # the coefficients c0..c3 of the cell polynomials in s in [0, 1], laid out
            # [residue][reversed integer part]
            self._runs = tuple(self._layout(col) for col in coef.T)

    def _layout(self, col: torch.Tensor) -> torch.Tensor:
        pad = torch.zeros(self._n_int * self.q - col.numel(), dtype=col.dtype, device=col.device)
        return torch.cat([col, pad]).view(self._n_int, self.q).flip(0).T.reshape(-1)

    @classmethod
    def build(cls, lo: float, hi: float, tau: float, order: int, *, budget: int, device=None,
              dtype=torch.float64) -> LogGTable | None:
        """The table for points in ``[lo, hi]`` (padded by a cell on each side): the spacing
        starts at the power of two at or below tau / 16 (or at 1 when that is larger and unit
        cells take at most an eighth of the budget) and halves (the checked midpoints
        become nodes) until the interpolant matches :func:`log_g` at every cell midpoint to
        1e-12 max(1, |log G|) and the derivative to 1e-10 (|d/dz log G| + 1/tau). ``None``
        when that takes more than ``budget`` nodes."""
        h = 2.0 ** math.floor(math.log2(tau / _TABLE_START))
        budget = min(_TABLE_MAX_NODES, budget)
        if h > 1.0 and (hi - lo) + 4 <= budget // 8:  # unit cells (shared fractions) are affordable
            h = 1.0
        lo, hi = lo - h, max(hi, lo) + h
        k = math.ceil((hi - lo) / h) + 1  # nodes lo + i h, i < k, reach past hi
        if k + 2 > budget:
            return None
        # nodes and cell midpoints in one call: a grid of spacing h / 2
        fine = lo + (0.5 * h) * torch.arange(2 * k - 1, dtype=dtype, device=device)
        gv, gd = log_g(fine, torch.full_like(fine, tau), order)
        while True:
            fv, fd, mv, md = gv[0::2], gd[0::2], gv[1::2], gd[1::2]
            coef = _hermite_coefficients(fv, fd, h)
            # the cubic and its derivative at every cell's midpoint (s = 1/2)
            iv = coef @ torch.tensor([1.0, 0.5, 0.25, 0.125], dtype=dtype, device=device)
            idv = coef @ torch.tensor([0.0, 1.0, 1.0, 0.75], dtype=dtype, device=device) / h
            ok = bool(((iv - mv).abs() <= _TABLE_TOL * mv.abs().clamp_min(1.0)).all()) and bool(
                ((idv - md).abs() <= 1e-10 * (md.abs() + 1.0 / tau)).all())
            if ok:
                return cls(coef, lo, h, order)
            if 4 * k > budget:
                return None
            # refine: the old midpoints become nodes; the new midpoints are the quarter points
            quarter = lo + (0.25 * h) + (0.5 * h) * torch.arange(2 * k - 2, dtype=dtype, device=device)
            qv, qd = log_g(quarter, torch.full_like(quarter, tau), order)
            nv = torch.empty(4 * k - 3, dtype=dtype, device=device)
            nd = torch.empty_like(nv)
            nv[0::2], nd[0::2] = gv, gd
            nv[1::2], nd[1::2] = qv, qd
            gv, gd = nv, nd
            k = 2 * k - 1
            h = 0.5 * h

    def __call__(self, z: torch.Tensor, shift: float = 0.0, scale: float = 1.0):
        """``(log G + shift, scale * d/dz log G)`` at z (any shape, inside the table's range)."""
        u = (z - self.lo).mul_(1.0 / self.h).reshape(-1)
        cell = u.to(torch.long).clamp_(0, self.coefs[0].numel() - 1)
        s = u.sub_(cell)

        def fetch(c, out=None):
            return torch.index_select(c, 0, cell, out=out) if out is not None else c.index_select(0, cell)

        val, dp = _horner(fetch, self.coefs, s)
        return val.add_(shift).view(z.shape), dp.mul_(scale / self.h).view(z.shape)

    def locate(self, xs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per point (h <= 1 only): the fraction s inside its cell, (n, 1), and where its run
        of coefficients starts for shift 0, (n,): the cell of shift k is base - k q, with
        residue r = base mod q and integer part base // q - k, stored at
        r n_int + (n_int - 1 - base // q + k), so consecutive shifts are adjacent. Computed
        once for many blocks, it is passed to :meth:`at_shifts` as ``located``."""
        q, n_int = self.q, self._n_int
        u = (xs - self.lo).mul_(q)
        base = u.floor()
        s = u.sub_(base).unsqueeze(1)
        base = base.to(torch.long)
        start = torch.remainder(base, q).mul_(n_int).sub_(torch.div(base, q, rounding_mode="floor")).add_(n_int - 1)
        return s, start

    def at_shifts(self, xs: torch.Tensor, first: int | torch.Tensor, count: int | None = None,
                  shift: float = 0.0, scale: float | None = 1.0, check: bool = True, located=None):
        """The same at z = xs_i - k for every point i and shift k, shape (n, K): either the
        ``count`` consecutive integer shifts k = first, ..., first + count - 1, or, with
        ``count=None``, the integer shifts in ``first``: (K,) for every point, or (m, K) with
        row j for the j-th of m equal consecutive parts of the points (m = n: per point). With
        ``h <= 1``: one cell index and fraction per point; per coefficient one
        gather of a contiguous run per point (consecutive shifts) or of single elements from
        the small table (given shifts). All ``xs - k`` must lie in the table's range.
        ``scale=None`` returns the derivative in cell units, d/ds = h d/dz (multiply by
        ``scale / h`` later, on fewer numbers). ``check=False`` skips the range check (for a
        caller that built the table over its points' range); ``located``, the result of
        :meth:`locate` for these ``xs``, skips that step (and the check)."""
        cells = self.coefs[0].numel()
        if count is None:
            ks = first.to(device=self.coefs[0].device, dtype=torch.long)
            k_lo, k_hi = (int(ks.min()), int(ks.max())) if check else (0, 0)
        else:
            k_lo, k_hi = first, first + count - 1
        if self.q is None:  # wide cells: per (point, shift)
            if check and (float(xs.min()) - k_hi < self.lo or float(xs.max()) - k_lo > self.lo + cells * self.h):
                raise ValueError("xs - shift leaves the table's range: build it over "
                                 "[min xs - largest shift, max xs - smallest shift]")
            if count is not None:
                ks = torch.arange(first, first + count, device=xs.device)
            m = ks.shape[0] if ks.ndim == 2 else 1
            z = (xs.view(m, -1, 1) - ks.to(xs.dtype).view(m, 1, -1)).view(xs.shape[0], -1)
            return self(z, shift, self.h if scale is None else scale)
        if located is None:
            if check:
                base = (xs - self.lo).mul_(self.q).floor_()
                if int(base.min()) - k_hi * self.q < 0 or int(base.max()) - k_lo * self.q >= cells:
                    raise ValueError("xs - shift leaves the table's range: build it over "
                                     "[min xs - largest shift, max xs - smallest shift]")
            located = self.locate(xs)
        s, start = located
        runs = self._shifted_runs(shift)
        if count is not None:
            start = start + first
            c0, c1, c2, c3 = (torch.as_strided(r, (r.numel() - count + 1, count), (1, 1)) for r in runs)

            def fetch(c, out=None):
                return torch.index_select(c, 0, start, out=out) if out is not None else c.index_select(0, start)
        else:
            m = ks.shape[0] if ks.ndim == 2 else 1
            # (the shifts as the expanded first operand: 3x faster than the other order for int64)
            pos = torch.add(ks.view(m, 1, -1).expand(m, start.shape[0] // m, -1), start.view(m, -1, 1)).view(
                start.shape[0], -1)
            c0, c1, c2, c3 = (r.expand(pos.shape[0], -1) for r in runs)

            def fetch(c, out=None):
                return torch.gather(c, 1, pos, out=out) if out is not None else torch.gather(c, 1, pos)
        val, dp = _horner(fetch, (c0, c1, c2, c3), s)
        if scale is not None:
            dp.mul_(scale * self.q)
        return val, dp

    def _shifted_runs(self, shift: float):
        """The laid-out value coefficients with the shift added to c0 (small arrays; the last
        shift is kept for the next block)."""
        key, runs = self._shifted
        if key != shift:
            c0, c1, c2, c3 = self._runs
            runs = (c0 + shift, c1, c2, c3)
            self._shifted = (shift, runs)
        return runs


def _horner(fetch, coefs, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """p(s) = c0 + c1 s + c2 s^2 + c3 s^3 and dp/ds by one Horner pass (dp <- dp s + p,
    p <- p s + c): ``fetch(c, out=None)`` gathers a coefficient (into ``out`` when given), so
    four gathers and five fused products use three buffers."""
    c0, c1, c2, c3 = coefs
    a = fetch(c3)
    b = fetch(c2).addcmul_(a, s)                 # c2 + c3 s
    dp = torch.addcmul(b, a, s)                  # c2 + 2 c3 s
    fetch(c1, out=a).addcmul_(b, s)              # c1 + s (c2 + c3 s)
    torch.addcmul(a, dp, s, out=dp)              # c1 + 2 c2 s + 3 c3 s^2
    return fetch(c0, out=b).addcmul_(a, s), dp


def _hermite_coefficients(fv: torch.Tensor, fd: torch.Tensor, h: float) -> torch.Tensor:
    """Per cell the cubic ``c0 + c1 s + c2 s^2 + c3 s^3`` (s in [0, 1]) through the values
    and h-scaled derivatives at its two nodes, (K - 1, 4)."""
    f0, f1 = fv[:-1], fv[1:]
    d0, d1 = fd[:-1] * h, fd[1:] * h
    diff = f1 - f0
    return torch.stack([f0, d0, 3.0 * diff - 2.0 * d0 - d1, d0 + d1 - 2.0 * diff], dim=1).contiguous()


