import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData, NoOverlapError
from astropy.table import Table

from astrolens.cli import main
from astrolens.io import read_fits, write_fits
from astrolens.preprocessing import RegisteredPair, register_directory, register_pair
from astrolens.wcs_utils import make_wcs, scale_wcs

RA0, DEC0 = 150.0, 2.0
LR_SCALE, HR_SCALE = 0.168, 0.05
LR_FWHM, HR_FWHM = 0.6, 0.1


def _render(wcs, shape, sources, fwhm, *, supersample=3):
    """Pixel-integrated image (flux per pixel) of Gaussian blobs seen through a Gaussian PSF."""
    ny, nx = shape
    sub = (np.arange(supersample) + 0.5) / supersample - 0.5
    y = (np.arange(ny)[:, None] + sub[None, :]).ravel()
    x = (np.arange(nx)[:, None] + sub[None, :]).ravel()
    xx, yy = np.meshgrid(x, y)
    ra, dec = wcs.all_pix2world(xx, yy, 0)
    xi = (ra - RA0) * np.cos(np.deg2rad(DEC0)) * 3600
    eta = (dec - DEC0) * 3600
    scale = np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * 3600
    psf_var = (fwhm / 2.3548) ** 2
    image = np.zeros_like(xi)
    for flux, sx, sy, size in sources:
        var = size ** 2 + psf_var
        image += flux / (2 * np.pi * var) * np.exp(-((xi - sx) ** 2 + (eta - sy) ** 2) / (2 * var))
    image *= (scale / supersample) ** 2
    return image.reshape(ny, supersample, nx, supersample).sum(axis=(1, 3))


def make_pair(seed=0, *, offset=(0.05, -0.03), rotation=25.0, lr_shape=(48, 48),
              hr_shape=(170, 170), noise=0.02):
    """A synthetic HSC/HST-like pair; the LR WCS is wrong by ``offset`` (arcsec, dRA cos Dec, dDec).

    Returns the LR and HR NDData and the true shift in LR pixels (y, x).
    """
    rng = np.random.default_rng(seed)
    sources = [(100.0, 0.0, 0.0, 0.3)]
    for _ in range(4):
        sources.append((rng.uniform(5, 30), *rng.uniform(-2.5, 2.5, 2), rng.uniform(0.05, 0.4)))
    lr_true = make_wcs(lr_shape, LR_SCALE, ra=RA0, dec=DEC0, rotation=0.0)
    hr_wcs = make_wcs(hr_shape, HR_SCALE, ra=RA0 + 0.2 / 3600, dec=DEC0 - 0.1 / 3600,
                      rotation=rotation)
    lr_data = _render(lr_true, lr_shape, sources, LR_FWHM)
    lr_data += rng.normal(0, noise, lr_shape)
    hr_data = _render(hr_wcs, hr_shape, sources, HR_FWHM, supersample=5)
    hr_data += rng.normal(0, noise / 30, hr_shape)
    lr_header = lr_true.deepcopy()
    lr_header.wcs.crval = [RA0 + offset[0] / 3600 / np.cos(np.deg2rad(DEC0)),
                           DEC0 + offset[1] / 3600]
    lr_header.wcs.set()
    sx, sy = lr_true.all_world2pix(RA0, DEC0, 0)
    hx, hy = lr_header.all_world2pix(RA0, DEC0, 0)
    lr = NDData(lr_data, wcs=lr_header, psf=None)
    hr = NDData(hr_data, wcs=hr_wcs)
    return lr, hr, (float(sy - hy), float(sx - hx))


@pytest.fixture(scope='module')
def pair_and_truth():
    lr, hr, truth = make_pair(1)
    return register_pair(lr, hr, lr_psf=LR_FWHM, hr_psf=HR_FWHM), lr, hr, truth


