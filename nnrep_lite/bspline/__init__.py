"""Cardinal and tensor-product B-splines, the OU-diffused B-spline (an exact score oracle),
B-spline densities with exact sampling and scores, and the multiresolution (Besov)
decomposition. See DESIGN.md, "Cardinal B-splines and Besov densities"."""

from .cardinal import cardinal_bspline, cardinal_bspline_derivative, refinement_mask, tensor_bspline
from .density import BsplineDensity, bspline_cdf
from .diffused import diffused_bspline, diffused_bspline_grad, log_diffused_bspline
from .examples import EXAMPLES, approximation_curves, example_function, n_term_rate
from .multiresolution import (
    BsplineCoefficients,
    besov_sequence_norm,
    decompose,
    fit_loglog_slope,
    l2_norm,
    n_term_approximation,
    n_term_errors,
    normalised_magnitudes,
    reconstruct,
    subset_l2_norms,
)
from .nterm import (
    NTermDensity,
    density_coefficients,
    diffusion_quadrature,
    n_term_density,
    n_term_diffusion_errors,
    n_term_grid,
    n_term_rate_fits,
)

__all__ = [
    "cardinal_bspline",
    "cardinal_bspline_derivative",
    "tensor_bspline",
    "refinement_mask",
    "diffused_bspline",
    "diffused_bspline_grad",
    "log_diffused_bspline",
    "BsplineDensity",
    "bspline_cdf",
    "BsplineCoefficients",
    "decompose",
    "reconstruct",
    "besov_sequence_norm",
    "n_term_approximation",
    "n_term_errors",
    "subset_l2_norms",
    "normalised_magnitudes",
    "l2_norm",
    "fit_loglog_slope",
    "EXAMPLES",
    "example_function",
    "approximation_curves",
    "n_term_rate",
    "NTermDensity",
    "density_coefficients",
    "n_term_density",
    "diffusion_quadrature",
    "n_term_grid",
    "n_term_diffusion_errors",
    "n_term_rate_fits",
]
