import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from scipy.signal import fftconvolve

from astrolens.preprocessing import gaussian_psf, match_psf, matching_kernel, read_psf


def _fwhm_from_moments(psf, scale):
    y, x = np.indices(psf.shape)
    cy, cx = (y * psf).sum(), (x * psf).sum()
    var = 0.5 * (((y - cy) ** 2 * psf).sum() + ((x - cx) ** 2 * psf).sum())
    return 2.3548 * np.sqrt(var) * scale, (cy, cx)


@pytest.mark.parametrize('fwhm, scale', [(0.6, 0.168), (0.1, 0.05), (0.087, 0.05)])
def test_gaussian_psf_sums_to_one_with_the_right_fwhm(fwhm, scale):
    psf = gaussian_psf(fwhm, scale)
    assert psf.sum() == pytest.approx(1.0)
    assert psf.shape[0] % 2 == 1 and psf.shape[0] == psf.shape[1]
    measured, centre = _fwhm_from_moments(psf, scale)
    assert measured == pytest.approx(fwhm, rel=0.01)
    assert np.allclose(centre, psf.shape[0] // 2)
    assert np.unravel_index(psf.argmax(), psf.shape) == (psf.shape[0] // 2,) * 2


def test_gaussian_psf_accepts_quantities_and_size():
    psf = gaussian_psf(600 * u.mas, 0.168 * u.arcsec, size=11)
    assert psf.shape == (11, 11)
    with pytest.raises(ValueError, match='odd'):
        gaussian_psf(0.6, 0.168, size=10)
    with pytest.raises(ValueError, match='positive'):
        gaussian_psf(-1, 0.168)


def test_read_psf_from_file_hdu_and_nddata(tmp_path):
    psf = gaussian_psf(0.6, 0.168) * 7.0
    path = tmp_path / 'img.fits'
    fits.HDUList([fits.PrimaryHDU(np.zeros((5, 5))), fits.ImageHDU(psf, name='PSF')]
                 ).writeto(path)
    for source in (path, str(path), fits.ImageHDU(psf), NDData(np.zeros((3, 3)), psf=psf)):
        read = read_psf(source)
        assert read.sum() == pytest.approx(1.0)
        assert np.allclose(read, psf / psf.sum())
    with pytest.raises(FileNotFoundError):
        read_psf(tmp_path / 'missing.fits')
    with pytest.raises(TypeError):
        read_psf(3)


def test_read_psf_recentres_even_sized_psfs():
    psf = gaussian_psf(0.6, 0.1, size=21)[:-1, :-1]
    read = read_psf(fits.ImageHDU(psf))
    assert read.shape[0] % 2 == 1
    _, centre = _fwhm_from_moments(read, 1.0)
    assert np.allclose(centre, read.shape[0] // 2, atol=0.01)


def test_matching_kernel_turns_one_psf_into_the_other():
    narrow, broad = gaussian_psf(0.1, 0.056, size=41), gaussian_psf(0.6, 0.056, size=41)
    kernel = matching_kernel(narrow, broad)
    assert kernel.sum() == pytest.approx(1.0)
    matched = fftconvolve(narrow, kernel, mode='same')
    assert np.abs(matched - broad).max() < 0.01 * broad.max()


def test_match_psf_keeps_flux_and_nans():
    narrow, broad = gaussian_psf(0.1, 0.056, size=41), gaussian_psf(0.6, 0.056, size=41)
    image = np.zeros((80, 80))
    image[40, 40] = 10.0
    out = match_psf(image, narrow, broad)
    assert out.sum() == pytest.approx(10.0, rel=1e-3)
    image[0, 0] = np.nan
    assert np.isnan(match_psf(image, narrow, broad)[0, 0])
