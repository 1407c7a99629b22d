"""Many sub-splines' L2 norms in one pass (the N-term and linear error curves) against one at a time."""

import pytest
import torch

from nnrep_lite.bspline import decompose


@pytest.mark.parametrize("dim, level", [(1, 6), (2, 3)])
def test_subset_l2_norms_match_one_spline_at_a_time(dim, level):
    from nnrep_lite.bspline.multiresolution import (
        BsplineCoefficients,
        l2_norm,
        n_term_approximation,
        n_term_errors,
        subset_l2_norms,
    )

    gen = torch.Generator().manual_seed(dim)
    f = lambda x: torch.sin(5 * x).prod(1) + (x[:, 0] > 0.2).double()  # noqa: E731
    coeffs = decompose(f, order=4, max_level=level, dim=dim)
    total = sum(c.numel() for c in coeffs.coeffs)
    keep = torch.rand(7, total, generator=gen) < 0.4
    got = subset_l2_norms(coeffs, keep)
    for row, want_mask in enumerate(keep):
        parts, start = [], 0
        for c in coeffs.coeffs:
            m = want_mask[start : start + c.numel()].reshape(c.shape)
            start += c.numel()
            parts.append(torch.where(m, c, torch.zeros_like(c)))
        assert float(got[row]) == pytest.approx(l2_norm(BsplineCoefficients(4, dim, parts)), rel=1e-12, abs=1e-14)
    ns = [0, 1, 5, 40, total]
    errs = n_term_errors(coeffs, ns)
    for n, e in zip(ns, errs):
        assert float(e) == pytest.approx(n_term_approximation(coeffs, n)[1], rel=1e-12, abs=1e-14)
    assert float(errs[-1]) == pytest.approx(0.0, abs=1e-14)
    assert float(errs[0]) == pytest.approx(l2_norm(coeffs), rel=1e-12)
    with pytest.raises(ValueError, match="keep.shape"):
        subset_l2_norms(coeffs, keep[:, :-1])
    with pytest.raises(ValueError, match="n_terms"):
        n_term_errors(coeffs, [total + 1])


@pytest.mark.parametrize("level", [2, 5, 9])
def test_coefficient_heatmap_matches_a_cell_by_cell_reference(level):
    import numpy as np

    from nnrep_lite.bspline import normalised_magnitudes
    from nnrep_lite.viz.bspline import coefficient_heatmap

    coeffs = decompose(lambda x: (x[:, 0] - 0.1).abs().sqrt(), order=4, max_level=level)
    xs, ys, z = coefficient_heatmap(coeffs, columns=64)
    edges = np.linspace(-1, 1, 65)
    for k, mag in enumerate(normalised_magnitudes(coeffs)):
        centre = (np.arange(mag.numel()) + coeffs.offset(k) + 2.0) / 2.0**k
        vals = np.log10(np.maximum(mag.numpy().reshape(-1), 1e-16))
        col = np.clip(np.searchsorted(edges, centre) - 1, 0, 63)
        for c in range(64):
            inside = vals[col == c]
            want = inside.max() if inside.size else vals[np.argmin(np.abs(centre - 0.5 * (edges[c] + edges[c + 1])))]
            assert z[k, c] == want
    assert len(xs) == 64 and list(ys) == list(range(level + 1))
