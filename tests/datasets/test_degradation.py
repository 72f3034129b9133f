"""The physical degradation model: flux, PSF width, noise level and correlation, defects, ranges."""

import numpy as np
import pytest

from astrolens.datasets._degradation import (
    RANGES,
    REAL_PSFS,
    Recipe,
    _fwhm_of,
    degrade,
    draw_recipe,
    gaussian_psf,
    moffat_psf,
    psf_fwhm,
    real_psf,
    rebin,
    robust_sigma,
)
from astrolens.datasets._sources import shared_real


def _galaxy(size=96, sigma=4.0):
    yy, xx = np.mgrid[:size, :size]
    return 100.0 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (2 * sigma ** 2))


def test_rebin_is_a_block_sum_for_integer_factors_and_keeps_flux_otherwise():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (12, 12))
    assert np.allclose(rebin(image, 2), image.reshape(6, 2, 6, 2).sum(axis=(1, 3)))
    out = rebin(image[:10, :10], 1.25)     # 8 x 8 pixels of 1.25: the whole image exactly
    assert out.shape == (8, 8)
    assert out.sum() == pytest.approx(image[:10, :10].sum(), rel=1e-12)


def test_rebin_refuses_negative_offsets():
    with pytest.raises(ValueError, match='offset'):
        rebin(np.ones((8, 8)), 2, offset=(-0.1, 0.0))


@pytest.mark.parametrize('fwhm', [2.0, 5.0])
def test_psf_models_have_the_asked_width_and_unit_sum(fwhm):
    for psf in (gaussian_psf(fwhm), moffat_psf(fwhm, 3.0)):
        assert psf.sum() == pytest.approx(1.0)
        assert _fwhm_of(psf) == pytest.approx(fwhm, rel=0.25)


@pytest.mark.parametrize('size', [9, 15, 31, 61])
def test_psf_fwhm_does_not_depend_on_the_stamp_size(size):
    y, x = np.mgrid[:size, :size] - (size - 1) / 2.0
    sigma = 2.5                                  # FWHM 5.887 pixels
    psf = np.exp(-0.5 * (x * x + y * y) / sigma ** 2)
    assert psf_fwhm(psf) == pytest.approx(2.0 * np.sqrt(2.0 * np.log(2.0)) * sigma, rel=0.01)


def test_real_psfs_are_resampled_to_the_asked_width():
    if shared_real() is None:
        pytest.skip('../shared/real is absent (the real PSFs live there)')
    for name in REAL_PSFS:
        psf = real_psf(name, 6.0)
        assert psf is not None and psf.sum() == pytest.approx(1.0)
        assert _fwhm_of(psf) == pytest.approx(6.0, rel=0.3)


def test_noise_free_degradation_keeps_the_flux_and_widens_the_psf():
    hr = _galaxy()
    recipe = Recipe(scale=2, pixel_ratio=2.0, target_fwhm=1.0, lr_fwhm=8.0, snr=1e9,
                    sky_sigmas=1.0, sky_subtracted=False)
    pair = degrade(hr, recipe, rng=np.random.default_rng(0), native_fwhm=1.0)
    assert pair.hr.shape == (2 * pair.lr.shape[0], 2 * pair.lr.shape[1])
    assert np.nansum(pair.lr) == pytest.approx(pair.hr.sum(), rel=1e-3)
    # the LR image is blurred: its peak, per unit area, is below the target's
    assert pair.lr.max() / 4 < 0.9 * pair.hr.max()


def test_non_integer_pixel_ratio_gives_an_exact_x3_target():
    pair = degrade(_galaxy(120), Recipe(scale=3, pixel_ratio=3.36, target_fwhm=2.0,
                                        lr_fwhm=12.0, snr=1e9, sky_sigmas=1.0,
                                        sky_subtracted=False),
                   rng=np.random.default_rng(1), native_fwhm=2.0)
    assert pair.hr.shape == (3 * pair.lr.shape[0], 3 * pair.lr.shape[1])
    assert np.nansum(pair.lr) == pytest.approx(pair.hr.sum(), rel=2e-3)


