"""register_pair(fit_scale=True): the scale ratio of a pair measured from its content."""

import warnings

import numpy as np
import pytest
from astropy.nddata import NDData

from astrolens.cli import main
from astrolens.io import write_fits
from astrolens.preprocessing import register_pair
from astrolens.wcs_utils import make_wcs, scale_wcs

LR_SCALE, LR_FWHM, HR_FWHM = 0.4, 1.3, 0.7
NOMINAL = 1.98


def _render(shape, scale, sources, fwhm, *, centre=(0.0, 0.0), rotation=0.0, noise=0.0,
            seed=0, supersample=3):
    """Pixel-integrated Gaussian blobs (flux per pixel); pixel offsets turned by ``rotation``."""
    ny, nx = shape
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    y = ((np.arange(ny)[:, None] + sub).ravel() - (ny - 1) / 2) * scale
    x = ((np.arange(nx)[:, None] + sub).ravel() - (nx - 1) / 2) * scale
    xx, yy = np.meshgrid(x, y)
    t = np.deg2rad(rotation)
    sy = np.cos(t) * yy + np.sin(t) * xx + centre[0]
    sx = -np.sin(t) * yy + np.cos(t) * xx + centre[1]
    psf_var = (fwhm / 2.3548) ** 2
    image = np.zeros_like(sx)
    for flux, px, py, size in sources:
        var = size ** 2 + psf_var
        image += flux / (2 * np.pi * var) * np.exp(-((sx - px) ** 2 + (sy - py) ** 2) / (2 * var))
    image = image.reshape(ny, supersample, nx, supersample).sum(axis=(1, 3))
    image *= (scale / supersample) ** 2
    return image + noise * np.random.default_rng(seed).standard_normal(shape)


def _sources(seed=1, n=12, extent=11.0):
    rng = np.random.default_rng(seed)
    out = [(2000.0, 0.0, 0.0, 1.0)]
    out += [(rng.uniform(50, 500), rng.uniform(-extent, extent), rng.uniform(-extent, extent),
             rng.uniform(0.05, 0.6)) for _ in range(n)]
    return out


def make_pair(ratio, *, rotation=0.0, centre=(0.1, -0.05)):
    """LR (64x64 at 0.4"/px) and HR (150x140 at 0.4/ratio "/px) of the same scene."""
    sources = _sources()
    lr = _render((64, 64), LR_SCALE, sources, LR_FWHM, centre=centre, noise=0.5)
    hr = _render((150, 140), LR_SCALE / ratio, sources, HR_FWHM, rotation=rotation, noise=0.2,
                 seed=2)
    return lr, hr


@pytest.mark.parametrize('ratio', [1.80, 2.05])
def test_fit_scale_recovers_the_ratio_of_a_pair_without_wcs(ratio):
    lr, hr = make_pair(ratio)
    pair = register_pair(NDData(lr), NDData(hr), fit_scale=True, scale_ratio=NOMINAL,
                         lr_psf=LR_FWHM / LR_SCALE, hr_psf=HR_FWHM / LR_SCALE)
    assert abs(pair.scale_ratio / ratio - 1) < 0.002
    assert 0 < pair.scale_ratio_error < 0.005
    assert pair.factor == 2 and pair.hr.data.shape == (128, 128)
    # the scene's centre is 0.1" up and 0.05" left of the LR centre: (-0.25, 0.125) LR px
    assert np.hypot(pair.shift[0] + 0.25, pair.shift[1] - 0.125) < 0.05
    assert pair.hr.wcs is None and pair.consistency() < 1.3
    assert pair.hr.meta['registration_scale_ratio'] == pytest.approx(pair.scale_ratio)