def test_register_pair_recovers_injected_offset(pair_and_truth):
    pair, _, _, truth = pair_and_truth
    assert np.hypot(*np.subtract(pair.shift, truth)) < 0.05
    assert all(0 < e < 0.05 for e in pair.shift_error)
    assert np.allclose(pair.shift_arcsec, np.multiply(pair.shift, LR_SCALE))
    # the LR WCS was put at +offset, so HR-WCS minus LR-WCS coordinates are -offset
    assert np.allclose(pair.sky_offset, (-0.05, 0.03), atol=0.01)


def test_register_pair_recovers_offsets_of_several_pairs():
    errors = []
    rng = np.random.default_rng(7)
    for seed in range(3):
        offset = rng.uniform(-0.1, 0.1, 2)
        lr, hr, truth = make_pair(10 + seed, offset=offset, rotation=rng.uniform(0, 360))
        pair = register_pair(lr, hr, lr_psf=LR_FWHM, hr_psf=HR_FWHM)
        errors.append(np.subtract(pair.shift, truth))
    assert np.sqrt(np.mean(np.square(errors))) < 0.03


def test_registered_hr_is_on_the_scaled_lr_grid(pair_and_truth):
    pair, lr, _, _ = pair_and_truth
    assert isinstance(pair, RegisteredPair)
    assert pair.factor == 3
    assert pair.hr.data.shape == (3 * lr.data.shape[0], 3 * lr.data.shape[1])
    expected = scale_wcs(lr.wcs, 3)
    assert np.allclose(pair.hr.wcs.wcs.crpix, expected.wcs.crpix)
    assert np.allclose(pair.hr.wcs.wcs.get_pc() * pair.hr.wcs.wcs.get_cdelt()[:, None],
                       expected.wcs.get_pc() * expected.wcs.get_cdelt()[:, None])
    assert np.allclose(pair.hr.wcs.wcs.crval, expected.wcs.crval)
    assert pair.lr.data is not None and np.array_equal(pair.lr.data, lr.data)
    assert pair.footprint.shape == pair.hr.data.shape


def test_register_pair_conserves_flux(pair_and_truth):
    pair, _, hr, _ = pair_and_truth
    assert abs(pair.flux_ratio - 1) < 0.005
    # the HR lies inside the LR field, so everything is kept
    assert np.nansum(pair.hr.data) == pytest.approx(hr.data.sum(), rel=0.01)


@pytest.mark.parametrize('method', ['exact', 'interp'])
def test_other_methods_conserve_flux_and_align(method):
    lr, hr, truth = make_pair(3)
    pair = register_pair(lr, hr, lr_psf=LR_FWHM, hr_psf=HR_FWHM, method=method)
    assert abs(pair.flux_ratio - 1) < 0.005
    assert np.hypot(*np.subtract(pair.shift, truth)) < 0.06


def test_consistency_is_near_one_for_a_good_pair(pair_and_truth):
    pair = pair_and_truth[0]
    assert 0.7 < pair.consistency() < 1.5


def test_consistency_detects_a_misaligned_pair(pair_and_truth):
    pair = pair_and_truth[0]
    shifted = NDData(np.roll(pair.hr.data, 2, axis=1), wcs=pair.hr.wcs, mask=pair.hr.mask)
    bad = RegisteredPair(**{**pair.__dict__, 'hr': shifted})
    assert bad.consistency() > 3 * pair.consistency()


def test_psf_from_nddata_and_arrays():
    from astrolens.preprocessing import gaussian_psf

    lr, hr, truth = make_pair(4)
    lr = NDData(lr.data, wcs=lr.wcs, psf=gaussian_psf(LR_FWHM, LR_SCALE))
    hr = NDData(hr.data, wcs=hr.wcs, psf=gaussian_psf(HR_FWHM, HR_SCALE))
    pair = register_pair(lr, hr)
    assert np.hypot(*np.subtract(pair.shift, truth)) < 0.06
    assert pair.consistency() < 1.5


