import numpy as np
import pytest
from astropy import units as u
from astropy.wcs import WCS, DistortionLookupTable

from astrolens.wcs_utils import make_wcs, pixel_scale, scale_wcs


def _pc_wcs(rotation):
    theta = np.deg2rad(rotation)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [34.5, -5.2]
    wcs.wcs.crpix = [20.3, 11.7]
    wcs.wcs.cdelt = [-0.168 / 3600, 0.168 / 3600]
    wcs.wcs.pc = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    wcs.wcs.set()
    return wcs


def _subpixel_centres(shape, factor):
    """0-based old-grid coordinates of the centres of the new grid's pixels."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny * factor, 0:nx * factor]
    return xx, yy, (xx + 0.5) / factor - 0.5, (yy + 0.5) / factor - 0.5


@pytest.mark.parametrize('factor', [2, 3, 4])
@pytest.mark.parametrize('kind', ['cd', 'pc'])
def test_new_pixel_centres_land_on_old_subpixels(factor, kind):
    wcs = make_wcs((24, 30), 0.168, rotation=37.0) if kind == 'cd' else _pc_wcs(-23.0)
    scaled = scale_wcs(wcs, factor)
    assert scaled.wcs.has_cd() == (kind == 'cd')
    xx, yy, xo, yo = _subpixel_centres((24, 30), factor)
    new = scaled.pixel_to_world(xx, yy)
    old = wcs.pixel_to_world(xo, yo)
    assert new.separation(old).to_value(u.mas).max() < 1


def test_sip_terms_are_rescaled():
    header = make_wcs((40, 40), 0.2).to_header()
    header['CTYPE1'], header['CTYPE2'] = 'RA---TAN-SIP', 'DEC--TAN-SIP'
    header.update({'A_ORDER': 2, 'B_ORDER': 2, 'A_2_0': 2e-4, 'A_1_1': -1e-4,
                   'B_0_2': 3e-4, 'B_1_1': 1e-4})
    wcs = WCS(header)
    scaled = scale_wcs(wcs, 3)
    xx, yy, xo, yo = _subpixel_centres((40, 40), 3)
    sep = scaled.pixel_to_world(xx, yy).separation(wcs.pixel_to_world(xo, yo))
    assert sep.to_value(u.mas).max() < 1


def test_lookup_table_distortion_is_refused():
    wcs = make_wcs((10, 10), 0.2)
    wcs.cpdis1 = DistortionLookupTable(np.zeros((3, 3), np.float32), (1, 1), (1, 1), (1, 1))
    with pytest.raises(ValueError, match='lookup-table'):
        scale_wcs(wcs, 2)


@pytest.mark.parametrize('factor', [0, -2, 1.5, True])
def test_bad_factor(factor):
    with pytest.raises(ValueError, match='positive integer'):
        scale_wcs(make_wcs((4, 4), 0.1), factor)


def test_make_wcs_centre_scale_and_north_up():
    wcs = make_wcs((150, 150), 0.05)
    centre = wcs.pixel_to_world(74.5, 74.5)
    assert abs(centre.ra.deg - 150.0) < 1e-9 and abs(centre.dec.deg - 2.0) < 1e-9
    assert pixel_scale(wcs) == pytest.approx(0.05, rel=1e-9)
    up = wcs.pixel_to_world(74.5, 84.5)
    assert up.dec > centre.dec
    left = wcs.pixel_to_world(64.5, 74.5)
    assert left.ra > centre.ra  # east is left


def test_make_wcs_rejects_bad_scale():
    with pytest.raises(ValueError, match='pixel_scale'):
        make_wcs((4, 4), -1)
    assert pixel_scale(make_wcs((4, 4), 0.1 * u.arcsec)) == pytest.approx(0.1)
