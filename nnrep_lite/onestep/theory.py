"""Activations, Hermite coefficients and the rank-one (BBP) spike theory of Ba et al. (2022).

For a function :math:`\\sigma` and :math:`z \\sim N(0, 1)`,

.. math::

    \\mu_0 = E[\\sigma(z)], \\quad \\mu_1 = E[z \\sigma(z)], \\quad
    \\mu_2^2 = E[\\sigma(z)^2] - \\mu_0^2 - \\mu_1^2 = \\|P_{>1} \\sigma\\|^2 .

For a single-index target :math:`f^*(x) = \\sigma^*(\\langle x, \\beta^* \\rangle)` with
:math:`\\|\\beta^*\\| = 1`, :math:`\\|P_{>1} f^*\\|^2_{L^2} = \\mu_2^{*2}`: the part of
:math:`f^*` that no random-features model (CK, NTK, small-step CK) can learn in the
proportional regime.

Spike (Benaych-Georges & Nadakuditi 2012, applied to
:math:`W_1 = W_0 + \\eta\\sqrt{N} A`, :math:`A = \\mu_1/(n\\sqrt N) X^\\top y a^\\top`):

.. math::

    \\theta = \\eta\\, \\mu_1 \\sqrt{\\mu_1^{*2} + E[y^2]/\\psi_1}\\, \\|a\\|, \\qquad
    s_1(W_1) \\to \\begin{cases}
      \\sqrt{(1+\\theta^2)(\\psi_2+\\theta^2)}/\\theta & \\theta > \\psi_2^{1/4} \\\\
      1 + \\sqrt{\\psi_2} & \\text{otherwise.} \\end{cases}

**The features learned by a large step, and tau*** (the "improvement over the initial CK"
slide). After a step of size eta = c sqrt(N) the first layer is W1 ~ W0 + c mu1 mu1* beta* g^T with g = sqrt(N) a ~ N(0, I_N), so neuron i
computes sigma(xi_i + theta_i <x, beta*>) with xi_i = w_{0,i} . x ~ N(0, 1) and
theta_i = c mu1 mu1* g_i. Ridge on these features (n, N -> infinity) reaches the functions of
z = <x, beta*> spanned by the learned one-dimensional features

.. math::

    \\tilde\\sigma_\\theta(z) = E_\\xi[\\sigma(\\xi + \\theta z)], \\qquad
    \\tau^* = \\min_{c(\\cdot)} E_z\\Big[\\big(\\sigma^*(z) - E_g[c(g)\\,\\tilde\\sigma_{\\theta(g)}(z)]\\big)^2\\Big],

the smallest risk a large step can reach (n, N -> infinity, then psi1 -> infinity: at finite
psi1 the spike direction X^T y / n also has a part orthogonal to beta* of squared norm about
E[y^2] / psi1, which blurs z, and the finite ridge adds its variance); it beats every
random-features model when tau* << ||P_{>1} f*||^2. (This is our reading of the quantity of
Ba et al. (2022), Sec. 5; the formula above is what is computed.) For an odd student (erf, tanh) every sigma~_theta is odd,
so tau* is the energy of the even part of sigma* (0 for erf, 0.04 for the ``hermite`` teacher
0.6 He1 + 0.2 He2/sqrt2 + 0.1 He3/sqrt6, whose floor is 0.05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from .._utils import check_choice, check_int, check_real

__all__ = [
    "ACTIVATIONS",
    "get_activation",
    "hermite_coefficients",
    "nonlinear_energy",
    "second_moment",
    "spike_theta",
    "spike_prediction",
    "overlap_prediction",
    "bulk_edge",
    "mp_singular_density",
    "learned_feature_floor",
    "tau_star",
]

# The Hermite-mix activation: c1 He1 + c2 He2/sqrt(2) + c3 He3/sqrt(6) (orthonormal Hermite
# polynomials), so mu1 = c1 and ||P_{>1} sigma||^2 = c2^2 + c3^2 exactly.
HERMITE_MIX = (0.6, 0.2, 0.1)
_SQRT2 = math.sqrt(2.0)
_SQRT6 = math.sqrt(6.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _herm(z):
    c1, c2, c3 = HERMITE_MIX
    return c1 * z + c2 * (z * z - 1.0) / _SQRT2 + c3 * (z * z * z - 3.0 * z) / _SQRT6


def _herm_prime(z):
    c1, c2, c3 = HERMITE_MIX
    return c1 + c2 * 2.0 * z / _SQRT2 + c3 * (3.0 * z * z - 3.0) / _SQRT6


@dataclass(frozen=True)
class Activation:
    """An activation sigma with its derivative (both elementwise on tensors).

    ``smooth`` says whether Gauss-Hermite quadrature converges fast (no kink); ``kinks``
    lists the points where sigma is not smooth (quadrature splits there).
    """

    name: str
    fn: callable
    prime: callable
    smooth: bool = True
    formula: str = ""
    inplace_fn: callable = None
    inplace_prime: callable = None

    def fn_(self, z: torch.Tensor) -> torch.Tensor:
        """sigma(z) written over ``z`` (returned)."""
        if self.inplace_fn is None:
            return z.copy_(self.fn(z))
        return self.inplace_fn(z)

    def prime_(self, z: torch.Tensor) -> torch.Tensor:
        """sigma'(z) written over ``z`` (returned): no second array where the formula allows."""
        if self.inplace_prime is None:
            return z.copy_(self.prime(z))
        return self.inplace_prime(z)


