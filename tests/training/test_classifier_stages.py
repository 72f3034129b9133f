"""Staged training: each stage resumes from committed weights and commits only better ones."""

import json

import numpy as np
import pytest

from astrolens.models import LensClassifier
from astrolens.training import run_classifier_stage, train_classifier_stage

SMALL = {'model': 'model_ii', 'minutes': 0.02, 'batch_size': 6, 'steps_per_epoch': 2,
         'val_per_class': 8, 'calib_per_class': 8,
         'network': {'backbone_kwargs': {'widths': [8, 12], 'depths': [1, 1], 'patch': 2}}}


def test_a_stage_records_itself_and_the_next_commits_only_better_weights(tmp_path, monkeypatch):
    out = tmp_path / 'model'
    first = run_classifier_stage(out=out, seed=1, command='astrolens train ... (1)', **SMALL)
    assert first['committed'] and first['baseline_validation'] is None
    config = json.loads((tmp_path / 'model.json').read_text())
    (stage,) = config['stages']
    assert stage['command'] == 'astrolens train ... (1)'
    assert stage['images_seen'] == len(stage['learning_curve']) * 2 * 6 > 0
    assert {'images_seen', 'minutes', 'val_accuracy'} <= set(stage['learning_curve'][0])
    assert stage['deciding_validation'] == 'ours' and stage['model'] == 'model_ii'
    assert config['instrument']['pixel_scale'] == pytest.approx(0.101, abs=1e-3)
    assert config['outliers']['threshold'] > 0
    weights = (tmp_path / 'model.safetensors').read_bytes()

    # the weights at `out` score perfectly: a new stage cannot beat them and writes nothing
    real_evaluate = LensClassifier.evaluate
    calls = []

    def evaluate(self, X, y=None):
        report = real_evaluate(self, X, y)
        calls.append(report)
        if len(calls) == 1:
            report = {**report, 'accuracy': 1.0, 'auc_macro': 1.0}
        return report

    monkeypatch.setattr(LensClassifier, 'evaluate', evaluate)
    second = run_classifier_stage(out=out, init=out, seed=2, command='(2)', **SMALL)
    assert not second['committed']
    assert second['baseline_validation']['ours'] == {'accuracy': 1.0, 'auc_macro': 1.0}
    assert (tmp_path / 'model.safetensors').read_bytes() == weights
    assert len(json.loads((tmp_path / 'model.json').read_text())['stages']) == 1
    assert second['init'] == str(out) and second['images_seen'] > 0


def test_a_pool_stage_is_decided_on_the_original_codes_images(tmp_path):
    from astrolens.simulation import simulate_classification_set

    # a stand-in for benchmarks/make_original_validation.py's file, in its layout
    images, labels, _ = simulate_classification_set(6, model='model_ii', seed=99)
    original = tmp_path / 'original.npz'
    np.savez(original, images=images.astype(np.uint16), labels=labels.astype(np.int8),
             classes=np.array(['no', 'cdm', 'vortex']))
    out = tmp_path / 'pooled'
    record = run_classifier_stage(out=out, seed=3, pool_per_class=5,
                                  pool_cache=tmp_path / 'pool.npz', amp='bfloat16',
                                  original_validation=original, **SMALL)
    assert record['deciding_validation'] == 'original'
    assert set(record['validation']) == {'original', 'ours'}
    assert record['validation']['original']['set'].endswith('original.npz')
    assert 'pool' in record['data']['source']
    with np.load(tmp_path / 'pool.npz') as pool:
        assert pool['images'].shape == (15, 48, 48)  # the preset's central field
    config = json.loads((tmp_path / 'pooled.json').read_text())
    assert config['params']['amp'] == 'bfloat16'
    assert config['instrument']['pixel_scale'] == pytest.approx(0.101, abs=1e-3)


def test_a_stage_needs_a_validation_set(tmp_path):
    with pytest.raises(ValueError, match='at least one validation set'):
        train_classifier_stage({}, out=tmp_path / 'm', minutes=0.01, validation={},
                               calibration=None, preset={})
