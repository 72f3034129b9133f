"""The shipped Model I classifier on images of the original DeepLenseSim code.

The file is made by ``benchmarks/make_original_validation.py`` (it needs the
original code's old-dependency venv) into ``$ASTROLENS_CACHE`` (default
``~/.cache/astrolens``); without it these tests skip.
"""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

CACHE = Path(os.environ.get('ASTROLENS_CACHE', Path.home() / '.cache' / 'astrolens'))
ORIGINAL = CACHE / 'original_model_i_seed5001_n500.npz'

pytestmark = pytest.mark.skipif(
    not ORIGINAL.is_file(),
    reason=f'{ORIGINAL} is absent: make it with benchmarks/make_original_validation.py')


def _subset(n_per_class):
    with np.load(ORIGINAL) as data:
        images, labels = data['images'], data['labels']
    keep = np.concatenate([np.flatnonzero(labels == k)[:n_per_class] for k in range(3)])
    return images[keep].astype(np.float32), labels[keep].astype(np.int64)


def test_the_original_codes_images_are_classified_as_well_as_our_simulators():
    from astrolens.models import LensClassifier
    from astrolens.simulation import simulate_classification_set

    clf = LensClassifier.from_pretrained('deeplense-model-i')
    images, labels = _subset(100)
    ours, our_labels, _ = simulate_classification_set(100, model='model_i', seed=4242)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        acc_original = np.mean(clf.predict_proba(images).argmax(1) == labels)
        acc_ours = np.mean(clf.predict_proba(ours).argmax(1) == our_labels)
    assert acc_original > 0.85
    # a gap between the two codes is a simulator bug, not noise (300 images each:
    # the standard error of each accuracy is about 1.6 points)
    assert abs(acc_original - acc_ours) < 0.06
