import numpy as np
import pytest

from astrolens.metrics import detection_purity

SIGMA = 1.0


def _blob(shape, x, y, peak, width):
    yy, xx = np.indices(shape)
    return peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * width ** 2))


@pytest.fixture(scope='module')
def truth():
    rng = np.random.default_rng(3)
    image = 10.0 + SIGMA * rng.standard_normal((96, 96))
    for x, y, peak in ((20, 25, 60.0), (70, 30, 30.0), (45, 72, 100.0)):
        image += _blob(image.shape, x, y, peak, 2.0)
    return image


def test_output_equal_to_the_truth_is_pure(truth):
    result = detection_purity(truth, truth)
    assert result.purity == 1.0 and result.n_peaks == 3 and result.n_invented == 0
    assert result.sky_sigma == pytest.approx(SIGMA, rel=0.15)


def test_invented_specks_lower_the_purity(truth):
    output = truth.copy()
    for x, y in ((80, 80), (15, 60)):
        output += _blob(truth.shape, x, y, 20 * SIGMA, 1.0)
    result = detection_purity(output, truth)
    assert (result.n_peaks, result.n_real, result.n_invented) == (5, 3, 2)
    assert result.purity == pytest.approx(3 / 5)
    assert sorted(map(tuple, result.invented.astype(int))) == [(15, 60), (80, 80)]
    # a speck where the truth is not covered is left out
    truth_cut = truth.copy()
    truth_cut[:, 50:] = np.nan
    result = detection_purity(output, truth_cut, sky_sigma=SIGMA)
    assert (result.n_peaks, result.n_invented) == (3, 1)


def test_a_faint_output_has_no_peak_and_purity_nan(truth):
    rng = np.random.default_rng(4)
    output = 10.0 + 0.1 * SIGMA * rng.standard_normal(truth.shape)
    result = detection_purity(output, truth, sky_sigma=SIGMA)
    assert result.n_peaks == 0 and np.isnan(result.purity)


def test_detection_purity_refuses_bad_input(truth):
    with pytest.raises(ValueError, match='same shape'):
        detection_purity(truth[:10], truth)
    with pytest.raises(ValueError, match='nsigma must be'):
        detection_purity(truth, truth, nsigma=0)
    patch = np.full(truth.shape, np.nan)
    patch[:8, :8] = truth[:8, :8]
    with pytest.raises(ValueError, match='sky_sigma='):
        detection_purity(truth, patch)
