"""Uncertainty propagation helpers: what resampling does to a variance."""

import numpy as np
import pytest
from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

from astrolens.io import (
    as_variance,
    combine_in_quadrature,
    like_uncertainty,
    resampled_variance_factor,
    upsample_uncertainty,
)


@pytest.mark.parametrize('kind', [StdDevUncertainty, VarianceUncertainty, InverseVariance])
def test_variance_round_trip_keeps_the_class(kind):
    variance = np.array([[1.0, 4.0], [0.25, 9.0]])
    unc = like_uncertainty(variance, kind)
    assert type(unc) is kind
    np.testing.assert_allclose(as_variance(unc), variance)


def test_zero_inverse_variance_is_infinite_variance():
    assert np.isinf(as_variance(InverseVariance(np.array([[0.0, 2.0]]))))[0, 0]


def test_upsampled_flux_uncertainty_gives_the_input_error_over_each_block():
    std = np.array([[1.0, 2.0], [3.0, 4.0]])
    up = upsample_uncertainty(StdDevUncertainty(std), 3)
    assert isinstance(up, StdDevUncertainty) and up.array.shape == (6, 6)
    # the 9 sub-pixels of a pixel are fully correlated: their errors add linearly
    block_error = up.array.reshape(2, 3, 2, 3).sum(axis=(1, 3))
    np.testing.assert_allclose(block_error, std)


def test_upsampled_surface_brightness_uncertainty_is_unchanged_per_pixel():
    var = VarianceUncertainty(np.array([[1.0, 2.0]]))
    up = upsample_uncertainty(var, 2, surface_brightness=True)
    np.testing.assert_allclose(up.array, [[1, 1, 2, 2], [1, 1, 2, 2]])


def test_downsampling_factor_is_exact_for_independent_pixels():
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 2.0, size=(200000, 4))
    assert noise.sum(axis=1).var() == pytest.approx(4.0 * resampled_variance_factor(4), rel=0.02)
    assert noise.mean(axis=1).var() == pytest.approx(
        4.0 * resampled_variance_factor(4, surface_brightness=True), rel=0.02)


def test_model_spread_is_added_in_quadrature_not_instead():
    data_unc = StdDevUncertainty(np.full((2, 2), 3.0))
    combined = combine_in_quadrature(data_unc, np.full((2, 2), 4.0))
    np.testing.assert_allclose(combined.array, 5.0)
    only_model = combine_in_quadrature(None, np.full((2, 2), 4.0))
    np.testing.assert_allclose(only_model.array, 4.0)
    ivar = combine_in_quadrature(InverseVariance(np.full((1, 1), 1 / 9)), np.full((1, 1), 4.0))
    assert isinstance(ivar, InverseVariance)
    np.testing.assert_allclose(ivar.array, 1 / 25)
