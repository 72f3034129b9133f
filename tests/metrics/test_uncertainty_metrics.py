"""Coverage, z-scores and reliability of a per-pixel uncertainty."""

import numpy as np
import pytest

from astrolens.metrics import coverage_curve, source_pixels, uncertainty_calibration


@pytest.fixture(scope='module')
def gaussian_errors():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.0, 5.0, (200, 200))
    sigma = rng.uniform(0.5, 2.0, truth.shape)
    return truth, sigma, truth + rng.normal(0.0, sigma)


def test_an_exact_sigma_covers_68_percent_with_unit_z_std(gaussian_errors):
    truth, sigma, pred = gaussian_errors
    result = uncertainty_calibration(pred, sigma, truth)
    assert result.coverage == pytest.approx(0.683, abs=0.01)
    assert result.z_std == pytest.approx(1.0, abs=0.02)
    assert result.n == truth.size
    narrow = uncertainty_calibration(pred, sigma / 2, truth)
    assert narrow.z_std == pytest.approx(2.0, abs=0.05)


def test_the_truth_noise_is_added_in_quadrature(gaussian_errors):
    truth, sigma, pred = gaussian_errors
    rng = np.random.default_rng(1)
    noisy_truth = truth + rng.normal(0.0, 1.5, truth.shape)
    without = uncertainty_calibration(pred, sigma, noisy_truth)
    with_it = uncertainty_calibration(pred, sigma, noisy_truth, truth_sigma=1.5)
    assert without.z_std > 1.3
    assert with_it.z_std == pytest.approx(1.0, abs=0.03)


def test_coverage_curve_of_a_calibrated_sigma_is_the_diagonal(gaussian_errors):
    truth, sigma, pred = gaussian_errors
    levels, observed = coverage_curve(uncertainty_calibration(pred, sigma, truth).z)
    np.testing.assert_allclose(observed, levels, atol=0.015)
    _, low = coverage_curve(uncertainty_calibration(pred, sigma / 2, truth).z)
    assert (low[levels >= 0.2] < levels[levels >= 0.2] - 0.05).all()     # too narrow: below


def test_source_pixels_are_the_sources_not_the_sky():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:80, :80]
    truth = 20.0 * np.exp(-((yy - 40) ** 2 + (xx - 30) ** 2) / 18.0) + rng.normal(0, 1, yy.shape)
    truth[0, 0] = np.nan
    mask = source_pixels(truth)
    assert mask[40, 30] and mask[38:43, 28:33].all()
    assert mask[:, 60:].mean() < 0.01 and not mask[0, 0]     # sky: 3 sigma noise peaks only
    assert 20 < mask.sum() < 400


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match='one shape'):
        uncertainty_calibration(np.zeros(3), np.ones(3), np.zeros(4))
