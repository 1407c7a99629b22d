"""Diffusion models on targets with exact scores: OU process, score network, DSM training,
reverse-time samplers, metrics against exact answers, baselines and rate experiments
(Oko, Akiyama & Suzuki, ICML 2023)."""

from .baselines import GaussianKDE, kde, minimax_bandwidth
from .cache import cache_dir, cached, fingerprint
from .dnn_score import (
    DNN_TRAIN,
    dnn_score_error_experiment,
    dnn_size_rule,
    floor_band,
    train_fresh_score_model,
)
from .least_favourable import (
    besov_sup_norm,
    least_favourable_base,
    least_favourable_density,
    least_favourable_experiment,
    least_favourable_level,
)
from .metrics import (
    bin_edges,
    density_tv,
    early_stopping_tv,
    exact_bin_masses,
    girsanov_kl_bound,
    histogram_tv_floor,
    integrated_score_error,
    law_bin_masses,
    law_tv,
    score_error_grid,
    tv_distance,
    w1_distance,
    w1_floor,
)
from .ou import ou_mean_std, ou_sample
from .projection import (
    ProjectionDensity,
    bias_variance_experiment,
    projection_bias_variance,
    projection_estimator,
)
from .rates import (
    fit_rate,
    rate_experiment,
    score_error_experiment,
    summarize,
    train_diffusion_model,
)
from .sampling import (
    TabulatedScore,
    probability_flow_sample,
    reverse_chain_law,
    reverse_sde_sample,
    sde_update,
    time_grid,
)
from .score_net import ScoreMLP, fourier_features, sinusoidal_embedding
from .training import dsm_loss, sample_times, train_score

__all__ = [
    "ou_mean_std", "ou_sample", "ScoreMLP", "sinusoidal_embedding", "dsm_loss", "sample_times",
    "train_score", "reverse_sde_sample", "sde_update", "TabulatedScore", "reverse_chain_law", "law_bin_masses", "law_tv", "probability_flow_sample", "time_grid", "tv_distance",
    "density_tv", "histogram_tv_floor", "w1_distance", "w1_floor", "girsanov_kl_bound", "early_stopping_tv", "exact_bin_masses", "bin_edges", "score_error_grid",
    "kde", "GaussianKDE", "minimax_bandwidth", "rate_experiment", "score_error_experiment", "fit_rate", "summarize",
    "train_diffusion_model", "cache_dir", "cached", "fingerprint",
    "least_favourable_density", "least_favourable_level", "least_favourable_base", "least_favourable_experiment",
    "besov_sup_norm", "ProjectionDensity", "projection_estimator", "projection_bias_variance",
    "bias_variance_experiment", "dnn_size_rule", "train_fresh_score_model", "dnn_score_error_experiment",
    "DNN_TRAIN", "fourier_features", "floor_band", "integrated_score_error",
]
