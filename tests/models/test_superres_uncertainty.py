"""Per-pixel uncertainty of `SuperResolver.enhance`: noise draws, symmetries, model error."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.nddata import NDData, StdDevUncertainty, VarianceUncertainty

from astrolens.models._sr_networks import create_sr_network
from astrolens.models._sr_uncertainty import (
                                              check_uncertainty,
                                              d4_array,
                                              model_error,
                                              resampled_spread,
)
from astrolens.models._superres import SuperResolver


def _upsample(image, bad, k):
    """A linear, symmetric 'network': every pixel's flux shared by its 4 sub-pixels."""
    return np.kron(image, np.ones((2, 2))) / 4.0


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    sr = SuperResolver(2, arch='edsr-xs', arch_kwargs={'n_feats': 8, 'n_blocks': 2}, seed=0)
    sr.model_ = create_sr_network('edsr-xs', 2, n_feats=8, n_blocks=2).eval()
    sr.flux_gain_, sr.name_, sr.config_ = 0.25, 'tiny-x2', {}
    return sr


@pytest.fixture(scope='module')
def blob():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:20, :22]
    return 40.0 * np.exp(-((yy - 9) ** 2 + (xx - 12) ** 2) / 6.0) + rng.normal(0, 1.0, yy.shape)


def test_resampled_spread_measures_the_noise_a_linear_pipeline_propagates():
    image = np.random.default_rng(0).normal(size=(12, 14))
    bad = np.zeros(image.shape, dtype=bool)
    spread = resampled_spread(_upsample, image, bad, 2.0, samples=64, seed=1)
    # each output pixel carries a quarter of one input pixel's noise: sigma 2 / 4
    assert np.median(spread.noise) == pytest.approx(0.5, rel=0.1)
    # opposite draws cancel exactly through a linear pipeline, in every orientation
    np.testing.assert_allclose(spread.mean, _upsample(image, bad, 0), atol=1e-12)
    np.testing.assert_allclose(spread.symmetry, 0.0, atol=1e-12)
    assert spread.passes == 64


def test_resampled_spread_sees_a_network_that_is_not_symmetric():
    image = np.zeros((10, 10))
    pattern = np.zeros((20, 20))
    pattern[2, 5] = 1.0                 # an artefact at a fixed place of the network's frame

    def run(img, bad, k):
        return _upsample(img, bad, k) + pattern[:2 * img.shape[0], :2 * img.shape[1]]

    spread = resampled_spread(run, image, np.zeros((10, 10), bool), 0.0, samples=8)
    # four orientations put the artefact at four places: each keeps a quarter of it
    assert np.isclose(spread.mean, 0.25).sum() == 4
    assert np.isclose(spread.mean.sum(), 1.0)
    assert spread.symmetry.max() == pytest.approx(0.5)
    assert spread.noise.max() == 0.0


def test_d4_array_matches_the_network_symmetries():
    from astrolens.models._sr_inference import d4

    a = np.arange(12.0).reshape(3, 4)
    for k in range(8):
        np.testing.assert_array_equal(d4_array(a, k), d4(torch.from_numpy(a), k).numpy())


def test_enhance_resample_carries_the_input_uncertainty_and_keeps_its_class(tiny, blob):
    quiet = tiny.enhance(NDData(blob, uncertainty=VarianceUncertainty(np.full(blob.shape, 1.0))),
                         uncertainty='resample', progress=False)
    noisy = tiny.enhance(NDData(blob, uncertainty=VarianceUncertainty(np.full(blob.shape, 9.0))),
                         uncertainty='resample', progress=False)
    assert isinstance(noisy.uncertainty, VarianceUncertainty)
    ratio = np.median(np.sqrt(noisy.uncertainty.array / quiet.uncertainty.array))
    assert 2.0 < ratio < 4.0            # three times the input noise, through a nonlinear net
    assert noisy.meta['sr_uncertainty'] == 'resample'
    assert noisy.meta['sr_uncertainty_passes'] == 8
    # pixel by pixel: noise drawn where the input's uncertainty says, not at its median
    variance = np.ones(blob.shape)
    variance[:, :8] = 100.0
    mixed = tiny.enhance(NDData(blob, uncertainty=VarianceUncertainty(variance)),
                         uncertainty='resample', progress=False)
    sigma = np.sqrt(mixed.uncertainty.array)
    assert np.median(sigma[:, :12]) > 4 * np.median(sigma[:, 24:])