ACTIVATIONS: dict[str, Activation] = {
    "erf": Activation(
        "erf",
        torch.special.erf,
        lambda z: z.square().neg_().exp_().mul_(_TWO_OVER_SQRT_PI),
        formula="erf(z)",
        inplace_fn=torch.Tensor.erf_,
        inplace_prime=lambda z: z.square_().neg_().exp_().mul_(_TWO_OVER_SQRT_PI),
    ),
    "tanh": Activation(
        "tanh",
        torch.tanh,
        lambda z: torch.tanh(z).square_().neg_().add_(1.0),
        formula="tanh(z)",
        inplace_fn=torch.Tensor.tanh_,
        inplace_prime=lambda z: z.tanh_().square_().neg_().add_(1.0),
    ),
    "relu": Activation(
        "relu",
        torch.relu,
        lambda z: (z > 0).to(z.dtype),
        smooth=False,
        formula="max(z, 0)",
        inplace_fn=torch.Tensor.relu_,
        inplace_prime=lambda z: z.gt_(0.0),
    ),
    "hermite": Activation(
        "hermite",
        _herm,
        _herm_prime,
        formula="0.6 He1(z) + 0.2 He2(z)/√2 + 0.1 He3(z)/√6",
    ),
}


def get_activation(name: str, param: str = "activation") -> Activation:
    """The :class:`Activation` called ``name``; a ValueError naming ``param`` lists the menu."""
    if isinstance(name, Activation):
        return name
    check_choice(param, name, tuple(ACTIVATIONS))
    return ACTIVATIONS[name]


