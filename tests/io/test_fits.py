import os

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData, StdDevUncertainty

from astrolens.io import read_fits, to_nddata, write_fits
from astrolens.wcs_utils import make_wcs


@pytest.fixture
def nddata():
    rng = np.random.default_rng(1)
    data = rng.normal(10, 1, size=(20, 16))
    mask = np.zeros(data.shape, bool)
    mask[3, 4] = True
    wcs = make_wcs(data.shape, 0.168, ra=210.5, dec=-1.25, rotation=17.0)
    header = fits.Header()
    header['TELESCOP'] = 'Subaru'
    return NDData(data, wcs=wcs, unit='electron/s', mask=mask,
                  uncertainty=StdDevUncertainty(np.full(data.shape, 0.5)),
                  meta={'header': header, 'instrument': 'HSC'})


def test_round_trip_keeps_data_wcs_unit_mask_uncertainty(nddata, tmp_path):
    path = write_fits(to_nddata(nddata), tmp_path / 'cutout.fits')
    back = read_fits(path)
    np.testing.assert_array_equal(back.data, nddata.data)
    assert back.unit == u.electron / u.s
    np.testing.assert_array_equal(back.mask, nddata.mask)
    np.testing.assert_array_equal(back.uncertainty.array, 0.5)
    assert isinstance(back.uncertainty, StdDevUncertainty)
    sep = back.wcs.pixel_to_world(0, 0).separation(nddata.wcs.pixel_to_world(0, 0))
    assert sep.to_value(u.mas) < 1
    assert back.meta['header']['TELESCOP'] == 'Subaru'


def test_write_refuses_to_overwrite_unless_asked(nddata, tmp_path):
    path = tmp_path / 'cutout.fits'
    write_fits(nddata, path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match='overwrite=True'):
        write_fits(nddata, path)
    assert path.read_bytes() == before
    write_fits(NDData(np.zeros((2, 2))), path, overwrite=True)
    assert read_fits(path).data.shape == (2, 2)


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def write_half_then_die(self, name, **kwargs):
        with open(name, 'wb') as handle:
            handle.write(b'SIMPLE  =                    T' + b' ' * 100)
        raise OSError('disk full')

    monkeypatch.setattr(fits.HDUList, 'writeto', write_half_then_die)
    with pytest.raises(OSError, match='disk full'):
        write_fits(NDData(np.ones((4, 4))), tmp_path / 'x.fits')
    assert os.listdir(tmp_path) == []


def test_missing_path_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.fits'):
        read_fits(tmp_path / 'nothere.fits')


def test_file_that_is_not_fits_is_refused(tmp_path):
    path = tmp_path / 'notes.fits'
    path.write_text('just some text, not a FITS file\n' * 10)
    with pytest.raises(ValueError, match='notes.fits is not a readable FITS file'):
        read_fits(path)


def test_fits_without_image_is_refused(tmp_path):
    path = tmp_path / 'table.fits'
    table = fits.BinTableHDU.from_columns([fits.Column(name='a', format='E', array=[1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(ValueError, match='table.fits has no image HDU'):
        read_fits(path)


def test_several_images_need_hdu(tmp_path):
    path = tmp_path / 'multi.fits'
    fits.HDUList([fits.PrimaryHDU(np.ones((3, 3))),
                  fits.ImageHDU(np.zeros((3, 3)), name='SCI')]).writeto(path)
    with pytest.raises(ValueError, match='several image HDUs'):
        read_fits(path)
    assert read_fits(path, hdu='SCI').data.sum() == 0


def test_integer_data_with_bzero_bscale_and_big_endian(tmp_path):
    path = tmp_path / 'int.fits'
    values = np.arange(12, dtype=np.float64).reshape(3, 4) * 2.5 + 100.0
    hdu = fits.PrimaryHDU(values.copy())
    hdu.scale('int16', bzero=100.0, bscale=2.5)
    hdu.writeto(path)
    nd = read_fits(path)
    np.testing.assert_allclose(nd.data, values)
    assert nd.data.dtype.isnative

    path2 = tmp_path / 'uint16.fits'
    fits.PrimaryHDU(np.arange(6, dtype=np.uint16).reshape(2, 3)).writeto(path2)
    np.testing.assert_array_equal(read_fits(path2).data, np.arange(6).reshape(2, 3))


def test_path_input_through_to_nddata(nddata, tmp_path):
    path = write_fits(nddata, tmp_path / 'a.fits')
    assert to_nddata(str(path)).unit == u.electron / u.s
    assert to_nddata(path, unit='adu').unit == u.adu