def test_calibrated_adds_the_model_error_the_configuration_holds(tiny, blob):
    resampled = tiny.enhance(blob, uncertainty='resample', progress=False)
    tiny.config_['uncertainty'] = {'model_error': {'scale': 2.0, 'level': 0.3, 'gradient': 0.5}}
    try:
        calibrated = tiny.enhance(blob, uncertainty=True, progress=False)
    finally:
        tiny.config_.pop('uncertainty')
    np.testing.assert_allclose(calibrated.data, resampled.data)
    expected = np.sqrt((2.0 * resampled.uncertainty.array) ** 2
                       + model_error(resampled.data, factor=2, level=0.3, gradient=0.5) ** 2)
    np.testing.assert_allclose(calibrated.uncertainty.array, expected, rtol=1e-5)
    assert calibrated.meta['sr_uncertainty'] == 'calibrated'


def test_model_error_is_relative_flux_and_position_error():
    sr = np.full((8, 8), 10.0)
    sr[4, :] = 30.0                      # 20 above the sky
    np.testing.assert_allclose(model_error(sr, level=0.1)[4], 2.0)
    np.testing.assert_allclose(model_error(sr, level=0.1)[0], 0.0)
    ramp = np.tile(np.arange(8.0) * 3.0, (8, 1))      # 3 per output pixel, 6 per input pixel
    np.testing.assert_allclose(model_error(ramp, factor=2, gradient=0.5), 3.0)


def test_coefficients_travel_with_a_saved_model(tiny, tmp_path):
    tiny.config_['uncertainty'] = {'model_error': {'level': 0.2, 'gradient': 0.1}}
    try:
        tiny.save(tmp_path / 'tiny')
    finally:
        tiny.config_.pop('uncertainty')
    back = SuperResolver.load(tmp_path / 'tiny', device='cpu')
    assert back.config_['uncertainty']['model_error'] == {'level': 0.2, 'gradient': 0.1}


def test_d4_method_keeps_the_symmetry_spread_and_batches_return_sigma(tiny, blob):
    out = tiny.enhance(NDData(blob, uncertainty=StdDevUncertainty(np.full(blob.shape, 2.0))),
                       uncertainty='d4', progress=False)
    # flux per pixel: the input's error spread over 4 fully correlated sub-pixels, at least
    assert out.uncertainty.array.min() >= 0.5 - 1e-6
    assert out.meta['sr_uncertainty'] == 'd4'
    sr, std = tiny.enhance(np.stack([blob, blob]), uncertainty=True, uncertainty_samples=2,
                           progress=False)
    assert sr.shape == std.shape == (2, 40, 44) and (std > 0).all()


@pytest.mark.parametrize(('uncertainty', 'samples', 'match'), [
    ('ensemble', 8, "one of \\('calibrated', 'resample', 'd4'\\)"),
    (True, 3, 'even number >= 2'),
    (True, 0, 'even number >= 2'),
])
def test_bad_uncertainty_options_say_what_is_accepted(uncertainty, samples, match):
    with pytest.raises(ValueError, match=match):
        check_uncertainty(uncertainty, samples)


def test_the_benchmark_says_it_skips_without_the_real_data(monkeypatch, capsys):
    path = Path(__file__).resolve().parents[2] / 'benchmarks' / 'bench_uncertainty.py'
    spec = importlib.util.spec_from_file_location('bench_uncertainty', path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, 'shared_real', lambda: None)
    assert bench.main(['--sets', 'ground,hst']) == 0
    assert '../shared/real is absent' in capsys.readouterr().out


def test_cli_writes_the_uncertainty_method_asked_for(tiny, blob, tmp_path):
    from astropy.io import fits

    from astrolens.cli import main
    from astrolens.io import read_fits

    tiny.save(tmp_path / 'tiny')
    src, out = tmp_path / 'in.fits', tmp_path / 'out.fits'
    fits.PrimaryHDU(blob).writeto(src)
    args = ['enhance', str(src), '-o', str(out), '--model', str(tmp_path / 'tiny'), '-q',
            '--uncertainty', '--uncertainty-method', 'resample', '--uncertainty-samples', '2']
    assert main(args) == 0
    result = read_fits(out)
    assert result.uncertainty.array.shape == (40, 44)
    assert result.meta['sr_uncertainty'] == 'resample'
    assert result.meta['sr_uncertainty_passes'] == 2
