"""The PSF measured on the stars of an image (`psf_from_stars`)."""

import numpy as np
import pytest
from astropy.nddata import NDData

from astrolens.io import make_wcs
from astrolens.preprocessing import psf_from_stars
from astrolens.utils import psf_fwhm


def _moffat(shape, positions, fluxes, fwhm, beta):
    y, x = np.mgrid[:shape[0], :shape[1]]
    gamma = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    image = np.zeros(shape)
    for (px, py), flux in zip(positions, fluxes, strict=True):
        profile = (1.0 + ((x - px) ** 2 + (y - py) ** 2) / gamma ** 2) ** (-beta)
        image += flux * profile / profile.sum()
    return image


def _star_field(fwhm=3.0, beta=3.5, seed=1, n=160, noise=1.0, step=30):
    """Stars on a jittered grid (isolated), of random sub-pixel centres and fluxes."""
    rng = np.random.default_rng(seed)
    grid = np.arange(20, n - 19, step)
    positions = [(gx + rng.uniform(-3, 3), gy + rng.uniform(-3, 3)) for gx in grid for gy in grid]
    fluxes = rng.uniform(2e3, 2e4, len(positions))
    image = _moffat((n, n), positions, fluxes, fwhm, beta) + 10.0
    return image + rng.normal(0.0, noise, image.shape)


@pytest.mark.parametrize('fwhm', [2.2, 3.0, 4.5])
def test_the_fwhm_of_moffat_stars_is_recovered(fwhm):
    star = psf_from_stars(NDData(_star_field(fwhm), wcs=make_wcs((160, 160), 0.4)))
    assert star.n_stars >= 10
    assert star.fwhm == pytest.approx(fwhm, rel=0.03)
    assert star.fwhm_arcsec == pytest.approx(0.4 * fwhm, rel=0.03)
    # the uncertainty is the scatter over sqrt(n): small, but not zero, and it covers the truth
    assert 0 < star.fwhm_error < 0.03 * fwhm
    assert abs(star.fwhm - fwhm) < 4 * star.fwhm_error + 0.01 * fwhm
    assert star.ellipticity < 0.05
    image = star.image()
    assert image.sum() == pytest.approx(1.0)
    assert psf_fwhm(image) == pytest.approx(fwhm, rel=0.05)


def test_galaxies_and_saturated_stars_are_left_out():
    # stars every 40 pixels; between them, isolated, two galaxies and a saturated star
    image = _star_field(3.0, seed=2, n=200, step=40)
    y, x = np.mgrid[:200, :200]
    for gx, gy in ((40, 40), (120, 80)):
        image += 400 * np.exp(-np.hypot((x - gx) / 1.3, y - gy) / 2.5)
    bright = _moffat((200, 200), [(80.3, 160.6)], [1e6], 3.0, 3.5)
    image = np.minimum(image + bright, 3000.0)     # a saturated star: its core clipped flat
    star = psf_from_stars(image)
    assert star.fwhm == pytest.approx(3.0, rel=0.03)
    assert star.n_stars == 25
    assert star.pixel_scale is None and star.fwhm_arcsec is None
    for where in ((80.3, 160.6), (40, 40), (120, 80)):
        assert not np.any(np.hypot(*(star.positions - where).T) < 3)
    with pytest.raises(ValueError, match=r'25 stars found .*saturated, 2 not in the stellar locus'):
        psf_from_stars(image, min_stars=26)


def test_stars_above_the_saturation_level_are_left_out():
    image = _star_field(3.0, seed=5, n=120, step=40)
    peaks = [image[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2].max()
             for x, y in psf_from_stars(image).positions]
    level = float(np.median(peaks))
    star = psf_from_stars(image, saturation=level)
    assert star.n_stars < len(peaks)
    with pytest.raises(ValueError, match='saturated'):
        psf_from_stars(image, saturation=level, min_stars=len(peaks))


def test_an_image_of_one_galaxy_gives_no_psf():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:128, :128]
    galaxy = 500 * np.exp(-np.hypot((x - 64) / 1.5, y - 64) / 8) + rng.normal(0, 1.0, (128, 128))
    with pytest.raises(ValueError, match=r'too few stars .*at least 3'):
        psf_from_stars(galaxy)
    with pytest.raises(ValueError, match='no peak 10 sigma above'):
        psf_from_stars(rng.normal(0, 1.0, (64, 64)))


def test_stars_of_different_widths_are_not_one_psf():
    # two populations the locus keeps together (within 30%) but that scatter by more than 5%
    image = _star_field(3.0, seed=3) + _star_field(3.6, seed=8) - 10
    star = psf_from_stars(image)
    assert star.scatter > 0.05
    with pytest.raises(ValueError, match='scatter by'):
        psf_from_stars(image, max_scatter=0.05)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='2-D image'):
        psf_from_stars(np.ones((3, 8, 8)))
    with pytest.raises(ValueError, match='odd integer'):
        psf_from_stars(np.ones((32, 32)), size=10)


def test_the_stars_of_a_real_plate():
    from astrolens.datasets._sources import shared_real
    from astrolens.io import read_fits

    real = shared_real()
    if real is None or not (real / 'ground' / 'M6707HH.fits.gz').exists():
        pytest.skip('the DSS plate of shared/real/ground is not here')
    path = real / 'ground' / 'M6707HH.fits.gz'

    star = psf_from_stars(read_fits(path))
    # DSS plate of 1.7"/px (its plate solution is not a FITS WCS): seeing of 2-4"
    assert star.n_stars >= 20
    assert 1.2 < star.fwhm < 2.4
    assert star.fwhm_error < 0.05 * star.fwhm