def test_missing_psf_says_what_to_pass():
    lr, hr, _ = make_pair(0)
    with pytest.raises(ValueError, match='lr_psf='):
        register_pair(lr, hr, hr_psf=HR_FWHM)


def test_pairs_without_overlap_raise_no_overlap_error():
    lr, hr, _ = make_pair(0)
    far = make_wcs(hr.data.shape, HR_SCALE, ra=RA0 + 0.1, dec=DEC0)
    with pytest.raises(NoOverlapError):
        register_pair(lr, NDData(hr.data, wcs=far), lr_psf=LR_FWHM, hr_psf=HR_FWHM)


def test_register_pair_without_wcs_says_what_to_do():
    with pytest.raises(ValueError, match='assume_aligned=True'):
        register_pair(np.ones((8, 8)), np.ones((24, 24)), lr_psf=0.6, hr_psf=0.1)


def test_assume_aligned_uses_pixel_grids():
    lr, hr, _ = make_pair(5, offset=(0.0, 0.0), rotation=0.0, hr_shape=(144, 144))
    # resample the HR onto the exact LR x3 grid first, then drop all WCSs
    aligned = register_pair(lr, hr, lr_psf=LR_FWHM, hr_psf=HR_FWHM)
    hr_data = np.nan_to_num(aligned.hr.data)
    pair = register_pair(lr.data, hr_data, assume_aligned=True, lr_psf=LR_FWHM / LR_SCALE,
                         hr_psf=HR_FWHM / LR_SCALE)
    assert pair.factor == 3 and pair.hr.wcs is None
    assert np.hypot(*pair.shift) < 0.05
    with pytest.raises(ValueError, match='integer multiple'):
        register_pair(lr.data, hr_data[:-1], assume_aligned=True, lr_psf=1, hr_psf=0.2)


def test_nan_and_masked_pixels_are_ignored():
    lr, hr, truth = make_pair(6)
    lr_data = lr.data.copy()
    lr_data[5:9, 30:40] = np.nan
    mask = np.zeros(lr.data.shape, bool)
    mask[30:34, 5:15] = True
    lr_data[30:34, 5:15] = 1e6  # garbage under the mask
    hr_data = hr.data.copy()
    hr_data[20:30, 100:120] = np.nan
    hr_mask = np.zeros(hr.data.shape, bool)
    hr_mask[120:130, 40:60] = True
    hr_data[120:130, 40:60] = -1e6
    pair = register_pair(NDData(lr_data, wcs=lr.wcs, mask=mask),
                         NDData(hr_data, wcs=hr.wcs, mask=hr_mask),
                         lr_psf=LR_FWHM, hr_psf=HR_FWHM)
    assert np.hypot(*np.subtract(pair.shift, truth)) < 0.06
    assert np.all(np.isnan(pair.hr.data[pair.hr.mask]))
    assert np.all(np.isfinite(pair.hr.data[~pair.hr.mask]))
    assert np.nanmin(pair.hr.data) > -1.0
    assert pair.hr.mask.sum() > 0
    assert pair.consistency() < 1.5


def test_quantity_psf_and_max_shift():
    lr, hr, truth = make_pair(0)
    pair = register_pair(lr, hr, lr_psf=0.6 * u.arcsec, hr_psf=100 * u.mas,
                         max_shift=0.5 * u.arcsec)
    assert np.hypot(*np.subtract(pair.shift, truth)) < 0.05


def test_bad_options_are_refused():
    lr, hr, _ = make_pair(0)
    with pytest.raises(ValueError, match='method'):
        register_pair(lr, hr, lr_psf=0.6, hr_psf=0.1, method='nearest')
    with pytest.raises(ValueError, match='factor'):
        register_pair(lr, hr, lr_psf=0.6, hr_psf=0.1, factor=2.5)


