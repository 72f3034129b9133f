import json

import numpy as np
import pytest
import torch
from astropy.nddata import NDData

from astrolens.io import write_deeplense_classification
from astrolens.models import LensClassifier, prepare_images
from astrolens.utils import NotFittedError, WeightsError

from .conftest import ring_images


@pytest.fixture(scope='module')
def data():
    return ring_images(12)


@pytest.fixture(scope='module')
def fitted(data):
    torch.set_num_threads(1)
    clf = LensClassifier('lensresnet_s', epochs=3, batch_size=8, lr=3e-3, crop=None,
                         progress=False, seed=0)
    return clf.fit(*data)


def test_fit_sets_learned_attributes(fitted):
    assert fitted.classes_ == ('no', 'cdm', 'vortex')
    assert isinstance(fitted.model_, torch.nn.Module)
    assert [h['epoch'] for h in fitted.history_] == [1, 2, 3]
    assert {'train_loss', 'val_loss', 'val_accuracy', 'lr'} <= set(fitted.history_[0])


def test_init_only_stores_parameters():
    clf = LensClassifier('resnet18', epochs=7, tta=False)
    assert clf.get_params()['epochs'] == 7
    assert not hasattr(clf, 'model_')


def test_predict_proba_is_a_distribution_and_predict_names_classes(fitted, data):
    proba = fitted.predict_proba(data[0])
    assert proba.shape == (36, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert set(fitted.predict(data[0][:5])) <= {'no', 'cdm', 'vortex'}


def test_raw_counts_and_minmax_files_give_the_same_prediction(fitted, data):
    raw = data[0]
    low = raw.min(axis=(1, 2), keepdims=True)
    minmax = (raw - low) / (raw.max(axis=(1, 2), keepdims=True) - low)
    np.testing.assert_allclose(fitted.predict_proba(minmax), fitted.predict_proba(raw),
                               atol=1e-5)
    np.testing.assert_allclose(fitted.predict_proba(3.7 * raw + 12),
                               fitted.predict_proba(raw), atol=1e-5)


def test_prepare_images_is_invariant_to_affine_rescaling():
    rng = np.random.default_rng(3)
    x = rng.poisson(20, size=(2, 150, 150)).astype(float)
    a = prepare_images(x, crop=84)
    assert a.shape == (2, 84, 84)
    np.testing.assert_allclose(prepare_images(x / 1000 + 5, crop=84), a, atol=1e-3)
    np.testing.assert_allclose(a.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(axis=(1, 2)), 1, atol=1e-4)


def test_tta_averages_over_symmetries(fitted, data):
    # With D4 test-time averaging the prediction of a rotated image is the same.
    image = data[0][20]
    np.testing.assert_allclose(fitted.predict_proba(np.rot90(image).copy()),
                               fitted.predict_proba(image), atol=1e-5)


def test_learns_the_toy_problem():
    x, y = ring_images(40, seed=1)
    clf = LensClassifier('lensresnet_s', epochs=6, batch_size=16, lr=3e-3, crop=None,
                         progress=False, val_fraction=0)
    clf.fit(x, y)
    x_test, y_test = ring_images(15, seed=2)
    assert clf.score(x_test, y_test) > 0.6


def test_inputs_as_nddata_list_and_single_image(fitted, data):
    images = data[0][:4]
    from_array = fitted.predict_proba(images)
    np.testing.assert_allclose(fitted.predict_proba([NDData(im) for im in images]),
                               from_array, atol=1e-6)
    np.testing.assert_allclose(fitted.predict_proba(images[0]), from_array[:1], atol=1e-6)


def test_evaluate_reports_accuracy_aucs_and_confusion(fitted, data):
    report = fitted.evaluate(*data)
    assert set(report) >= {'accuracy', 'auc_micro', 'auc_macro', 'auc_per_class',
                           'confusion_matrix'}
    assert set(report['auc_per_class']) == {'no', 'cdm', 'vortex'}
    assert np.sum(report['confusion_matrix']) == 36
    assert report['accuracy'] == pytest.approx(fitted.score(*data))


def test_string_labels_use_deeplense_aliases(data):
    names = np.array(['no', 'sphere', 'vort'])[data[1]]
    clf = LensClassifier('lensresnet_s', epochs=1, batch_size=8, crop=None, progress=False)
    clf.fit(data[0], names)
    assert clf.classes_ == ('no', 'cdm', 'vortex')
    assert clf.evaluate(data[0], names)['n_samples'] == 36


def test_other_labels_are_sorted(data):
    names = np.array(['b', 'a', 'c'])[data[1]]
    clf = LensClassifier('lensresnet_s', epochs=1, batch_size=8, crop=None, progress=False)
    assert clf.fit(data[0], names).classes_ == ('a', 'b', 'c')


def test_fit_on_a_deeplense_folder(tmp_path, data):
    images, labels = data
    write_deeplense_classification(tmp_path / 'set', images / images.max(), labels)
    clf = LensClassifier('lensresnet_s', epochs=1, batch_size=8, crop=None, progress=False)
    clf.fit(tmp_path / 'set')
    assert clf.classes_ == ('no', 'cdm', 'vortex')
    assert clf.predict_proba(tmp_path / 'set').shape == (36, 3)
    with pytest.raises(ValueError, match='y=None'):
        clf.fit(tmp_path / 'set', labels)


def test_fit_on_fresh_simulations():
    calls = []

    def source(label):
        def simulate(n):
            calls.append(n)
            return ring_images(n, seed=len(calls), size=20)[0][label * n:(label + 1) * n]
        return simulate

    sims = {'no': source(0), 'cdm': source(1), 'vortex': source(2)}
    clf = LensClassifier('lensresnet_s', epochs=2, batch_size=6, crop=None, progress=False)
    clf.fit(simulator=sims, steps=3)
    assert clf.classes_ == ('no', 'cdm', 'vortex')
    assert clf.info_['n_train'] == 18
    assert len(calls) > 3 * 2 * 3 / 3
    with pytest.raises(ValueError, match='steps='):
        clf.fit(simulator=sims)


def test_predict_before_fit_says_what_to_do():
    with pytest.raises(NotFittedError, match='call fit'):
        LensClassifier().predict_proba(np.ones((2, 8, 8)))


def test_bad_parameters_are_refused(data):
    with pytest.raises(ValueError, match='normalization must be one of'):
        LensClassifier(normalization='log').fit(*data)
    with pytest.raises(ValueError, match='unknown backbone'):
        LensClassifier('no-such-net', epochs=1, progress=False).fit(*data)


def test_timm_backbone(data):
    clf = LensClassifier('resnet10t', epochs=1, batch_size=12, crop=None, progress=False,
                         tta=False, val_fraction=0)
    proba = clf.fit(*data).predict_proba(data[0][:3])
    assert proba.shape == (3, 3)


def test_save_load_round_trip(tmp_path, fitted, data):
    weights, config = fitted.save(tmp_path / 'clf', metadata={'metrics': {'accuracy': 1.0}})
    assert weights.name == 'clf.safetensors' and config.name == 'clf.json'
    stored = json.loads(config.read_text())
    assert stored['classes'] == ['no', 'cdm', 'vortex']
    assert stored['architecture']['backbone'] == 'lensresnet_s'
    assert stored['normalization']['stretch'] == 'sqrt'
    assert stored['metrics'] == {'accuracy': 1.0}
    assert len(stored['history']) == 3 and 'astrolens_version' in stored
    loaded = LensClassifier.load(tmp_path / 'clf.safetensors')
    np.testing.assert_allclose(loaded.predict_proba(data[0]), fitted.predict_proba(data[0]),
                               atol=1e-6)
    assert loaded.classes_ == fitted.classes_


def test_load_errors_are_weights_errors(tmp_path, fitted):
    with pytest.raises(WeightsError, match='not found'):
        LensClassifier.load(tmp_path / 'missing')
    weights, config = fitted.save(tmp_path / 'clf')
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(WeightsError, match='truncated or corrupted'):
        LensClassifier.load(tmp_path / 'clf')
    fitted.save(tmp_path / 'clf')
    stored = json.loads(config.read_text())
    stored['architecture']['kwargs'] = {'widths': [8, 16, 32, 64]}
    config.write_text(json.dumps(stored))
    with pytest.raises(WeightsError, match='do not fit the architecture'):
        LensClassifier.load(tmp_path / 'clf')
    config.write_text('{not json')
    with pytest.raises(WeightsError, match='JSON'):
        LensClassifier.load(tmp_path / 'clf')


def test_from_pretrained_unknown_name():
    with pytest.raises(ValueError, match='no shipped model named'):
        LensClassifier.from_pretrained('no-such-model')


def test_warm_start_continues_from_the_current_model(fitted, data):
    import copy

    clf = copy.deepcopy(fitted).set_params(warm_start=True, epochs=1, lr=1e-4)
    before = {k: v.detach().clone() for k, v in clf.model_.named_parameters()}
    clf.fit(*data)
    assert len(clf.history_) == 1
    # Started from the fitted weights: a small step away from them, not a new network.
    after = dict(clf.model_.named_parameters())
    diff = max(float((after[k].detach() - v).abs().max()) for k, v in before.items())
    assert 0 < diff < 0.05
    with pytest.raises(ValueError, match='unknown parameter'):
        clf.set_params(nope=1)


def test_saved_files_are_readable_by_others(tmp_path, fitted):
    weights, config = fitted.save(tmp_path / 'clf')
    assert weights.stat().st_mode & 0o044 == 0o044
    assert config.stat().st_mode & 0o044 == 0o044


class _CountingSimulator:
    """Images that carry their sequence index, so we can see which were drawn."""

    def __init__(self):
        self.drawn = []

    def simulate(self, n, *, start=None):
        indices = range(start, start + n)
        self.drawn.extend(indices)
        return np.stack([np.full((16, 16), i, dtype=np.float32) + np.eye(16) for i in indices])


def test_on_the_fly_simulation_never_repeats_across_ranks_epochs_or_validation():
    sims = {'no': _CountingSimulator(), 'cdm': _CountingSimulator(),
            'vortex': _CountingSimulator()}
    clf = LensClassifier(batch_size=4, crop=16, val_fraction=0.5, seed=0)
    batches, val, classes, _ = clf._simulated_batches(sims, 5, np.random.default_rng(0))
    seen = {name: list(sim.drawn) for name, sim in sims.items()}  # the validation images
    for epoch in range(3):
        for rank in range(2):
            for _ in batches(epoch, rank, 2):
                pass
    for name, sim in sims.items():
        assert len(sim.drawn) == len(set(sim.drawn)), f'{name}: an image was drawn twice'
        assert seen[name], 'the validation set drew no image of this class'
