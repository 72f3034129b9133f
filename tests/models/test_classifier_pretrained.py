"""The shipped deeplense-model-* classifiers: a quality floor, outlier flags, pixel scales."""

import warnings

import numpy as np
import pytest
from astropy.nddata import NDData

from astrolens.models import LensClassifier
from astrolens.models.pretrained import available_models
from astrolens.simulation import LensSimulator, simulate_classification_set
from astrolens.wcs_utils import make_wcs


@pytest.fixture(scope='module')
def model_i():
    return LensClassifier.from_pretrained('deeplense-model-i')


def _quiet(func, *args):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return func(*args)


@pytest.mark.parametrize('name, data', [('deeplense-model-i', 'model_i'),
                                        ('deeplense-model-ii', 'model_ii'),
                                        ('deeplense-model-iii', 'model_iii')])
def test_shipped_weights_pass_a_quality_floor_on_fresh_simulations(name, data):
    assert name in available_models(), f'{name} is missing from the package data'
    clf = LensClassifier.from_pretrained(name)
    images, labels, classes = simulate_classification_set(10, model=data, seed=31337)
    assert tuple(classes) == clf.classes_
    proba = _quiet(clf.predict_proba, images)
    assert np.mean(proba.argmax(1) == labels) >= 0.85


def test_shipped_model_i_records_its_pixel_scale_psf_and_field(model_i):
    assert model_i.instrument_['pixel_scale'] == pytest.approx(0.05)
    assert model_i.instrument_['psf_fwhm'] == pytest.approx(0.087)
    assert model_i.instrument_['shape'] == [150, 150]
    assert model_i.outlier_threshold_ > 0 and model_i.temperature_ > 0


def test_shipped_model_i_flags_noise_and_flat_frames_but_not_simulated_lenses(model_i):
    images, _, _ = simulate_classification_set(10, model='model_i', seed=4243)
    assert model_i.is_outlier(images).mean() <= 0.1
    rng = np.random.default_rng(0)
    noise = rng.normal(10, 3, (20, 150, 150)).astype(np.float32)
    flat = np.full((10, 150, 150), 7.0, dtype=np.float32)
    assert model_i.is_outlier(np.concatenate([noise, flat])).mean() >= 0.9


def test_the_same_sky_at_two_pixel_scales_gets_the_same_probabilities(model_i):
    sims = [LensSimulator('model_i', kind, seed=5) for kind in ('none', 'cdm', 'vortex')]
    images = np.concatenate([sim.simulate(2) for sim in sims])
    native, fine = [], []
    for image in images:
        native.append(NDData(image, wcs=make_wcs(image.shape, 0.05)))
        # the same sky on a grid twice as fine: every pixel split in four, flux kept
        finer = np.kron(image, np.ones((2, 2), dtype=np.float32)) / 4
        fine.append(NDData(finer, wcs=make_wcs(finer.shape, 0.025)))
    p_native = _quiet(model_i.predict_proba, native)
    p_fine = _quiet(model_i.predict_proba, fine)
    assert np.abs(p_native - p_fine).max() < 0.1


def test_an_array_without_wcs_is_taken_at_the_model_pixel_scale(model_i):
    image = LensSimulator('model_i', 'cdm', seed=6).simulate(1)[0]
    with_wcs = NDData(image, wcs=make_wcs(image.shape, 0.05))
    np.testing.assert_allclose(_quiet(model_i.predict_proba, image),
                               _quiet(model_i.predict_proba, with_wcs), atol=1e-6)


def test_gsoc_common_test_layout_is_read_and_classified_like_raw_counts(tmp_path, model_i):
    images, labels, _ = simulate_classification_set(2, model='model_i', seed=77)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = tmp_path / 'val' / ('no', 'sphere', 'vort')[label]
        folder.mkdir(parents=True, exist_ok=True)
        scaled = (image - image.min()) / (image.max() - image.min())
        np.save(folder / f'{i}.npy', scaled[None].astype(np.float64))  # as the GSoC files
    report = _quiet(model_i.evaluate, tmp_path / 'val')
    assert report['n_samples'] == 6
    np.testing.assert_allclose(_quiet(model_i.predict_proba, tmp_path / 'val'),
                               _quiet(model_i.predict_proba, images), atol=1e-4)
