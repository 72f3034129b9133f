"""Deconvolution of a super-resolved image up to the input's noise (`refine_to_noise`)."""

import warnings

import numpy as np
import pytest
import torch
from astropy.nddata import NDData, StdDevUncertainty
from scipy import ndimage

from astrolens.datasets import lr_psf_image
from astrolens.datasets._degradation import Recipe, degrade
from astrolens.datasets._sources import hdf_half
from astrolens.metrics import psnr
from astrolens.models._sr_deconvolve import observation_kernel, refine_to_noise, sky_mask, sky_rms
from astrolens.models._sr_flux import block_sum, psf_blur
from astrolens.models._sr_inference import noise_level
from astrolens.models._superres import SuperResolver
from astrolens.utils import AstrolensUserWarning, bicubic_upscale

torch.set_num_threads(1)
_SIGMA_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _scene(n=64, seed=0):
    """Point sources and a faint extended blob, at an output resolution of 2 pixels."""
    rng = np.random.default_rng(seed)
    image = np.zeros((n, n))
    for _ in range(8):
        y, x = rng.integers(8, n - 8, 2)
        image[y, x] += rng.uniform(200, 800)
    image[20:44, 20:44] += 2.0
    return ndimage.gaussian_filter(image, 2.0 * _SIGMA_PER_FWHM)


def _observe(truth, blur, noise, seed=1):
    lr = block_sum(ndimage.gaussian_filter(truth, blur * _SIGMA_PER_FWHM), 2)
    return lr + np.random.default_rng(seed).normal(0.0, noise, lr.shape)


def _lr_residual(sr, lr, blur):
    if np.ndim(blur) == 0:
        fine = ndimage.gaussian_filter(sr, blur * _SIGMA_PER_FWHM)
    else:
        fine = ndimage.convolve(sr, blur, mode='reflect')
    return np.mean((block_sum(fine, 2) - lr) ** 2)


def test_an_under_deconvolved_output_is_carried_on_until_it_explains_the_input():
    truth, blur, noise = _scene(), 4.0, 0.5
    lr = _observe(truth, blur, noise)
    good = np.ones(lr.shape, dtype=bool)
    soft = ndimage.gaussian_filter(truth, 3.0 * _SIGMA_PER_FWHM)    # a network that stopped short
    assert _lr_residual(soft, lr, blur) > 10 * noise ** 2
    # the Richardson-Lucy core alone: on this noise-free start the sky guard (tested below)
    # would stop it before the point sources are explained
    refined, n_iter = refine_to_noise(soft, lr, good, scale=2, blur=blur, noise=noise,
                                      sky_limit=None)
    assert 0 < n_iter < 100
    assert _lr_residual(refined, lr, blur) <= 1.05 * noise ** 2
    assert psnr(refined, truth) > psnr(soft, truth) + 3.0
    # Richardson-Lucy keeps the input's total, not the starting image's
    assert refined.sum() == pytest.approx(lr.sum(), rel=1e-2)


def test_an_output_that_explains_the_input_is_left_alone():
    truth, blur, noise = _scene(), 4.0, 0.5
    lr = _observe(truth, blur, noise)
    good = np.ones(lr.shape, dtype=bool)
    kept, n_iter = refine_to_noise(truth, lr, good, scale=2, blur=blur, noise=noise)
    # the noise is not deconvolved: iterating would fit it
    assert n_iter == 0
    assert kept is truth
    # nor is anything done without a noise level
    assert refine_to_noise(truth, lr, good, scale=2, blur=blur, noise=0.0)[1] == 0


def test_masked_input_pixels_neither_pull_nor_push_and_negative_skies_work():
    truth, blur, noise = _scene() - 0.3, 4.0, 0.5          # sky-subtracted: negative pixels
    lr = _observe(truth, blur, noise)
    good = np.ones(lr.shape, dtype=bool)
    good[10:14, 5:30] = False
    soft = ndimage.gaussian_filter(truth, 3.0 * _SIGMA_PER_FWHM)
    garbage = lr.copy()
    garbage[~good] = 1e6
    a, n_a = refine_to_noise(soft, lr, good, scale=2, blur=blur, noise=noise, sky_limit=None)
    b, n_b = refine_to_noise(soft, garbage, good, scale=2, blur=blur, noise=noise,
                             sky_limit=None)
    assert n_a == n_b > 0
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert psnr(a, truth) > psnr(soft, truth) + 3.0


