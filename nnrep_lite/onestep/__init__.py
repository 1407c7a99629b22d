"""One gradient step and feature learning (Ba, Erdogdu, Suzuki, Wang, Wu, Yang, NeurIPS 2022).

A single large gradient step W1 = W0 + eta sqrt(N) G0 on the first layer of a two-layer
network is close to the rank-one matrix eta sqrt(N) A, A = mu1/(n sqrt N) X^T y a^T; for
eta = N^alpha with alpha large enough a spike leaves the bulk of W1's spectrum, its singular
vector aligns with beta*, and ridge on the trained features beats the floor ||P_{>1} f*||^2
that CK, NTK and small-step trained CK cannot beat.
"""

from .equivalence import (
    gaussian_coefficients,
    gaussian_equivalence,
    gaussian_equivalence_curve,
    gaussian_equivalent_features,
    ntk_gaussian_equivalence,
)
from .experiment import (
    ALPHA_MIN,
    FEATURES,
    experiment,
    experiments,
    rank_one_curve,
    risk_curves,
    risk_vs_alpha,
)
from .model import (
    init_params,
    negative_gradient,
    one_step,
    operator_norm,
    rank_one_error,
    rank_one_gradient,
    sample_teacher,
)
from .ridge import ck_risk, ntk_kernel, ntk_risk, ridge_predict, ridge_risk, solve_spd
from .spectrum import (
    StepGram,
    singular_values,
    spectrum_and_top_vector,
    spike_overlap,
    top_left_singular_vector,
)
from .theory import (
    ACTIVATIONS,
    bulk_edge,
    get_activation,
    hermite_coefficients,
    learned_feature_floor,
    mp_singular_density,
    nonlinear_energy,
    overlap_prediction,
    second_moment,
    spike_prediction,
    spike_theta,
    tau_star,
)

__all__ = [
    "ntk_gaussian_equivalence",
    "ridge_predict",
    "tau_star",
    "risk_vs_alpha",
    "learned_feature_floor",
    "gaussian_equivalent_features",
    "gaussian_equivalence_curve",
    "gaussian_equivalence",
    "gaussian_coefficients",
    "ACTIVATIONS",
    "ALPHA_MIN",
    "FEATURES",
    "bulk_edge",
    "ck_risk",
    "experiment",
    "experiments",
    "get_activation",
    "hermite_coefficients",
    "init_params",
    "mp_singular_density",
    "negative_gradient",
    "nonlinear_energy",
    "ntk_kernel",
    "ntk_risk",
    "one_step",
    "operator_norm",
    "overlap_prediction",
    "rank_one_curve",
    "rank_one_error",
    "rank_one_gradient",
    "ridge_risk",
    "risk_curves",
    "sample_teacher",
    "second_moment",
    "singular_values",
    "solve_spd",
    "spike_overlap",
    "spike_prediction",
    "spike_theta",
    "top_left_singular_vector",
    "spectrum_and_top_vector",
    "StepGram",
]
