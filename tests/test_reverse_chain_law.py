"""The law of the reverse-SDE chain on a grid (reverse_chain_law) and the TV of a law given by
cell masses (law_tv): against the chain's closed form on a Gaussian target and against sampling."""

import math

import pytest
import torch

from nnrep_lite import diffusion as dm
from nnrep_lite.densities import GaussianMixture


def _gaussian_chain(m0, v0, ts, method):
    """Mean and variance of the chain on N(m0, v0): its exact score is linear, so every step maps
    a Gaussian to a Gaussian."""
    from nnrep_lite.diffusion.sampling import _step_coefficients

    mu, var = 0.0, 1.0
    for k in range(len(ts) - 1):
        t, h = ts[k], ts[k] - ts[k + 1]
        a, b, c = _step_coefficients(h, method)
        mt = math.exp(-t)
        v_t = mt**2 * v0 + 1.0 - math.exp(-2.0 * t)
        mu = a * mu - b * (mu - mt * m0) / v_t
        var = (a - b / v_t) ** 2 * var + c**2
    return mu, var


@pytest.mark.parametrize("method", ["euler", "exponential"])
@pytest.mark.parametrize("grid", ["geometric", "uniform"])
def test_chain_law_matches_the_closed_form_gaussian_chain(method, grid):
    m0, v0 = 0.3, 0.01
    target = GaussianMixture([[m0]], [[v0]], [1.0])
    steps = 60
    edges, mass = dm.reverse_chain_law(target.score, t_max=8.0, t_min=1e-3, steps=steps, method=method, grid=grid,
                                       dtype=torch.float64)
    mu, var = _gaussian_chain(m0, v0, dm.time_grid(8.0, 1e-3, steps, grid).tolist(), method)
    exact = torch.diff(0.5 * torch.erfc(-(edges - mu) / math.sqrt(2.0 * var)))
    assert 0.5 * float((exact - mass).abs().sum()) < 5e-4
    assert float(mass.sum()) == pytest.approx(1.0, abs=1e-6)
    centres = 0.5 * (edges[1:] + edges[:-1])
    mean = float((mass * centres).sum() / mass.sum())
    assert mean == pytest.approx(mu, abs=1e-4)
    assert float((mass * (centres - mean) ** 2).sum() / mass.sum()) == pytest.approx(var, rel=2e-3)


def test_chain_law_agrees_with_sampling_the_chain():
    """A two-bump target (non-linear score): the law's 40 bin masses against 2e5 chains."""
    target = GaussianMixture([[-0.5], [0.4]], [[0.02], [0.005]], [0.6, 0.4])
    kw = dict(t_max=8.0, t_min=1e-3, steps=40)
    edges, mass = dm.reverse_chain_law(target.score, **kw, dtype=torch.float64)
    cells = dm.bin_edges(40)
    law = dm.law_bin_masses(edges, mass, cells)
    x = dm.reverse_sde_sample(target.score, 200_000, 1, **kw, generator=0, dtype=torch.float64, device="cpu")
    freq = torch.histogram(x[:, 0], cells).hist / x.shape[0]
    sd = (law * (1 - law) / x.shape[0]).sqrt()
    assert float(((freq - law).abs() / (sd + 1e-12)).max()) < 5.0
    # law_tv is tv_distance without the Monte Carlo term: the sampled TV sits above it by about the floor
    floor, floor_sd = dm.histogram_tv_floor(dm.exact_bin_masses(target, cells, dim=1), x.shape[0])
    sampled = dm.tv_distance(x, target)
    assert abs(sampled - dm.law_tv(edges, mass, target)) < floor + 4 * floor_sd


def test_law_tv_of_the_target_itself_is_zero_and_inputs_are_checked():
    target = GaussianMixture([[-0.2]], [[0.04]], [1.0])
    edges = torch.linspace(-4, 4, 8 * 160 + 1, dtype=torch.float64)
    masses = dm.exact_bin_masses(target, edges, dim=1)
    assert dm.law_tv(edges, masses, target) < 1e-9
    shifted = dm.exact_bin_masses(GaussianMixture([[-0.1]], [[0.04]], [1.0]), edges, dim=1)
    assert dm.law_tv(edges, shifted, target) > 0.1
    with pytest.raises(ValueError, match="masses.shape"):
        dm.law_tv(edges, masses[:-1], target)
    with pytest.raises(ValueError, match="masses is invalid"):
        dm.law_bin_masses(edges, -masses, dm.bin_edges(40))
    with pytest.raises(ValueError, match="cell="):
        dm.reverse_chain_law(target.score, cell=0.3)
    with pytest.raises(ValueError, match="method"):
        dm.reverse_chain_law(target.score, method="heun")


def test_rate_experiment_measures_the_diffusion_tv_on_the_chain_law(tmp_path, monkeypatch):
    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    target = GaussianMixture([[-0.5], [0.4]], [[0.02], [0.03]], [0.5, 0.5])
    kw = dict(seeds=[0], metric="tv", estimators=("diffusion",), width=8, steps=20, sample_steps=10,
              n_eval=3000, progress=False)
    law = dm.rate_experiment(target, [200], **kw)
    hist = dm.rate_experiment(target, [200], tv_method="histogram", **kw)
    assert law[0]["tv_method"] == "chain law" and hist[0]["tv_method"] == "histogram"
    floor = dm.histogram_tv_floor(dm.exact_bin_masses(target, dm.bin_edges(40), dim=1), 3000)[0]
    assert abs(hist[0]["error"] - law[0]["error"]) < 3 * floor  # the same model, measured two ways
