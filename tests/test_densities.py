"""GaussianMixture and EmbeddedDensity: exact OU-diffused densities and scores at float64."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from nnrep_lite.densities import EmbeddedDensity, GaussianMixture

F64 = torch.float64


def _mix2d():
    means = torch.tensor([[0.3, -0.2], [-0.4, 0.5], [0.1, 0.1]], dtype=F64)
    a = torch.tensor([[0.05, 0.02], [0.02, 0.03]], dtype=F64)
    rank1 = torch.tensor([[0.6], [0.8]], dtype=F64)
    covs = torch.stack([a, 0.04 * rank1 @ rank1.T, torch.zeros(2, 2, dtype=F64)])  # full, rank 1, rank 0
    return GaussianMixture(means, covs, torch.tensor([0.5, 0.3, 0.2], dtype=F64))


def test_diffused_density_1d_matches_convolution_quadrature():
    gm = GaussianMixture([[-0.3], [0.4]], [[0.02], [0.05]], [0.4, 0.6])
    for t in (0.01, 0.3, 2.0):
        mu, sig = math.exp(-t), math.sqrt(1 - math.exp(-2 * t))
        for x in (-0.5, 0.0, 0.37, 1.2):
            def integrand(y, x=x, mu=mu, sig=sig):
                p0 = 0.4 * stats.norm.pdf(y, -0.3, math.sqrt(0.02)) + 0.6 * stats.norm.pdf(y, 0.4, math.sqrt(0.05))
                return p0 * stats.norm.pdf(x, mu * y, sig)
            ref = integrate.quad(integrand, -3, 3, points=[-0.3, 0.4, x / mu], epsabs=1e-13, limit=200)[0]
            got = gm.diffused_density(torch.tensor([[x]], dtype=F64), t).item()
            assert got == pytest.approx(ref, rel=1e-8, abs=1e-13)


def test_diffused_density_2d_matches_scipy_including_rank_deficient():
    gm = _mix2d()
    x = torch.tensor([[0.1, 0.2], [-0.5, 0.4], [0.9, -0.7]], dtype=F64)
    for t in (1e-3, 0.5, 3.0):
        mu, s2 = math.exp(-t), 1 - math.exp(-2 * t)
        ref = sum(
            float(w) * stats.multivariate_normal(mu * m.numpy(), mu**2 * c.numpy() + s2 * np.eye(2)).pdf(x.numpy())
            for w, m, c in zip(gm.weights, gm.means, gm.covs)
        )
        np.testing.assert_allclose(gm.diffused_density(x, t).numpy(), ref, rtol=1e-10)


def test_score_matches_autograd_and_finite_differences():
    gm = _mix2d()
    x = torch.tensor([[0.1, 0.2], [-0.5, 0.4], [0.05, 0.12]], dtype=F64, requires_grad=True)
    for t in (1e-3, 0.2, 4.0):
        logp = gm.log_diffused_density(x, t)
        (auto,) = torch.autograd.grad(logp.sum(), x)
        got = gm.score(x.detach(), t)
        torch.testing.assert_close(got, auto, rtol=1e-10, atol=1e-10)
        eps = 1e-6
        for i in range(2):
            e = torch.zeros(2, dtype=F64)
            e[i] = eps
            fd = (gm.log_diffused_density(x.detach() + e, t) - gm.log_diffused_density(x.detach() - e, t)) / (2 * eps)
            torch.testing.assert_close(got[:, i], fd, rtol=1e-5, atol=1e-5 * (1 + got[:, i].abs().max().item()))


def test_rank_deficient_t0_raises_and_samples_lie_on_subspaces():
    gm = _mix2d()
    with pytest.raises(ValueError, match="t=0"):
        gm.density(torch.zeros(1, 2, dtype=F64))
    with pytest.raises(ValueError, match="t=0"):
        gm.score(torch.zeros(1, 2, dtype=F64), 0.0)
    x = gm.sample(20000, torch.Generator().manual_seed(0))
    # rank-0 component: points exactly at its mean; rank-1: on the line through its mean along (0.6, 0.8)
    at_point = (x - gm.means[2]).norm(dim=1) < 1e-14
    assert abs(at_point.double().mean().item() - 0.2) < 5 * math.sqrt(0.2 * 0.8 / 20000)
    d = x - gm.means[1]
    on_line = (d @ torch.tensor([0.8, -0.6], dtype=F64)).abs() < 1e-14
    assert abs((on_line & ~at_point).double().mean().item() - 0.3) < 5 * math.sqrt(0.3 * 0.7 / 20000)


def test_sample_mean_and_covariance_clt():
    gm = _mix2d()
    n = 200000
    x = gm.sample(n, torch.Generator().manual_seed(1))
    w, m, c = gm.weights, gm.means, gm.covs
    mean = (w[:, None] * m).sum(0)
    cov = (w[:, None, None] * (c + m[:, :, None] * m[:, None, :])).sum(0) - torch.outer(mean, mean)
    # 6 standard errors of the sample mean (per coordinate)
    se = (torch.diagonal(cov) / n).sqrt()
    assert ((x.mean(0) - mean).abs() < 6 * se).all()
    torch.testing.assert_close(torch.cov(x.T), cov, atol=6 * 2 * cov.abs().max().item() / math.sqrt(n), rtol=0)
    # determinism: same seed, same samples bit for bit
    assert torch.equal(gm.sample(50, torch.Generator().manual_seed(3)), gm.sample(50, torch.Generator().manual_seed(3)))


def test_bin_masses_match_cdf_and_quadrature():
    gm = GaussianMixture([[-0.3], [0.4]], [[0.02], [0.05]], [0.4, 0.6])
    edges = torch.linspace(-1, 1, 21, dtype=F64)
    for t in (0.0, 0.1):
        got = gm.bin_masses(edges, t)
        ref = [integrate.quad(lambda y, t=t: gm.diffused_density(torch.tensor([[y]], dtype=F64), t).item(), a, b,
                              epsabs=1e-13)[0] for a, b in zip(edges[:-1].tolist(), edges[1:].tolist())]
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9, atol=1e-13)


def test_dtype_and_device_follow_inputs():
    gm = _mix2d()
    x32 = torch.tensor([[0.1, 0.2]], dtype=torch.float32)
    out = gm.score(x32, 0.1)
    assert out.dtype == torch.float32 and out.device == x32.device
    torch.testing.assert_close(out, gm.score(x32.double(), 0.1).float())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"means": [[0.0]], "covs": [[-1.0]]}, "covs"),
        ({"means": [[0.0], [1.0]], "covs": [[1.0], [1.0]], "weights": [-1.0, 2.0]}, "weights"),
        ({"means": [[0.0, 0.0]], "covs": [[[1.0, 0.5], [0.0, 1.0]]]}, "covs"),
        ({"means": [[0.0, 0.0]], "covs": [[1.0, 1.0, 1.0]]}, "covs"),
    ],
)
def test_gaussian_mixture_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**kwargs)


def test_score_bad_t_and_shape():
    gm = GaussianMixture([[0.0]], [[0.1]])
    with pytest.raises(ValueError, match="t="):
        gm.score(torch.zeros(3, 1, dtype=F64), -0.1)
    with pytest.raises(ValueError, match="x with shape"):
        gm.score(torch.zeros(3, 2, dtype=F64), 0.1)


# ------------------------------------------------------------------ embedded densities


def _embedded(d=3):
    base = GaussianMixture([[-0.4], [0.3]], [[0.01], [0.03]], [0.5, 0.5])
    return EmbeddedDensity.random(base, d, generator=torch.Generator().manual_seed(2)), base


def test_embedded_score_equals_rank_deficient_mixture_and_autograd():
    emb, base = _embedded(3)
    u = emb.basis
    # the same law as a mixture in R^3 with rank-one covariances U C U^T
    full = GaussianMixture(base.means @ u.T, u @ base.covs @ u.T, base.weights)
    x = torch.randn(7, 3, generator=torch.Generator().manual_seed(5), dtype=F64) * 0.5
    for t in (1e-3, 0.3, 3.0):
        torch.testing.assert_close(emb.score(x, t), full.score(x, t), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(emb.log_diffused_density(x, t), full.log_diffused_density(x, t),
                                   rtol=1e-11, atol=1e-11)
        xr = x.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(emb.log_diffused_density(xr, t).sum(), xr)
        torch.testing.assert_close(emb.score(x, t), auto, rtol=1e-9, atol=1e-9)


def test_embedded_samples_lie_in_span_and_bad_input():
    emb, base = _embedded(4)
    x = emb.sample(1000, torch.Generator().manual_seed(0))
    u = emb.basis
    torch.testing.assert_close(x - (x @ u) @ u.T, torch.zeros_like(x), atol=1e-14, rtol=0)
    with pytest.raises(ValueError, match="t=0"):
        emb.score(x[:2], 0.0)
    with pytest.raises(ValueError, match="basis"):
        EmbeddedDensity(base, torch.tensor([[1.0], [1.0]], dtype=F64))
    with pytest.raises(ValueError, match="basis"):
        EmbeddedDensity(base, torch.eye(3, dtype=F64))