def test_surface_brightness_is_compared_as_block_means():
    truth, blur, noise = _scene(), 4.0, 0.5
    lr = _observe(truth, blur, noise)
    good = np.ones(lr.shape, dtype=bool)
    soft = ndimage.gaussian_filter(truth, 3.0 * _SIGMA_PER_FWHM)
    flux, n_flux = refine_to_noise(soft, lr, good, scale=2, blur=blur, noise=noise)
    # per unit area, with output pixels of area 1: the input's pixels are 4 times larger
    sb, n_sb = refine_to_noise(soft, lr / 4.0, good, scale=2, blur=blur, noise=noise / 4.0,
                               surface_brightness=True)
    assert n_sb == n_flux > 0
    np.testing.assert_allclose(sb, flux, rtol=1e-9, atol=1e-9)


def test_a_per_pixel_noise_stops_the_iterations_where_bright_sources_are_noisier():
    """Poisson noise makes bright sources noisier than the sky: measured against the sky's
    noise alone, their residual never gets small enough and the iterations fit their noise
    to the limit; against the per-pixel noise, they stop once the input is explained."""
    truth, blur = _scene(), 4.0
    clean = block_sum(ndimage.gaussian_filter(truth, blur * _SIGMA_PER_FWHM), 2)
    sigma = np.sqrt(0.5 ** 2 + np.clip(clean, 0.0, None))          # sky 0.5, gain 1
    lr = clean + np.random.default_rng(1).normal(size=clean.shape) * sigma
    good = np.ones(lr.shape, dtype=bool)
    soft = ndimage.gaussian_filter(truth, 3.0 * _SIGMA_PER_FWHM)
    _, n_sky = refine_to_noise(soft, lr, good, scale=2, blur=blur, noise=0.5, max_iter=60,
                               sky_limit=None)
    assert n_sky == 60
    refined, n_map = refine_to_noise(soft, lr, good, scale=2, blur=blur, noise=sigma,
                                     max_iter=60, sky_limit=None)
    assert 0 < n_map < 10
    observed = block_sum(ndimage.gaussian_filter(refined, blur * _SIGMA_PER_FWHM), 2)
    assert np.mean(((observed - lr) / sigma) ** 2) <= 1.05


def test_enhance_stops_at_the_uncertainty_the_input_carries():
    pair, psf, output_fwhm = _moffat_pair(3.0)
    model = SuperResolver.from_pretrained('survey-x2', device='cpu')
    noise = noise_level(pair.lr)
    # the brightest tenth of the pixels unconstrained, the others at the estimated noise:
    # the median is that noise, so only a per-pixel reading tells the two apart
    bright = pair.lr > np.percentile(pair.lr, 90)
    cores_free = np.where(bright, 1e6, noise)
    runs = {}
    for name, unc in (('none', None), ('huge', StdDevUncertainty(np.full(pair.lr.shape, 1e6))),
                      ('cores free', StdDevUncertainty(cores_free)),
                      ('true', StdDevUncertainty(pair.sigma))):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', AstrolensUserWarning)
            out = model.enhance(NDData(pair.lr, uncertainty=unc), progress=False, psf=psf,
                                output_fwhm=output_fwhm, deconvolve=True)
        runs[name] = out.meta['sr_deconvolve_iterations']
    assert runs['none'] > 0 and runs['true'] > 0
    # an input as noisy as that is explained by the network's output as it is
    assert runs['huge'] == 0
    # the cores, where the network stopped short, no longer hold the iterations
    assert runs['cores free'] < runs['none']


def test_with_the_psf_known_enhance_can_explain_a_bright_input_to_its_noise():
    """A bright HDF crop behind a wide PSF: the shipped network alone leaves a residual well
    above the noise on the input grid; given the PSF and ``deconvolve=True``, the output
    explains the input."""
    rng = np.random.default_rng(5)
    right = hdf_half('right')
    recipe = Recipe(scale=2, pixel_ratio=2.0, target_fwhm=2.0, lr_fwhm=5.0, psf_kind='moffat',
                    moffat_beta=3.0, snr=300.0, sky_subtracted=True)
    psf, output_fwhm = lr_psf_image(recipe, native_fwhm=2.0)
    pair = degrade(right[40:170, 60:190], recipe, rng=rng, native_fwhm=2.0, margin=1)
    model = SuperResolver.from_pretrained('survey-x2', device='cpu')
    # observed through the PSF itself, as enhance does
    blur, _ = observation_kernel(psf, scale=2, output_fwhm=output_fwhm)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        blind = np.asarray(model.enhance(pair.lr, progress=False).data)
        plain = np.asarray(model.enhance(pair.lr, progress=False, psf=psf,
                                         output_fwhm=output_fwhm).data)
        known = np.asarray(model.enhance(pair.lr, progress=False, psf=psf,
                                         output_fwhm=output_fwhm, deconvolve=True).data)
    noise = noise_level(pair.lr)             # the level enhance estimates and stops at
    assert _lr_residual(blind, pair.lr, blur) > 1.3 * noise ** 2
    assert _lr_residual(plain, pair.lr, blur) > 1.3 * noise ** 2     # deconvolve is opt-in
    assert _lr_residual(known, pair.lr, blur) <= 1.01 * noise ** 2
    assert psnr(known, pair.hr) > psnr(blind, pair.hr) + 0.3
    assert known.sum() == pytest.approx(pair.lr.sum(), rel=1e-9)