def _write_pairs(tmp_path, n=2):
    lr_dir, hr_dir = tmp_path / 'lr', tmp_path / 'hr'
    truths = {}
    for i in range(n):
        lr, hr, truth = make_pair(20 + i, lr_shape=(40, 40), hr_shape=(140, 140))
        write_fits(NDData(lr.data, wcs=lr.wcs), lr_dir / f'p{i}.fits')
        write_fits(NDData(hr.data, wcs=hr.wcs), hr_dir / f'p{i}.fits')
        truths[f'p{i}.fits'] = truth
    return lr_dir, hr_dir, truths


def test_register_directory_reports_bad_pairs_and_goes_on(tmp_path):
    lr_dir, hr_dir, truths = _write_pairs(tmp_path)
    # a pair without overlap, and a LR file without its HR
    lr, hr, _ = make_pair(30, lr_shape=(40, 40), hr_shape=(140, 140))
    write_fits(NDData(lr.data, wcs=lr.wcs), lr_dir / 'far.fits')
    far = make_wcs(hr.data.shape, HR_SCALE, ra=RA0 + 0.1, dec=DEC0)
    write_fits(NDData(hr.data, wcs=far), hr_dir / 'far.fits')
    write_fits(NDData(lr.data, wcs=lr.wcs), lr_dir / 'alone.fits')
    out = tmp_path / 'out'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        table = register_directory(lr_dir, hr_dir, out, lr_psf=LR_FWHM, hr_psf=HR_FWHM,
                                   progress=False)
    report = Table.read(out / 'registration.ecsv')
    assert list(report['name']) == ['alone.fits', 'far.fits', 'p0.fits', 'p1.fits']
    assert list(table['name']) == list(report['name'])
    status = dict(zip(report['name'], report['status'], strict=True))
    assert status == {'alone.fits': 'unpaired', 'far.fits': 'failed', 'p0.fits': 'ok',
                      'p1.fits': 'ok'}
    far_row = report[report['name'] == 'far.fits'][0]
    assert 'NoOverlapError' in far_row['message']
    for row in report[report['status'] == 'ok']:
        truth = truths[row['name']]
        assert np.hypot(row['shift_y'] - truth[0], row['shift_x'] - truth[1]) < 0.06
        assert abs(row['flux_ratio'] - 1) < 0.005
        assert row['shift_x_arcsec'] == pytest.approx(row['shift_x'] * LR_SCALE)
        assert row['consistency'] < 1.5
    assert report['shift_y'].unit == u.pix
    hr_out = read_fits(out / 'HR' / 'p0.fits')
    assert hr_out.data.shape == (120, 120)
    assert (out / 'LR' / 'p0.fits').exists()
    assert not (out / 'HR' / 'far.fits').exists()
    assert not list(out.glob('.*tmp*'))


def test_cli_registers_one_pair_and_a_folder(tmp_path, capsys):
    lr_dir, hr_dir, _ = _write_pairs(tmp_path, n=1)
    out = tmp_path / 'single'
    status = main(['register', str(lr_dir / 'p0.fits'), str(hr_dir / 'p0.fits'), '-o', str(out),
                   '--lr-psf-fwhm', '0.6', '--hr-psf-fwhm', '0.1'])
    assert status == 0
    assert (out / 'HR' / 'p0.fits').exists() and (out / 'LR' / 'p0.fits').exists()
    assert 'shift' in capsys.readouterr().out
    out2 = tmp_path / 'batch'
    status = main(['register', '--lr-dir', str(lr_dir), '--hr-dir', str(hr_dir), '-o', str(out2),
                   '--lr-psf-fwhm', '0.6', '--hr-psf-fwhm', '0.1', '--factor', '3',
                   '--no-progress'])
    assert status == 0
    assert Table.read(out2 / 'registration.ecsv')['status'][0] == 'ok'


def test_cli_refuses_mixed_arguments(tmp_path, capsys):
    status = main(['register', 'a.fits', '--lr-dir', 'x', '--hr-dir', 'y', '-o',
                   str(tmp_path)])
    assert status == 2 or status == 1
    assert 'either' in capsys.readouterr().err


