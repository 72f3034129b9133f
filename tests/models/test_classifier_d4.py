"""D4-invariant network, outliers, calibration, pixel scale from the WCS, saved-model safety."""

import json
import warnings

import numpy as np
import pytest
import torch
from astropy.nddata import NDData

from astrolens.metrics import expected_calibration_error
from astrolens.models import LensClassifier
from astrolens.models._d4 import D4LensNet, d4_transform
from astrolens.models._outliers import FeatureGaussian, fit_temperature, softmax_mean
from astrolens.utils import AstrolensUserWarning, NotFittedError, WeightsError
from astrolens.wcs_utils import make_wcs

from .conftest import ring_images

TINY = {'widths': [8, 12], 'depths': [1, 1], 'patch': 2}



def _toy(n_per_class, seed=0, size=32):
    return ring_images(n_per_class, seed=seed, size=size)


@pytest.fixture(scope='module')
def toy_fitted():
    torch.set_num_threads(1)
    x, y = _toy(16)
    vx, vy = _toy(12, seed=1)
    clf = LensClassifier('d4lensnet', backbone_kwargs=TINY, epochs=2, batch_size=8, lr=3e-3,
                         crop=None, tta=False, augment=None, progress=False, seed=0)
    return clf.fit(x, y, val_images=vx, val_labels=vy)


# -- the network -------------------------------------------------------------------------

def test_d4lensnet_output_is_the_same_for_all_eight_rotations_and_reflections():
    torch.manual_seed(0)
    net = D4LensNet(num_classes=3, widths=(8, 16), depths=(1, 1), patch=2).eval()
    x = torch.randn(2, 1, 24, 24)
    with torch.no_grad():
        ref = net(x)
        for k in range(1, 8):
            torch.testing.assert_close(net(d4_transform(x, k)), ref, atol=1e-5, rtol=1e-5)
        # and it is not a constant function
        assert (net(torch.randn(2, 1, 24, 24)) - ref).abs().max() > 1e-3


def test_one_view_training_runs_the_encoder_once_and_evaluation_pools_the_orbit():
    torch.manual_seed(0)
    net = D4LensNet(num_classes=3, widths=(8, 16), depths=(1, 1), patch=2, train_views=1)
    seen = []
    net.stem.register_forward_hook(lambda module, args, output: seen.append(len(args[0])))
    x = torch.randn(3, 1, 24, 24)
    net.train()(x)
    assert seen == [3]
    net.eval()
    with torch.no_grad():
        ref = net(x)
        assert seen[-1] == 24
        torch.testing.assert_close(net(d4_transform(x, 5)), ref, atol=1e-5, rtol=1e-5)
    # the orbit in training, as shipped
    orbit = D4LensNet(num_classes=3, widths=(8, 16), depths=(1, 1), patch=2)
    orbit.stem.register_forward_hook(lambda module, args, output: seen.append(len(args[0])))
    orbit.train()(x)
    assert seen[-1] == 24


