"""The B-spline projection estimator: its exact bias^2 and variance against closed forms, the
Monte Carlo MISE against their sum, argument checks."""

import numpy as np
import pytest
import torch

from nnrep_lite.bspline import BsplineDensity
from nnrep_lite.diffusion.projection import (
    bias_variance_experiment,
    projection_bias_variance,
    projection_estimator,
    spline_basis,
)

UNIFORM = BsplineDensity([[0], [0]], [[-1], [0]], [1.0, 1.0], order=1)  # 1/2 on [-1, 1]


class Legendre5:
    """p(x) = (1 + a P_5(x)) / 2 on [-1, 1]: its projection on cubic polynomials (N = 4) is 1/2."""

    dim, a = 1, 0.5

    def density(self, x):
        x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
        p5 = (63 * x**5 - 70 * x**3 + 15 * x) / 8
        return torch.where(x.abs() <= 1, (1 + self.a * p5) / 2, torch.zeros_like(x))


def test_basis_is_a_partition_of_unity_on_the_interval():
    x = torch.linspace(-1, 1, 1001, dtype=torch.float64)
    for n_terms in (4, 7, 32):
        b = spline_basis(x, n_terms)
        assert b.shape == (1001, n_terms)
        assert torch.allclose(b.sum(1), torch.ones(1001, dtype=torch.float64), atol=1e-13)


@pytest.mark.parametrize("n_terms", [4, 9, 40])
def test_uniform_target_no_bias_and_variance_closed_form(n_terms):
    # p = 1/2 lies in the space: bias 0; M = G/2 and c^T G c = ||p||^2 = 1/2, so variance = (N - 1) / (2n)
    out = projection_bias_variance(UNIFORM, 300, n_terms)
    assert out["bias2"] == pytest.approx(0.0, abs=1e-13)
    assert out["variance"] == pytest.approx((n_terms - 1) / (2 * 300), rel=1e-11)


def test_bias_closed_form_legendre():
    # N = 4 is the cubic polynomials: the bias is the P_5 part, ||a P_5 / 2||^2 = a^2/4 * 2/11
    out = projection_bias_variance(Legendre5(), 100, 4)
    assert out["bias2"] == pytest.approx(0.5**2 / 4 * 2 / 11, rel=1e-10)


def test_monte_carlo_mise_matches_bias_plus_variance():
    target = BsplineDensity.random_besov(1.0, 1, max_level=4, generator=0)
    n, terms = 400, [5, 12]
    out = bias_variance_experiment(target, n, terms, seeds=range(300))
    for t, exact in zip(terms, out["terms"]):
        ise = np.array([r["ise"] for r in out["rows"] if r["n_terms"] == t])
        se = ise.std(ddof=1) / np.sqrt(ise.size)
        assert abs(ise.mean() - exact["mise"]) < 4 * se, (t, ise.mean(), exact)


def test_estimator_is_unbiased_for_the_projection_coefficients():
    target = BsplineDensity.random_besov(1.0, 1, max_level=3, generator=1)
    coef = torch.stack([projection_estimator(target.sample(500, s), 10).coefficients for s in range(400)])
    big = projection_estimator(target.sample(400 * 500, 12345), 10).coefficients
    assert torch.allclose(coef.mean(0), big, atol=5 * float(coef.std(0).max()) / 20)


def test_bad_input():
    with pytest.raises(ValueError, match="n_terms"):
        projection_estimator(torch.zeros(10, 1), 3)
    with pytest.raises(ValueError, match="data"):
        projection_estimator(torch.zeros(10, 2), 8)
    with pytest.raises(ValueError, match="n_terms"):
        bias_variance_experiment(UNIFORM, 100, [8])
    with pytest.raises(ValueError, match="n="):
        projection_bias_variance(UNIFORM, 0, 8)


def test_bias_variance_figure_has_no_latex_and_marks_both_best_n():
    from nnrep_lite.viz import diffusion as viz
    from nnrep_lite.viz import style

    target = BsplineDensity.random_besov(1.0, 1, max_level=4, generator=0)
    out = bias_variance_experiment(target, 500, [4, 8, 16, 32], seeds=[0, 1])
    fig = viz.bias_variance_figure(out, predicted=500 ** (1 / 3), widget=False)
    assert style.latex_in_labels(fig) == []
    names = [t.name for t in fig.data]
    assert any(n.startswith("measured best N") for n in names) and any("2s+d" in n for n in names)
    assert out["best_n_terms"] in [4, 8, 16, 32] and fig.layout.xaxis.type == "log"