def test_simulated_hsc_hst_pairs_are_registered():
    from astrolens.simulation import simulate_sr_pairs

    lrs, hrs = simulate_sr_pairs(3, preset='hsc-hst', seed=3)
    for lr, hr in zip(lrs, hrs, strict=True):
        pair = register_pair(lr, hr)
        recorded = (lr.meta['offset_dra_arcsec'], lr.meta['offset_ddec_arcsec'])
        # HR-WCS minus LR-WCS coordinates: minus the LR WCS error (0.05 LR px = 8.4 mas)
        assert np.hypot(*np.add(pair.sky_offset, recorded)) < 0.0084
        assert abs(pair.flux_ratio - 1) < 0.005
        assert pair.consistency() < 1.5


@pytest.mark.parametrize('kind', ['std', 'ivar'])
def test_hr_uncertainty_is_resampled_with_the_pixel_area_change(kind, tmp_path):
    from astropy.nddata import InverseVariance, StdDevUncertainty

    lr, hr, _ = make_pair(4)
    sigma = 0.003
    unc = (StdDevUncertainty(np.full(hr.data.shape, sigma)) if kind == 'std'
           else InverseVariance(np.full(hr.data.shape, 1 / sigma ** 2)))
    hr = NDData(hr.data, wcs=hr.wcs, uncertainty=unc)
    pair = register_pair(lr, hr, lr_psf=LR_FWHM, hr_psf=HR_FWHM)
    assert type(pair.hr.uncertainty) is type(unc)
    assert pair.hr.uncertainty.array.shape == pair.hr.data.shape
    with np.errstate(divide='ignore'):
        variance = (pair.hr.uncertainty.array ** 2 if kind == 'std'
                    else 1 / pair.hr.uncertainty.array)[~pair.hr.mask]
    # each fine pixel sums (0.056/0.05)**2 = 1.25 HR pixels of independent noise
    ratio = (LR_SCALE / 3) ** 2 / HR_SCALE ** 2
    np.testing.assert_allclose(np.median(variance), sigma ** 2 * ratio, rtol=0.01)
    back = read_fits(write_fits(pair.hr, tmp_path / 'hr.fits'))
    assert type(back.uncertainty) is type(unc)


def test_hr_without_uncertainty_gives_none(pair_and_truth):
    assert pair_and_truth[0].hr.uncertainty is None


def test_cli_names_each_output_after_its_own_input(tmp_path):
    lr_dir, hr_dir, _ = _write_pairs(tmp_path, n=1)
    hst = tmp_path / 'hst_f814w.fits'
    (hr_dir / 'p0.fits').rename(hst)
    out = tmp_path / 'out'
    status = main(['register', str(lr_dir / 'p0.fits'), str(hst), '-o', str(out),
                   '--lr-psf-fwhm', '0.6', '--hr-psf-fwhm', '0.1'])
    assert status == 0
    assert (out / 'LR' / 'p0.fits').exists() and (out / 'HR' / 'hst_f814w.fits').exists()


def test_register_never_writes_over_its_inputs_even_with_overwrite(tmp_path, capsys):
    lr_dir, hr_dir, _ = _write_pairs(tmp_path, n=1)
    # the DeepLense layout D/LR, D/HR registered into D itself
    lr_dir, hr_dir = lr_dir.rename(tmp_path / 'LR'), hr_dir.rename(tmp_path / 'HR')
    before = (lr_dir / 'p0.fits').read_bytes()
    status = main(['register', '--lr-dir', str(lr_dir), '--hr-dir', str(hr_dir),
                   '-o', str(lr_dir.parent), '--overwrite', '--lr-psf-fwhm', '0.6',
                   '--hr-psf-fwhm', '0.1', '--no-progress'])
    err = capsys.readouterr().err
    assert status == 1 and 'never writes over its own inputs' in err and '--overwrite' in err
    assert err.count('\n') == 1
    assert (lr_dir / 'p0.fits').read_bytes() == before
    status = main(['register', str(lr_dir / 'p0.fits'), str(hr_dir / 'p0.fits'),
                   '-o', str(lr_dir.parent), '--overwrite', '--lr-psf-fwhm', '0.6',
                   '--hr-psf-fwhm', '0.1'])
    assert status == 1 and 'one of the inputs' in capsys.readouterr().err
    assert (lr_dir / 'p0.fits').read_bytes() == before


