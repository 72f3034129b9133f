"""Super-resolution with the input's PSF known: the output is brought to a stated resolution."""

import json
import warnings

import numpy as np
import pytest
import torch
from astropy.nddata import NDData
from scipy import ndimage

from astrolens.datasets import lr_psf_image
from astrolens.datasets._degradation import Recipe, degrade
from astrolens.datasets._sources import hdf_half
from astrolens.metrics import psnr
from astrolens.models._sr_flux import block_sum, match_output_psf, psf_blur
from astrolens.models._sr_inference import bicubic_upscale
from astrolens.models._superres import SuperResolver
from astrolens.utils import AstrolensUserWarning, WeightsError

torch.set_num_threads(1)
_SIGMA_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _gaussian_recipe(target, lr):
    return Recipe(scale=2, pixel_ratio=2.0, target_fwhm=target, lr_fwhm=lr, psf_kind='gaussian')


def test_psf_blur_is_the_gaussian_between_output_and_input():
    psf, target = lr_psf_image(_gaussian_recipe(2.0, 5.0), native_fwhm=2.0)
    assert target == 2.0
    assert psf.sum() == pytest.approx(1.0)
    assert psf_blur(psf, scale=2, output_fwhm=2.0) == pytest.approx(np.sqrt(25 - 4), rel=0.02)
    # an off-centre PSF image: the fit follows its centroid
    assert psf_blur(np.roll(psf, 1, axis=1), scale=2, output_fwhm=2.0) == pytest.approx(
        np.sqrt(25 - 4), rel=0.02)
    # a wider output needs less blur; an input sharper than the output needs none
    assert psf_blur(psf, scale=2, output_fwhm=4.0) < psf_blur(psf, scale=2, output_fwhm=2.0)
    assert psf_blur(0.5, scale=2, output_fwhm=2.0) == 0.0


def test_the_psf_of_a_resampled_degradation_is_refused():
    recipe = Recipe(scale=3, pixel_ratio=3.36, target_fwhm=2.0, lr_fwhm=8.0)
    with pytest.raises(ValueError, match='pixel ratio'):
        lr_psf_image(recipe)


def test_a_psf_given_by_its_fwhm_alone_has_the_wings_of_the_seeing():
    # a Gaussian of the same FWHM would understate the blur of a real PSF (and over-smooth)
    n = 31
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    gaussian = np.exp(-0.5 * (x * x + y * y) / (2.5 * _SIGMA_PER_FWHM) ** 2)
    assert psf_blur(2.5, scale=2, output_fwhm=2.0) > 1.1 * psf_blur(gaussian, scale=2,
                                                                     output_fwhm=2.0)


def _points(n=96, seed=3):
    rng = np.random.default_rng(seed)
    image = np.zeros((n, n))
    for _ in range(12):
        y, x = rng.integers(10, n - 10, 2)
        image[y, x] += rng.uniform(50, 200)
    return image


def test_an_over_sharp_output_is_blurred_to_the_resolution_asked_for():
    points = _points()
    psf, _ = lr_psf_image(_gaussian_recipe(3.0, 5.0), native_fwhm=3.0)
    lr = block_sum(ndimage.gaussian_filter(points, 5.0 * _SIGMA_PER_FWHM), 2)
    good = np.ones(lr.shape, dtype=bool)
    asked = ndimage.gaussian_filter(points, 3.0 * _SIGMA_PER_FWHM)
    sharp = ndimage.gaussian_filter(points, 1.5 * _SIGMA_PER_FWHM)   # a network's over-sharpening
    matched, blur = match_output_psf(sharp, lr, good, scale=2, surface_brightness=False,
                                     psf=psf, output_fwhm=3.0)
    assert blur == pytest.approx(4.0, rel=0.03)                        # sqrt(5**2 - 3**2)
    distance = lambda a: np.abs(a - asked).sum() / asked.sum()      # noqa: E731
    assert distance(sharp) > 0.3
    assert distance(matched) < 0.05
    assert matched.sum() == pytest.approx(sharp.sum(), rel=1e-9)
    # an output blurrier than asked is left as it is (no deconvolution is made up)
    soft = ndimage.gaussian_filter(points, 4.0 * _SIGMA_PER_FWHM)
    kept, _ = match_output_psf(soft, lr, good, scale=2, surface_brightness=False, psf=psf,
                               output_fwhm=3.0)
    assert np.array_equal(kept, soft)


@pytest.fixture(scope='module')
def shipped():
    return SuperResolver.from_pretrained('survey-x2', device='cpu')


def _mild_blur_pairs(n=2, seed=11):
    """HDF right-half crops blurred only 1.3x at high S/N, where the PSF-blind network
    sharpens too much."""
    rng = np.random.default_rng(seed)
    right = hdf_half('right')
    recipe = Recipe(scale=2, pixel_ratio=2.0, target_fwhm=2.0, lr_fwhm=2.6, psf_kind='moffat',
                    moffat_beta=4.0, snr=300.0, sky_subtracted=True)
    psf, output_fwhm = lr_psf_image(recipe, native_fwhm=2.0)
    pairs = []
    for _ in range(n):
        r, c = rng.integers(0, right.shape[0] - 130), rng.integers(0, right.shape[1] - 130)
        pair = degrade(right[r:r + 130, c:c + 130], recipe, rng=rng, native_fwhm=2.0, margin=1)
        pairs.append((pair.lr, pair.hr))
    return pairs, psf, output_fwhm


