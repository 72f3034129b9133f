import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.wcs import WCS, DistortionLookupTable

from astrolens.utils import AstrolensUserWarning
from astrolens.wcs_utils import make_wcs, pixel_scale, scale_wcs, wcs_from_header


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
    # one consistent form whatever came in: PC + CDELT, no CD card to disagree
    assert not scaled.wcs.has_cd()
    assert not any(key.startswith('CD') and '_' in key for key in scaled.to_header())
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


def test_lookup_table_distortion_is_dropped_with_a_warning_that_says_what_to_do():
    wcs = make_wcs((10, 10), 0.2)
    wcs.cpdis1 = DistortionLookupTable(np.zeros((3, 3), np.float32), (1, 1), (1, 1), (1, 1))
    with pytest.warns(AstrolensUserWarning, match='lookup-table.*dropped.*resample'):
        scaled = scale_wcs(wcs, 2)
    assert scaled.cpdis1 is None and scaled.cpdis2 is None
    assert wcs.cpdis1 is not None  # the input is not modified


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


REAL = Path(__file__).resolve().parents[2] / 'shared' / 'real'
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f'shared real data not found at {REAL} '
                                '(it sits beside the checkout in CI)')


def _max_offset_mas(scaled, wcs, shape, factor, extra=()):
    xx, yy, xo, yo = _subpixel_centres(shape, factor)
    new = scaled.pixel_to_world_values(xx, yy, *[np.zeros_like(xx)] * len(extra))
    old = wcs.pixel_to_world_values(xo, yo, *[np.zeros_like(xo)] * len(extra))
    dlon = (new[0] - old[0] + 180.0) % 360.0 - 180.0
    return float(np.max(np.hypot(dlon * np.cos(np.deg2rad(old[1])), new[1] - old[1]))) * 3.6e6


