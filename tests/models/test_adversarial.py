import numpy as np
import pytest
import torch

from astrolens.models import GAN_DEFAULTS, LensClassifier, SRDiscriminator, SuperResolver
from astrolens.models._adversarial import AdversarialLoss, ClassifierFeatures
from astrolens.models._training import CHECKPOINT_NAME

torch.set_num_threads(1)


def _pairs(n=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = (np.mgrid[0:2 * size, 0:2 * size] + 0.5) / 2
    hr = np.zeros((n, 2 * size, 2 * size))
    for i in range(n):
        cy, cx = rng.uniform(4, size - 4, 2)
        hr[i] = 5 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(0.7, 2) ** 2))
    lr = hr.reshape(n, size, 2, size, 2).sum(axis=(2, 4))
    return lr + rng.normal(0, 0.01, lr.shape), hr


@pytest.fixture(scope='module')
def features():
    return ClassifierFeatures(LensClassifier.from_pretrained('deeplense-model-i'))


def test_discriminator_gives_one_logit_per_image_of_any_side():
    disc = SRDiscriminator(width=8)
    assert disc(torch.zeros(3, 1, 48, 48)).shape == (3,)
    assert disc(torch.zeros(2, 1, 72, 40)).shape == (2,)


def test_feature_distance_is_zero_for_equal_images_and_differentiable(features):
    rng = torch.Generator().manual_seed(0)
    ref = torch.rand(2, 1, 32, 32, generator=rng)
    assert float(features.distance(ref, ref)) == pytest.approx(0.0, abs=1e-10)
    other = (ref + 0.2 * torch.rand(2, 1, 32, 32, generator=rng)).requires_grad_(True)
    dist = features.distance(other, ref)
    assert float(dist.detach()) > 1e-4
    dist.backward()
    assert other.grad is not None and torch.isfinite(other.grad).all()
    assert float(other.grad.abs().sum()) > 0
    # The classifier stays frozen and in evaluation mode.
    features.train()
    assert not features.training
    assert all(not p.requires_grad for p in features.parameters())


def test_feature_distance_ignores_an_affine_rescaling_of_both_images(features):
    rng = torch.Generator().manual_seed(1)
    ref = torch.rand(1, 1, 32, 32, generator=rng)
    img = ref + 0.1 * torch.rand(1, 1, 32, 32, generator=rng)
    a = features.distance(img, ref)
    b = features.distance(3.0 * img + 7.0, 3.0 * ref + 7.0)
    assert float(a) == pytest.approx(float(b), rel=1e-4)


def test_adversarial_loss_updates_the_discriminator_and_returns_all_terms(features):
    loss = AdversarialLoss(features, discriminator_width=8)
    before = [p.clone() for p in loss.discriminator.parameters()]
    out = torch.rand(4, 1, 32, 32, requires_grad=True)
    value = loss(out, torch.rand(4, 1, 32, 32))
    value.backward()
    assert out.grad is not None
    assert set(loss.last_terms) == {'pixel', 'perceptual', 'adversarial', 'discriminator'}
    assert all(np.isfinite(v) for v in loss.last_terms.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, loss.discriminator.parameters(),
                                                     strict=True))
    # Validation is the pixel loss only, and does not touch the discriminator.
    state = {k: v.clone() for k, v in loss.discriminator.state_dict().items()}
    x, y = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    assert float(loss.validation_loss(x, y)) == pytest.approx(float((x - y).abs().mean()))
    assert all(torch.equal(v, loss.discriminator.state_dict()[k]) for k, v in state.items())


def test_gan_fit_from_l1_weights_trains_saves_and_resumes(tmp_path):
    lr, hr = _pairs()
    kwargs = {'arch': 'edsr-xs', 'arch_kwargs': {'n_feats': 8, 'n_blocks': 2}, 'seed': 0}
    base = SuperResolver(2, **kwargs).fit(lr, hr, epochs=1, batch_size=4, patch_size=12,
                                          progress=False)
    gan = SuperResolver(2, loss='gan', gan={'discriminator_width': 8}, **kwargs)
    gan.fit(lr, hr, epochs=2, batch_size=4, patch_size=12, init=base, progress=False,
            checkpoint_dir=tmp_path / 'ck')
    assert len(gan.history_) == 2
    # The last epoch's weights are kept (no best-on-PSNR selection), and they moved.
    assert gan.config_['training']['best_epoch'] is None
    assert gan.config_['training']['gan']['discriminator_width'] == 8
    assert any(not torch.equal(a, b) for a, b in zip(base.model_.state_dict().values(),
                                                     gan.model_.state_dict().values(),
                                                     strict=True))
    state = torch.load(tmp_path / 'ck' / CHECKPOINT_NAME, weights_only=True)
    assert set(state['loss']) == {'discriminator', 'optimizer'}
    # Flux is still conserved by enhance.
    out = gan.enhance(lr[:2], progress=False)
    np.testing.assert_allclose(out.sum(axis=(1, 2)), lr[:2].sum(axis=(1, 2)), rtol=1e-6)
    gan.save(tmp_path / 'gan')
    loaded = SuperResolver.load(tmp_path / 'gan', device='cpu')
    assert loaded.loss == 'gan' and loaded.gan == {'discriminator_width': 8}
    np.testing.assert_allclose(loaded.enhance(lr[:2], progress=False), out, rtol=1e-5)


def test_gan_defaults_name_a_shipped_classifier():
    from astrolens.models.pretrained import available_models

    assert GAN_DEFAULTS['feature_model'] in available_models()


def test_gan_options_must_be_a_dict():
    with pytest.raises(TypeError, match='gan must be a dict'):
        SuperResolver(loss='gan', gan=0.1).fit(*_pairs(), epochs=1)


def test_fine_tune_can_freeze_the_feature_extractor():
    lr, hr = _pairs()
    sr = SuperResolver(2, arch='edsr-xs', arch_kwargs={'n_feats': 8, 'n_blocks': 2}, seed=0)
    sr.fit(lr, hr, epochs=1, batch_size=4, patch_size=12, progress=False)
    body = {k: v.clone() for k, v in sr.model_.state_dict().items()
            if k.startswith(('head.', 'body.'))}
    tail = sr.model_.tail.weight.clone()
    sr.fine_tune(lr, hr, epochs=2, batch_size=4, patch_size=12, body_lr_scale=0.0,
                 progress=False)
    after = sr.model_.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in body.items())
    assert not torch.equal(tail, sr.model_.tail.weight)
    assert all(p.requires_grad for p in sr.model_.parameters())


def test_feature_loss_refuses_a_classifier_without_a_lensresnet():
    clf = LensClassifier()
    clf.model_ = torch.nn.Linear(2, 3)
    with pytest.raises(TypeError, match='lensresnet'):
        ClassifierFeatures(clf)