def test_noise_level_follows_the_peak_signal_to_noise_ratio():
    hr = _galaxy(160)
    for snr in (10.0, 200.0):
        recipe = Recipe(scale=2, lr_fwhm=4.0, target_fwhm=1.0, snr=snr, sky_subtracted=True,
                        read_fraction=1.0)
        pair = degrade(hr, recipe, rng=np.random.default_rng(2), native_fwhm=1.0)
        clean = degrade(hr, Recipe(**{**recipe.to_dict(), 'snr': 1e12,
                                      'offset': recipe.offset}),
                        rng=np.random.default_rng(2), native_fwhm=1.0)
        # the peak is the 99.9th percentile over the median (robust to a hot pixel)
        peak = np.percentile(clean.lr, 99.9) - np.median(clean.lr)
        corner = pair.lr[:15, :15]
        assert np.std(corner) == pytest.approx(peak / snr, rel=0.2)
        assert np.median(pair.sigma) == pytest.approx(peak / snr, rel=0.1)


def test_correlated_noise_is_correlated_and_white_noise_is_not():
    flat = np.zeros((200, 200))
    corr = []
    for fwhm in (0.0, 1.5):
        pair = degrade(flat, Recipe(scale=2, lr_fwhm=3.0, correlation_fwhm=fwhm,
                                    sky_subtracted=True),
                       rng=np.random.default_rng(3), native_fwhm=1.0)
        a = pair.lr - pair.lr.mean()
        corr.append(np.mean(a[:, 1:] * a[:, :-1]) / np.var(a))
    assert abs(corr[0]) < 0.05
    assert corr[1] > 0.3
    # a single-image estimate sees the white noise level right
    pair = degrade(flat, Recipe(scale=2, lr_fwhm=3.0, sky_subtracted=True),
                   rng=np.random.default_rng(4), native_fwhm=1.0)
    assert robust_sigma(pair.lr) == pytest.approx(np.median(pair.sigma), rel=0.1)


def test_sky_left_on_is_in_the_target_too():
    pair = degrade(_galaxy(), Recipe(scale=2, lr_fwhm=4.0, snr=50.0, sky_sigmas=50.0,
                                     sky_subtracted=False),
                   rng=np.random.default_rng(5), native_fwhm=1.0)
    assert np.median(pair.lr) == pytest.approx(4 * np.median(pair.hr), rel=0.05)
    sub = degrade(_galaxy(), Recipe(scale=2, lr_fwhm=4.0, snr=50.0, sky_sigmas=50.0,
                                    sky_subtracted=True),
                  rng=np.random.default_rng(5), native_fwhm=1.0)
    assert abs(np.median(sub.lr)) < 3 * np.median(sub.sigma)


def test_cosmic_rays_are_in_the_input_only_and_masks_are_nan():
    hr = _galaxy()
    base = Recipe(scale=2, lr_fwhm=4.0, snr=50.0, sky_subtracted=False)
    clean = degrade(hr, base, rng=np.random.default_rng(6), native_fwhm=1.0)
    hit = degrade(hr, Recipe(**{**base.to_dict(), 'n_cosmic': 5, 'offset': base.offset}),
                  rng=np.random.default_rng(6), native_fwhm=1.0)
    assert np.nanmax(hit.lr - clean.lr) > 4 * np.median(clean.sigma)
    assert np.array_equal(hit.hr, clean.hr)
    masked = degrade(hr, Recipe(**{**base.to_dict(), 'mask_fraction': 0.02,
                                   'offset': base.offset}),
                     rng=np.random.default_rng(7), native_fwhm=1.0)
    assert masked.mask.any() and not masked.mask.all()
    assert np.array_equal(np.isnan(masked.lr), masked.mask)


