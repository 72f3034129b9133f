import numpy as np
import pytest

from astrolens.metrics._image import flux_error, image_metrics, mse, psnr, ssim


def test_metrics_use_the_reference_range():
    ref = np.linspace(0, 10, 64).reshape(8, 8)
    pred = ref + 0.1
    assert mse(pred, ref) == pytest.approx(1e-4)
    assert psnr(pred, ref) == pytest.approx(40.0)
    # rescaling both images together changes nothing
    assert psnr(3 * pred + 7, 3 * ref + 7) == pytest.approx(40.0)
    assert psnr(ref, ref) == np.inf
    assert ssim(ref, ref) == pytest.approx(1.0)


def test_metrics_on_a_batch_are_per_image():
    ref = np.random.default_rng(0).random((3, 16, 16))
    assert psnr(ref + 0.01, ref).shape == (3,)
    assert set(image_metrics(ref + 0.01, ref)) == {'psnr', 'ssim', 'mse', 'flux_error'}


def test_flux_error_across_scales():
    lr = np.ones((4, 4))
    sr = np.full((8, 8), 0.25 * 1.01)
    assert flux_error(sr, lr) == pytest.approx(0.01)
    assert flux_error(4 * sr, lr, surface_brightness=True) == pytest.approx(0.01)
    with pytest.raises(ValueError, match='shapes differ'):
        psnr(np.ones((4, 4)), np.ones((4, 5)))