def test_fit_scale_corrects_a_wrong_wcs_scale():
    lr, hr = make_pair(1.80)
    lr_wcs = make_wcs(lr.shape, LR_SCALE)
    hr_wcs = make_wcs(hr.shape, LR_SCALE / NOMINAL)     # the nominal scale: 10% off
    pair = register_pair(NDData(lr, wcs=lr_wcs, meta={'pixel_scale': LR_SCALE}),
                         NDData(hr, wcs=hr_wcs), fit_scale=True, lr_psf=LR_FWHM,
                         hr_psf=HR_FWHM)
    assert abs(pair.scale_ratio / 1.80 - 1) < 0.002
    expected = scale_wcs(lr_wcs, 2)
    assert np.allclose(pair.hr.wcs.wcs.crpix, expected.wcs.crpix)
    assert np.allclose(pair.hr.wcs.pixel_scale_matrix, expected.pixel_scale_matrix)
    assert pair.consistency() < 1.3
    # trusting the WCS leaves a pair that disagrees well beyond the noise
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        trusted = register_pair(NDData(lr, wcs=lr_wcs), NDData(hr, wcs=hr_wcs),
                                lr_psf=LR_FWHM, hr_psf=HR_FWHM)
    assert np.isnan(trusted.scale_ratio_error)
    assert trusted.scale_ratio == pytest.approx(NOMINAL)
    assert trusted.consistency() > 5 * pair.consistency()


def test_fit_rotation_recovers_a_small_rotation():
    lr, hr = make_pair(1.9, rotation=1.5)
    pair = register_pair(NDData(lr, meta={'pixel_scale': LR_SCALE}),
                         NDData(hr, meta={'pixel_scale': LR_SCALE / NOMINAL}), fit_scale=True,
                         fit_rotation=True, lr_psf=LR_FWHM, hr_psf=HR_FWHM)
    assert abs(pair.scale_ratio / 1.9 - 1) < 0.002
    assert pair.rotation == pytest.approx(1.5, abs=0.1)
    assert pair.consistency() < 1.3


def test_fit_scale_options_say_what_to_do():
    lr, hr = make_pair(1.9)
    with pytest.raises(ValueError, match='scale_ratio='):
        register_pair(NDData(lr), NDData(hr), fit_scale=True, lr_psf=3, hr_psf=1)
    with pytest.raises(ValueError, match='pass one of them'):
        register_pair(NDData(lr), NDData(hr), fit_scale=True, assume_aligned=True,
                      lr_psf=3, hr_psf=1)
    with pytest.raises(ValueError, match='options of fit_scale=True'):
        register_pair(NDData(lr), NDData(hr), scale_ratio=2.0, lr_psf=3, hr_psf=1)
    with pytest.raises(ValueError, match='fit_scale=True'):
        register_pair(NDData(lr), NDData(hr), lr_psf=3, hr_psf=1)
    with pytest.raises(ValueError, match='scale_ratio must be'):
        register_pair(NDData(lr), NDData(hr), fit_scale=True, scale_ratio=-1, lr_psf=3,
                      hr_psf=1)


def test_cli_fit_scale_prints_the_fitted_ratio(tmp_path, capsys):
    lr, hr = make_pair(1.80)
    write_fits(NDData(lr), tmp_path / 'lr.fits')
    write_fits(NDData(hr), tmp_path / 'hr.fits')
    argv = ['register', str(tmp_path / 'lr.fits'), str(tmp_path / 'hr.fits'), '-o',
            str(tmp_path / 'out'), '--lr-psf-fwhm', str(LR_FWHM / LR_SCALE), '--hr-psf-fwhm',
            str(HR_FWHM / LR_SCALE)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert '--fit-scale' in err
    assert main([*argv, '--fit-scale']) == 1
    assert '--scale-ratio' in capsys.readouterr().err
    assert main([*argv, '--fit-scale', '--scale-ratio', '1.98']) == 0
    out = capsys.readouterr().out
    ratio = float(out.split('fitted scale ratio ')[1].split()[0])
    assert abs(ratio / 1.80 - 1) < 0.002 and 'factor 2' in out
    assert (tmp_path / 'out' / 'HR' / 'hr.fits').is_file()
