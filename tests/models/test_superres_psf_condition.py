"""PSF-conditioned super-resolution (issue 23): the network is told the PSFs, or runs blind."""

import json
import math

import numpy as np
import pytest
import torch

from astrolens.datasets import RANGES, draw_recipe
from astrolens.datasets._sources import SourcePool
from astrolens.models._sr_networks import (
    PSF_CONDITION_CHANNELS,
    create_sr_network,
    psf_condition_values,
)
from astrolens.models._superres import SuperResolver
from astrolens.training._sr_presets import (
    P_BLIND,
    _init_from,
    draw_training_pair,
    recipe_psf_fwhms,
    train_sr_preset,
)

torch.set_num_threads(1)


def _conditioned(seed=0):
    torch.manual_seed(seed)
    net = create_sr_network('edsr-xs', 2, noise_channel=True, psf_condition=True).eval()
    # the tail starts at zero (a bicubic network): give it weights so the inputs show
    torch.nn.init.normal_(net.tail.weight, std=0.1)
    return net


def test_condition_values_are_the_log_fwhm_and_the_log_sharpening_or_blind_zeros():
    known, log_in, log_sharpen = psf_condition_values(3.0, 2.0, scale=2)
    assert known == 1.0
    assert log_in == pytest.approx(math.log(3.0))
    assert log_sharpen == pytest.approx(math.log(3.0))   # 6 output px wide -> 2
    assert psf_condition_values(None, 2.0, scale=2) == (0.0, 0.0, 0.0)
    assert psf_condition_values(3.0, None, scale=2) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match='PSF FWHMs must be positive'):
        psf_condition_values(-1.0, 2.0, scale=2)


def test_a_conditioned_network_runs_blind_when_not_told_the_psf():
    net = _conditioned()
    x = torch.randn(2, 1, 12, 12)
    noise = torch.full_like(x, 0.1)
    blind = torch.zeros(2, PSF_CONDITION_CHANNELS, 12, 12)
    told = torch.ones(2, PSF_CONDITION_CHANNELS, 12, 12)
    with torch.no_grad():
        explicit_blind = net(torch.cat([x, noise, blind], dim=1))
        implicit_blind = net(torch.cat([x, noise], dim=1))
        conditioned = net(torch.cat([x, noise, told], dim=1))
    assert explicit_blind.shape == (2, 1, 24, 24)
    assert torch.equal(explicit_blind, implicit_blind)
    # the PSF channels reach the output
    assert not torch.allclose(conditioned, explicit_blind)
    with pytest.raises(ValueError, match='expected 1, 2 or 5 input channels, got 3'):
        net(torch.cat([x, noise, noise], dim=1))


def test_a_plain_network_has_no_psf_channels():
    net = create_sr_network('edsr-xs', 2, noise_channel=True)
    assert not net.psf_condition and net.head.in_channels == 2
    assert create_sr_network('edsr-xs', 2, noise_channel=True,
                             psf_condition=True).head.in_channels == 2 + PSF_CONDITION_CHANNELS
    assert create_sr_network('srresnet', 2, noise_channel=True,
                             psf_condition=True).head[0].in_channels == 2 + PSF_CONDITION_CHANNELS


def test_training_pairs_carry_the_recipe_psfs_and_are_blind_for_a_share():
    pool = SourcePool('survey-x2', n_lenses=2)
    rng = np.random.default_rng(0)
    xs = [draw_training_pair(pool, rng, preset='survey-x2', lr_size=16, psf_condition=True)[0]
          for _ in range(60)]
    assert all(x.shape == (2 + PSF_CONDITION_CHANNELS, 16, 16) for x in xs)
    # constant maps
    assert all(np.ptp(x[2:], axis=(1, 2)).max() == 0 for x in xs)
    known = np.array([x[2, 0, 0] for x in xs])
    assert set(np.unique(known)) == {0.0, 1.0}
    assert abs(np.mean(known == 0) - P_BLIND) < 0.15
    for x in xs:
        if x[2, 0, 0] == 0:
            assert np.all(x[3:] == 0)
        else:
            # at least the pixel's own width; sharpening by 1/1.15 or more (jitter included)
            assert x[3, 0, 0] > 0 and x[4, 0, 0] > math.log(1 / 1.15)
    # without the option the pairs stay as the shipped models were trained
    x, _ = draw_training_pair(pool, rng, preset='survey-x2', lr_size=16)
    assert x.shape == (2, 16, 16)


