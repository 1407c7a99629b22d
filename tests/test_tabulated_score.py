"""TabulatedScore: the grid read back by bilinear interpolation against the closed-form score."""

import math

import pytest
import torch

from nnrep_lite.densities import GaussianMixture
from nnrep_lite.diffusion import TabulatedScore, ou_mean_std, reverse_sde_sample, tv_distance


@pytest.fixture(scope="module")
def mixture():
    return GaussianMixture([[-0.5], [0.4]], [[0.02], [0.03]], [0.5, 0.5])


def test_interpolation_error_is_second_order_in_the_cell_size(mixture):
    """On draws of p_t the relative L2 error falls ~4x when both cells halve (bilinear)."""
    gen = torch.Generator().manual_seed(0)
    x0 = mixture.sample(4000, gen).to(torch.float64)
    z = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    errs = []
    for nx, nt in ((256, 32), (512, 64), (1024, 128)):
        tab = TabulatedScore(mixture.score, t_min=1e-2, t_max=8.0, nx=nx, nt=nt)
        e2 = s2 = 0.0
        for t in (1.3e-2, 0.07, 0.4, 2.2):
            mu, sig = ou_mean_std(t)
            x = mu * x0 + sig * z
            exact = mixture.score(x, t)
            e2 += float(((tab(x, t) - exact) ** 2).mean())
            s2 += float((exact**2).mean())
        errs.append(math.sqrt(e2 / s2))
    assert errs[-1] < 2e-3
    assert errs[0] / errs[1] > 2.5 and errs[1] / errs[2] > 2.5, errs


def test_grid_nodes_are_exact_and_the_gaussian_tail_is_extended_exactly():
    std = GaussianMixture([[0.0]], [[1.0]], [1.0])  # p_t = N(0, 1) for every t: s = -x
    tab = TabulatedScore(std.score, t_min=1e-3, t_max=4.0, x_range=(-2.0, 2.0), nx=65, nt=9)
    x = torch.tensor([[-7.5], [-2.0], [0.3], [2.0], [9.0]], dtype=torch.float64)
    torch.testing.assert_close(tab(x, 0.5), -x, rtol=1e-12, atol=1e-12)  # linear tail = exact here
    nodes = torch.linspace(-2.0, 2.0, 65, dtype=torch.float64)[:, None]
    torch.testing.assert_close(tab(nodes, 1e-3), std.score(nodes, 1e-3), rtol=0, atol=1e-12)


def test_a_chain_with_the_table_matches_the_exact_chain(mixture):
    kw = dict(t_max=8.0, t_min=1e-3, steps=60, generator=5, device="cpu", dtype=torch.float64)
    tab = TabulatedScore(mixture.score, t_min=1e-3, t_max=8.0)
    a = reverse_sde_sample(mixture.score, 3000, 1, **kw)
    b = reverse_sde_sample(tab, 3000, 1, **kw)
    assert float((a - b).abs().median()) < 1e-3
    assert abs(tv_distance(a, mixture, bounds=(-1.0, 1.0)) - tv_distance(b, mixture, bounds=(-1.0, 1.0))) < 0.01


@pytest.mark.parametrize("kw, name", [
    (dict(t_min=0.0, t_max=1.0), "t_min"), (dict(t_min=1.0, t_max=0.5), "t_max"),
    (dict(t_min=1e-3, t_max=1.0, nx=1), "nx"), (dict(t_min=1e-3, t_max=1.0, nt=1), "nt"),
    (dict(t_min=1e-3, t_max=1.0, x_range=(1.0, -1.0)), "x_range"),
    (dict(t_min=float("nan"), t_max=1.0), "t_min"),
])
def test_bad_grids_are_refused(mixture, kw, name):
    with pytest.raises(ValueError, match=name):
        TabulatedScore(mixture.score, **kw)


def test_times_outside_the_table_and_non_finite_scores_are_refused(mixture):
    tab = TabulatedScore(mixture.score, t_min=1e-2, t_max=1.0, nx=16, nt=4)
    with pytest.raises(ValueError, match="t="):
        tab(torch.zeros(3, 1, dtype=torch.float64), 2.0)
    with pytest.raises(ValueError, match="non-finite"):
        TabulatedScore(lambda x, t: x / 0.0, t_min=1e-2, t_max=1.0, nx=16, nt=4)