def _fresh_wcs_warnings(wcs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        WCS(wcs.to_header(relax=True))
    return [str(w.message) for w in caught]


def test_cd_and_pc_both_present_pc_wins_as_in_wcslib():
    # an HLA drizzle header: CD holds the scale, PC repeats it with CDELT = 1, and the
    # two disagree once CD is edited alone (as naive rescaling did)
    header = make_wcs((30, 30), 0.05, rotation=20.0).to_header()
    cd = make_wcs((30, 30), 0.05, rotation=20.0).wcs.cd
    pc = make_wcs((30, 30), 0.10, rotation=-35.0).wcs.cd
    for i in range(2):
        for j in range(2):
            header[f'CD{i + 1}_{j + 1}'] = cd[i, j]
            header[f'PC{i + 1}_{j + 1}'] = pc[i, j]
    header['CDELT1'] = header['CDELT2'] = 1.0
    wcs = wcs_from_header(header)
    np.testing.assert_allclose(wcs.wcs.get_pc(), pc)  # wcslib's choice
    scaled = scale_wcs(wcs, 2)
    assert _max_offset_mas(scaled, wcs, (30, 30), 2) < 1
    assert not [k for k in scaled.to_header(relax=True) if k[:2] == 'CD' and '_' in k]


def test_tpv_polynomial_is_kept_and_stays_exact():
    header = make_wcs((40, 40), 0.27, ra=52.9, dec=-28.4, rotation=90.0).to_header()
    header['CTYPE1'], header['CTYPE2'] = 'RA---TPV', 'DEC--TPV'
    for key, value in {'PV1_0': 4.9e-4, 'PV1_1': 1.0165, 'PV1_2': -0.025, 'PV1_4': 5.1e-3,
                       'PV1_7': -0.098, 'PV2_0': 8.8e-3, 'PV2_1': 1.053, 'PV2_2': 6.8e-3,
                       'PV2_5': -0.043, 'PV2_8': -0.085}.items():
        header[key] = value
    wcs = wcs_from_header(header)
    plain = WCS(make_wcs((40, 40), 0.27, ra=52.9, dec=-28.4, rotation=90.0).to_header())
    xx, yy, _, _ = _subpixel_centres((40, 40), 1)
    assert wcs.pixel_to_world(xx, yy).separation(plain.pixel_to_world(xx, yy)).max() > 1 * u.mas
    scaled = scale_wcs(wcs, 3)
    assert _max_offset_mas(scaled, wcs, (40, 40), 3) < 1
    assert 'PV1_7' in scaled.to_header(relax=True)
    assert _fresh_wcs_warnings(scaled) == []


@needs_real
@pytest.mark.parametrize('name', ['tnx', 'zpx', 'tpv', 'sipsample'])
def test_real_distorted_headers_rescale_to_1_mas_and_leave_no_stale_cards(name):
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', fits.verify.VerifyWarning)
        header = fits.getheader(REAL / 'wcs_headers' / f'{name}.fits')
    wcs = wcs_from_header(header, source=name)
    shape = (header['NAXIS2'] // 8, header['NAXIS1'] // 8)  # a corner is enough
    for factor in (2, 3):
        scaled = scale_wcs(wcs, factor)
        assert _max_offset_mas(scaled, wcs, shape, factor) < 1
        out = scaled.to_header(relax=True)
        assert not [k for k in out if k.startswith(('WAT', 'CD1', 'CD2', 'DP', 'CPDIS'))]
        assert _fresh_wcs_warnings(scaled) == []


def test_iraf_distortion_wcslib_does_not_carry_is_dropped_with_a_warning():
    header = make_wcs((20, 20), 0.27).to_header()
    header['WAT0_001'] = 'system=image'
    # a function type wcslib does not know: it refuses the whole header
    header['WAT1_001'] = 'wtype=tnx axtype=ra lngcor = "9. 2. 2. 2. 0 1 0"'
    header['WAT2_001'] = 'wtype=tnx axtype=dec latcor = "9. 2. 2. 2. 0 1 0"'
    with pytest.warns(AstrolensUserWarning, match='x.fits: the IRAF TNX distortion.*dropped.*TPV'):
        wcs = wcs_from_header(header, source='x.fits')
    # the rest of the WCS is kept, and nothing of the distortion is left to go stale
    plain = make_wcs((20, 20), 0.27)
    assert wcs.pixel_to_world(3, 4).separation(plain.pixel_to_world(3, 4)) < 1 * u.uas
    assert not [k for k in wcs.to_header(relax=True) if k.startswith(('WAT', 'CQDIS', 'DQ'))]


def test_cube_wcs_scales_only_the_celestial_axes():
    wcs = WCS(naxis=3)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN', 'WAVE']
    wcs.wcs.crval = [150.1, 2.2, 5e-7]
    wcs.wcs.crpix = [25.5, 25.5, 1.0]
    wcs.wcs.cdelt = [-0.168 / 3600, 0.168 / 3600, 1e-7]
    wcs.wcs.cunit = ['deg', 'deg', 'm']
    wcs.wcs.set()
    wcs.pixel_shape = (50, 50, 5)
    scaled = scale_wcs(wcs, 3)
    assert scaled.naxis == 3 and scaled.pixel_shape == (150, 150, 5)
    assert _max_offset_mas(scaled, wcs, (50, 50), 3, extra=(0,)) < 1
    band = scaled.pixel_to_world_values(0, 0, 2)[2]
    assert band == pytest.approx(wcs.pixel_to_world_values(0, 0, 2)[2])


@pytest.mark.parametrize('ctype', [('GLON-TAN', 'GLAT-TAN'), ('ELON-TAN', 'ELAT-TAN')])
def test_galactic_and_ecliptic_frames_scale_the_same_way(ctype):
    wcs = _pc_wcs(12.0)
    wcs.wcs.ctype = list(ctype)
    wcs.wcs.set()
    scaled = scale_wcs(wcs, 2)
    assert list(scaled.wcs.ctype) == list(ctype)
    assert scaled.world_axis_physical_types == wcs.world_axis_physical_types
    assert _max_offset_mas(scaled, wcs, (24, 30), 2) < 1