def test_registered_hr_keeps_its_own_observation_date():
    lr, hr, _ = make_pair(5, lr_shape=(40, 40), hr_shape=(140, 140))
    lr.wcs.wcs.dateobs, lr.wcs.wcs.mjdobs = '2000-01-01T11:58:55.816', 51544.499257131
    hr_wcs = hr.wcs.deepcopy()
    hr_wcs.wcs.dateobs, hr_wcs.wcs.mjdobs = '2004-03-13', 53077.0
    pair = register_pair(lr, NDData(hr.data, wcs=hr_wcs), lr_psf=LR_FWHM, hr_psf=HR_FWHM)
    assert pair.hr.wcs.wcs.dateobs == '2004-03-13'
    assert pair.hr.wcs.wcs.mjdobs == 53077.0
    assert pair.lr.wcs.wcs.dateobs == '2000-01-01T11:58:55.816'
    # an HR image without a date gets none, not the LR's
    undated = register_pair(lr, hr, lr_psf=LR_FWHM, hr_psf=HR_FWHM)
    assert undated.hr.wcs.wcs.dateobs == '' and np.isnan(undated.hr.wcs.wcs.mjdobs)


def test_cli_output_files_keep_their_own_dates(tmp_path, capsys):
    from astropy.io import fits

    lr, hr, _ = make_pair(6, lr_shape=(40, 40), hr_shape=(140, 140))
    lr.wcs.wcs.dateobs = '2015-02-01'
    hr.wcs.wcs.dateobs = '2004-03-13'
    write_fits(NDData(lr.data, wcs=lr.wcs), tmp_path / 'hsc.fits')
    write_fits(NDData(hr.data, wcs=hr.wcs), tmp_path / 'hst.fits')
    assert main(['register', str(tmp_path / 'hsc.fits'), str(tmp_path / 'hst.fits'), '-o',
                 str(tmp_path / 'out'), '--lr-psf-fwhm', '0.6', '--hr-psf-fwhm', '0.1']) == 0
    assert fits.getheader(tmp_path / 'out' / 'LR' / 'hsc.fits')['DATE-OBS'] == '2015-02-01'
    assert fits.getheader(tmp_path / 'out' / 'HR' / 'hst.fits')['DATE-OBS'] == '2004-03-13'
    out = capsys.readouterr().out
    # the consistency is explained where it is printed
    assert 'reduced chi-square' in out and 'about 1 when' in out


@pytest.mark.parametrize(('lr_scale', 'hr_scale', 'factor', 'model'), [
    (0.168, 0.03, 3, 'hsc-hst-x3'),     # HSC/HST: the shipped x3 model's grid, not 6
    (0.168, 0.05, 3, 'hsc-hst-x3'),
    (0.101, 0.05, 2, 'deeplense-iiia-x2'),  # the most specific domain that holds the input
    (0.13, 0.065, 2, 'deeplense-x2'),
    (0.168, 0.08, 2, 'survey-x2'),      # HR too coarse for x3
    (2.0, 0.2, 10, None),               # outside every shipped model's inputs
])
def test_default_factor_is_that_of_the_shipped_model(lr_scale, hr_scale, factor, model):
    from astrolens.cli._register import shipped_factor

    assert shipped_factor(lr_scale, hr_scale) == (factor, model)


