"""LensClassifier options: predict(reject_outliers=...) and the amp parameter."""

import json
import warnings

import numpy as np
import pytest
import torch

from astrolens.models import LensClassifier
from astrolens.models import _classifier as classifier_module
from astrolens.utils import AstrolensUserWarning, NotFittedError

from .conftest import ring_images

TINY = {'widths': [8, 12], 'depths': [1, 1], 'patch': 2}


def _toy(n_per_class, seed=0):
    return ring_images(n_per_class, seed=seed, size=32)


def _classifier(**params):
    return LensClassifier('d4lensnet', backbone_kwargs=TINY, batch_size=8, lr=3e-3, crop=None,
                          tta=False, augment=None, progress=False, seed=0,
                          **{'epochs': 2, **params})


@pytest.fixture(scope='module')
def toy_fitted():
    torch.set_num_threads(1)
    x, y = _toy(16)
    vx, vy = _toy(12, seed=1)
    return _classifier().fit(x, y, val_images=vx, val_labels=vy)


# -- reject_outliers ---------------------------------------------------------------------

def test_reject_outliers_labels_flagged_images_and_keeps_the_classes_of_the_others(toy_fitted):
    held_out, _ = _toy(4, seed=7)
    noise = np.random.default_rng(3).normal(size=(6, 32, 32)).astype(np.float32)
    images = np.concatenate([held_out, noise])
    flagged = toy_fitted.is_outlier(images)
    assert flagged[len(held_out):].sum() >= 5 and not flagged.all()
    with warnings.catch_warnings():
        # the outliers are accounted for: predict_proba's warning would only repeat it
        warnings.simplefilter('error', AstrolensUserWarning)
        labels = toy_fitted.predict(images, reject_outliers=True)
    assert labels.shape == (len(images),)
    assert list(labels[flagged]) == ['outlier'] * int(flagged.sum())
    with pytest.warns(AstrolensUserWarning, match='do not look like the images'):
        plain = toy_fitted.predict(images)
    np.testing.assert_array_equal(labels[~flagged], plain[~flagged])
    assert set(plain) <= set(toy_fitted.classes_)


def test_reject_outliers_is_off_by_default_and_passes_batch_size_on(toy_fitted):
    held_out, _ = _toy(3, seed=8)
    np.testing.assert_array_equal(toy_fitted.predict(held_out, batch_size=2),
                                  toy_fitted.predict(held_out, reject_outliers=False))


def test_reject_outliers_without_statistics_says_what_to_do(toy_fitted):
    clf = _classifier()
    clf.model_, clf.classes_ = toy_fitted.model_, toy_fitted.classes_
    assert clf.predict(np.ones((1, 32, 32))).shape == (1,)
    with pytest.raises(NotFittedError, match='calibrate'):
        clf.predict(np.ones((1, 32, 32)), reject_outliers=True)
    with pytest.raises(NotFittedError, match='not fitted yet'):
        _classifier().predict(np.ones((1, 32, 32)), reject_outliers=True)


# -- amp -----------------------------------------------------------------------------------

def test_amp_is_a_parameter_passed_to_the_training_loop(monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs['amp'])
        return real(*args, **kwargs)

    real = classifier_module.train
    monkeypatch.setattr(classifier_module, 'train', spy)
    assert LensClassifier().amp is True
    x, y = _toy(4)
    for amp in (True, 'bfloat16', False):
        clf = _classifier(epochs=1, amp=amp, val_fraction=0)
        assert clf.get_params()['amp'] == amp
        clf.fit(x, y)
        assert np.isfinite(clf.history_[0]['train_loss'])
    assert seen == [True, 'bfloat16', False]
    assert 'amp=False' in repr(_classifier(amp=False))


def test_a_bad_amp_is_refused_before_training():
    with pytest.raises(ValueError, match="amp must be True, False or 'bfloat16', got 'float16'"):
        _classifier(amp='float16').fit(*_toy(2))


def test_amp_is_saved_and_configurations_without_it_still_load(tmp_path, toy_fitted):
    clf = _classifier(amp='bfloat16')
    clf.model_, clf.classes_ = toy_fitted.model_, toy_fitted.classes_
    _, config = clf.save(tmp_path / 'clf')
    stored = json.loads(config.read_text())
    assert stored['params']['amp'] == 'bfloat16'
    assert LensClassifier.load(tmp_path / 'clf').amp == 'bfloat16'
    # a configuration written before the parameter existed
    del stored['params']['amp']
    config.write_text(json.dumps(stored))
    loaded = LensClassifier.load(tmp_path / 'clf')
    assert loaded.amp is True
    held_out, _ = _toy(2, seed=9)
    np.testing.assert_allclose(loaded.predict_proba(held_out), clf.predict_proba(held_out),
                               atol=1e-6)
