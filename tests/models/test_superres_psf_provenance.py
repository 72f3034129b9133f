"""Every super-resolved output states its PSF and where the input's PSF came from (issue 23)."""

import warnings

import numpy as np
import pytest
import torch
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData

from astrolens.io import make_wcs, read_fits, write_fits
from astrolens.models import SuperResolver
from astrolens.models._sr_flux import psf_image
from astrolens.utils import AstrolensUserWarning, psf_fwhm

torch.set_num_threads(1)
SCALE = 0.2     # arcsec per input pixel


@pytest.fixture(scope='module')
def shipped():
    return SuperResolver.from_pretrained('survey-x2', device='cpu')


def _image(n=24, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 1.0, (n, n))
    image[n // 2 - 1:n // 2 + 2, n // 2 - 1:n // 2 + 2] += 40.0
    return image


def _nd(**kwargs):
    image = _image()
    return NDData(image, wcs=make_wcs(image.shape, SCALE), **kwargs)


def _header(**cards):
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    return header


def _enhance(model, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        return model.enhance(data, progress=False, **kwargs)


def _moffat_psf(fwhm):
    return psf_image(float(fwhm))[0]


@pytest.mark.parametrize(('make', 'kwargs', 'source', 'fwhm_pix'), [
    (lambda: _nd(), {}, 'prior', None),
    (lambda: _nd(), {'psf': 2.5}, 'argument', 2.5),
    (lambda: _nd(), {'psf': 0.6 * u.arcsec}, 'argument', 3.0),
    (lambda: _nd(psf=_moffat_psf(3.5)), {}, 'nddata.psf', 3.5),
    (lambda: _nd(psf=_moffat_psf(3.5)), {'psf': 2.0}, 'argument', 2.0),
    (lambda: _nd(meta={'header': _header(SEEING=(0.7, 'arcsec'))}), {}, 'header:SEEING', 3.5),
    (lambda: _nd(meta={'header': _header(SEEING=0.7)}), {}, 'header:SEEING', 3.5),
    (lambda: _nd(meta={'header': _header(PSF_FWHM=(2.8, '[pixel] PSF FWHM'))}), {},
     'header:PSF_FWHM', 2.8),
    (lambda: _nd(meta={'header': _header(FWHM=(3.1, 'FWHM in pixels'), SEEING=0.9)}), {},
     'header:SEEING', 4.5),
    # a FWHM card whose comment names no unit is not read (DECam writes pixels, others arcsec)
    (lambda: _nd(meta={'header': _header(FWHM=3.1)}), {}, 'prior', None),
    (lambda: _nd(psf=_moffat_psf(3.5), meta={'header': _header(SEEING=0.7)}), {},
     'nddata.psf', 3.5),
])
def test_the_source_of_the_input_psf_is_stated(shipped, make, kwargs, source, fwhm_pix):
    out = _enhance(shipped, make(), **kwargs)
    meta = out.meta
    assert meta['sr_psf_source'] == source
    if fwhm_pix is None:
        assert 'sr_psf_in' not in meta and 'sr_psf_in_pix' not in meta
        assert 'sr_output_fwhm' not in meta
    else:
        assert meta['sr_psf_in_pix'] == pytest.approx(fwhm_pix, rel=0.03)
        assert meta['sr_psf_in'] == pytest.approx(fwhm_pix * SCALE, rel=0.03)
    # the output PSF: an image on the output grid of the FWHM the cards state
    assert meta['sr_psf_out_pix'] == pytest.approx(shipped.output_fwhm_, rel=1e-3)
    assert meta['sr_psf_out'] == pytest.approx(shipped.output_fwhm_ * SCALE / 2, rel=1e-3)
    assert out.psf.sum() == pytest.approx(1.0)
    assert psf_fwhm(out.psf) == pytest.approx(meta['sr_psf_out_pix'], rel=0.03)
    assert 'SEEING' not in meta.get('header', {})


def test_a_psf_given_changes_the_output_and_output_fwhm_the_stated_psf(shipped):
    blind = _enhance(shipped, _nd())
    seeing = _enhance(shipped, _nd(meta={'header': _header(SEEING=0.7)}))
    given = _enhance(shipped, _nd(), psf=3.5, output_fwhm=2.4)
    assert not np.allclose(blind.data, seeing.data)
    assert given.meta['sr_psf_out_pix'] == 2.4
    assert psf_fwhm(given.psf) == pytest.approx(2.4, rel=0.03)


def test_the_psf_hdu_of_a_file_is_named_and_the_cards_round_trip(shipped, tmp_path):
    image = _image()
    write_fits(NDData(image, wcs=make_wcs(image.shape, SCALE), psf=_moffat_psf(3.0)),
               tmp_path / 'in.fits')
    out = _enhance(shipped, str(tmp_path / 'in.fits'))
    assert out.meta['sr_psf_source'] == 'psf-hdu'
    write_fits(out, tmp_path / 'out.fits')
    with fits.open(tmp_path / 'out.fits') as hdulist:
        header = hdulist[0].header
        assert header['SRPSFSRC'] == 'psf-hdu'
        assert header['SRPSFINP'] == pytest.approx(3.0, rel=0.03)
        assert header['SRPSFIN'] == pytest.approx(0.6, rel=0.03)
        assert header['SRPSFOUT'] == pytest.approx(shipped.output_fwhm_ * SCALE / 2, rel=1e-3)
        assert '[arcsec]' in header.comments['SRPSFOUT']
        assert not any(key.startswith('ASTROLENS SR_PSF') for key in header)
        assert hdulist['PSF'].header['FWHMPIX'] == pytest.approx(shipped.output_fwhm_, rel=0.03)
        assert np.allclose(hdulist['PSF'].data, out.psf)
    back = read_fits(tmp_path / 'out.fits')
    for key in ('sr_psf_source', 'sr_psf_in', 'sr_psf_in_pix', 'sr_psf_out', 'sr_psf_out_pix'):
        assert back.meta[key] == out.meta[key]
        assert not any(card.startswith('SRPSF') for card in back.meta['header'])
    assert np.allclose(back.psf, out.psf)


def test_an_angle_without_a_pixel_scale_is_refused(shipped):
    with pytest.raises(ValueError, match='no celestial WCS'):
        shipped.enhance(_image(), psf=0.6 * u.arcsec, progress=False)
    with pytest.raises(ValueError, match='one positive angle'):
        shipped.enhance(_nd(), psf=-1 * u.arcsec, progress=False)
    with pytest.raises(ValueError, match='one image'):
        shipped.enhance(np.stack([_image()] * 2), psf='stars', progress=False)


def _star_field(n=120, fwhm=3.0, seed=1):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:n, :n]
    gamma = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / 3.5) - 1.0))
    image = rng.normal(0.0, 1.0, (n, n))
    for gx in range(20, n - 19, 40):
        for gy in range(20, n - 19, 40):
            px, py = gx + rng.uniform(-2, 2), gy + rng.uniform(-2, 2)
            star = (1.0 + ((x - px) ** 2 + (y - py) ** 2) / gamma ** 2) ** -3.5
            image += rng.uniform(2e3, 1e4) * star / star.sum()
    return image


