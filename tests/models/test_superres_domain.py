"""Noise level and domain checks of the inference pipeline (no trained weights needed)."""

import warnings

import numpy as np
import pytest
import torch
from astropy.nddata import (
    InverseVariance,
    NDData,
    StdDevUncertainty,
    VarianceUncertainty,
)

from astrolens.models._sr_inference import check_domain, noise_level, uncertainty_sigma
from astrolens.models._sr_networks import create_sr_network
from astrolens.models._superres import SuperResolver
from astrolens.utils import AstrolensUserWarning
from astrolens.wcs_utils import make_wcs

torch.set_num_threads(1)


def _estimator(domain=None):
    sr = SuperResolver(2, arch='edsr-xs', arch_kwargs={'noise_channel': True}, device='cpu')
    sr.model_ = create_sr_network('edsr-xs', 2, noise_channel=True).eval()
    sr.flux_gain_, sr.name_ = 0.25, 'test-model'
    sr.config_ = {'domain': domain} if domain else {}
    return sr


class _Spy(torch.nn.Module):
    """Records the noise channel the pipeline feeds the network."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seen = net, []
        self.noise_channel, self.receptive_field = True, net.receptive_field

    def forward(self, x):
        self.seen.append(float(x[:, 1].mean()))
        return self.net(x)


def test_uncertainty_of_any_kind_gives_the_same_noise_level():
    bad = np.zeros((8, 8), dtype=bool)
    sigma = np.full((8, 8), 2.0)
    for unc in (StdDevUncertainty(sigma), VarianceUncertainty(sigma ** 2),
                InverseVariance(1 / sigma ** 2)):
        assert uncertainty_sigma(unc, bad) == pytest.approx(2.0)
    assert uncertainty_sigma(None, bad) is None


def test_robust_noise_level_ignores_sources_and_masked_pixels():
    rng = np.random.default_rng(0)
    image = rng.normal(0, 3.0, (64, 64))
    image[20:30, 20:30] += 500.0
    bad = np.zeros(image.shape, dtype=bool)
    bad[:, 40] = True
    image[:, 40] = 1e6
    assert noise_level(image, bad) == pytest.approx(3.0, rel=0.1)


def test_the_network_is_told_the_uncertainty_or_the_estimate():
    sr = _estimator()
    spy = _Spy(sr.model_)
    sr.model_ = spy
    rng = np.random.default_rng(1)
    image = rng.normal(100.0, 2.0, (32, 32))
    image[16, 16] += 200.0
    sr.enhance(NDData(image, uncertainty=StdDevUncertainty(np.full(image.shape, 8.0))),
               progress=False)
    told = spy.seen[-1]
    sr.enhance(image, progress=False)
    estimated = spy.seen[-1]
    # same normalisation, so the ratio of what the network saw is the ratio of the sigmas
    assert told / estimated == pytest.approx(8.0 / 2.0, rel=0.15)


def test_domain_warnings_name_what_is_outside():
    domain = {'input_pixel_scale_arcsec': [0.1, 0.3], 'snr': [0.0, 500.0]}
    sr = _estimator(domain)
    rng = np.random.default_rng(2)
    image = rng.normal(0, 1.0, (32, 32))
    image[16, 16] += 50.0
    inside = make_wcs(image.shape, pixel_scale=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstrolensUserWarning)
        assert check_domain(sr, image, np.zeros(image.shape, bool), wcs=inside) == []
        sr.enhance(NDData(image, wcs=inside), progress=False)
    with pytest.warns(AstrolensUserWarning, match='pixel scale 1'):
        sr.enhance(NDData(image, wcs=make_wcs(image.shape, pixel_scale=1.0)), progress=False)
    bright = image.copy()
    bright[15:18, 15:18] += 1e5                # a bright source, not one hot pixel
    with pytest.warns(AstrolensUserWarning, match='signal-to-noise'):
        sr.enhance(NDData(bright, wcs=inside), progress=False)
    # a model that records no domain is not checked
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstrolensUserWarning)
        _estimator().enhance(NDData(bright, wcs=make_wcs(image.shape, pixel_scale=1.0)),
                             progress=False)


def test_a_known_psf_outside_the_trained_widths_is_warned_about():
    sr = _estimator({'lr_psf_fwhm_lr_pixels': [1.2, 3.0]})
    rng = np.random.default_rng(3)
    image = rng.normal(0, 1.0, (32, 32))
    image[16, 16] += 50.0
    y, x = np.mgrid[-7:8, -7:8]
    wide = np.exp(-0.5 * (x * x + y * y) / 2.5 ** 2)      # FWHM 5.9 pixels
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstrolensUserWarning)
        sr.enhance(image, psf=2.0, progress=False)
        sr.enhance(image, progress=False)                # no PSF: nothing to check
    outside = r'PSF FWHM 5\.9\d pixels is outside the 1\.2-3'
    with pytest.warns(AstrolensUserWarning, match=outside):
        sr.enhance(image, psf=wide, progress=False)
    # the PSF an NDData carries is checked too
    with pytest.warns(AstrolensUserWarning, match='PSF FWHM'):
        sr.enhance(NDData(image, psf=wide), progress=False)