@cache
def _normal_rule(smooth: bool, nodes: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with sum_k w_k g(z_k) ~= E[g(z)], z ~ N(0, 1).

    Smooth g: Gauss-Hermite (probabilists' weight exp(-z^2/2)), exact for polynomials of
    degree < 2 * nodes. Kinked at 0 (relu): Gauss-Legendre on [-12, 0] and [0, 12] against the
    Gaussian density (the mass beyond 12 is below 1e-32), so the kink is a break point.
    """
    if smooth:
        z, w = np.polynomial.hermite_e.hermegauss(nodes)
        return z, w / math.sqrt(2.0 * math.pi)
    t, w = np.polynomial.legendre.leggauss(nodes)
    half = 6.0 * (t + 1.0)  # [0, 12]
    wh = 6.0 * w * np.exp(-0.5 * half**2) / math.sqrt(2.0 * math.pi)
    return np.concatenate([-half, half]), np.concatenate([wh, wh])


def _gaussian_moments(act: Activation) -> tuple[float, float, float]:
    z, w = _normal_rule(act.smooth)
    s = act.fn(torch.as_tensor(z, dtype=torch.float64)).numpy()
    return float(w @ s), float(w @ (z * s)), float(w @ (s * s))


def hermite_coefficients(activation: str = "erf") -> dict[str, float]:
    """Hermite coefficients of ``activation`` by Gauss-Hermite quadrature (float64).

    Returns ``dict(mu0, mu1, mu2, second_moment)`` with mu0 = E[sigma(z)], mu1 = E[z sigma(z)],
    mu2 = sqrt(E[sigma^2] - mu0^2 - mu1^2) (DESIGN.md's convention) and
    second_moment = E[sigma(z)^2], z ~ N(0, 1). For erf: mu1 = 2/sqrt(3 pi) = 0.651470 and
    E[erf^2] = (2/pi) arcsin(2/3).
    """
    act = get_activation(activation)
    m0, m1, m2 = _gaussian_moments(act)
    rest = max(m2 - m0 * m0 - m1 * m1, 0.0)
    return {"mu0": m0, "mu1": m1, "mu2": math.sqrt(rest), "second_moment": m2}


def nonlinear_energy(activation: str = "erf") -> float:
    """||P_{>1} f*||^2 = E[sigma*(z)^2] - mu0*^2 - mu1*^2 for f*(x) = sigma*(<x, beta*>).

    The risk floor of CK, NTK and small-step trained CK in the proportional regime
    (0.040146 for erf).
    """
    return hermite_coefficients(activation)["mu2"] ** 2


def second_moment(target: str = "erf", noise: float = 0.1) -> float:
    """E[y^2] = E[sigma*(z)^2] + sigma_eps^2 for y = sigma*(<x, beta*>) + eps."""
    noise = check_real("noise", noise, low=0.0)
    return hermite_coefficients(target)["second_moment"] + noise**2


def bulk_edge(psi2: float) -> float:
    """Top edge 1 + sqrt(psi2) of the singular values of W0 (d x N, entries N(0, 1/d))."""
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    return 1.0 + math.sqrt(psi2)


def spike_theta(
    *,
    eta: float,
    psi1: float,
    activation: str = "erf",
    target: str = "erf",
    noise: float = 0.1,
    a_norm: float = 1.0,
) -> float:
    """Strength theta = eta mu1 sqrt(mu1*^2 + E[y^2]/psi1) ||a|| of the rank-one step eta sqrt(N) A."""
    eta = check_real("eta", eta, low=0.0)
    psi1 = check_real("psi1", psi1, low=0.0, low_open=True)
    a_norm = check_real("a_norm", a_norm, low=0.0)
    mu1 = hermite_coefficients(activation)["mu1"]
    mu1s = hermite_coefficients(target)["mu1"]
    ey2 = second_moment(target, noise)
    return eta * abs(mu1) * math.sqrt(mu1s**2 + ey2 / psi1) * a_norm


def spike_prediction(
    *,
    eta: float,
    psi1: float,
    psi2: float,
    activation: str = "erf",
    target: str = "erf",
    noise: float = 0.1,
    a_norm: float = 1.0,
) -> float:
    """Predicted top singular value of W1 (Benaych-Georges & Nadakuditi, rectangular case).

    sqrt((1 + theta^2)(psi2 + theta^2)) / theta when theta > psi2^(1/4), else 1 + sqrt(psi2),
    with theta from :func:`spike_theta`. ``a_norm`` is ||a|| (1 in the limit).
    """
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    theta = spike_theta(
        eta=eta, psi1=psi1, activation=activation, target=target, noise=noise, a_norm=a_norm
    )
    if theta <= psi2**0.25:
        return bulk_edge(psi2)
    return math.sqrt((1.0 + theta**2) * (psi2 + theta**2)) / theta


def overlap_prediction(
    *,
    eta: float,
    psi1: float,
    psi2: float,
    activation: str = "erf",
    target: str = "erf",
    noise: float = 0.1,
    a_norm: float = 1.0,
) -> float:
    """Predicted |<u1, beta*>| for the top left singular vector u1 of W1.

    Two factors: the spike direction X^T y / ||X^T y|| has cosine
    mu1* / sqrt(mu1*^2 + E[y^2]/psi1) with beta*; the top left singular vector of
    W0 + theta u v^T has squared cosine 1 - (psi2 + theta^2) / (theta^2 (theta^2 + 1)) with u
    when theta > psi2^(1/4), else 0 (Benaych-Georges & Nadakuditi 2012, Sec. 3.1, with the
    d-side playing the role of the short side scaled so that the bulk edge is 1 + sqrt(psi2)).
    """
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    theta = spike_theta(
        eta=eta, psi1=psi1, activation=activation, target=target, noise=noise, a_norm=a_norm
    )
    if theta <= psi2**0.25:
        return 0.0
    mu1s = hermite_coefficients(target)["mu1"]
    ey2 = second_moment(target, noise)
    direction = abs(mu1s) / math.sqrt(mu1s**2 + ey2 / psi1)
    cos2 = 1.0 - (psi2 + theta**2) / (theta**2 * (theta**2 + 1.0))
    return direction * math.sqrt(max(cos2, 0.0))


def mp_singular_density(s, psi2: float):
    """Marchenko-Pastur density of the nonzero singular values of W0 (d x N, entries N(0, 1/d)).

    Support [|1 - sqrt(psi2)|, 1 + sqrt(psi2)], psi2 = N/d. With c = min(psi2, 1/psi2) and
    x ~ MP(c) (density sqrt((b-x)(x-a)) / (2 pi c x) on [(1-sqrt c)^2, (1+sqrt c)^2]), the squared
    singular values are psi2 x when psi2 >= 1 and x otherwise. ``s`` is a numpy array.
    """
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    s = np.asarray(s, dtype=float)
    c, scale = (1.0 / psi2, psi2) if psi2 >= 1 else (psi2, 1.0)
    lo, hi = (1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2
    x = s**2 / scale
    inside = (x > lo) & (x < hi)
    dens = np.zeros_like(s)
    xi = x[inside]
    dens[inside] = np.sqrt((hi - xi) * (xi - lo)) / (2 * math.pi * c * xi) * 2 * s[inside] / scale
    return dens


def learned_feature_floor(
    activation: str = "erf", target: str = "erf", *, thetas: int = 48, nodes: int = 80
) -> dict:
    """tau* of the module docstring, with the projection it comes from.

    The learned features sigma~_theta(z) = E_xi[sigma(xi + theta z)] for ``thetas`` slopes
    theta = mu1 mu1* g (g at the nodes of a Gauss-Hermite rule, i.e. the quantiles that carry
    the law of theta) are evaluated by ``nodes``-point Gauss-Hermite quadrature in xi; sigma*
    is projected onto their span in L^2(N(0, 1)) (least squares on the quadrature in z, which
    is exact for the polynomials of the ``hermite`` activation; for the kinked relu student the
    xi rule is good to about 1e-5). Returns ``dict(tau_star,
    floor, ratio = tau_star / floor)``; ``floor`` = ||P_{>1} f*||^2.
    """
    thetas = check_int("thetas", thetas, low=1)
    nodes = check_int("nodes", nodes, low=2, high=200)
    act = get_activation(activation, "activation")
    tgt = get_activation(target, "target")
    zq, wq = _normal_rule(tgt.smooth and act.smooth)
    xi, wx = np.polynomial.hermite_e.hermegauss(nodes)
    wx = wx / math.sqrt(2.0 * math.pi)
    scale = abs(hermite_coefficients(activation)["mu1"] * hermite_coefficients(target)["mu1"])
    g = np.polynomial.hermite_e.hermegauss(thetas)[0] if thetas > 1 else np.zeros(1)
    theta = scale * g
    z64 = torch.as_tensor(zq, dtype=torch.float64)
    pre = torch.as_tensor(xi, dtype=torch.float64)[None, None, :] + torch.as_tensor(theta)[None, :, None] * z64[:, None, None]
    feats = (act.fn(pre) @ torch.as_tensor(wx)).numpy()  # (K_z, thetas)
    fstar = tgt.fn(z64).numpy()
    sw = np.sqrt(wq)
    coef, *_ = np.linalg.lstsq(feats * sw[:, None], fstar * sw, rcond=1e-12)
    tau = float(wq @ (fstar - feats @ coef) ** 2)
    floor = nonlinear_energy(target)
    return {"tau_star": tau, "floor": floor, "ratio": tau / floor if floor > 0 else float("inf")}


def tau_star(activation: str = "erf", target: str = "erf") -> float:
    """tau*: the smallest risk reachable with the features learned by a large step (module docstring)."""
    return learned_feature_floor(activation, target)["tau_star"]