def _train_tiny_d4(**options):
    """History and network of a tiny one-view D4LensNet after 3 steps on one fixed batch."""
    from astrolens.models._training import train

    torch.manual_seed(0)
    net = D4LensNet(num_classes=3, widths=(8, 12), depths=(1, 1), patch=2, train_views=1,
                    dropout=0.0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(24, 1, 16, 16, generator=gen)
    y = torch.arange(24) % 3
    x[y == 1] += 1.0

    def batches(epoch, rank, world):
        return iter([(x, y)])

    def val():
        return [(x, y)]

    result = train(net, torch.nn.functional.cross_entropy, batches, epochs=3, steps_per_epoch=1,
                   lr=1e-2, device='cpu', progress=False, val_batches=val, **options)
    return result.history, net


def test_training_in_bfloat16_autocast_changes_the_numbers_but_learns():
    loss32 = _train_tiny_d4(amp=False)[0][-1]['train_loss']
    loss16 = _train_tiny_d4(amp='bfloat16')[0][-1]['train_loss']
    assert loss16 != loss32  # the autocast really ran in bfloat16
    assert abs(loss16 - loss32) < 0.2 * loss32
    with pytest.raises(ValueError, match="amp must be True, False or 'bfloat16'"):
        _train_tiny_d4(amp='float8')


def test_channels_last_training_gives_the_same_numbers_and_hands_back_the_usual_layout():
    plain, net_plain = _train_tiny_d4(amp=False)
    fast, net_fast = _train_tiny_d4(amp=False, channels_last=True)
    for a, b in zip(plain, fast, strict=True):
        assert a['train_loss'] == pytest.approx(b['train_loss'], rel=1e-4)
        assert a['val_loss'] == pytest.approx(b['val_loss'], rel=1e-4)
    for name, param in net_fast.state_dict().items():
        assert param.is_contiguous(), name
        torch.testing.assert_close(param, net_plain.state_dict()[name], rtol=1e-4, atol=1e-5)


def test_inference_in_channels_last_matches_the_plain_forward_pass():
    from astrolens.models._classifier_inference import infer

    torch.manual_seed(0)
    net = D4LensNet(num_classes=3, widths=(8, 12), depths=(1, 1), patch=2).eval()
    x = torch.rand(5, 1, 16, 16)
    with torch.no_grad():
        expected = net(x)
    logits, features = infer(net, x, views=range(1), device=torch.device('cpu'), batch_size=2)
    np.testing.assert_allclose(logits[0], expected.numpy(), rtol=1e-4, atol=1e-5)
    assert features.shape == (5, net.num_features)
    assert all(p.is_contiguous() for p in net.parameters())


def test_d4lensnet_checks_its_arguments():
    with pytest.raises(ValueError, match='train_views must be 8'):
        D4LensNet(train_views=2)
    with pytest.raises(ValueError, match='unknown physics channels'):
        D4LensNet(physics=('curl',))
    with pytest.raises(ValueError, match='same length'):
        D4LensNet(widths=(8, 16), depths=(1,))


def test_timm_route_still_builds_without_pretrained_weights():
    clf = LensClassifier('efficientnet_b0', tta=False)
    net = clf._build(3).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 32, 32)).shape == (1, 3)


def test_batch_norm_statistics_are_remeasured_for_the_current_weights():
    from astrolens.models._classifier import _refresh_batch_norm

    torch.manual_seed(0)
    net = D4LensNet(num_classes=3, widths=(8, 16), depths=(1, 1), patch=2)
    x = torch.randn(16, 1, 24, 24) * 3 + 5

    def batches(epoch, rank, world):
        return iter([(x, None)])

    for module in net.modules():  # stale statistics, as after fast weight changes
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.fill_(10.0)
            module.running_var.fill_(100.0)
    net.eval()
    with torch.no_grad():
        stale = net.features(x)
        net.train()
        in_batch = net.features(x)
        net.eval()
        _refresh_batch_norm(net, batches, steps=1)
        assert not net.training  # left as it was
        refreshed = net.features(x)
    assert (stale - in_batch).abs().max() > 0.1
    torch.testing.assert_close(refreshed, in_batch, atol=1e-4, rtol=1e-3)


# -- calibration ------------------------------------------------------------------------

def test_temperature_scaling_recovers_overconfidence_and_lowers_ece():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4000, 3)) * 1.5
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=row) for row in p])
    logits = 4.0 * z[None]  # four times too confident
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(4.0, rel=0.1)
    raw = expected_calibration_error(labels, softmax_mean(logits))
    calibrated = expected_calibration_error(labels, softmax_mean(logits, temperature))
    assert calibrated < 0.03 < raw
    assert calibrated < raw / 3


@pytest.mark.filterwarnings('ignore::astrolens.utils.AstrolensUserWarning')
def test_calibration_never_changes_the_predicted_class(toy_fitted):
    x, _ = _toy(6, seed=5)
    proba = toy_fitted.predict_proba(x)
    saved = toy_fitted.temperature_
    toy_fitted.temperature_ = 3.0 * saved
    try:
        hot = toy_fitted.predict_proba(x)
    finally:
        toy_fitted.temperature_ = saved
    np.testing.assert_array_equal(proba.argmax(1), hot.argmax(1))
    assert hot.max(1).mean() < proba.max(1).mean()


# -- outliers ---------------------------------------------------------------------------

def test_feature_gaussian_scores_far_points_higher():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 200)
    centres = np.array([[0, 0, 0, 0], [5, 0, 0, 0], [0, 5, 0, 0]], dtype=float)
    feats = centres[labels] + rng.normal(size=(600, 4))
    stats = FeatureGaussian.fit(feats, labels, shrinkage=0.0)
    near = stats.score(centres + 0.1)
    far = stats.score(np.array([[20.0, 20, 20, 20]]))
    assert near.max() < 0.5 and far[0] > 10