def test_cli_prints_the_factor_it_chose_and_why(tmp_path, capsys):
    lr_dir, hr_dir, _ = _write_pairs(tmp_path, n=1)
    assert main(['register', str(lr_dir / 'p0.fits'), str(hr_dir / 'p0.fits'), '-o',
                 str(tmp_path / 'out'), '--lr-psf-fwhm', '0.6', '--hr-psf-fwhm', '0.1']) == 0
    assert 'factor 3: the grid of the shipped model hsc-hst-x3' in capsys.readouterr().out


def test_cli_warns_when_the_pair_disagrees(tmp_path, capsys):
    lr, hr, _ = make_pair(7, lr_shape=(40, 40), hr_shape=(140, 140))
    # a bright source in the LR image that the HR image does not have
    lr_data = lr.data.copy()
    lr_data[10:13, 28:31] += 5.0
    write_fits(NDData(lr_data, wcs=lr.wcs), tmp_path / 'lr.fits')
    write_fits(NDData(hr.data, wcs=hr.wcs), tmp_path / 'hr.fits')
    assert main(['register', str(tmp_path / 'lr.fits'), str(tmp_path / 'hr.fits'), '-o',
                 str(tmp_path / 'out'), '--lr-psf-fwhm', '0.6', '--hr-psf-fwhm', '0.1']) == 0
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'warning: consistency' in err and 'same band' in err


def test_cli_names_its_options_when_a_psf_or_wcs_is_missing(tmp_path, capsys):
    lr, hr, _ = make_pair(8, lr_shape=(16, 16), hr_shape=(48, 48))
    write_fits(NDData(lr.data, wcs=lr.wcs), tmp_path / 'lr.fits')
    write_fits(NDData(hr.data, wcs=hr.wcs), tmp_path / 'hr.fits')
    assert main(['register', str(tmp_path / 'lr.fits'), str(tmp_path / 'hr.fits'), '-o',
                 str(tmp_path / 'out'), '--hr-psf-fwhm', '0.1']) == 1
    err = capsys.readouterr().err
    assert '--lr-psf-fwhm' in err and 'lr_psf=' not in err and err.count('\n') == 1
    # pixel-aligned arrays without a WCS: the error names --assume-aligned, which works
    write_fits(NDData(lr.data[:16, :16]), tmp_path / 'lr_plain.fits')
    write_fits(NDData(hr.data[:48, :48]), tmp_path / 'hr_plain.fits')
    argv = ['register', str(tmp_path / 'lr_plain.fits'), str(tmp_path / 'hr_plain.fits'), '-o',
            str(tmp_path / 'out'), '--lr-psf-fwhm', '3', '--hr-psf-fwhm', '0.5']
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert '--assume-aligned' in err and 'assume_aligned=True' not in err
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        assert main([*argv, '--assume-aligned']) == 0
    assert 'factor 3' in capsys.readouterr().out


def test_cli_registers_one_plane_of_a_cube(tmp_path, capsys):
    from astropy.io import fits

    lr, hr, _ = make_pair(9, lr_shape=(40, 40), hr_shape=(140, 140))
    header = lr.wcs.to_header()
    header['WCSAXES'] = 3
    fits.PrimaryHDU(np.stack([lr.data * 0.5, lr.data]), header=header).writeto(
        tmp_path / 'cube.fits')
    write_fits(NDData(hr.data, wcs=hr.wcs), tmp_path / 'hr.fits')
    argv = ['register', str(tmp_path / 'cube.fits'), str(tmp_path / 'hr.fits'), '-o',
            str(tmp_path / 'out'), '--lr-psf-fwhm', '0.6', '--hr-psf-fwhm', '0.1']
    assert main(argv) == 1
    assert '--plane K (0 to 1)' in capsys.readouterr().err
    assert main([*argv, '--plane', '1']) == 0
    assert read_fits(tmp_path / 'out' / 'LR' / 'cube.fits').data.shape == (40, 40)
