"""`astrolens enhance` on every real FITS file of the shared folder, and the survey layouts
through the command line (--hdu, --bad-bits, --max-pixels, cubes, uncertainties).

A tiny network (trained for one epoch here) keeps this fast: what is checked -- sky
coordinates, flux, headers, masks, uncertainty -- does not depend on how good it is.
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty
from astropy.wcs import WCS

from astrolens.cli import main
from astrolens.io import read_fits
from astrolens.models import SuperResolver
from astrolens.wcs_utils import make_wcs

REAL = Path(__file__).resolve().parents[3] / 'shared' / 'real'
REAL_FILES = sorted(p for p in REAL.rglob('*') if p.name.lower().endswith(('.fits', '.fits.gz'))) \
    if REAL.is_dir() else []
needs_real = pytest.mark.skipif(not REAL_FILES, reason=f'shared real data not found at {REAL} '
                                '(it sits beside the checkout in CI)')


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    rng = np.random.default_rng(0)
    hr = rng.random((8, 32, 32)) + 0.5
    lr = hr.reshape(8, 16, 2, 16, 2).sum(axis=(2, 4))
    sr = SuperResolver(2, arch='edsr-xs', arch_kwargs={'n_feats': 4, 'n_blocks': 1}, seed=0)
    sr.fit(lr, hr, epochs=1, batch_size=8, patch_size=12, val_fraction=0, progress=False)
    path = tmp_path_factory.mktemp('model') / 'tiny'
    sr.save(path)
    return str(path)


def _enhance(model, source, out, *extra):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # domain and header-fix warnings are not the point
        return main(['enhance', str(source), '-o', str(out), '--model', model, '-q',
                     '--tile', '2048', *extra])


def _sky_offset_mas(out_wcs, in_wcs, shape, s):
    """Largest offset between output pixel centres and the matching input sub-pixels."""
    yy, xx = np.mgrid[0:shape[0] * s:5, 0:shape[1] * s:5]
    new = out_wcs.celestial.pixel_to_world_values(xx, yy)
    old = in_wcs.celestial.pixel_to_world_values((xx + 0.5) / s - 0.5, (yy + 0.5) / s - 0.5)
    dlon = (new[0] - old[0] + 180.0) % 360.0 - 180.0
    return float(np.nanmax(np.hypot(dlon * np.cos(np.deg2rad(old[1])), new[1] - old[1]))) * 3.6e6


def _kept_flux(nd):
    """Total flux of the good pixels, or their mean for a surface brightness."""
    from astrolens.models._sr_inference import is_surface_brightness

    good = np.isfinite(nd.data) & (True if nd.mask is None else ~np.asarray(nd.mask, bool))
    values = np.asarray(nd.data, float)[good]
    return float(values.mean() if is_surface_brightness(nd.unit) else values.sum())


@needs_real
@pytest.mark.parametrize('path', REAL_FILES, ids=[str(p.relative_to(REAL)) for p in REAL_FILES])
def test_enhance_every_real_file_keeps_sky_flux_and_clean_headers(model, path, tmp_path, capsys):
    out = tmp_path / 'out.fits'
    status = _enhance(model, path, out)
    err = capsys.readouterr().err
    if status != 0:
        # a refusal is one clear line that says what to do
        assert err.count('\n') == 1 and err.startswith('astrolens enhance: error: ')
        assert 'choose one with --hdu' in err, err
        return
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        source = read_fits(path)
    with fits.open(out) as hdul:
        header = hdul[0].header
        stale = re.compile(r'^(WAT\d_\d+|CD\d_\d|DP\d|CPDIS\d|D2IM\w*|DATAMIN|DATAMAX|GOODMAX)$')
        assert not [k for k in header if stale.match(k)]
        if source.wcs is not None:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                fresh = WCS(header)
            assert [str(w.message) for w in caught] == []
    result = read_fits(out)
    assert result.data.shape[-2:] == tuple(2 * n for n in source.data.shape[-2:])
    if source.wcs is not None and source.wcs.has_celestial:
        assert _sky_offset_mas(fresh, source.wcs, source.data.shape[-2:], 2) < 1
    scale = float(np.nanmax(np.abs(source.data)))
    assert _kept_flux(result) == pytest.approx(_kept_flux(source), rel=1e-3, abs=1e-6 * scale)
    for key in ('EXPTIME', 'FILTER', 'PHOTFLAM', 'EQUINOX'):
        if key in source.meta['header']:
            assert result.meta['header'][key] == source.meta['header'][key]
    if 'DATE-OBS' in source.meta['header']:  # wcslib writes old forms (26/10/92) as ISO
        assert 'DATE-OBS' in result.meta['header']


@needs_real
def test_hsc_cube_is_enhanced_plane_by_plane_with_its_wcs(model, tmp_path):
    out = tmp_path / 'hsc_sr.fits'
    assert _enhance(model, REAL / 'hsc_hst_cosmos' / 'Cut_HSC.fits', out) == 0
    source, result = read_fits(REAL / 'hsc_hst_cosmos' / 'Cut_HSC.fits'), read_fits(out)
    assert result.data.shape == (5, 100, 100)
    assert _sky_offset_mas(result.wcs, source.wcs, (50, 50), 2) < 1
    np.testing.assert_allclose(np.nansum(result.data, axis=(1, 2)),
                               np.nansum(source.data, axis=(1, 2)), rtol=1e-3)


def test_cube_with_3d_wcs_in_python_keeps_the_band_axis(model, tmp_path):
    from astropy.nddata import NDData

    wcs = WCS(naxis=3)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN', 'WAVE']
    wcs.wcs.crval, wcs.wcs.crpix = [150.0, 2.0, 4.8e-7], [8.5, 8.5, 1.0]
    wcs.wcs.cdelt, wcs.wcs.cunit = [-0.168 / 3600, 0.168 / 3600, 1.5e-7], ['deg', 'deg', 'm']
    wcs.wcs.set()
    cube = np.random.default_rng(1).random((3, 16, 16)) + 1.0
    unc = VarianceUncertainty(np.full(cube.shape, 0.04))
    sr = SuperResolver.load(model)
    out = sr.enhance(NDData(cube, wcs=wcs, unit='nJy', uncertainty=unc), progress=False)
    assert out.data.shape == (3, 32, 32) and out.wcs.naxis == 3
    assert out.wcs.wcs.ctype[2] == 'WAVE'
    assert out.wcs.pixel_to_world_values(0, 0, 2)[2] == pytest.approx(7.8e-7)
    assert isinstance(out.uncertainty, VarianceUncertainty)
    np.testing.assert_allclose(out.uncertainty.array, 0.04 / 16)
    np.testing.assert_allclose(out.data.sum(axis=(1, 2)), cube.sum(axis=(1, 2)), rtol=1e-3)


def _calexp(path):
    rng = np.random.default_rng(5)
    image = rng.normal(0.0, 0.1, (20, 20)).astype(np.float32)
    image[8:12, 8:12] += 30.0
    mask = np.zeros((20, 20), np.int32)
    mask[7:13, 7:13] |= 1 << 5      # DETECTED
    mask[2, 3] |= 1 << 3            # CR
    variance = np.full((20, 20), 0.01, np.float32)
    header = make_wcs((20, 20), 0.168).to_header()
    mhdu = fits.ImageHDU(mask, header=header, name='MASK')
    for name, bit in (('BAD', 0), ('SAT', 1), ('INTRP', 2), ('CR', 3), ('EDGE', 4),
                      ('DETECTED', 5), ('DETECTED_NEGATIVE', 6), ('NO_DATA', 8)):
        mhdu.header[f'HIERARCH MP_{name}'] = bit
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, header=header, name='IMAGE'), mhdu,
                  fits.ImageHDU(variance, header=header, name='VARIANCE')]).writeto(path)
    return image


def test_cli_calexp_keeps_sources_masks_cosmic_rays_and_writes_variance(model, tmp_path):
    src = tmp_path / 'calexp.fits'
    image = _calexp(src)
    out = tmp_path / 'calexp_sr.fits'
    assert _enhance(model, src, out) == 0
    result = read_fits(out)
    assert result.mask[4:6, 6:8].all() and result.mask.sum() == 4  # only the CR pixel
    assert np.nansum(result.data[16:24, 16:24]) == pytest.approx(image[8:12, 8:12].sum(),
                                                                 rel=0.05)
    assert isinstance(result.uncertainty, VarianceUncertainty)
    np.testing.assert_allclose(np.median(result.uncertainty.array), 0.01 / 16, rtol=1e-5)
    with fits.open(out) as hdul:
        assert hdul['UNCERT'].header['CTYPE1'] == 'RA---TAN'
    out2 = tmp_path / 'calexp_sr2.fits'
    assert _enhance(model, src, out2, '--bad-bits', 'BAD,SAT') == 0
    assert read_fits(out2).mask is None


def test_cli_uncertainty_flag_adds_model_spread_in_quadrature(model, tmp_path):
    src = tmp_path / 'calexp.fits'
    _calexp(src)
    out = tmp_path / 'u.fits'
    assert _enhance(model, src, out, '--uncertainty', '--uncertainty-method', 'd4') == 0
    variance = read_fits(out).uncertainty.array
    assert np.all(variance[~read_fits(out).mask] >= 0.01 / 16 * (1 - 1e-5))
    assert variance.max() > 0.01 / 16
    # the default (calibrated) replaces the propagated input variance by the resampled spread
    assert _enhance(model, src, out, '--uncertainty', '--overwrite') == 0
    result = read_fits(out)
    assert isinstance(result.uncertainty, VarianceUncertainty)
    assert result.meta['sr_uncertainty'] == 'calibrated'
    assert np.all(np.isfinite(result.uncertainty.array)) and result.uncertainty.array.max() > 0


def test_cli_drizzle_wht_and_hdu_forms(model, tmp_path, capsys):
    src = tmp_path / 'two.fits'
    header = make_wcs((16, 16), 0.05).to_header()
    rng = np.random.default_rng(2)
    hdus = [fits.PrimaryHDU()]
    for band in ('F606W', 'F814W'):
        wht = np.full((16, 16), 100.0, np.float32)
        wht[:, :3] = 0.0
        hdus += [fits.ImageHDU(rng.random((16, 16)).astype(np.float32), header=header,
                               name=f'{band}_SCI'), fits.ImageHDU(wht, name=f'{band}_WHT')]
    fits.HDUList(hdus).writeto(src)
    assert _enhance(model, src, tmp_path / 'a.fits') == 1
    err = capsys.readouterr().err
    assert '--hdu F606W_SCI' in err and "hdu='" not in err and err.count('\n') == 1
    for i, hdu in enumerate(('3', 'F814W_SCI', 'F814W_SCI,1')):
        out = tmp_path / f'b{i}.fits'
        assert _enhance(model, src, out, '--hdu', hdu) == 0
        result = read_fits(out)
        assert isinstance(result.uncertainty, InverseVariance)
        assert result.mask[:, :6].all() and not result.mask[:, 6:].any()  # WHT == 0
        np.testing.assert_allclose(result.uncertainty.array[:, 6:], 100.0 * 16)


def test_cli_refuses_a_huge_declared_image_and_its_own_input(model, tmp_path, capsys):
    src = tmp_path / 'in.fits'
    fits.PrimaryHDU(np.ones((40, 40), np.float32)).writeto(src)
    assert _enhance(model, src, tmp_path / 'o.fits', '--max-pixels', '1000') == 1
    err = capsys.readouterr().err
    assert '40 x 40 = 1,600 pixels' in err and '--max-pixels 1600' in err
    assert err.count('\n') == 1
    before = src.read_bytes()
    assert _enhance(model, src, src, '--overwrite') == 1
    assert 'never writes over its own inputs' in capsys.readouterr().err
    assert src.read_bytes() == before


def test_python_types_survive_enhance(model):
    from astropy.nddata import CCDData

    sr = SuperResolver.load(model)
    ccd = CCDData(np.ones((16, 16)), unit='electron',
                  uncertainty=StdDevUncertainty(np.full((16, 16), 0.5)))
    out = sr.enhance(ccd, progress=False)
    assert isinstance(out, CCDData) and out.unit == u.electron
    assert isinstance(out.uncertainty, StdDevUncertainty)
    np.testing.assert_allclose(out.uncertainty.array, 0.5 / 4)
    quantity = sr.enhance(np.ones((16, 16)) * u.MJy / u.sr, progress=False)
    assert quantity.unit == u.MJy / u.sr
    assert sr.enhance(np.ones((16, 16), np.int16), progress=False).data.dtype == np.float32