def _enhance(model, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        return model.enhance(data, progress=False, **kwargs)


def test_the_psf_undoes_the_over_sharpening_of_a_blind_network(shipped):
    pairs, psf, output_fwhm = _mild_blur_pairs()
    for lr, hr in pairs:
        bicubic = psnr(bicubic_upscale(lr, 2), hr)
        blind = psnr(_enhance(shipped, lr).data, hr)
        known = _enhance(shipped, lr, psf=psf, output_fwhm=output_fwhm)
        assert known.meta['sr_output_fwhm'] == output_fwhm
        assert psnr(known.data, hr) > bicubic > blind
        assert psnr(known.data, hr) > blind + 1.0


def test_the_psf_of_an_nddata_input_is_used(shipped):
    pairs, psf, _ = _mild_blur_pairs(n=1, seed=12)
    lr = pairs[0][0]
    given = _enhance(shipped, lr, psf=psf).data
    carried = _enhance(shipped, NDData(lr, psf=psf))
    assert np.array_equal(carried.data, given)
    assert carried.meta['sr_output_fwhm'] == pytest.approx(shipped.output_fwhm_)
    blind = _enhance(shipped, NDData(lr))
    assert 'sr_output_fwhm' not in blind.meta
    assert not np.array_equal(blind.data, given)


@pytest.mark.parametrize(('kwargs', 'match'), [
    ({'psf': -1.0}, 'positive FWHM'),
    ({'psf': 'wide'}, 'positive FWHM'),
    ({'psf': np.ones(5)}, '2-D image'),
    ({'psf': np.full((5, 5), np.nan)}, 'finite'),
    ({'psf': 2.0, 'output_fwhm': 0.0}, 'output_fwhm'),
    ({'psf': 2.0, 'output_fwhm': '2'}, 'output_fwhm'),
])
def test_bad_psf_options_are_refused_with_a_message(shipped, kwargs, match):
    with pytest.raises(ValueError, match=match):
        shipped.enhance(np.ones((16, 16)), progress=False, **kwargs)


def test_output_fwhm_is_saved_and_checked(shipped, tmp_path):
    assert shipped.output_fwhm_ == pytest.approx(np.sqrt(1.5 * 2.2), rel=1e-3)  # its targets
    shipped.save(tmp_path / 'model')
    config = json.loads((tmp_path / 'model.json').read_text())
    assert config['output_fwhm'] == pytest.approx(shipped.output_fwhm_)
    config['output_fwhm'] = -2
    (tmp_path / 'model.json').write_text(json.dumps(config))
    with pytest.raises(WeightsError, match='output_fwhm'):
        SuperResolver.load(tmp_path / 'model')


def test_cli_deconvolve_acts_only_where_the_psf_is_known(tmp_path):
    from astrolens.cli import main
    from astrolens.io import make_wcs, read_fits, write_fits

    pairs, psf, _ = _mild_blur_pairs(n=1, seed=13)
    lr = pairs[0][0]
    write_fits(NDData(lr, wcs=make_wcs(lr.shape, 0.1), psf=psf), tmp_path / 'with_psf.fits')
    write_fits(NDData(lr, wcs=make_wcs(lr.shape, 0.1)), tmp_path / 'plain.fits')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        for name in ('with_psf', 'plain'):
            for flag in ([], ['--deconvolve']):
                out = tmp_path / f'{name}{"_dec" if flag else ""}.out.fits'
                assert main(['enhance', str(tmp_path / f'{name}.fits'), '-o', str(out), '-q',
                             *flag]) == 0
    meta = {p.name: read_fits(p).meta for p in tmp_path.glob('*.out.fits')}
    assert isinstance(meta['with_psf_dec.out.fits']['sr_deconvolve_iterations'], int)
    for name in ('with_psf.out.fits', 'plain.out.fits', 'plain_dec.out.fits'):
        assert 'sr_deconvolve_iterations' not in meta[name]


def test_cli_uses_the_psf_extension_or_the_psf_fwhm_option(tmp_path, capsys):
    from astrolens.cli import main
    from astrolens.io import make_wcs, read_fits, write_fits

    pairs, psf, _ = _mild_blur_pairs(n=1, seed=13)
    lr = pairs[0][0]
    write_fits(NDData(lr, wcs=make_wcs(lr.shape, 0.1), psf=psf), tmp_path / 'with_psf.fits')
    write_fits(NDData(lr, wcs=make_wcs(lr.shape, 0.1)), tmp_path / 'plain.fits')
    assert main(['enhance', str(tmp_path / 'with_psf.fits'), '-o', str(tmp_path / 'a.fits'),
                 '-q']) == 0
    assert read_fits(tmp_path / 'a.fits').meta['sr_output_fwhm'] == pytest.approx(1.8166,
                                                                                 rel=1e-3)
    assert main(['enhance', str(tmp_path / 'plain.fits'), '-o', str(tmp_path / 'b.fits'), '-q',
                 '--psf-fwhm', '1.4', '--output-fwhm', '2.1']) == 0
    assert read_fits(tmp_path / 'b.fits').meta['sr_output_fwhm'] == 2.1
    assert main(['enhance', str(tmp_path / 'plain.fits'), '-o', str(tmp_path / 'c.fits'), '-q',
                 '--psf-fwhm', '-1']) == 1
    assert '--psf-fwhm must be a positive number' in capsys.readouterr().err
    assert not (tmp_path / 'c.fits').exists()
    # refused before anything is read, for one file or many
    assert main(['enhance', str(tmp_path / 'missing.fits'), '-o', str(tmp_path / 'd.fits'),
                 '--psf-fwhm', '0']) == 1
    assert main(['enhance', '--many', str(tmp_path / '*.fits'), '-o', str(tmp_path / 'many'),
                 '--output-fwhm', '-2']) == 1
    err = capsys.readouterr().err
    assert '--psf-fwhm must be' in err and '--output-fwhm must be' in err
    assert not (tmp_path / 'many').exists()