def test_fit_sets_an_outlier_threshold_that_flags_few_held_out_and_most_noise(toy_fitted):
    assert toy_fitted.outlier_threshold_ is not None
    held_out, _ = _toy(20, seed=7)
    flagged = toy_fitted.is_outlier(held_out)
    assert flagged.mean() <= 0.15
    noise = np.random.default_rng(3).normal(size=(20, 32, 32)).astype(np.float32)
    assert toy_fitted.is_outlier(noise).mean() >= 0.9


def test_predict_proba_warns_on_outliers_only(toy_fitted):
    held_out, _ = _toy(3, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter('error', AstrolensUserWarning)
        toy_fitted.predict_proba(held_out[toy_fitted.is_outlier(held_out) == 0][:3])
    flat = np.ones((2, 32, 32), dtype=np.float32)
    with pytest.warns(AstrolensUserWarning, match='do not look like the images'):
        toy_fitted.predict_proba(flat)


def test_outlier_score_without_statistics_says_what_to_do(toy_fitted):
    clf = LensClassifier('d4lensnet', backbone_kwargs=TINY, crop=None)
    clf.model_, clf.classes_ = toy_fitted.model_, toy_fitted.classes_
    with pytest.raises(NotFittedError, match='calibrate'):
        clf.outlier_score(np.ones((1, 32, 32)))


def test_save_load_keeps_temperature_outliers_and_instrument(tmp_path, toy_fitted):
    toy_fitted.instrument_ = {'pixel_scale': 0.05, 'psf_fwhm': 0.087, 'shape': [32, 32]}
    toy_fitted.save(tmp_path / 'm')
    loaded = LensClassifier.load(tmp_path / 'm')
    assert loaded.temperature_ == pytest.approx(toy_fitted.temperature_)
    assert loaded.outlier_threshold_ == pytest.approx(toy_fitted.outlier_threshold_)
    assert loaded.instrument_ == toy_fitted.instrument_
    x, _ = _toy(4, seed=9)
    np.testing.assert_allclose(loaded.outlier_score(x), toy_fitted.outlier_score(x), rtol=1e-4)


# -- saved-model safety -----------------------------------------------------------------

@pytest.mark.parametrize('kwargs', [{'pretrained': True},
                                    {'checkpoint_path': '/etc/passwd'},
                                    {'pretrained_cfg_overlay': {'file': 'x.bin'}},
                                    {'widths': [8, 12], 'patch': '../../weights.pt'}])
def test_saved_json_may_not_pass_downloads_or_files_to_the_network(tmp_path, toy_fitted,
                                                                   kwargs):
    toy_fitted.save(tmp_path / 'm')
    config = json.loads((tmp_path / 'm.json').read_text())
    config['architecture']['kwargs'] = kwargs
    (tmp_path / 'm.json').write_text(json.dumps(config))
    with pytest.raises(WeightsError, match='refus|may only set'):
        LensClassifier.load(tmp_path / 'm')


def test_saved_json_for_a_timm_backbone_is_checked_too(tmp_path, toy_fitted):
    toy_fitted.save(tmp_path / 'm')
    config = json.loads((tmp_path / 'm.json').read_text())
    config['architecture'].update(backbone='resnet10t', kwargs={'pretrained': True})
    (tmp_path / 'm.json').write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="'pretrained'"):
        LensClassifier.load(tmp_path / 'm')


# -- pixel scale from the WCS -----------------------------------------------------------

def test_field_too_small_is_refused_with_a_message(toy_fitted):
    toy_fitted.instrument_ = {'pixel_scale': 0.05, 'psf_fwhm': 0.087, 'shape': [32, 32]}
    small = NDData(np.ones((20, 20), dtype=np.float32), wcs=make_wcs((20, 20), 0.05))
    with pytest.raises(ValueError, match=r'covers 1.00" x 1.00".*1.60" x 1.60".*larger cutout'):
        toy_fitted.predict_proba(small)
    coarse = NDData(np.ones((20, 20), dtype=np.float32), wcs=make_wcs((20, 20), 0.1))
    assert toy_fitted.predict_proba(coarse).shape == (1, 3)


def test_a_one_view_classifier_saves_and_loads_with_its_setting(tmp_path):
    x, y = _toy(6)
    clf = LensClassifier('d4lensnet', backbone_kwargs={**TINY, 'train_views': 1}, epochs=1,
                         batch_size=6, crop=None, tta=False, augment='d4', val_fraction=0.0,
                         progress=False, seed=0).fit(x, y)
    clf.save(tmp_path / 'one-view')
    loaded = LensClassifier.load(tmp_path / 'one-view')
    assert loaded.model_.train_views == 1
    np.testing.assert_allclose(loaded.predict_proba(x), clf.predict_proba(x), atol=1e-6)