def test_deconvolve_must_be_a_boolean():
    model = SuperResolver.from_pretrained('survey-x2', device='cpu')
    with pytest.raises(TypeError, match='deconvolve must be True or False'):
        model.enhance(np.ones((16, 16)), deconvolve='yes', progress=False)
    # without a PSF (or without the local correction) there is nothing to deconvolve through
    image = np.random.default_rng(0).normal(10.0, 1.0, (16, 16))
    with pytest.warns(AstrolensUserWarning, match="deconvolve=True needs the input's PSF"):
        model.enhance(image, deconvolve=True, progress=False)
    with pytest.warns(AstrolensUserWarning, match="flux='total'"):
        model.enhance(image, deconvolve=True, psf=2.0, flux='total', progress=False)


def _moffat_pair(beta=1.8):
    """A bright HDF crop behind a Moffat PSF of broad wings, with that PSF on the input grid."""
    recipe = Recipe(scale=2, pixel_ratio=2.0, target_fwhm=2.0, lr_fwhm=5.0, psf_kind='moffat',
                    moffat_beta=beta, snr=300.0, sky_subtracted=True)
    psf, output_fwhm = lr_psf_image(recipe, native_fwhm=2.0)
    pair = degrade(hdf_half('right')[40:170, 60:190], recipe, rng=np.random.default_rng(5),
                   native_fwhm=2.0, margin=1)
    return pair, psf, output_fwhm


def _psf_model_error(psf, blur, *, scale, output_fwhm):
    """Relative rms error of the input PSF made from a Gaussian point of ``output_fwhm``."""
    from scipy.signal import convolve

    s, n = scale, psf.shape[0]
    y, x = np.mgrid[:s * n, :s * n] - (s * n - 1) / 2.0      # the stamp's centre
    point = np.exp(-0.5 * (x * x + y * y) / (output_fwhm * _SIGMA_PER_FWHM) ** 2)
    if np.ndim(blur) == 0:
        fine = ndimage.gaussian_filter(point, blur * _SIGMA_PER_FWHM, mode='constant')
    else:
        fine = convolve(point, blur, mode='same')
    model = block_sum(fine, s)
    return np.sqrt(np.sum((model / model.sum() - psf) ** 2) / np.sum(psf ** 2))


@pytest.mark.parametrize('beta', [1.8, 3.0])
def test_the_observation_kernel_reproduces_the_psf_wings_and_all(beta):
    _, psf, output_fwhm = _moffat_pair(beta)
    kernel, residual = observation_kernel(psf, scale=2, output_fwhm=output_fwhm)
    assert kernel.shape[0] % 2 == 1 and kernel.shape[0] == kernel.shape[1]
    assert kernel.min() >= 0 and kernel.sum() == pytest.approx(1.0)
    assert residual <= 0.005
    blur = psf_blur(psf, scale=2, output_fwhm=output_fwhm)
    assert _psf_model_error(psf, kernel, scale=2, output_fwhm=output_fwhm) < 0.01
    # the Gaussian of the same width misses the wings
    assert _psf_model_error(psf, blur, scale=2, output_fwhm=output_fwhm) > 0.05


def test_a_gaussian_psf_keeps_the_gaussian_kernel():
    psf, output_fwhm = lr_psf_image(Recipe(scale=2, pixel_ratio=2.0, target_fwhm=2.0,
                                           lr_fwhm=3.0, psf_kind='gaussian'), native_fwhm=2.0)
    kernel, residual = observation_kernel(psf, scale=2, output_fwhm=output_fwhm)
    blur = psf_blur(psf, scale=2, output_fwhm=output_fwhm)
    r = kernel.shape[0] // 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    gaussian = np.exp(-0.5 * (x * x + y * y) / (blur * _SIGMA_PER_FWHM) ** 2)
    np.testing.assert_allclose(kernel, gaussian / gaussian.sum(), atol=2e-3 * kernel.max())
    assert residual <= 0.005


