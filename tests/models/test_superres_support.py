"""The significance gate of `enhance(support_nsigma=...)`: nothing sharpened out of sky noise."""

import numpy as np
import pytest
import torch
from astropy.io import fits

from astrolens.metrics import detection_purity
from astrolens.models._sr_networks import create_sr_network
from astrolens.models._sr_support import gate_unsupported, support_mask
from astrolens.models._superres import SuperResolver

torch.set_num_threads(1)


def _gaussian(shape, y, x, sigma, amplitude):
    yy, xx = np.indices(shape)
    return amplitude * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / sigma ** 2)


def test_pure_noise_supports_nothing_and_a_source_supports_its_surroundings():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 1.0, (128, 128))
    bad = np.zeros(noise.shape, dtype=bool)
    assert not support_mask(noise, bad, noise=1.0, nsigma=5.0).any()
    # small excursions of the smoothed noise are not sources; counted, they would be
    kept = support_mask(noise, bad, noise=1.0, nsigma=3.0).mean()
    assert kept < 0.01 and kept < support_mask(noise, bad, noise=1.0, nsigma=3.0,
                                               min_area=1).mean() / 3
    source = noise + _gaussian(noise.shape, 30, 40, 1.5, 20.0)
    mask = support_mask(source, bad, noise=1.0, nsigma=5.0)
    assert mask[30, 40] and mask[30, 43]          # the core and, grown, its wing
    assert not mask[5:20, 5:20].any()
    # bad pixels are never supported, whatever they hold
    bad[30, 40] = True
    assert not support_mask(source, bad, noise=1.0, nsigma=5.0)[30, 40]
    with pytest.raises(ValueError, match='positive number of sigmas'):
        support_mask(noise, bad, noise=1.0, nsigma=0.0)


def test_the_gate_removes_specks_on_empty_sky_and_keeps_the_output_on_sources():
    rng = np.random.default_rng(1)
    shape, s = (48, 48), 2
    truth = (_gaussian((96, 96), 40, 60, 2.0, 50.0)
             + rng.normal(0.0, 0.05, (96, 96)))             # a deep truth: faint sky noise
    lr = truth.reshape(48, s, 48, s).sum(axis=(1, 3)) + rng.normal(0.0, 1.0, shape)
    bad = np.zeros(shape, dtype=bool)
    # a network's output: right on the source, with specks grown out of the sky noise
    sr = truth.copy()
    for y, x in ((10, 10), (20, 80), (80, 20), (85, 85)):
        sr += _gaussian((96, 96), y, x, 0.8, 3.0)
    gated, supported = gate_unsupported(sr, lr, bad, scale=s, noise=1.0, nsigma=3.0,
                                        surface_brightness=False)
    assert 0.0 < supported < 0.2
    before = detection_purity(sr, truth, sky_sigma=0.05)
    after = detection_purity(gated, truth, sky_sigma=0.05)
    assert before.n_invented >= 4 and after.n_invented == 0 and after.n_real >= 1
    # on the source the output is the network's, untouched
    assert np.allclose(gated[36:44, 56:64], sr[36:44, 56:64])
    # the flux of the whole image is the input's
    assert abs(gated.sum() - lr.sum()) < 0.03 * lr.sum()


def _estimator():
    sr = SuperResolver(2, arch='edsr-xs', arch_kwargs={'noise_channel': True}, device='cpu')
    sr.model_ = create_sr_network('edsr-xs', 2, noise_channel=True).eval()
    sr.flux_gain_, sr.name_ = 0.25, 'test-model'
    return sr


def test_enhance_records_the_gate_in_its_output_and_fits_cards(tmp_path):
    from astrolens.io import read_fits, write_fits

    rng = np.random.default_rng(2)
    image = rng.normal(0.0, 1.0, (32, 32)) + _gaussian((32, 32), 16, 16, 1.5, 30.0)
    out = _estimator().enhance(image, support_nsigma=3, uncertainty=False, progress=False)
    assert out.meta['sr_support_nsigma'] == 3.0
    assert 0.0 < out.meta['sr_support_fraction'] < 0.5
    write_fits(out, tmp_path / 'out.fits')
    header = fits.getheader(tmp_path / 'out.fits')
    assert header['SRSUPSIG'] == 3.0 and 0.0 < header['SRSUPFRC'] < 0.5
    assert read_fits(tmp_path / 'out.fits').meta['sr_support_nsigma'] == 3.0
    plain = _estimator().enhance(image, uncertainty=False, progress=False)
    assert 'sr_support_nsigma' not in plain.meta


@pytest.mark.parametrize('value', [0, -1.0, True, 'three', float('nan')])
def test_a_bad_significance_level_is_refused(value):
    with pytest.raises(ValueError, match='support_nsigma must be a positive number'):
        _estimator().enhance(np.ones((16, 16)), support_nsigma=value, progress=False)


def test_the_cli_refuses_a_bad_level_before_reading_anything(tmp_path, capsys):
    from astrolens.cli import main

    rc = main(['enhance', str(tmp_path / 'missing.fits'), '-o', str(tmp_path / 'out.fits'),
               '--support-nsigma', '0'])
    assert rc != 0
    assert '--support-nsigma must be a positive number of sigmas' in capsys.readouterr().err