def test_stars_are_measured_only_when_asked_and_stated_either_way(shipped):
    field = NDData(_star_field(), wcs=make_wcs((120, 120), SCALE))
    assert _enhance(shipped, field).meta['sr_psf_source'] == 'prior'
    meta = _enhance(shipped, field, psf='stars').meta
    assert meta['sr_psf_source'] == 'stars'
    assert meta['sr_psf_nstars'] == 9
    assert meta['sr_psf_in_pix'] == pytest.approx(3.0, rel=0.03)
    assert 0 < meta['sr_psf_in_err'] < 0.03 * meta['sr_psf_in']
    assert meta['sr_psf_in_err'] == pytest.approx(meta['sr_psf_in_err_pix'] * SCALE, rel=1e-2)
    # a galaxy alone: no stars, a warning, and the output says the prior was used
    with pytest.warns(AstrolensUserWarning, match='no PSF measured on the stars'):
        meta = shipped.enhance(_nd(), psf='stars', progress=False).meta
    assert meta['sr_psf_source'] == 'prior' and 'sr_psf_nstars' not in meta


def test_cli_reads_a_psf_file_and_states_it(tmp_path, capsys):
    from astrolens.cli import main

    image = _image(32)
    write_fits(NDData(image, wcs=make_wcs(image.shape, SCALE)), tmp_path / 'in.fits')
    fits.PrimaryHDU(_moffat_psf(3.0) * 5.0).writeto(tmp_path / 'psf.fits')
    # the same PSF sampled twice as finely, as its header says: resampled to the input's pixels
    fine = fits.PrimaryHDU(_moffat_psf(6.0))
    fine.header['PIXSCALE'] = SCALE / 2
    fine.writeto(tmp_path / 'psf_fine.fits')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        for name in ('psf', 'psf_fine'):
            out = tmp_path / f'{name}.out.fits'
            assert main(['enhance', str(tmp_path / 'in.fits'), '-o', str(out),
                         '--psf', str(tmp_path / f'{name}.fits')]) == 0
            assert 'from argument' in capsys.readouterr().out
            header = fits.getheader(out)
            assert header['SRPSFSRC'] == 'argument'
            assert header['SRPSFINP'] == pytest.approx(3.0, rel=0.04)
        assert main(['enhance', str(tmp_path / 'in.fits'), '-o', str(tmp_path / 'none.fits'),
                     '-q']) == 0
    assert fits.getheader(tmp_path / 'none.fits')['SRPSFSRC'] == 'prior'
    (tmp_path / 'bad.fits').write_text('not a FITS file')
    for extra, message in ((['--psf', str(tmp_path / 'bad.fits')], 'not a readable FITS PSF'),
                           (['--psf', str(tmp_path / 'missing.fits')], 'no such file'),
                           (['--psf', str(tmp_path / 'psf.fits'), '--psf-fwhm', '2'],
                            '--psf and --psf-fwhm')):
        assert main(['enhance', str(tmp_path / 'in.fits'), '-o', str(tmp_path / 'x.fits'),
                     *extra]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'x.fits').exists()