def test_an_output_that_explains_the_input_through_the_real_psf_is_left_alone():
    """Observed through a Gaussian of the PSF's width, the truth seems not to explain its own
    input (the wings are missing), and the iterations would sharpen it wrongly; observed
    through the kernel, it does, and nothing is done."""
    pair, psf, output_fwhm = _moffat_pair(1.8)
    good = np.ones(pair.lr.shape, dtype=bool)
    noise = noise_level(pair.lr)
    kernel, _ = observation_kernel(psf, scale=2, output_fwhm=output_fwhm)
    kept, n_kernel = refine_to_noise(pair.hr, pair.lr, good, scale=2, blur=kernel, noise=noise)
    assert n_kernel == 0 and kept is pair.hr
    blur = psf_blur(psf, scale=2, output_fwhm=output_fwhm)
    # (the sky guard refuses this one too: its first iteration already roughens the sky)
    spoiled, n_gauss = refine_to_noise(pair.hr, pair.lr, good, scale=2, blur=blur, noise=noise,
                                       sky_limit=None)
    assert n_gauss > 0
    assert psnr(spoiled, pair.hr) < 40.0


def test_a_cube_records_the_iterations_of_every_plane():
    pair, psf, output_fwhm = _moffat_pair(3.0)
    model = SuperResolver.from_pretrained('survey-x2', device='cpu')
    noise = np.full(pair.lr.shape, noise_level(pair.lr))
    options = {'progress': False, 'psf': psf, 'output_fwhm': output_fwhm, 'deconvolve': True}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        single = model.enhance(NDData(pair.lr, uncertainty=StdDevUncertainty(noise)), **options)
        cube = model.enhance(NDData(np.stack([pair.lr, pair.lr]),
                                    uncertainty=StdDevUncertainty(np.stack([noise * 1e6, noise]))),
                             **options)
    n = single.meta['sr_deconvolve_iterations']
    assert n > 0
    # the first plane is explained as it is, the second iterates as the image alone does
    assert cube.meta['sr_deconvolve_iterations'] == f'0,{n}'
    np.testing.assert_allclose(cube.data[1], single.data, rtol=1e-6, atol=1e-9)


def _star_on_noisy_sky(n=32, amp=3000.0, fwhm=2.0, seed=3):
    """One bright star (input FWHM ``fwhm`` pixels) on a flat sky of noise 1, x2 truth."""
    truth = np.zeros((2 * n, 2 * n))
    truth[n, n] = amp
    truth = ndimage.gaussian_filter(truth, 2.0 * _SIGMA_PER_FWHM)
    clean = block_sum(ndimage.gaussian_filter(truth, 2.0 * fwhm * _SIGMA_PER_FWHM), 2)
    lr = clean + np.random.default_rng(seed).normal(0.0, 1.0, clean.shape)
    yy, xx = np.mgrid[:2 * n, :2 * n]
    far = np.hypot(yy - n, xx - n) > 8.0 * fwhm        # sky well away from the star
    return truth, lr, far


def _sky_ratio(image, lr, pixels):
    return sky_rms(image[pixels]) / sky_rms(bicubic_upscale(lr, 2)[pixels])


def test_deconvolution_never_makes_the_sky_noisier_than_bicubic():
    """The star holds the discrepancy above the noise long after the flat sky is explained:
    unguarded, the iterations fit the sky's noise to twice bicubic's rms; guarded, they stop
    at the last iterate whose sky is no noisier than bicubic's."""
    truth, lr, far = _star_on_noisy_sky()
    good = np.ones(lr.shape, dtype=bool)
    start = ndimage.gaussian_filter(truth, 1.5 * _SIGMA_PER_FWHM)   # a denoising network
    sky = np.repeat(np.repeat(sky_mask(lr, good), 2, axis=0), 2, axis=1)
    unguarded, n_free = refine_to_noise(start, lr, good, scale=2, blur=4.0, noise=1.0,
                                        sky_limit=None)
    assert _sky_ratio(unguarded, lr, far) > 1.5
    report = {}
    guarded, n_iter = refine_to_noise(start, lr, good, scale=2, blur=4.0, noise=1.0,
                                      report=report)
    # on the pixels the guard measures (its stated definition), and on others chosen here
    assert _sky_ratio(guarded, lr, sky) <= 1.0
    assert _sky_ratio(guarded, lr, far) <= 1.0
    assert 0 < n_iter < n_free
    assert report['stop'] == 'sky-rms'
    assert report['sky_ratio'] == pytest.approx(_sky_ratio(guarded, lr, sky), rel=1e-3)
    # the next iterate was the first above bicubic's
    beyond, _ = refine_to_noise(start, lr, good, scale=2, blur=4.0, noise=1.0,
                                max_iter=n_iter + 1, sky_limit=None)
    assert _sky_ratio(beyond, lr, sky) > 1.0