def test_the_survey_preset_draws_inputs_barely_blurrier_than_their_target():
    rng = np.random.default_rng(1)
    ratios = []
    for _ in range(400):
        recipe = draw_recipe(rng, preset='survey-x2', native_fwhm=1.0)
        ratios.append(recipe.lr_fwhm / recipe.target_fwhm)
    assert RANGES['survey-x2']['fwhm_ratio'][0] == 1.0
    assert min(ratios) >= 1.0 and np.mean(np.array(ratios) < 1.3) > 0.05


def test_recipe_fwhms_include_the_pixel():
    recipe = draw_recipe(np.random.default_rng(2), preset='survey-x2')
    fin, fout = recipe_psf_fwhms(recipe)
    assert fin > recipe.lr_fwhm / 2 and fout > recipe.target_fwhm
    assert fin == pytest.approx(math.sqrt((recipe.lr_fwhm / 2) ** 2 + 8 * math.log(2) / 12))


def test_a_conditioned_network_started_from_a_plain_one_gives_its_outputs(tmp_path):
    plain = SuperResolver(2, arch='edsr-xs', arch_kwargs={'noise_channel': True}, device='cpu')
    torch.manual_seed(3)
    plain.model_ = create_sr_network('edsr-xs', 2, noise_channel=True).eval()
    torch.nn.init.normal_(plain.model_.tail.weight, std=0.1)
    plain.flux_gain_, plain.name_ = 0.25, 'plain'
    plain.save(tmp_path / 'plain')
    net = create_sr_network('edsr-xs', 2, noise_channel=True, psf_condition=True).eval()
    _init_from(net, str(tmp_path / 'plain'))
    x = torch.randn(1, 2, 10, 10)
    told = torch.cat([x, torch.full((1, PSF_CONDITION_CHANNELS, 10, 10), 0.7)], dim=1)
    with torch.no_grad():
        assert torch.allclose(net(told), plain.model_(x), atol=1e-6)
    # and the other way round is refused with the option to use
    back = create_sr_network('edsr-xs', 2, noise_channel=True).eval()
    conditioned = SuperResolver(2, arch='edsr-xs',
                                arch_kwargs={'noise_channel': True, 'psf_condition': True},
                                device='cpu')
    conditioned.model_, conditioned.flux_gain_, conditioned.name_ = net, 0.25, 'conditioned'
    conditioned.save(tmp_path / 'conditioned')
    with pytest.raises(ValueError, match='--psf-condition'):
        _init_from(back, str(tmp_path / 'conditioned'))


class _Spy(torch.nn.Module):
    """Records the PSF channels the pipeline feeds a conditioned network."""

    def __init__(self, net):
        super().__init__()
        self.net, self.seen = net, []
        self.noise_channel, self.psf_condition = True, True
        self.receptive_field = net.receptive_field

    def forward(self, x):
        self.seen.append(x[:, 2:, 0, 0].mean(dim=0).tolist() if x.shape[1] > 2 else None)
        return self.net(x)


def test_enhance_tells_a_conditioned_network_the_psfs_it_knows():
    sr = SuperResolver(2, arch='edsr-xs',
                       arch_kwargs={'noise_channel': True, 'psf_condition': True}, device='cpu')
    sr.model_ = _Spy(_conditioned())
    sr.flux_gain_, sr.name_ = 0.25, 'spy'
    image = np.random.default_rng(0).normal(10.0, 1.0, (20, 20))
    sr.enhance(image, psf=2.5, output_fwhm=2.0, uncertainty=False, progress=False)
    assert sr.model_.seen[-1] == pytest.approx(list(psf_condition_values(2.5, 2.0, scale=2)),
                                               rel=1e-6)
    sr.enhance(image, uncertainty=False, progress=False)
    assert sr.model_.seen[-1] == [0.0, 0.0, 0.0]


def test_tiny_conditioned_training_records_how_it_was_told(tmp_path):
    out = tmp_path / 'tiny'
    train_sr_preset('survey-x2', out, minutes=0.05, arch='edsr-xs', batch_size=2, lr_size=16,
                    steps_per_epoch=2, n_lenses=2, n_val=4, seed=3, psf_condition=True)
    config = json.loads((tmp_path / 'tiny.json').read_text())
    assert config['arch_kwargs'] == {'noise_channel': True, 'psf_condition': True}
    assert config['training']['psf_conditioned']['p_blind'] == P_BLIND
    assert config['data']['degradation']['ranges']['fwhm_ratio'] == [1.0, 3.0]
    loaded = SuperResolver.load(out, device='cpu')
    assert loaded.model_.psf_condition
    image = np.random.default_rng(0).normal(10.0, 1.0, (24, 24))
    blind = loaded.enhance(image, uncertainty=False, progress=False).data
    assert np.all(np.isfinite(blind))
