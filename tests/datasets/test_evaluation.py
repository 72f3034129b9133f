import numpy as np
import pytest
from scipy import ndimage

from astrolens.datasets._degradation import robust_sigma
from astrolens.datasets._evaluation import (
    aperture_flux_errors,
    noise_limited_psnr,
    sky_noise_sigma,
)
from astrolens.metrics import psnr


def _galaxies(size=160, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    image = np.zeros((size, size))
    for _ in range(6):
        x, y = rng.uniform(20, size - 20, 2)
        r = np.hypot(xx - x, yy - y)
        image += rng.uniform(20, 200) * np.exp(-r / rng.uniform(1.5, 4.0))
    return image + 5.0     # a sky level


def _correlated_noise(shape, sigma, rng):
    noise = ndimage.gaussian_filter(rng.normal(size=shape), 1.0)
    return sigma * noise / noise.std()


@pytest.mark.parametrize('correlated', [False, True])
def test_sky_noise_sigma_reads_the_sky_noise(correlated):
    rng = np.random.default_rng(1)
    signal = _galaxies()
    noise = _correlated_noise(signal.shape, 2.0, rng) if correlated \
        else rng.normal(0.0, 2.0, signal.shape)
    truth = signal + noise + np.linspace(0, 4, signal.shape[1])     # and a sky gradient
    assert sky_noise_sigma(truth) == pytest.approx(2.0, rel=0.06)
    if correlated:
        # neighbouring pixels share the noise: the pixel-to-pixel estimate reads it low
        assert robust_sigma(truth) < 0.7 * 2.0


def test_sky_noise_sigma_masks_a_large_galaxy():
    # a galaxy over much of the image: its gradients would read as noise if not masked
    yy, xx = np.mgrid[:160, :160]
    galaxy = 400.0 * np.exp(-np.hypot((xx - 70) / 1.5, yy - 80) / 12.0)
    truth = galaxy + np.random.default_rng(4).normal(0.0, 1.0, galaxy.shape)
    assert sky_noise_sigma(truth) == pytest.approx(1.0, rel=0.06)


def test_sky_noise_sigma_ignores_nan_pixels():
    rng = np.random.default_rng(2)
    truth = _galaxies() + rng.normal(0.0, 1.0, (160, 160))
    truth[:40] = np.nan
    assert sky_noise_sigma(truth) == pytest.approx(1.0, rel=0.06)
    assert np.isnan(sky_noise_sigma(np.full((20, 20), np.nan)))


def test_noise_limited_psnr_is_what_the_noise_free_signal_scores():
    rng = np.random.default_rng(3)
    signal = _galaxies()
    truth = signal + rng.normal(0.0, 1.5, signal.shape)
    ceiling = noise_limited_psnr(truth)
    # the signal itself, the best any prediction blind to the truth's noise can do
    assert psnr(signal, truth) == pytest.approx(ceiling, abs=0.3)
    assert psnr(ndimage.gaussian_filter(signal, 1.0), truth) < ceiling
    span = truth.max() - truth.min()
    assert noise_limited_psnr(truth, sigma=1.5) == pytest.approx(20 * np.log10(span / 1.5))


def test_noise_measures_refuse_bad_input():
    with pytest.raises(ValueError, match='must be 2-D'):
        sky_noise_sigma(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match='lag must be'):
        sky_noise_sigma(np.zeros((16, 16)), lag=0)
    assert np.isnan(noise_limited_psnr(np.zeros((16, 16)), sigma=0.0))
    with pytest.raises(ValueError, match='input_noise must be'):
        aperture_flux_errors(np.ones((32, 32)), np.ones((32, 32)), radius=3,
                             input_noise=float('nan'))


def test_aperture_errors_leave_out_sources_the_input_cannot_show():
    # a deep truth: one bright source and one faint one, both far above the truth's noise
    yy, xx = np.mgrid[:96, :96]
    rng = np.random.default_rng(5)
    truth = (1000.0 * np.exp(-np.hypot(xx - 30, yy - 30) / 2.0)
             + 30.0 * np.exp(-np.hypot(xx - 66, yy - 66) / 2.0)
             + rng.normal(0.0, 0.01, (96, 96)))
    # a prediction from a shallow input (noise 20 per input pixel, 2x2 truth pixels each):
    # it has the bright source and no trace of the faint one
    pred = 1000.0 * np.exp(-np.hypot(xx - 30, yy - 30) / 2.0)
    every = aperture_flux_errors(pred, truth, radius=6)
    shown = aperture_flux_errors(pred, truth, radius=6, input_noise=20.0, scale=2)
    assert every.size == 2 and np.min(every) == pytest.approx(-1.0, abs=0.01)
    assert shown.size == 1 and abs(shown[0]) < 0.01
    # a quieter input shows the faint source too
    assert aperture_flux_errors(pred, truth, radius=6, input_noise=3.0, scale=2).size == 2


def test_ground_pairs_are_registered_at_their_measured_scale():
    from astrolens.datasets._sources import shared_real

    if shared_real() is None:
        pytest.skip('needs ../shared/real (the SDSS/KiDS ground pairs)')
    from astrolens.datasets._evaluation import ground_pairs

    (pair,) = ground_pairs(names=['G266662'])
    # this pair is 1.71 apart, not the nominal 0.396 / 0.2 = 1.98
    assert 1.69 < pair['scale_ratio'] < 1.74 and 0 < pair['scale_ratio_error'] < 0.01
    lr, hr = pair['lr'], pair['hr']
    assert hr.shape == (2 * lr.shape[0], 2 * lr.shape[1])
    sums = hr.reshape(lr.shape[0], 2, lr.shape[1], 2).sum(axis=(1, 3))
    covered = np.isfinite(sums)
    assert covered.mean() > 0.8
    # on the SDSS photometric scale and aligned: 2x2 sums follow SDSS, sky aside
    assert np.corrcoef(sums[covered], lr[covered])[0, 1] > 0.98
