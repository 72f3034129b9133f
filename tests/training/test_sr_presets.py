"""Training from the degradation model: the sampler's pairs and a tiny end-to-end run."""

import json

import numpy as np
import pytest
import torch

from astrolens.datasets._sources import SourcePool
from astrolens.models._superres import SuperResolver
from astrolens.training._sr_presets import DegradationSampler, draw_training_pair, train_sr_preset

torch.set_num_threads(1)


@pytest.mark.parametrize('preset', ['survey-x2', 'hsc-hst-x3'])
def test_training_pairs_carry_the_noise_level_and_the_target_on_the_input_scale(preset):
    pool = SourcePool(preset, n_lenses=2)
    rng = np.random.default_rng(0)
    s = 3 if preset == 'hsc-hst-x3' else 2
    for _ in range(20):
        x, y = draw_training_pair(pool, rng, preset=preset, lr_size=16)
        assert x.shape == (2, 16, 16) and y.shape == (1, 16 * s, 16 * s)
        assert np.all(np.isfinite(x)) and np.all(np.isfinite(y))
        assert np.all(x[1] > 0)                      # a noise level for every pixel
        # the target, summed back onto the input grid, is close to the input
        back = y[0].reshape(16, s, 16, s).mean(axis=(1, 3))
        assert np.median(np.abs(back - x[0])) < 1.0


def test_sampler_batches_are_reproducible_per_epoch():
    pool = SourcePool('survey-x2', n_lenses=2)
    sampler = DegradationSampler(pool, preset='survey-x2', lr_size=16, batch_size=3, steps=2,
                                 seed=1)
    first = [b[0].clone() for b in sampler(0)]
    again = [b[0].clone() for b in sampler(0)]
    other = [b[0].clone() for b in sampler(1)]
    assert len(first) == 2 and first[0].shape == (3, 2, 16, 16)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


def test_tiny_training_run_writes_a_noise_aware_model_with_its_record(tmp_path):
    out = tmp_path / 'tiny'
    sr = train_sr_preset('survey-x2', out, minutes=0.05, arch='edsr-xs', batch_size=2,
                         lr_size=16, steps_per_epoch=2, n_lenses=2, n_val=4, seed=3)
    config = json.loads((tmp_path / 'tiny.json').read_text())
    assert config['arch_kwargs'] == {'noise_channel': True}
    assert config['flux'] == 'local'
    assert config['command'].startswith('astrolens train sr --degradation --preset survey-x2')
    assert {'source', 'seed', 'held_out', 'degradation'} <= set(config['data'])
    assert config['domain']['snr'] == [0.0, 500.0]
    assert 0.2 < config['flux_gain'] < 0.3
    loaded = SuperResolver.load(out, device='cpu')
    assert loaded.model_.noise_channel and loaded.config_['domain'] == config['domain']
    image = np.random.default_rng(0).normal(10.0, 1.0, (24, 24))
    assert np.allclose(loaded.enhance(image, progress=False).data,
                       sr.enhance(image, progress=False).data)