@pytest.mark.parametrize('preset', sorted(RANGES))
def test_drawn_recipes_stay_inside_the_documented_ranges(preset):
    rng = np.random.default_rng(8)
    r = RANGES[preset]
    snrs, ratios = [], []
    for _ in range(200):
        recipe = draw_recipe(rng, preset=preset, native_fwhm=1.5)
        assert recipe.scale == r['scale']
        assert recipe.pixel_ratio in r['pixel_ratio']
        assert r['snr'][0] <= recipe.snr <= r['snr'][1]
        assert recipe.lr_fwhm >= r['lr_fwhm_min'] * r['scale'] - 1e-9
        assert recipe.lr_fwhm > recipe.target_fwhm
        assert max(abs(v) for v in recipe.offset) <= r['max_offset']
        if 'p_elliptical' in r:
            lo, hi = r['psf_axis_ratio']
            assert recipe.psf_axis_ratio == 1.0 or lo <= recipe.psf_axis_ratio <= hi
        else:
            assert recipe.psf_axis_ratio == 1.0
        ratios.append(recipe.psf_axis_ratio)
        assert recipe.correlation_fwhm == 0.0 or \
            r['correlation_fwhm'][0] <= recipe.correlation_fwhm <= r['correlation_fwhm'][1]
        snrs.append(recipe.snr)
    # log-uniform over the range: both ends are visited
    assert min(snrs) < 10 and max(snrs) > 250
    # elliptical PSFs for about p_elliptical of the pairs
    share = np.mean(np.array(ratios) < 1.0)
    assert abs(share - r.get('p_elliptical', 0.0)) < 0.1


def test_any_psf_is_made_elliptical_with_the_asked_axis_ratio():
    from astrolens.datasets._degradation import elliptical_gaussian_psf, stretch_psf

    def axis_ratio(psf):
        y, x = np.indices(psf.shape) - (np.array(psf.shape)[:, None, None] - 1) / 2.0
        cov = np.cov(np.stack([x.ravel(), y.ravel()]), aweights=psf.ravel())
        small, large = np.linalg.eigvalsh(cov)
        return np.sqrt(small / large)

    round_gauss = gaussian_psf(8.0, size=61)
    for angle in (0.0, 30.0, 120.0):
        made = stretch_psf(round_gauss, 0.6, angle)
        assert made.sum() == pytest.approx(1.0)
        assert axis_ratio(made) == pytest.approx(0.6, abs=0.03)
        # a stretched Gaussian is the elliptical Gaussian of that angle
        exact = elliptical_gaussian_psf(8.0, 0.6, angle)
        pad = (made.shape[0] - exact.shape[0]) // 2
        assert np.abs(made - np.pad(exact, pad)).max() < 0.03 * made.max()
    moffat = moffat_psf(6.0, 2.5, size=61)
    assert axis_ratio(stretch_psf(moffat, 0.5, 45.0)) == pytest.approx(0.5, abs=0.05)


def test_unknown_preset_and_recipe_fields_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='preset'):
        draw_recipe(rng, preset='nope')
    with pytest.raises(ValueError, match='recipe field'):
        draw_recipe(rng, overrides={'nope': 1})
    with pytest.raises(ValueError, match='finite'):
        degrade(np.full((10, 10), np.nan), Recipe(), rng=rng)


def test_the_unseen_evaluation_recipe_lies_outside_every_training_range():
    """The Hubble Deep Field set is called an unseen degradation: keep it outside what the x2
    presets draw (their Moffat wings and noise correlation)."""
    from astrolens.datasets._evaluation import UNSEEN_RECIPE

    for preset in ('survey-x2', 'deeplense-x2'):
        r = RANGES[preset]
        assert UNSEEN_RECIPE['psf_kind'] == 'moffat'
        assert not r['moffat_beta'][0] <= UNSEEN_RECIPE['moffat_beta'] <= r['moffat_beta'][1]
        assert UNSEEN_RECIPE['correlation_fwhm'] > r['correlation_fwhm'][1]
