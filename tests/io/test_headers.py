"""Header cards and container types that travel through reading, resampling and writing."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, NDData

from astrolens.io import (
    read_fits,
    resampled_header,
    resampled_meta,
    restore_type,
    to_nddata,
    write_fits,
)
from astrolens.wcs_utils import make_wcs


@pytest.fixture
def header():
    h = fits.Header()
    for key, value in (('DATE-OBS', '2006-07-28T02:09:22'), ('EXPTIME', 30.0),
                       ('FILTER', 'F814W'), ('PHOTFLAM', 7.08e-20), ('EQUINOX', 2000.0),
                       ('DATAMIN', -3.0), ('DATAMAX', 900.0), ('GOODMAX', 76319.8),
                       ('SATURATE', 42000.0), ('PIXSCALE', 0.05), ('LTV1', 24.0)):
        h[key] = value
    return h


def test_resampled_header_keeps_what_describes_the_data_and_drops_statistics(header):
    out = resampled_header(header, 2)
    for key in ('DATE-OBS', 'EXPTIME', 'FILTER', 'PHOTFLAM', 'EQUINOX'):
        assert out[key] == header[key]
    for key in ('DATAMIN', 'DATAMAX', 'GOODMAX', 'SATURATE', 'LTV1'):
        assert key not in out
    assert out['PIXSCALE'] == pytest.approx(0.025)


def test_astrolens_own_cards_are_rewritten_not_copied(tmp_path, header):
    nd = NDData(np.ones((6, 6), np.float32), wcs=make_wcs((6, 6), 0.168),
                meta={'header': header, 'role': 'LR', 'pixel_scale': 0.168, 'psf_fwhm': 0.6})
    back = read_fits(write_fits(nd, tmp_path / 'lr.fits'))
    # astrolens' cards come back as meta, not as header cards that could go stale
    assert back.meta['role'] == 'LR' and back.meta['pixel_scale'] == pytest.approx(0.168)
    assert not any(k.startswith('ASTROLENS') for k in back.meta['header'])
    meta = resampled_meta(back.meta, 3, role='SR')
    out = NDData(np.ones((18, 18), np.float32), meta=meta)
    with fits.open(write_fits(out, tmp_path / 'sr.fits')) as hdul:
        head = hdul[0].header
    assert head['HIERARCH ASTROLENS ROLE'] == 'SR'
    assert head['HIERARCH ASTROLENS PIXEL_SCALE'] == pytest.approx(0.056)
    assert 'HIERARCH ASTROLENS PSF_FWHM' not in head
    assert head['EXPTIME'] == 30.0 and 'GOODMAX' not in head


def test_stale_iraf_and_distortion_cards_never_reach_the_output(tmp_path):
    wcs_header = make_wcs((8, 8), 0.27, ra=266.7, dec=-30.2).to_header()
    wcs_header['WAT0_001'] = 'system=image'
    wcs_header['WAT1_001'] = 'wtype=tnx axtype=ra lngcor = "1. 2. 2. 2. 0 1 0 1 0.1 0.1 0.1"'
    wcs_header['PV1_7'] = 0.5
    wcs_header['DP1'] = 'EXTVER: 1'
    path = tmp_path / 'in.fits'
    fits.PrimaryHDU(np.ones((8, 8), np.float32), header=wcs_header).writeto(path)
    with pytest.warns(UserWarning):
        nd = read_fits(path)
    with fits.open(write_fits(nd, tmp_path / 'out.fits')) as hdul:
        keys = list(hdul[0].header)
    assert not [k for k in keys if k.startswith(('WAT', 'DP', 'CPDIS'))]
    # what is written is the WCS as wcslib read it (PV1_7 on TAN is a TPV term there)
    back = read_fits(tmp_path / 'out.fits')
    assert back.wcs.pixel_to_world(1, 6).separation(nd.wcs.pixel_to_world(1, 6)) < 1 * u.uas


def test_quantity_keeps_its_unit_and_integers_become_float32():
    nd = to_nddata(np.arange(12, dtype=np.float32).reshape(3, 4) * u.adu)
    assert nd.unit == u.adu and nd.data.dtype == np.float32
    assert to_nddata(np.arange(12, dtype=np.int32).reshape(3, 4)).data.dtype == np.float32


def test_ccddata_comes_back_as_ccddata():
    ccd = CCDData(np.ones((4, 4)), unit='electron', meta={'OBJECT': 'lens'})
    result = NDData(np.full((8, 8), 0.25), unit=u.electron, meta={'sr_scale': 2})
    back = restore_type(result, ccd)
    assert isinstance(back, CCDData) and back.unit == u.electron
    assert back.meta['sr_scale'] == 2
    assert not isinstance(restore_type(result, np.ones((4, 4))), CCDData)
