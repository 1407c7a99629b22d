"""OU process, score network, DSM loss, reverse samplers and metrics against exact answers."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

import nnrep_lite
from nnrep_lite._utils import as_generator
from nnrep_lite.densities import GaussianMixture
from nnrep_lite.diffusion import (
    ScoreMLP,
    dsm_loss,
    early_stopping_tv,
    fit_rate,
    girsanov_kl_bound,
    kde,
    minimax_bandwidth,
    ou_mean_std,
    ou_sample,
    probability_flow_sample,
    reverse_sde_sample,
    time_grid,
    train_score,
    tv_distance,
    w1_distance,
)

F64 = torch.float64
gen = as_generator  # gen(seed): a fresh CPU generator seeded with it


# ------------------------------------------------------------------ OU process


def test_ou_mean_std_exact_and_tensor():
    for t in (0.0, 1e-9, 0.3, 5.0):
        mu, sig = ou_mean_std(t)
        assert mu == math.exp(-t)
        assert sig == pytest.approx(math.sqrt(2 * t - 2 * t * t) if t < 1e-6 else math.sqrt(1 - math.exp(-2 * t)),
                                    rel=1e-12, abs=0)
    assert ou_mean_std(1e-12)[1] == pytest.approx(math.sqrt(2e-12), rel=1e-9)  # expm1, no cancellation
    tt = torch.tensor([0.1, 2.0], dtype=torch.float32)
    mu, sig = ou_mean_std(tt)
    assert mu.dtype == torch.float32 and sig.shape == (2,)
    with pytest.raises(ValueError, match="t="):
        ou_mean_std(-1.0)


def test_ou_sample_moments_clt():
    n, t = 200000, 0.4
    x0 = torch.full((n, 2), 0.7, dtype=F64)
    xt, z = ou_sample(x0, t, gen(0))
    mu, sig = ou_mean_std(t)
    torch.testing.assert_close(xt, mu * x0 + sig * z)
    assert ((xt.mean(0) - mu * 0.7).abs() < 6 * sig / math.sqrt(n)).all()
    assert ((xt.var(0) - sig**2).abs() < 6 * sig**2 * math.sqrt(2 / n)).all()
    # per-row times; dtype follows x0
    x32 = torch.zeros(3, 1)
    xt32, _ = ou_sample(x32, torch.tensor([0.1, 0.2, 0.3]), gen(0))
    assert xt32.dtype == torch.float32


# ------------------------------------------------------------------ score network and DSM


def test_score_mlp_shapes_dtype_and_noise_parameterisation():
    m = ScoreMLP(2, width=16, depth=2, seed=0)
    x = torch.randn(5, 2, dtype=F64, generator=gen(0))
    out = m(x, 0.5)
    assert out.shape == (5, 2) and out.dtype == F64
    assert torch.equal(out, torch.zeros_like(out))  # zero-initialised last layer
    torch.nn.init.normal_(m.net[-1].weight, generator=gen(1))
    t = torch.tensor([0.01, 0.1, 1.0, 2.0, 5.0])
    s = m(x.float(), t)
    eps = m.noise(x.float(), t)
    torch.testing.assert_close(s, -eps / ou_mean_std(t)[1][:, None])
    assert torch.equal(ScoreMLP(2, 16, 2, seed=3).net[0].weight, ScoreMLP(2, 16, 2, seed=3).net[0].weight)
    with pytest.raises(ValueError, match="x with shape"):
        m(torch.zeros(3, 3), 0.1)


class _Exact(torch.nn.Module):
    """Wrap an exact score as a model (per-row times) for the DSM loss."""

    def __init__(self, m, v):
        super().__init__()
        self.m, self.v = m, v

    def forward(self, x, t):
        mu, sig = ou_mean_std(t)
        var = mu**2 * self.v + sig**2
        return -(x - mu[:, None] * self.m) / var[:, None]


@pytest.mark.parametrize("time_sampling", ["uniform", "log_uniform"])
@pytest.mark.parametrize("weighting", ["sigma2", "none"])
def test_dsm_loss_of_exact_score_matches_closed_form(time_sampling, weighting):
    # target N(m, v): for the exact score, E sigma^2 |s + Z/sigma|^2 = mu^2 v / (mu^2 v + sigma^2) at time t
    m, v, t_min, t_max, n = 0.3, 0.2, 0.01, 3.0, 400000
    x0 = m + math.sqrt(v) * torch.randn(n, 1, dtype=F64, generator=gen(0))

    def per_t(t):
        mu2, s2 = math.exp(-2 * t), 1 - math.exp(-2 * t)
        val = mu2 * v / (mu2 * v + s2)
        return val if weighting == "sigma2" else val / s2

    if time_sampling == "uniform":
        ref = integrate.quad(per_t, t_min, t_max)[0] / (t_max - t_min)
    else:
        ref = integrate.quad(lambda t: per_t(t) / t, t_min, t_max)[0] / math.log(t_max / t_min)
    # per-sample values are bounded by a few times their mean; 6 standard errors
    vals = []
    for seed in range(2):
        vals.append(dsm_loss(_Exact(m, v), x0, t_min=t_min, t_max=t_max, generator=gen(seed + 1),
                             time_sampling=time_sampling, weighting=weighting).item())
    got = float(np.mean(vals))
    # spread of the per-sample loss: chi-square-like with scale <= max per_t
    scale = max(per_t(t_min), per_t(t_max))
    assert abs(got - ref) < 6 * scale * math.sqrt(2 / (2 * n)) + 1e-12


def test_train_score_learns_gaussian_and_reports():
    # 1-D N(0.3, 0.05): after training, the learned score is close to the exact one
    target = GaussianMixture([[0.3]], [[0.05]])
    data = target.sample(2000, gen(0))
    model = ScoreMLP(1, width=32, depth=2, seed=0)
    calls = []
    hist = train_score(model, data, steps=300, batch_size=128, lr=3e-3, t_min=1e-2, t_max=5.0,
                       generator=gen(1), callback=calls.append, callback_every=100, progress=False)
    assert [c["step"] for c in calls] == [100, 200, 300] and hist["step"] == [100, 200, 300]
    assert hist["loss"][-1] < hist["loss"][0]
    x = torch.linspace(-0.5, 1.0, 50, dtype=torch.float32)[:, None]
    for t in (0.1, 1.0):
        err = (model(x, t) - target.score(x, t)).abs().mean() / target.score(x, t).abs().mean()
        assert err < 0.2, (t, float(err))


def test_train_score_nan_raises_divergence_error_naming_step_and_lr():
    data = torch.zeros(10, 1)
    data[3] = float("nan")
    model = ScoreMLP(1, width=8, depth=1, seed=0)
    with pytest.raises(nnrep_lite.DivergenceError, match=r"step \d+.*lr="):
        train_score(model, data, steps=50, batch_size=10, lr=1e-3, generator=gen(0), progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"t_min": 1.0, "t_max": 1.0}, "t_min"),
        ({"t_min": 0.0}, "t_min"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"time_sampling": "cosine"}, "time_sampling"),
    ],
)
def test_train_score_bad_input(kwargs, match):
    base = {"steps": 5, "batch_size": 4, "lr": 1e-3, "t_min": 1e-3, "t_max": 2.0, "progress": False}
    with pytest.raises(ValueError, match=match):
        train_score(ScoreMLP(1, 8, 1), torch.zeros(8, 1), **{**base, **kwargs})
    with pytest.raises(ValueError, match="n=1"):
        train_score(ScoreMLP(1, 8, 1), torch.zeros(1, 1), **base)


# ------------------------------------------------------------------ samplers


def test_time_grid():
    g = time_grid(8.0, 1e-3, 4, "geometric")
    torch.testing.assert_close(g, torch.tensor([8.0 * (1e-3 / 8.0) ** (k / 4) for k in range(5)], dtype=F64))
    assert time_grid(2.0, 1.0, 2, "uniform").tolist() == [2.0, 1.5, 1.0]


def test_reverse_sde_exact_score_reproduces_mixture():
    gm = GaussianMixture([[-0.5], [0.1], [0.55]], [[0.01], [0.02], [0.01]], [0.3, 0.4, 0.3])
    y = reverse_sde_sample(gm.score, 20000, 1, t_max=8.0, t_min=1e-3, steps=100, generator=gen(0),
                           device="cpu", dtype=F64)
    # the sampler targets p_{t_min}; histogram MC floor ~ 0.5 sum sqrt(2 P/(pi n)) ~ 0.017
    edges = torch.linspace(-1, 1, 41, dtype=F64)
    masses = gm.bin_masses(edges, 1e-3)
    counts = torch.histogram(y[:, 0], edges).hist / y.shape[0]
    floor = 0.5 * float((2 * masses / (math.pi * y.shape[0])).sqrt().sum())
    tv_tmin = 0.5 * float((counts - masses).abs().sum())
    assert tv_tmin < 2 * floor + 0.01, (tv_tmin, floor)
    assert tv_distance(y, gm) < 0.06
    assert y.dtype == F64


@pytest.mark.parametrize("method", ["euler", "exponential"])
def test_reverse_sde_weak_order_one(method):
    # Gaussian target N(m, v): the output is Gaussian and its variance error is O(h).
    # Geometric grid, steps 16..64 (biases ~0.05..0.011); the MC s.e. of the variance,
    # v_t sqrt(2/n) = 9e-4, is < 1/12 of the smallest bias, so the fitted slope vs steps
    # lies in [-1.35, -0.65] (a weak order 1/2 or 2 scheme would fall outside).
    m, v, t_min, n = 0.3, 0.2, 1e-2, 100000
    g = GaussianMixture([[m]], [[v]])
    mu, s2 = math.exp(-t_min), -math.expm1(-2 * t_min)
    vt = mu * mu * v + s2
    steps_list = [16, 32, 64]
    errs = []
    for steps in steps_list:
        y = reverse_sde_sample(g.score, n, 1, t_max=6.0, t_min=t_min, steps=steps, method=method,
                               generator=gen(steps), device="cpu", dtype=F64)
        errs.append(abs(float(y.var()) - vt))
    fit = fit_rate(steps_list, errs)
    assert -1.35 < fit["slope"] < -0.65, (errs, fit)


def test_probability_flow_heun_reproduces_gaussian():
    m, v, t_min, n = 0.3, 0.2, 1e-3, 100000
    g = GaussianMixture([[m]], [[v]])
    y = probability_flow_sample(g.score, n, 1, t_max=8.0, t_min=t_min, steps=60, method="heun",
                                generator=gen(0), device="cpu", dtype=F64)
    mu, s2 = math.exp(-t_min), -math.expm1(-2 * t_min)
    vt = mu * mu * v + s2
    assert abs(float(y.mean()) - mu * m) < 6 * math.sqrt(vt / n) + 2e-3
    assert abs(float(y.var()) - vt) < 6 * vt * math.sqrt(2 / n) + 2e-3


def test_sampler_determinism_dtype_and_bad_input():
    g = GaussianMixture([[0.0]], [[0.1]])
    a = reverse_sde_sample(g.score, 10, 1, steps=5, generator=gen(4), device="cpu", dtype=torch.float32)
    b = reverse_sde_sample(g.score, 10, 1, steps=5, generator=gen(4), device="cpu", dtype=torch.float32)
    assert torch.equal(a, b) and a.dtype == torch.float32
    base = {"t_max": 2.0, "t_min": 1e-3, "steps": 5, "device": "cpu"}
    for kwargs, match in [({"t_min": 2.0}, "t_min"), ({"t_min": 0.0}, "t_min"), ({"t_min": -1.0}, "t_min"),
                          ({"steps": 0}, "steps"), ({"method": "rk4"}, "method"), ({"grid": "log"}, "grid")]:
        with pytest.raises(ValueError, match=match):
            reverse_sde_sample(g.score, 4, 1, **{**base, **kwargs})
    with pytest.raises(ValueError, match="n="):
        reverse_sde_sample(g.score, 0, 1, **base)
    with pytest.raises(ValueError, match="score_fn"):
        reverse_sde_sample(lambda x, t: torch.zeros(x.shape[0], 2), 4, 1, **base)
    with pytest.raises(ValueError, match="method"):
        probability_flow_sample(g.score, 4, 1, method="exponential", **{k: v for k, v in base.items()})
    with pytest.raises(nnrep_lite.DivergenceError, match="step 1"):
        reverse_sde_sample(lambda x, t: torch.full_like(x, float("nan")), 4, 1, **base)


# ------------------------------------------------------------------ metrics


def test_tv_distance_against_hand_computation_and_quadrature_path():
    gm = GaussianMixture([[-0.3], [0.4]], [[0.02], [0.05]], [0.4, 0.6])
    samples = torch.tensor([[-0.9], [-0.1], [0.2], [0.3], [2.0]], dtype=F64)
    edges = torch.linspace(-1, 1, 5, dtype=F64)
    masses = gm.bin_masses(edges)
    emp = torch.tensor([1, 1, 2, 0], dtype=F64) / 5
    ref = 0.5 * float((emp - masses).abs().sum()) + 0.5 * abs(0.2 - (1 - float(masses.sum())))
    assert tv_distance(samples, gm, bins=4) == pytest.approx(ref, rel=1e-12)
    # plain callable density -> Gauss-Legendre cell masses, same answer to quadrature accuracy
    assert tv_distance(samples, gm.density, bins=4) == pytest.approx(ref, abs=1e-9)
    # 2-D, diagonal covariances: exact product masses vs quadrature
    gm2 = GaussianMixture([[0.1, -0.2]], [[0.05, 0.1]])
    x = gm2.sample(5000, gen(0))
    assert tv_distance(x, gm2, bins=10) == pytest.approx(tv_distance(x, gm2.density, bins=10), abs=1e-7)
    with pytest.raises(ValueError, match="d=3"):
        tv_distance(torch.zeros(4, 3), gm)


def test_w1_exact_1d_matches_scipy_and_2d_translation():
    a = torch.randn(300, dtype=F64, generator=gen(0))
    b = 0.5 + 2 * torch.rand(170, dtype=F64, generator=gen(1))
    assert w1_distance(a, b) == pytest.approx(stats.wasserstein_distance(a.numpy(), b.numpy()), rel=1e-12)
    # W1(mu, mu + c) = |c| exactly (dual witness f(x) = <x, c/|c|>)
    x = torch.randn(200, 3, dtype=F64, generator=gen(2))
    c = torch.tensor([0.3, -0.4, 1.2], dtype=F64)
    assert w1_distance(x, x + c) == pytest.approx(float(c.norm()), rel=1e-9)
    # sliced W1 of a translation: |c| E|theta_1| = |c| Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2));
    # with 2000 projections the MC s.e. is < 1.5% of the value
    d = 3
    k = math.gamma(d / 2) / (math.sqrt(math.pi) * math.gamma((d + 1) / 2))
    sw = w1_distance(x, x + c, method="sliced", n_projections=2000, generator=gen(3))
    assert sw == pytest.approx(float(c.norm()) * k, rel=0.06)
    with pytest.raises(ValueError, match="method"):
        w1_distance(x, x, method="greedy")


def test_girsanov_bound_exact_score_and_constant_offset():
    gm = GaussianMixture([[-0.3], [0.4]], [[0.02], [0.05]], [0.4, 0.6])
    t_min, t_max = 1e-2, 4.0
    out = girsanov_kl_bound(gm.score, gm, t_min=t_min, t_max=t_max, n_mc=512, generator=gen(0))
    assert out["score_term"] == 0.0
    # truncation: convexity bound 0.5 (mu^2 E X0^2 - mu^2 - log sigma^2)
    m2 = 0.4 * (0.09 + 0.02) + 0.6 * (0.16 + 0.05)
    mu2 = math.exp(-2 * t_max)
    ref = 0.5 * (mu2 * m2 - mu2 - math.log1p(-mu2))
    assert out["truncation"] == pytest.approx(ref, rel=0.05)  # E X0^2 from 512 samples
    # a score off by the constant c: (1/4) c^2 (t_max - t_min) exactly in expectation
    c = 0.5
    out = girsanov_kl_bound(lambda x, t: gm.score(x, t) + c, gm, t_min=t_min, t_max=t_max, n_mc=2048,
                            n_times=64, generator=gen(1))
    assert out["score_term"] == pytest.approx(0.25 * c * c * (t_max - t_min), abs=5 * out["score_term_se"] + 1e-3)
    assert out["tv_bound"] == pytest.approx(math.sqrt(out["kl_bound"] / 2))


def test_early_stopping_tv_matches_scipy_quad():
    m, v, t = 0.2, 0.01, 0.05
    g = GaussianMixture([[m]], [[v]])
    mu, s2 = math.exp(-t), -math.expm1(-2 * t)
    ref = 0.5 * integrate.quad(lambda x: abs(stats.norm.pdf(x, m, math.sqrt(v)) -
                                             stats.norm.pdf(x, mu * m, math.sqrt(mu * mu * v + s2))),
                               -3, 3, points=[m, mu * m], limit=200)[0]
    assert early_stopping_tv(g, t, bounds=(-2, 2)) == pytest.approx(ref, rel=1e-6)


# ------------------------------------------------------------------ baselines and rate fits


def test_kde_bandwidth_and_error_decreases_with_n():
    assert minimax_bandwidth(1000, 2.0, 1, scale=0.5) == pytest.approx(0.5 * 1000 ** (-1 / 5))
    gm = GaussianMixture([[-0.5], [0.1], [0.55]], [[0.01], [0.02], [0.01]], [0.3, 0.4, 0.3])
    edges = torch.linspace(-1, 1, 41, dtype=F64)
    true = gm.bin_masses(edges)
    means = []
    for n in (100, 1000, 10000):
        errs = []
        for seed in range(3):
            k = kde(gm.sample(n, gen(seed)), smoothness=2.0)
            errs.append(0.5 * float((k.bin_masses(edges) - true).abs().sum()))
        means.append(np.mean(errs))
    assert means[0] > means[1] > means[2], means
    with pytest.raises(ValueError, match="n=1"):
        kde(torch.zeros(1, 1), bandwidth=0.1)
    with pytest.raises(ValueError, match="smoothness"):
        kde(torch.zeros(5, 1))


def test_fit_rate_matches_linregress_and_covers_truth():
    rng = np.random.default_rng(0)
    ns = np.repeat([100, 200, 400, 800, 1600], 3)
    errs = 2.0 * ns ** -0.4 * np.exp(0.05 * rng.standard_normal(ns.size))
    fit = fit_rate(ns, errs)
    ref = stats.linregress(np.log(ns), np.log(errs))
    assert fit["slope"] == pytest.approx(ref.slope, rel=1e-12)
    assert fit["stderr"] == pytest.approx(ref.stderr, rel=1e-10)
    q = stats.t.ppf(0.975, ns.size - 2)
    assert fit["ci"][0] == pytest.approx(ref.slope - q * ref.stderr)
    # coverage of the 95% interval over 400 replications: binomial s.e. 0.011, band +-3.5 s.e.
    cover = 0
    for _ in range(400):
        e = 2.0 * ns ** -0.4 * np.exp(0.05 * rng.standard_normal(ns.size))
        lo, hi = fit_rate(ns, e)["ci"]
        cover += lo < -0.4 < hi
    assert 0.91 < cover / 400 < 0.99, cover
    with pytest.raises(ValueError, match="ns="):
        fit_rate([10, 10, 10], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="errors"):
        fit_rate([10, 20, 30], [1.0, -2.0, 3.0])


# ------------------------------------------------------------------ cache and rate experiments


def test_cache_roundtrip_atomic_and_keyed_by_parameters(tmp_path, monkeypatch):
    from nnrep_lite.diffusion import cache_dir, cached, fingerprint, train_diffusion_model

    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    a = {"x": torch.arange(3.0), "n": 5}
    assert fingerprint(a) == fingerprint({"n": 5, "x": torch.arange(3.0)})
    assert fingerprint(a) != fingerprint({"x": torch.arange(3.0), "n": 6})
    assert fingerprint(a) != fingerprint({"x": torch.arange(3.0).double(), "n": 5})
    calls = []
    v1, hit1 = cached("demo", a, lambda: calls.append(1) or {"v": 1.5})
    v2, hit2 = cached("demo", a, lambda: calls.append(1) or {"v": 2.5})
    assert (hit1, hit2, v2["v"], len(calls)) == (False, True, 1.5, 1)
    assert not list(tmp_path.rglob(".tmp-*"))  # no leftover temporary files
    data = GaussianMixture([[0.2]], [[0.05]]).sample(64, gen(0))
    m1, i1 = train_diffusion_model(data, seed=1, steps=5, width=8, depth=1, batch_size=16)
    m2, i2 = train_diffusion_model(data, seed=1, steps=5, width=8, depth=1, batch_size=16)
    assert not i1["cached"] and i2["cached"]
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)
    _, i3 = train_diffusion_model(data, seed=1, steps=6, width=8, depth=1, batch_size=16)
    assert not i3["cached"]
    with pytest.raises(ValueError, match="train_kwargs"):
        train_diffusion_model(data, seed=1, stepz=5)


def test_rate_experiment_rows_cache_and_bad_input(tmp_path, monkeypatch):
    from nnrep_lite.diffusion import rate_experiment, summarize

    monkeypatch.setenv("NNREP_CACHE_DIR", str(tmp_path))
    target = GaussianMixture([[-0.4], [0.3]], [[0.02], [0.03]])
    kw = {"seeds": [0, 1], "metric": "tv", "estimators": ("diffusion", "kde"), "smoothness": 2.0,
          "n_eval": 2000, "sample_steps": 20, "steps": 30, "width": 16, "depth": 1, "batch_size": 32,
          "progress": False}
    rows = rate_experiment(target, [40, 160], **kw)
    assert len(rows) == 2 * 2 * 2
    assert {"estimator", "n", "seed", "error", "train_time_s", "n_samples", "cached"} <= set(rows[0])
    assert all(0 <= r["error"] <= 1 for r in rows) and not any(r["cached"] for r in rows)
    again = rate_experiment(target, [40, 160], **kw)
    assert all(r["cached"] for r in again)
    assert [r["error"] for r in again] == [r["error"] for r in rows]
    s = summarize(rows)
    assert s["kde"]["n"] == [40, 160] and len(s["diffusion"]["errors"][0]) == 2
    with pytest.raises(ValueError, match="metric"):
        rate_experiment(target, [40], metric="kl", progress=False)
    with pytest.raises(ValueError, match="ns"):
        rate_experiment(target, [1], estimators=("empirical",), metric="w1", progress=False)
    with pytest.raises(ValueError, match="smoothness"):
        rate_experiment(target, [40], estimators=("kde",), progress=False)


# ------------------------------------------------------------------ B-spline targets (exact scores)


def test_reverse_sde_exact_score_reproduces_bspline_density():
    from nnrep_lite.bspline import BsplineDensity

    # order-4 B-spline mixture on [-1, 1]; exact score; geometric grid. Histogram TV (40 bins)
    # against exact bin masses: MC floor 0.5 sum sqrt(2P/(pi n)) ~ 0.023 at n = 1e4, plus the
    # early-stopping error TV(p0, p_tmin) and the O(h) discretisation bias.
    # The size: 1e5 samples, 200 steps, TV <= 0.03 (measured 0.0118; about 30-45 s).
    p = BsplineDensity([[1], [2], [2]], [[-2], [-3], [0]], [1.0, 0.6, 0.5], order=4)
    n = 100_000
    y = reverse_sde_sample(p.score, n, 1, t_max=8.0, t_min=1e-3, steps=200, generator=gen(0),
                           device="cpu", dtype=F64)
    masses = p.bin_masses(torch.linspace(-1, 1, 41, dtype=F64))
    floor = 0.5 * float((2 * masses / (math.pi * n)).sqrt().sum())  # ~0.007 at n = 1e5
    tv = tv_distance(y, p)
    assert tv <= 0.03, (tv, floor)
    assert tv < 1.5 * floor + early_stopping_tv(p, 1e-3) + 0.005, (tv, floor)


def test_learned_pipeline_reaches_tv_0p1_at_n2000():
    from nnrep_lite.bspline import BsplineDensity
    from nnrep_lite.diffusion import train_diffusion_model

    target = BsplineDensity.random_besov(1.5, 1, generator=0)
    data = target.sample(2000, gen(1))
    model, _ = train_diffusion_model(data, seed=3, cache=False, steps=3000, width=128, depth=3)
    y = reverse_sde_sample(model, 20000, 1, t_max=8.0, t_min=1e-3, steps=100, generator=gen(0),
                           device="cpu", dtype=torch.float32)
    assert tv_distance(y, target) <= 0.1
