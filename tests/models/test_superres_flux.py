"""Local flux correction (back-projection) and the ratio-of-sums flux gain."""

import numpy as np
import pytest
from scipy import ndimage

from astrolens.datasets._evaluation import aperture_flux_errors
from astrolens.models._sr_flux import (
    backproject_flux,
    block_sum,
    correct_flux,
    estimate_gain,
    fit_blur,
)


def _scene(n=64, s=2, seed=0):
    """Truth (HR, flux per pixel), its LR (blurred, 2x2 summed, noisy), and source centres.

    Four compact sources on a 2 x 2 grid (jittered), apart by more than the correction's
    smoothing scale.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n * s, :n * s]
    truth = np.zeros((n * s, n * s))
    centres = []
    for gy in (0.25, 0.75):
        for gx in (0.25, 0.75):
            cy, cx = np.array([gy, gx]) * n * s + rng.uniform(-4, 4, 2)
            truth += rng.uniform(50, 200) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                                   / (2 * rng.uniform(1.5, 3.0) ** 2))
            centres.append((cy, cx))
    lr = block_sum(ndimage.gaussian_filter(truth, 2.0), s) + rng.normal(0, 0.5, (n, n))
    return truth, lr, centres


def _biased_output(truth, centres):
    """A network-like answer that moved flux: sources too bright or too faint, sky too low."""
    out = truth.copy()
    yy, xx = np.mgrid[:truth.shape[0], :truth.shape[1]]
    for k, (cy, cx) in enumerate(centres):
        near = ((yy - cy) ** 2 + (xx - cx) ** 2) < 10 ** 2
        out[near] *= 1.3 if k % 2 else 0.75
    return out - 0.02


def test_local_correction_restores_every_aperture_flux_and_the_total():
    truth, lr, centres = _scene()
    biased = _biased_output(truth, centres)
    good = np.ones(lr.shape, dtype=bool)
    local = backproject_flux(biased, lr, good, scale=2)
    total, _ = correct_flux(biased, lr, good, scale=2, mode='total', surface_brightness=False)
    xy = [(cx, cy) for cy, cx in centres]
    # apertures of 9 LR pixels: fluxes on scales above the smoothing (3 LR pixels) are kept
    err_local = np.abs(aperture_flux_errors(local, truth, radius=18, positions=xy))
    err_total = np.abs(aperture_flux_errors(total, truth, radius=18, positions=xy))
    assert err_total.size == len(centres)
    assert np.max(err_total) > 0.1            # a global rescaling cannot fix local errors
    assert np.max(err_local) < 0.03
    assert local.sum() == pytest.approx(lr.sum(), rel=1e-9)


def test_local_correction_leaves_no_block_pattern():
    truth, lr, centres = _scene(seed=1)
    biased = _biased_output(truth, centres)
    good = np.ones(lr.shape, dtype=bool)
    local = backproject_flux(biased, lr, good, scale=2) - biased
    block, _ = correct_flux(biased, lr, good, scale=2, mode='block', surface_brightness=False)
    block = block - biased

    def grid_imprint(c):
        # steps across the boundaries of the 2x2 blocks against steps inside them
        dx, dy = np.abs(np.diff(c, axis=1)), np.abs(np.diff(c, axis=0))
        across = dx[:, 1::2].mean() + dy[1::2, :].mean()
        within = dx[:, 0::2].mean() + dy[0::2, :].mean()
        return across / within
    assert grid_imprint(block) > 1.5
    assert grid_imprint(local) < 1.1


def test_local_correction_ignores_masked_inputs_and_keeps_the_mean_of_surface_brightness():
    truth, lr, centres = _scene(seed=2)
    biased = _biased_output(truth, centres)
    cy, cx = (int(v) // 2 for v in centres[0])
    good = np.ones(lr.shape, dtype=bool)
    good[cy - 2:cy + 2, cx - 2:cx + 2] = False     # mask the core of a source
    wild = lr.copy()
    wild[~good] = 0.0                          # what the masked pixels hold must not matter
    out = backproject_flux(biased, wild, good, scale=2)
    clean = backproject_flux(biased, lr, np.ones_like(good), scale=2)
    region = np.repeat(np.repeat(~good, 2, axis=0), 2, axis=1)
    assert np.all(np.isfinite(out))
    # the masked (zeroed) input pulls no flux out of the source under it (the network's own
    # flux stays there, uncorrected: nothing constrains it), and nothing piles up there either
    assert out[region].sum() > 0.97 * biased[region].sum()
    assert out[region].sum() < 1.15 * clean[region].sum()
    sb = backproject_flux(_biased_output(truth, centres) * 4, lr, np.ones_like(good),
                          scale=2, surface_brightness=True)
    assert sb.mean() == pytest.approx(lr.mean(), rel=1e-9)


def test_flux_gain_is_a_ratio_of_sums_unbiased_by_noise():
    rng = np.random.default_rng(3)
    hrs = [rng.uniform(0, 1, (32, 32)) + 1.0 for _ in range(20)]
    # noise as large as the signal's spread: a per-pixel regression slope is pulled far off
    lrs = [block_sum(h, 2) + rng.normal(0, 1.0, (16, 16)) for h in hrs]
    assert estimate_gain(lrs, hrs, 2) == pytest.approx(0.25, rel=0.01)


def _sharp_scene_and_blurred_input(seed, *, fwhm, noise):
    """A sharp truth and its input: blurred by a Gaussian of ``fwhm`` (output pixels), 2x2
    summed, with white noise."""
    truth, _, _ = _scene(seed=seed)
    sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    rng = np.random.default_rng(seed + 100)
    lr = block_sum(ndimage.gaussian_filter(truth, sigma), 2)
    return truth, lr + rng.normal(0, noise, lr.shape)


def test_fit_blur_finds_the_blur_between_output_and_input():
    for fwhm in (3.0, 6.0):
        truth, lr = _sharp_scene_and_blurred_input(4, fwhm=fwhm, noise=0.2)
        found = fit_blur(truth, lr, np.ones(lr.shape, dtype=bool), scale=2)
        assert found == pytest.approx(fwhm, rel=0.1)


def test_fit_blur_of_a_large_image_uses_the_window_with_the_sources():
    # a 640 x 640 input whose sources sit in one corner, noise elsewhere: the window fit must
    # find them (a window on empty sky fits nothing) and agree with the fit over every pixel
    truth, _ = _sharp_scene_and_blurred_input(6, fwhm=4.0, noise=0.0)
    big = np.zeros((1280, 1280))
    big[900:900 + truth.shape[0], 1000:1000 + truth.shape[1]] = truth
    rng = np.random.default_rng(7)
    lr = block_sum(ndimage.gaussian_filter(big, 4.0 / 2.3548), 2) + rng.normal(0, 0.2, (640, 640))
    good = np.ones(lr.shape, dtype=bool)
    windowed = fit_blur(big, lr, good, scale=2, max_size=96)
    assert windowed == pytest.approx(4.0, rel=0.1)
    assert windowed == pytest.approx(fit_blur(big, lr, good, scale=2, max_size=None), abs=0.1)


def test_local_correction_through_the_fitted_blur_keeps_a_sharp_answer_sharp():
    # a perfect answer must stay (nearly) as it is; comparing block sums without the blur
    # pulls it back towards the blurred input
    truth, lr = _sharp_scene_and_blurred_input(5, fwhm=5.0, noise=0.2)
    good = np.ones(lr.shape, dtype=bool)
    fitted = backproject_flux(truth, lr, good, scale=2)
    unblurred = backproject_flux(truth, lr, good, scale=2, blur=None)
    change_fitted = np.abs(fitted - truth).sum() / truth.sum()
    change_unblurred = np.abs(unblurred - truth).sum() / truth.sum()
    assert change_fitted < 0.05
    assert change_unblurred > 3 * change_fitted


def test_local_correction_with_a_noise_threshold_does_not_put_the_noise_back():
    truth, lr = _sharp_scene_and_blurred_input(6, fwhm=4.0, noise=2.0)
    good = np.ones(lr.shape, dtype=bool)
    plain = backproject_flux(truth, lr, good, scale=2, smooth=1.0)
    shrunk = backproject_flux(truth, lr, good, scale=2, smooth=1.0, noise=2.0, threshold=2.0)
    assert np.std(shrunk - truth) < 0.3 * np.std(plain - truth)
    assert shrunk.sum() == pytest.approx(lr.sum(), rel=1e-9)
    # a flux error far above the noise is still corrected
    biased = truth.copy()
    biased[:64, :64] *= 0.6
    fixed = backproject_flux(biased, lr, good, scale=2, smooth=1.0, noise=2.0, threshold=2.0)
    assert abs(fixed[:64, :64].sum() - truth[:64, :64].sum()) \
        < 0.3 * abs(biased[:64, :64].sum() - truth[:64, :64].sum())


def test_blur_option_is_checked():
    truth, lr = _sharp_scene_and_blurred_input(7, fwhm=4.0, noise=0.2)
    with pytest.raises(ValueError, match="blur must be 'fit'"):
        backproject_flux(truth, lr, np.ones(lr.shape, dtype=bool), scale=2, blur='gauss')


def test_local_correction_leaves_its_input_alone_unless_told_to_overwrite_it():
    truth, lr, centres = _scene(seed=8)
    biased = _biased_output(truth, centres)
    kept = biased.copy()
    good = np.ones(lr.shape, dtype=bool)
    corrected = backproject_flux(biased, lr, good, scale=2)
    assert np.array_equal(biased, kept)
    in_place = backproject_flux(biased, lr, good, scale=2, overwrite=True)
    assert in_place is biased                  # one output-sized copy fewer on large images
    np.testing.assert_allclose(in_place, corrected, rtol=0, atol=1e-12 * np.ptp(corrected))