def test_an_output_as_noisy_as_bicubic_is_not_deconvolved():
    _, lr, _ = _star_on_noisy_sky()
    good = np.ones(lr.shape, dtype=bool)
    start = bicubic_upscale(lr, 2).astype(np.float64)
    report = {}
    kept, n_iter = refine_to_noise(start, lr, good, scale=2, blur=4.0, noise=1.0,
                                   report=report)
    assert n_iter == 0 and kept is start
    assert report['stop'] == 'sky-rms-first'
    assert report['first_sky_ratio'] > 1.0
    # unguarded, the same start is deconvolved
    assert refine_to_noise(start, lr, good, scale=2, blur=4.0, noise=1.0, sky_limit=None)[1] > 0
    with pytest.raises(ValueError, match=r'sky_limit must be in \(0, 1\]'):
        refine_to_noise(start, lr, good, scale=2, blur=4.0, noise=1.0, sky_limit=1.5)


def _star_lr(amp, n=24, fwhm=3.0):
    truth = np.zeros((2 * n, 2 * n))
    truth[n, n] = amp
    truth[n // 2, n + 7] = amp / 3
    truth = ndimage.gaussian_filter(truth, 2.0 * _SIGMA_PER_FWHM)
    clean = block_sum(ndimage.gaussian_filter(truth, 2.0 * fwhm * _SIGMA_PER_FWHM), 2)
    return clean + np.random.default_rng(0).normal(0.0, 1.0, clean.shape)


def test_enhance_says_where_the_sky_guard_stopped_deconvolution(tmp_path):
    from astropy.io import fits

    from astrolens.io import read_fits, write_fits

    model = SuperResolver.from_pretrained('survey-x2', device='cpu')
    lr = _star_lr(3000.0)
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstrolensUserWarning)     # stopped early: no warning
        out = model.enhance(lr, psf=3.0, deconvolve=True, progress=False)
    assert out.meta['sr_deconvolve_stop'] == 'sky-rms'
    assert out.meta['sr_deconvolve_iterations'] > 0
    assert out.meta['sr_deconvolve_sky_ratio'] <= 1.0
    sky = np.repeat(np.repeat(sky_mask(lr, np.ones(lr.shape, bool)), 2, axis=0), 2, axis=1)
    assert _sky_ratio(np.asarray(out.data), lr, sky) <= 1.0
    path = tmp_path / 'out.fits'
    write_fits(out, path)
    header = fits.getheader(path)
    assert header['SRDECSTP'] == 'sky-rms'
    assert header['SRDECIT'] == out.meta['sr_deconvolve_iterations']
    assert header['SRDECSKY'] == out.meta['sr_deconvolve_sky_ratio']
    assert read_fits(path).meta['sr_deconvolve_stop'] == 'sky-rms'


def test_enhance_refuses_to_deconvolve_in_one_line_when_the_first_iteration_is_too_noisy():
    model = SuperResolver.from_pretrained('survey-x2', device='cpu')
    lr = _star_lr(30000.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = model.enhance(lr, psf=3.0, deconvolve=True, progress=False)
    said = [str(w.message) for w in caught if issubclass(w.category, AstrolensUserWarning)
            and 'deconvolve' in str(w.message)]
    assert len(said) == 1 and '\n' not in said[0]
    assert 'first Richardson-Lucy iteration would raise the sky rms' in said[0]
    assert 'not deconvolved' in said[0]
    assert out.meta['sr_deconvolve_stop'] == 'sky-rms-first'
    assert out.meta['sr_deconvolve_iterations'] == 0
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        plain = model.enhance(lr, psf=3.0, progress=False)
    np.testing.assert_array_equal(out.data, plain.data)


def test_a_batch_says_once_how_many_images_were_not_deconvolved():
    model = SuperResolver.from_pretrained('survey-x2', device='cpu')
    lr = _star_lr(30000.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        model.enhance(np.stack([lr, lr]), psf=3.0, deconvolve=True, progress=False)
    said = [str(w.message) for w in caught if 'Richardson-Lucy' in str(w.message)]
    assert len(said) == 1 and 'on 2 of 2 images' in said[0]
