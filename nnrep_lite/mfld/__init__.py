"""Mean-field Langevin dynamics (MFLD): particles, objectives, the noisy loop and diagnostics.

``L(mu) = F(mu) + lambda2 Ent(mu)``, ``F(mu) = loss(mu) + lambda1 E_mu ||x||^2``; the particle
update ``X^i <- X^i - eta grad (dF/dmu)(mu_N)(X^i) + sqrt(2 lambda2 eta) xi^i`` (Suzuki, Nitanda,
Wu, NeurIPS 2023), full-gradient, SG and SVRG. See DESIGN.md, "Mean-field Langevin dynamics".
"""

from .complexity import (
    batch_complexity_experiment,
    eta_for_accuracy,
    lsi_constant_from_rate,
    predicted_best_batch,
)
from .diagnostics import (
    chaos_w2,
    free_energy,
    knn_entropy,
    prediction_error,
    proximal_gibbs,
    proximal_gibbs_gap,
    w2_distance,
)
from .experiments import (
    fit_slope,
    gaussian_eta_bias,
    particle_number_experiment,
    reference_prediction,
    regression_eta_dependence,
)
from .ksd import GaussianMixtureTarget, KSDVariational, LogisticPosterior
from .langevin import annealed_mfld, mfld, svrg_gradient
from .models import MeanFieldNet, make_regression
from .objectives import MMDDensity, Objective, Quadratic, Regression, ReplicatedRegression
from .stochastic import (
    fit_with_interval,
    predicted_svrg_gain,
    sg_excess_experiment,
    sg_factor,
    svrg_variance_profile,
)

__all__ = [
    "MeanFieldNet",
    "make_regression",
    "Objective",
    "Regression",
    "ReplicatedRegression",
    "MMDDensity",
    "KSDVariational",
    "GaussianMixtureTarget",
    "LogisticPosterior",
    "Quadratic",
    "mfld",
    "annealed_mfld",
    "svrg_gradient",
    "knn_entropy",
    "free_energy",
    "proximal_gibbs",
    "proximal_gibbs_gap",
    "w2_distance",
    "chaos_w2",
    "prediction_error",
    "fit_slope",
    "gaussian_eta_bias",
    "reference_prediction",
    "regression_eta_dependence",
    "particle_number_experiment",
    "sg_factor",
    "fit_with_interval",
    "sg_excess_experiment",
    "svrg_variance_profile",
    "predicted_svrg_gain",
    "eta_for_accuracy",
    "predicted_best_batch",
    "lsi_constant_from_rate",
    "batch_complexity_experiment",
]
