"""Survey layouts read without hdu=: HST drizzled and calibrated, HSC/LSST calexp, astrolens."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import InverseVariance, NDData, StdDevUncertainty, VarianceUncertainty

from astrolens.io import find_layout, parse_hdu, read_fits, to_nddata, write_fits
from astrolens.utils import AmbiguousHDUError, AstrolensUserWarning
from astrolens.wcs_utils import make_wcs

SHAPE = (12, 10)


@pytest.fixture
def rng():
    return np.random.default_rng(12)


def _wcs_header():
    return make_wcs(SHAPE, 0.05, ra=10.0, dec=-3.0).to_header()


def _primary():
    primary = fits.PrimaryHDU()
    primary.header['EXPTIME'] = 2028.0
    primary.header['FILTER'] = 'F814W'
    return primary


@pytest.fixture
def drizzle(tmp_path, rng):
    sci = rng.normal(1.0, 0.1, SHAPE).astype(np.float32)
    wht = np.full(SHAPE, 400.0, np.float32)
    wht[:, :2] = 0.0  # off the detector
    ctx = np.ones(SHAPE, np.int32)
    hdus = [_primary(), fits.ImageHDU(sci, header=_wcs_header(), name='SCI'),
            fits.ImageHDU(wht, name='WHT'), fits.ImageHDU(ctx, name='CTX')]
    hdus[1].header['BUNIT'] = 'ELECTRONS/S'
    path = tmp_path / 'drz.fits'
    fits.HDUList(hdus).writeto(path)
    return path, sci, wht


def test_hst_drizzle_reads_sci_with_wht_as_inverse_variance_and_masks_wht_zero(drizzle):
    path, sci, wht = drizzle
    nd = read_fits(path)
    assert nd.meta['layout'] == 'hst-drizzle'
    np.testing.assert_array_equal(nd.data, sci)
    assert isinstance(nd.uncertainty, InverseVariance)
    np.testing.assert_array_equal(nd.uncertainty.array, wht)
    np.testing.assert_array_equal(nd.mask, wht == 0)
    assert nd.unit == u.electron / u.s
    # EXPTIME and FILTER live in the primary header of HST files
    assert nd.meta['header']['EXPTIME'] == 2028.0 and nd.meta['header']['FILTER'] == 'F814W'


@pytest.fixture
def calibrated(tmp_path, rng):
    hdus = [_primary()]
    parts = {}
    for ver in (1, 2):
        sci = rng.normal(5.0, 1.0, SHAPE).astype(np.float32)
        err = np.full(SHAPE, 0.5 * ver, np.float32)
        dq = np.zeros(SHAPE, np.int16)
        dq[1, 1] = 4      # bad detector pixel
        dq[2, 2] = 64     # warm pixel: informational by default
        dq[3, 3] = 8192   # cosmic ray
        dq[4, 4] = 256 | 64
        parts[ver] = (sci, err, dq)
        hdus += [fits.ImageHDU(sci, header=_wcs_header(), name='SCI', ver=ver),
                 fits.ImageHDU(err, name='ERR', ver=ver), fits.ImageHDU(dq, name='DQ', ver=ver)]
    path = tmp_path / 'flt.fits'
    fits.HDUList(hdus).writeto(path)
    return path, parts


def test_hst_calibrated_err_and_dq_flags_with_documented_default(calibrated):
    path, parts = calibrated
    with pytest.raises(AmbiguousHDUError, match="SCI.*SCI,2.*hdu="):
        read_fits(path)
    nd = read_fits(path, hdu='SCI,2')
    sci, err, _ = parts[2]
    assert nd.meta['layout'] == 'hst-calibrated'
    np.testing.assert_array_equal(nd.data, sci)
    assert isinstance(nd.uncertainty, StdDevUncertainty)
    np.testing.assert_array_equal(nd.uncertainty.array, err)  # ERR of the same EXTVER
    bad = set(zip(*np.nonzero(nd.mask), strict=True))
    assert bad == {(1, 1), (3, 3), (4, 4)}  # the warm pixel alone is not bad


def test_hst_dq_bad_bits_override(calibrated):
    path, _ = calibrated
    nd = read_fits(path, hdu=('SCI', 1), bad_bits='WARM')
    assert set(zip(*np.nonzero(nd.mask), strict=True)) == {(2, 2), (4, 4)}
    nd = read_fits(path, hdu=1, bad_bits=4)
    assert set(zip(*np.nonzero(nd.mask), strict=True)) == {(1, 1)}


PLANES = {'BAD': 0, 'SAT': 1, 'INTRP': 2, 'CR': 3, 'EDGE': 4, 'DETECTED': 5,
          'DETECTED_NEGATIVE': 6, 'SUSPECT': 7, 'NO_DATA': 8}


@pytest.fixture
def calexp(tmp_path, rng):
    image = rng.normal(0.0, 0.1, SHAPE).astype(np.float32)
    image[4:8, 4:8] += 50.0  # a source
    mask = np.zeros(SHAPE, np.int32)
    mask[4:8, 4:8] |= 1 << PLANES['DETECTED']
    mask[5, 5] |= 1 << PLANES['SAT']
    mask[0, 0] |= 1 << PLANES['CR']
    mask[0, 1] |= 1 << PLANES['INTRP']
    mask[11, :] |= 1 << PLANES['NO_DATA']
    variance = np.full(SHAPE, 0.01, np.float32)
    mhdu = fits.ImageHDU(mask, header=_wcs_header(), name='MASK')
    for name, bit in PLANES.items():
        mhdu.header[f'HIERARCH MP_{name}'] = bit
    path = tmp_path / 'calexp.fits'
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(image, header=_wcs_header(), name='IMAGE'),
                  mhdu, fits.ImageHDU(variance, header=_wcs_header(), name='VARIANCE'),
                  fits.BinTableHDU.from_columns([fits.Column('id', 'J', array=[1])])]
                 ).writeto(path)
    return path, image, mask, variance


def test_calexp_detected_is_never_bad_and_variance_is_read(calexp):
    path, image, _, variance = calexp
    nd = read_fits(path)
    assert nd.meta['layout'] == 'calexp'
    assert isinstance(nd.uncertainty, VarianceUncertainty)
    np.testing.assert_array_equal(nd.uncertainty.array, variance)
    expected = np.zeros(SHAPE, bool)
    expected[5, 5] = expected[0, 0] = True
    expected[11, :] = True
    np.testing.assert_array_equal(nd.mask, expected)
    # the source is kept: only its saturated pixel is masked
    assert nd.mask[4:8, 4:8].sum() == 1


def test_calexp_bad_bits_override_and_refusals(calexp):
    path, *_ = calexp
    nd = read_fits(path, bad_bits=['CR', 'INTRP'])
    assert set(zip(*np.nonzero(nd.mask), strict=True)) == {(0, 0), (0, 1)}
    with pytest.raises(ValueError, match='DETECTED marks pixels of detected sources.*--bad-bits'):
        read_fits(path, bad_bits='BAD,DETECTED')
    with pytest.raises(ValueError, match="no mask plane 'GHOST'.*BAD, CR"):
        read_fits(path, bad_bits='GHOST')


def test_calexp_without_plane_names_warns_and_uses_lsst_numbering(tmp_path):
    mask = np.zeros(SHAPE, np.int32)
    mask[2, 3] = 1 << 5   # DETECTED in the LSST numbering
    mask[3, 3] = 1 << 1   # SAT
    path = tmp_path / 'calexp_noplanes.fits'
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones(SHAPE, np.float32), name='IMAGE'),
                  fits.ImageHDU(mask, name='MASK'),
                  fits.ImageHDU(np.ones(SHAPE, np.float32), name='VARIANCE')]).writeto(path)
    with pytest.warns(AstrolensUserWarning, match='no MP_\\* cards.*--bad-bits'):
        nd = read_fits(path)
    assert nd.mask[3, 3] and not nd.mask[2, 3] and nd.mask.sum() == 1


def test_astrolens_layout_round_trip_with_uncertainty_extension_wcs_and_bunit(tmp_path, rng):
    data = rng.normal(3.0, 1.0, SHAPE)
    mask = np.zeros(SHAPE, bool)
    mask[2, 2] = True
    wcs = make_wcs(SHAPE, 0.2, ra=33.0, dec=4.0)
    psf = np.ones((5, 5)) / 25
    nd = NDData(data, wcs=wcs, unit='adu', mask=mask,
                uncertainty=VarianceUncertainty(np.full(SHAPE, 4.0)), psf=psf)
    path = write_fits(nd, tmp_path / 'al.fits')
    with fits.open(path) as hdul:
        uhead = hdul['UNCERT'].header
        assert uhead['UTYPE'] == 'var' and u.Unit(uhead['BUNIT']) == u.adu ** 2
        assert uhead['CTYPE1'] == 'RA---TAN'  # the uncertainty has the image's WCS
        assert hdul['MASK'].header['CTYPE2'] == 'DEC--TAN'
    back = read_fits(path)
    assert back.meta['layout'] == 'astrolens'
    assert isinstance(back.uncertainty, VarianceUncertainty)
    np.testing.assert_array_equal(back.uncertainty.array, 4.0)
    np.testing.assert_array_equal(back.mask, mask)
    np.testing.assert_allclose(back.psf, psf)


@pytest.fixture
def two_filters(tmp_path, rng):
    hdus = [fits.PrimaryHDU()]
    for band, weight in (('F606W', 10.0), ('F814W', 20.0)):
        hdus += [fits.ImageHDU(rng.normal(size=SHAPE).astype(np.float32), header=_wcs_header(),
                               name=f'{band}_SCI'),
                 fits.ImageHDU(np.full(SHAPE, weight, np.float32), name=f'{band}_WHT')]
    path = tmp_path / 'two.fits'
    fits.HDUList(hdus).writeto(path)
    return path


def test_prefixed_drizzle_pairs_sci_with_its_own_wht(two_filters):
    nd = read_fits(two_filters, hdu='F814W_SCI')
    assert nd.meta['layout'] == 'hst-drizzle'
    np.testing.assert_array_equal(nd.uncertainty.array, 20.0)


def test_ambiguous_file_lists_images_in_python_and_cli_words(two_filters):
    with pytest.raises(AmbiguousHDUError) as info:
        read_fits(two_filters)
    assert "hdu='F606W_SCI'" in str(info.value) and '3:F814W_SCI' in str(info.value)
    cli = info.value.message('--hdu ')
    assert '--hdu F606W_SCI' in cli and 'hdu=' not in cli.replace('--hdu', '')
    assert '\n' not in cli


@pytest.mark.parametrize(('text', 'expected'), [('1', 1), ('SCI', 'SCI'), ('SCI,2', ('SCI', 2)),
                                                (' sci , 3 ', ('sci', 3)), (2, 2), (None, None)])
def test_parse_hdu_takes_index_name_or_name_ver(text, expected):
    assert parse_hdu(text) == expected


def test_hdu_given_as_text_index_is_an_index_not_a_name(drizzle):
    path, sci, _ = drizzle
    nd = read_fits(path, hdu='1')
    np.testing.assert_array_equal(nd.data, sci)
    with pytest.raises(AmbiguousHDUError, match='has no HDU 7'):
        read_fits(path, hdu=7)


def test_hdulist_input_uses_the_same_layouts(drizzle):
    path, _, wht = drizzle
    with fits.open(path) as hdul:
        assert find_layout(hdul).name == 'hst-drizzle'
        nd = to_nddata(hdul)
    np.testing.assert_array_equal(nd.mask, wht == 0)


def test_cube_with_3d_celestial_wcs_is_read_as_a_cube(tmp_path, rng):
    cube = rng.normal(size=(3, *SHAPE)).astype(np.float32)
    header = _wcs_header()
    header['WCSAXES'] = 3
    header['CTYPE3'], header['CRVAL3'], header['CDELT3'], header['CRPIX3'] = \
        'WAVE', 5e-7, 1e-7, 1.0
    header['CUNIT3'] = 'm'
    path = tmp_path / 'cube.fits'
    fits.PrimaryHDU(cube, header=header).writeto(path)
    nd = read_fits(path)
    assert nd.data.shape == (3, *SHAPE) and nd.wcs.naxis == 3
    back = read_fits(write_fits(nd, tmp_path / 'cube_out.fits'))
    assert back.wcs.naxis == 3 and back.wcs.wcs.ctype[2] == 'WAVE'
    np.testing.assert_array_equal(back.data, cube)


def test_cube_whose_celestial_axes_are_not_the_image_axes_is_refused(tmp_path):
    header = fits.Header()
    header['WCSAXES'] = 3
    for i, (ctype, cdelt) in enumerate((('WAVE', 1e-7), ('RA---TAN', -1e-5),
                                        ('DEC--TAN', 1e-5)), start=1):
        header[f'CTYPE{i}'], header[f'CDELT{i}'], header[f'CRPIX{i}'] = ctype, cdelt, 1.0
        header[f'CRVAL{i}'] = 1.0
    path = tmp_path / 'rotated_cube.fits'
    fits.PrimaryHDU(np.ones((4, 5, 6), np.float32), header=header).writeto(path)
    with pytest.raises(ValueError, match='reorder the cube'):
        read_fits(path)
