"""Nothing breaks in front of a class: bad input is refused with a message that names the
parameter and the allowed range or values, across every module; stochastic APIs are
deterministic for a fixed seed; properties hold for random inputs (hypothesis)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnrep_lite
from nnrep_lite import bspline as bs
from nnrep_lite import densities, diffusion, mfld, onestep
from nnrep_lite._utils import check_memory, memory_budget

F64 = torch.float64


def _gm():
    return densities.GaussianMixture(torch.tensor([[0.0], [0.5]], dtype=F64),
                                     torch.tensor([[[0.01]], [[0.02]]], dtype=F64))


def _exact_score(x, t):
    return -x


def _reg():
    z = torch.linspace(-1, 1, 16, dtype=F64).unsqueeze(-1)
    return mfld.Regression(z, torch.sin(3 * z[:, 0]), lambda1=0.01, model=mfld.MeanFieldNet())


# (call, exception type, words the message must contain)
BAD_CALLS = [
    # bspline
    (lambda: bs.cardinal_bspline(0.3, 0), ValueError, ["order", "[1, 8]"]),
    (lambda: bs.cardinal_bspline(0.3, 2.5), TypeError, ["order", "integer"]),
    (lambda: bs.diffused_bspline(0.1, 0.5, order=4, level=-2, shift=0), ValueError, ["level", "[0, 30]"]),
    (lambda: bs.diffused_bspline(0.1, -1.0, order=4, level=0, shift=0), ValueError, ["t=", ">= 0"]),
    (lambda: bs.diffused_bspline_grad(0.1, 0.5, order=9, level=0, shift=0), ValueError, ["order"]),
    (lambda: bs.BsplineDensity([[0]], [[0]], [1.0], order=4), ValueError, ["support", "[-1, 1]"]),
    (lambda: bs.BsplineDensity([[1]], [[-1]], [-2.0], order=2), ValueError, ["weights", ">= 0"]),
    (lambda: bs.BsplineDensity([[1]], [[-1]], [0.0], order=2), ValueError, ["weights"]),
    (lambda: bs.BsplineDensity([[1, 2]], [[-1]], [1.0], order=2), ValueError, ["shape", "(J, d)"]),
    (lambda: bs.BsplineDensity.random_besov(0.0, 1), ValueError, ["smoothness"]),
    (lambda: bs.BsplineDensity.random_besov(1.0, 1, max_level=20), ValueError, ["max_level"]),
    (lambda: bs.decompose(lambda x: x[:, 0], order=4, max_level=3, dim=5), ValueError, ["dim", "[1, 3]"]),
    (lambda: bs.decompose(3.0, order=4, max_level=3), TypeError, ["f=", "callable"]),
    (lambda: bs.example_function("square wave"), ValueError, ["name", "random Besov"]),
    (lambda: bs.besov_sequence_norm(bs.decompose(lambda x: x[:, 0], max_level=2), s=-1.0), ValueError, ["s="]),
    # densities
    (lambda: densities.GaussianMixture(torch.zeros(2, 1), torch.ones(3, 1, 1)), ValueError, ["covs"]),
    (lambda: densities.GaussianMixture(torch.zeros(2, 1), torch.ones(2, 1, 1), torch.tensor([1.0, -1.0])),
     ValueError, ["weights"]),
    (lambda: _gm().score(torch.zeros(3, 1, dtype=F64), -0.5), ValueError, ["t"]),
    (lambda: densities.EmbeddedDensity(_gm(), torch.ones(3, 1)), ValueError, ["basis", "orthonormal"]),
    # diffusion
    (lambda: diffusion.ou_mean_std(-1.0), ValueError, ["t"]),
    (lambda: diffusion.ScoreMLP(0), ValueError, ["dim"]),
    (lambda: diffusion.reverse_sde_sample(_exact_score, 10, 1, t_max=1.0, t_min=2.0, steps=10), ValueError,
     ["t_min"]),
    (lambda: diffusion.reverse_sde_sample(_exact_score, 10, 1, t_max=1.0, t_min=0.0, steps=10), ValueError,
     ["t_min"]),
    (lambda: diffusion.reverse_sde_sample(_exact_score, 10, 1, t_max=1.0, t_min=0.01, steps=0), ValueError,
     ["steps"]),
    (lambda: diffusion.reverse_sde_sample(_exact_score, 10, 1, t_max=1.0, t_min=0.01, steps=5, method="heun"),
     ValueError, ["method", "euler"]),
    (lambda: diffusion.reverse_sde_sample(lambda x, t: x[:, :1].repeat(1, 3), 10, 2, t_max=1.0, t_min=0.01,
                                          steps=5), ValueError, ["score"]),
    (lambda: diffusion.train_score(diffusion.ScoreMLP(1), torch.zeros(1, 1), steps=5, t_min=0.01, t_max=1.0,
                                   progress=False), ValueError, ["n"]),
    (lambda: diffusion.fit_rate([10, 100, 1000], [0.1, -0.2, 0.05]), ValueError, ["errors", "> 0"]),
    # mfld
    (lambda: mfld.mfld(_reg(), torch.zeros(8, 3, dtype=F64), eta=0.0, lambda2=0.01, steps=5, progress=False),
     ValueError, ["eta"]),
    (lambda: mfld.mfld(_reg(), torch.zeros(8, 3, dtype=F64), eta=0.1, lambda2=-1.0, steps=5, progress=False),
     ValueError, ["lambda2"]),
    (lambda: mfld.mfld(_reg(), torch.zeros(8, 3, dtype=F64), eta=0.1, lambda2=0.01, steps=0, progress=False),
     ValueError, ["steps"]),
    (lambda: mfld.mfld(_reg(), torch.zeros(8, 3, dtype=F64), eta=0.1, lambda2=0.01, steps=5, batch_size=99,
                       progress=False), ValueError, ["batch_size"]),
    (lambda: mfld.mfld(_reg(), torch.zeros(8, 5, dtype=F64), eta=0.1, lambda2=0.01, steps=5, progress=False),
     ValueError, ["particles.shape", "(N, 3)"]),
    (lambda: mfld.mfld(_reg(), torch.zeros(8, 3, dtype=F64), eta=0.1, lambda2=0.01, steps=5,
                       variance_reduction="saga", progress=False), ValueError, ["variance_reduction"]),
    (lambda: mfld.Quadratic(-0.1), ValueError, ["lambda1"]),
    (lambda: mfld.MeanFieldNet(activation="swish"), ValueError, ["activation"]),
    (lambda: mfld.knn_entropy(torch.zeros(10, 2, dtype=F64), k=0), ValueError, ["k"]),
    # onestep
    (lambda: onestep.experiment(0, 8, 8, alpha=0.2), ValueError, ["n"]),
    (lambda: onestep.experiment(16, 8, 8, alpha=1.5), ValueError, ["alpha", "[0, 1]"]),
    (lambda: onestep.experiment(16, 8, 8, alpha=0.2, lam=-1.0), ValueError, ["lam"]),
    (lambda: onestep.experiment(16, 8, 8, alpha=0.2, noise=-0.1), ValueError, ["noise"]),
    (lambda: onestep.experiment(16, 8, 8, alpha=0.2, features=("ck", "rf")), ValueError, ["features", "ntk"]),
    (lambda: onestep.hermite_coefficients("softplus2"), ValueError, ["activation", "erf"]),
    (lambda: onestep.spike_prediction(eta=-1.0, psi1=1.0, psi2=2.0), ValueError, ["eta"]),
    # shared helpers
    (lambda: nnrep_lite.as_generator(-3), ValueError, ["seed"]),
    (lambda: nnrep_lite.resolve_profile("huge"), ValueError, ["profile", "ci"]),
]


@pytest.mark.parametrize("call, exc, words", BAD_CALLS, ids=[f"bad{i}" for i in range(len(BAD_CALLS))])
def test_bad_input_is_refused_with_a_clear_message(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


def test_at_least_forty_invalid_calls():
    assert len(BAD_CALLS) >= 40


# ------------------------------------------------------------------ memory guard
def test_memory_guard(monkeypatch):
    monkeypatch.setenv("NNREP_MAX_MEMORY", "1M")
    assert memory_budget() == 2**20
    with pytest.raises(nnrep_lite.MemoryBudgetError, match="reduce n or N"):
        check_memory(5 * 2**20, what="one-step experiment", reduce="n or N")
    check_memory(2**19, what="tiny", reduce="n")
    monkeypatch.setenv("NNREP_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="NNREP_MAX_MEMORY"):
        memory_budget()


# ------------------------------------------------------------------ papermill parameters
def test_check_parameters_refuses_unknown_names_and_wrong_types():
    ns = {"profile": "ci", "seed": 1, "smoothness": 2, "In": [], "np": np}
    assert nnrep_lite.check_parameters(ns, profile=str, seed=int, smoothness=float)["smoothness"] == 2
    with pytest.raises(ValueError, match="unknown parameter.*sed.*seed: int"):
        nnrep_lite.check_parameters(ns | {"sed": 3}, profile=str, seed=int, smoothness=float)
    with pytest.raises(TypeError, match="seed='3'.*int"):
        nnrep_lite.check_parameters(ns | {"seed": "3"}, profile=str, seed=int, smoothness=float)


def test_check_parameters_accepts_a_second_run_all_but_not_a_new_misspelling():
    params = 'profile = "ci"\nseed = 1\nsmoothness = 2.0'
    check = "import nnrep_lite\nnnrep_lite.check_parameters(globals(), profile=str, seed=int, smoothness=float)"
    ns = {"profile": "ci", "seed": 1, "smoothness": 2.0, "In": ["", params, check]}
    nnrep_lite.check_parameters(ns, profile=str, seed=int, smoothness=float)
    # the rest of the notebook runs and leaves its globals behind
    ns.update(SIZES={"n": 10}, slope=-0.3, chaos=[1, 2], label="x")
    # Run All again: the parameters cell, then the check cell
    ns["In"] += [params, check]
    ns.update(profile="ci", seed=2, smoothness=1.0)
    assert nnrep_lite.check_parameters(ns, profile=str, seed=int, smoothness=float)["seed"] == 2
    # a misspelling typed into the parameters cell before re-running it is still refused
    ns["In"] += [params + "\nsed = 3", check]
    ns["sed"] = 3
    with pytest.raises(ValueError, match="unknown parameter.*sed"):
        nnrep_lite.check_parameters(ns, profile=str, seed=int, smoothness=float)
    del ns["sed"]
    # ... and so is one in the check cell above the call
    ns["In"] += [params, "sedd = 4\n" + check]
    ns["sedd"] = 4
    with pytest.raises(ValueError, match="unknown parameter.*sedd"):
        nnrep_lite.check_parameters(ns, profile=str, seed=int, smoothness=float)
    # a fresh kernel (papermill's -p sed 3) has no earlier check: refused
    fresh = {"profile": "ci", "seed": 1, "smoothness": 2.0, "sed": 3, "In": ["", params, check]}
    with pytest.raises(ValueError, match="unknown parameter.*sed"):
        nnrep_lite.check_parameters(fresh, profile=str, seed=int, smoothness=float)


# ------------------------------------------------------------------ determinism
DETERMINISTIC = [
    lambda s: bs.BsplineDensity.random_besov(1.0, 2, max_level=3, generator=s).sample(500, generator=s + 1),
    lambda s: _gm().sample(500, generator=s),
    lambda s: diffusion.ou_sample(torch.zeros(50, 2, dtype=F64), 0.3, generator=nnrep_lite.as_generator(s))[0],
    lambda s: diffusion.reverse_sde_sample(_exact_score, 200, 1, t_max=2.0, t_min=0.01, steps=20,
                                           generator=nnrep_lite.as_generator(s), dtype=F64),
    lambda s: mfld.mfld(_reg(), torch.randn(16, 3, dtype=F64, generator=nnrep_lite.as_generator(s)), eta=0.1,
                        lambda2=0.01, steps=20, batch_size=4, generator=nnrep_lite.as_generator(s),
                        progress=False)[0],
    lambda s: torch.tensor(onestep.experiment(64, 16, 32, alpha=0.3, generator=nnrep_lite.as_generator(s))
                           ["singular_values"]),
]


@pytest.mark.parametrize("run", DETERMINISTIC, ids=["bspline", "mixture", "ou", "reverse_sde", "mfld", "onestep"])
def test_same_seed_same_bits(run):
    a, b, c = run(5), run(5), run(6)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# ------------------------------------------------------------------ properties
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(order=st.integers(1, 8), level=st.integers(0, 6), shift=st.integers(-5, 5),
       x=st.lists(st.floats(-3, 3), min_size=1, max_size=30))
def test_bspline_nonnegative_and_partition_of_unity(order, level, shift, x):
    xs = torch.tensor(x, dtype=F64)
    vals = bs.cardinal_bspline(2.0**level * xs - shift, order)
    assert bool((vals >= 0).all())
    u = torch.tensor(x, dtype=F64) - torch.floor(torch.tensor(x, dtype=F64))
    u = torch.where(u >= 1.0, torch.zeros_like(u), u)  # x = -1e-17 rounds to u = 1.0
    total = sum(bs.cardinal_bspline(u + j, order) for j in range(order))
    assert torch.allclose(total, torch.ones_like(total), atol=1e-12)


@SETTINGS
@given(order=st.integers(1, 6), level=st.integers(0, 8), t=st.floats(1e-4, 5.0))
def test_diffused_bspline_has_mass_two_to_minus_level(order, level, t):
    """int E_{a,b}(x, t) dx = int N_m(2^a y - b) dy = 2^-a, for every t (Gauss-Legendre on a wide grid)."""
    mu, sigma = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
    shift = -(2**level) // 2
    lo, hi = mu * shift / 2.0**level - 12 * sigma, mu * (shift + order) / 2.0**level + 12 * sigma
    xi, w = np.polynomial.legendre.leggauss(40)
    edges = np.linspace(lo, hi, 401)
    nodes = np.concatenate([a + (xi + 1) * (b - a) / 2 for a, b in zip(edges[:-1], edges[1:])])
    wts = np.concatenate([w * (b - a) / 2 for a, b in zip(edges[:-1], edges[1:])])
    vals = bs.diffused_bspline(torch.tensor(nodes), t, order=order, level=level, shift=shift).numpy()
    assert abs(float(vals @ wts) - 2.0**-level) < 1e-6 * 2.0**-level


@SETTINGS
@given(t=st.floats(0.01, 3.0), seed=st.integers(0, 10_000))
def test_ou_sample_moments(t, seed):
    x0 = torch.full((20000, 1), 0.7, dtype=F64)
    xt, _ = diffusion.ou_sample(x0, t, generator=nnrep_lite.as_generator(seed))
    mu, sigma = math.exp(-t), math.sqrt(-math.expm1(-2 * t))
    se = sigma / math.sqrt(20000)
    assert abs(float(xt.mean()) - 0.7 * mu) < 6 * se  # 6 sigma: ~1e-9 false alarms
    assert abs(float(xt.std()) / sigma - 1) < 6 / math.sqrt(2 * 20000)


@SETTINGS
@given(n=st.integers(3, 40), p=st.integers(1, 30), lam=st.floats(1e-4, 10.0), seed=st.integers(0, 1000))
def test_ridge_solution_against_numpy(n, p, lam, seed):
    rng = np.random.default_rng(seed)
    phi, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    # argmin (1/n)||y - Phi a||^2 + (lam/p)||a||^2  <=>  (Phi^T Phi / n + lam/p I) a = Phi^T y / n
    expected = np.linalg.solve(phi.T @ phi / n + lam / p * np.eye(p), phi.T @ y / n)
    got = onestep.solve_spd(torch.tensor(phi.T @ phi / n), torch.tensor(phi.T @ y / n), lam / p)
    np.testing.assert_allclose(got.numpy().reshape(-1), expected, rtol=1e-8, atol=1e-10)


def test_mixture_evaluation_is_chunked_and_guarded(monkeypatch):
    gm = densities.GaussianMixture(torch.randn(50, 3, dtype=F64), torch.eye(3, dtype=F64).expand(50, 3, 3) * 0.1)
    x = torch.randn(2000, 3, dtype=F64)
    full = gm.score(x, 0.2)
    monkeypatch.setattr(densities.GaussianMixture, "_chunk_size", lambda self, n, device: 7)
    torch.testing.assert_close(gm.score(x, 0.2), full, rtol=0, atol=0)
    torch.testing.assert_close(gm.log_diffused_density(x, 0.2).exp(), gm.diffused_density(x, 0.2))
    monkeypatch.undo()
    monkeypatch.setenv("NNREP_MAX_MEMORY", "1K")
    with pytest.raises(nnrep_lite.MemoryBudgetError, match="number of components"):
        gm.score(x, 0.2)


def test_mfld_refuses_what_cannot_fit(monkeypatch):
    monkeypatch.setenv("NNREP_MAX_MEMORY", "1K")
    with pytest.raises(nnrep_lite.MemoryBudgetError, match="particles N or batch_size"):
        mfld.mfld(_reg(), torch.zeros(64, 3, dtype=F64), eta=0.1, lambda2=0.01, steps=2, progress=False)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True), value=JSON_VALUES)
def test_record_round_trips_through_notebook_and_results(tmp_path_factory, name, value):
    import json

    import nbformat

    from nnrep_lite import sweep
    from nnrep_lite.workflow import sweep as sweep_impl

    stored = sweep.record(name, value)
    assert json.loads(json.dumps(stored)) == stored  # strict JSON
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={sweep.RECORD_MIMETYPE: {name: stored}})]
    nb.cells = [cell]
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # through the file format
    assert sweep.collect_records(nb) == {name: stored}
    assert nb.metadata["nnrep"]["records"][name] == stored
    out = tmp_path_factory.mktemp("csv") / "results.csv"
    marker = {"run": "r", "parameters": {"seed": 1}, "records": {name: stored}, "status": "ok", "error": "",
              "seconds": 1.0}
    columns, rows = sweep_impl._table([marker], ["seed"])
    sweep_impl._write_csv(out, columns, rows)
    back = sweep.read_results(out)[0]
    column = name if name not in ("seed", "run", "status", "error", "seconds") else f"record_{name}"
    cell_text = back[column]
    if isinstance(stored, (list, dict)):
        assert json.loads(cell_text) == stored
    elif stored is None:
        assert cell_text == ""
    else:
        assert cell_text == str(stored)
