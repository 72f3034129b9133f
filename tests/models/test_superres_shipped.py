"""The shipped super-resolution models on fresh data: a quality floor, noise, domain warnings.

A shipped model replaced by zeros (whose output is then the bicubic skip) or by bicubic
upsampling falls under the quality floor; pure noise must come out noise-like (no invented
structure); the noise level must matter; inputs outside a model's domain must warn.
"""

import warnings

import numpy as np
import pytest
import torch
from astropy.nddata import NDData, StdDevUncertainty

from astrolens.datasets._degradation import Recipe, degrade
from astrolens.datasets._sources import draw_lens_scene, hdf_half
from astrolens.metrics import psnr
from astrolens.models._sr_inference import bicubic_upscale
from astrolens.models._superres import SuperResolver
from astrolens.utils import AstrolensUserWarning
from astrolens.wcs_utils import make_wcs

torch.set_num_threads(1)

# mean PSNR gain over bicubic that each model must keep on the fresh pairs below
FLOORS = {'survey-x2': 1.0, 'deeplense-x2': 1.0, 'hsc-hst-x3': 0.3}


def _fresh_pairs(scale, n=4, seed=777):
    """Fresh pairs no model was trained on: HDF right-half crops and new lens scenes."""
    rng = np.random.default_rng(seed)
    right = hdf_half('right')
    pairs = []
    for i in range(n):
        if i % 2:
            r, c = rng.integers(0, right.shape[0] - 150), rng.integers(0, right.shape[1] - 150)
            image, native = right[r:r + 150, c:c + 150], 2.0
        else:
            image, native = draw_lens_scene(rng, num_pix=150) * 100.0, 1.0
        recipe = Recipe(scale=scale, pixel_ratio=float(scale), target_fwhm=max(native, 1.8),
                        lr_fwhm=(2.0 if scale == 2 else 5.0) * max(native, 1.8),
                        snr=float(rng.uniform(30, 200)), sky_subtracted=bool(i % 2))
        pair = degrade(image, recipe, rng=rng, native_fwhm=native, margin=1)
        pairs.append((pair.lr, pair.hr))
    return pairs


def _enhance(sr, lr, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', AstrolensUserWarning)
        return np.asarray(sr.enhance(lr, progress=False, **kwargs).data, dtype=np.float64)


def _gain(sr, pairs):
    s = int(sr.scale)
    return np.mean([psnr(_enhance(sr, lr), hr) - psnr(bicubic_upscale(lr, s), hr)
                    for lr, hr in pairs])


@pytest.fixture(scope='module', params=sorted(FLOORS))
def shipped(request):
    return request.param, SuperResolver.from_pretrained(request.param, device='cpu')


def test_shipped_model_beats_bicubic_on_fresh_pairs(shipped):
    name, sr = shipped
    assert _gain(sr, _fresh_pairs(int(sr.scale))) > FLOORS[name]


def test_a_model_of_zeros_is_caught_by_the_floor(shipped):
    name, sr = shipped
    zeros = SuperResolver.from_pretrained(name, device='cpu')
    with torch.no_grad():
        for p in zeros.model_.parameters():
            p.zero_()
    assert _gain(zeros, _fresh_pairs(int(sr.scale))) < FLOORS[name]


def _radial_power(image, nbins=8):
    a = image - image.mean()
    power = np.abs(np.fft.fftshift(np.fft.fft2(a))) ** 2
    ny, nx = a.shape
    yy, xx = np.mgrid[:ny, :nx]
    r = np.hypot((yy - ny // 2) / ny, (xx - nx // 2) / nx)
    edges = np.linspace(0, 0.5, nbins + 1)
    return np.array([power[(r >= lo) & (r < hi)].mean() for lo, hi in zip(edges[:-1],
                                                                             edges[1:],
                                                                             strict=True)])


def test_pure_noise_stays_noise_like(shipped):
    """White noise in: no structure invented, large scales kept, no plateaus or hot spots.

    The output is summed back onto the input grid and its power spectrum compared with the
    input's, ring by ring: nowhere above it (no invented structure), and on the largest
    scales close to it (the sky's fluctuations there carry flux, which the local flux
    correction keeps). A network may smooth the smallest scales of pure noise (that is its
    best estimate of a flat sky), but what it leaves must stay Gaussian-like.
    """
    from scipy import stats

    name, sr = shipped
    s = int(sr.scale)
    noise = np.random.default_rng(5).normal(100.0, 1.0, (96, 96))
    out = _enhance(sr, noise)
    back = out.reshape(96, s, 96, s).sum(axis=(1, 3))
    ratio = _radial_power(back) / _radial_power(noise)
    assert np.all(ratio < 2.0), ratio
    assert np.all(ratio[:2] > 0.3), ratio
    z = (out - out.mean()) / out.std()
    assert z.max() < 6.0 and abs(stats.kurtosis(z.ravel())) < 1.0
    # no plateaus: neighbouring output pixels are almost never equal
    steps = np.abs(np.diff(out, axis=1)) / out.std()
    assert np.mean(steps < 1e-3) < 0.01


def test_the_noise_level_is_used(shipped):
    """Told the noise is high, a noise-aware model gives a smoother answer."""
    name, sr = shipped
    assert getattr(sr.model_, 'noise_channel', False), f'{name} is not noise-aware'
    lr, _ = _fresh_pairs(int(sr.scale), n=1)[0]
    sigma = np.nanstd(lr[:8, :8]) + 1e-3 * np.nanmax(lr)
    quiet = _enhance(sr, NDData(lr, uncertainty=StdDevUncertainty(np.full(lr.shape, sigma / 10))))
    loud = _enhance(sr, NDData(lr, uncertainty=StdDevUncertainty(np.full(lr.shape, sigma * 10))))
    hf = [_radial_power(x)[-3:].sum() for x in (quiet, loud)]
    assert hf[1] < hf[0]


def test_inputs_outside_the_domain_warn(shipped):
    name, sr = shipped
    domain = sr.config_.get('domain')
    assert domain, f'{name} records no domain'
    rng = np.random.default_rng(6)
    image = rng.normal(0, 1.0, (48, 48))
    image[24, 24] += 50.0
    lo, hi = domain['input_pixel_scale_arcsec']
    inside = NDData(image, wcs=make_wcs(image.shape, pixel_scale=(lo + hi) / 2))
    outside = NDData(image, wcs=make_wcs(image.shape, pixel_scale=hi * 5))
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstrolensUserWarning)
        sr.enhance(inside, progress=False)
    with pytest.warns(AstrolensUserWarning, match='pixel scale'):
        sr.enhance(outside, progress=False)
    bright = image.copy()
    bright[23:26, 23:26] += 1e6                # a bright source, not one hot pixel
    with pytest.warns(AstrolensUserWarning, match='signal-to-noise'):
        sr.enhance(NDData(bright, wcs=inside.wcs), progress=False)
