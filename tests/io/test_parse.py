import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS

from astrolens.io import to_nddata
from astrolens.wcs_utils import make_wcs


@pytest.fixture
def image():
    return np.random.default_rng(0).normal(size=(12, 10)).astype(np.float32)


@pytest.fixture
def wcs():
    return make_wcs((12, 10), 0.2, rotation=30.0)


def test_plain_array_becomes_nddata_without_wcs(image):
    nd = to_nddata(image)
    assert isinstance(nd, NDData)
    assert nd.wcs is None and nd.mask is None
    np.testing.assert_array_equal(nd.data, image)


def test_array_wcs_tuple_keeps_wcs(image, wcs):
    nd = to_nddata((image, wcs))
    assert nd.wcs.wcs.compare(wcs.wcs)


def test_array_header_tuple_keeps_wcs(image, wcs):
    nd = to_nddata((image, wcs.to_header()))
    sky = nd.wcs.pixel_to_world(3, 4)
    assert sky.separation(wcs.pixel_to_world(3, 4)).to_value(u.mas) < 1e-6


def test_ccddata_keeps_unit_mask_and_wcs(image, wcs):
    mask = np.zeros(image.shape, bool)
    mask[2, 3] = True
    ccd = CCDData(image, unit='electron', wcs=wcs, mask=mask)
    nd = to_nddata(ccd)
    assert nd.unit == u.electron
    assert nd.mask[2, 3] and nd.mask.sum() == 1
    assert nd.wcs is not None


def test_hdu_and_hdulist_with_hdu_keyword(image, wcs):
    primary = fits.PrimaryHDU()
    ext = fits.ImageHDU(image, header=wcs.to_header(), name='SCI')
    ext.header['BUNIT'] = 'adu'
    nd = to_nddata(fits.HDUList([primary, ext]))
    assert nd.unit == u.adu
    assert nd.wcs is not None
    nd2 = to_nddata(ext)
    np.testing.assert_array_equal(nd2.data, image)


def test_several_image_hdus_need_hdu_keyword(image):
    hdul = fits.HDUList([fits.PrimaryHDU(image), fits.ImageHDU(image, name='SCI')])
    with pytest.raises(ValueError, match='several image HDUs.*hdu='):
        to_nddata(hdul)
    assert to_nddata(hdul, hdu='SCI').data.shape == image.shape


def test_hdulist_without_image_says_so():
    with pytest.raises(ValueError, match='no image HDU'):
        to_nddata(fits.HDUList([fits.PrimaryHDU()]))


def test_batch_and_channel_batch_shapes():
    batch = np.ones((3, 1, 8, 8))
    assert to_nddata(batch).data.shape == (3, 8, 8)
    assert to_nddata(np.ones((3, 8, 8))).data.shape == (3, 8, 8)


@pytest.mark.parametrize('shape', [(5,), (2, 3, 4, 5), (0, 4), (1, 2, 3, 4, 5)])
def test_wrong_dimensions_are_refused(shape):
    with pytest.raises(ValueError, match='shape|empty'):
        to_nddata(np.ones(shape))


def test_non_numeric_dtype_is_refused():
    with pytest.raises(TypeError, match='numbers'):
        to_nddata(np.array([['a', 'b'], ['c', 'd']]))


def test_all_nan_is_an_error_but_some_nans_become_mask():
    with pytest.raises(ValueError, match='no finite pixel'):
        to_nddata(np.full((4, 4), np.nan))
    image = np.ones((4, 4))
    image[1, 2] = np.nan
    nd = to_nddata(image)
    assert nd.mask[1, 2] and nd.mask.sum() == 1


def test_masked_array_keeps_its_mask():
    data = np.ma.masked_array(np.ones((4, 4)), mask=np.eye(4, dtype=bool))
    nd = to_nddata(data)
    np.testing.assert_array_equal(nd.mask, np.eye(4, dtype=bool))


def test_wcs_with_wrong_axis_count_is_refused(image):
    wcs3 = WCS(naxis=3)
    wcs3.wcs.ctype = ['RA---TAN', 'DEC--TAN', 'FREQ']
    wcs3.wcs.set()
    # A celestial cube WCS is reduced to its two celestial axes ...
    assert to_nddata(image, wcs=wcs3).wcs.naxis == 2
    wcs1 = WCS(naxis=1)
    with pytest.raises(ValueError, match='1 axes but the image is 2-D'):
        to_nddata(image, wcs=wcs1)


@pytest.mark.parametrize(('dtype', 'expected'), [('>f8', np.float64), ('>f4', np.float32),
                                                 ('<f4', np.float32), ('>i2', np.float32),
                                                 ('<u1', np.float32)])
def test_big_endian_array_becomes_native(image, dtype, expected):
    nd = to_nddata((image * 100).astype(dtype))
    assert nd.data.dtype == np.dtype(expected) and nd.data.dtype.isnative
    np.testing.assert_allclose(nd.data, (image * 100).astype(dtype), rtol=1e-6)


def test_unknown_input_type_lists_what_is_accepted():
    with pytest.raises(TypeError, match='expected a 2-D array'):
        to_nddata({'data': 1})
    with pytest.raises(TypeError, match='WCS or Header'):
        to_nddata((np.ones((3, 3)), 'not a wcs'))


def test_unit_override(image):
    assert to_nddata(image, unit='electron/s').unit == u.electron / u.s
