"""Bad-input fuzzing of the estimators and registration: every input either
works or raises a documented exception (TypeError / ValueError, astrolens
errors) with a message -- never a bare torch, Index or ZeroDivision error."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrolens.models import LensClassifier, SuperResolver
from astrolens.preprocessing import register_pair
from astrolens.utils import AstrolensError
from astrolens.wcs_utils import make_wcs

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])
DOCUMENTED = (TypeError, ValueError, AstrolensError)


@pytest.fixture(scope='module')
def tiny_sr():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    hr = rng.random((4, 16, 16)).astype(np.float32)
    lr = hr.reshape(4, 8, 2, 8, 2).sum(axis=(2, 4))
    sr = SuperResolver(2, arch='edsr-xs', device='cpu')
    return sr.fit(lr, hr, epochs=1, batch_size=2, patch_size=8, progress=False)


@pytest.fixture(scope='module')
def tiny_clf():
    rng = np.random.default_rng(1)
    images = rng.poisson(5, (6, 24, 24)).astype(np.float32)
    clf = LensClassifier('lensresnet_s', epochs=1, batch_size=3, crop=16, device='cpu',
                         progress=False)
    return clf.fit(images, [0, 1, 2, 0, 1, 2])


special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1e-30, 1e30, -5.0, 3.0])
images = st.builds(
    lambda shape, fill, seed, spots, dtype, big_endian, transpose: _image(
        shape, fill, seed, spots, dtype, big_endian, transpose),
    shape=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    fill=st.sampled_from(['noise', 'zeros', 'constant', 'huge', 'tiny']),
    seed=st.integers(0, 10),
    spots=st.lists(special, max_size=4),
    dtype=st.sampled_from(['f4', 'f8', 'i2', 'u2']),
    big_endian=st.booleans(), transpose=st.booleans())


def _image(shape, fill, seed, spots, dtype, big_endian, transpose):
    rng = np.random.default_rng(seed)
    base = {'noise': lambda: rng.normal(10, 3, shape), 'zeros': lambda: np.zeros(shape),
            'constant': lambda: np.full(shape, 7.0), 'huge': lambda: rng.random(shape) * 1e30,
            'tiny': lambda: rng.random(shape) * 1e-30}[fill]()
    if dtype.startswith('f'):
        flat = base.ravel()
        for i, value in enumerate(spots):
            flat[(i * 7919) % flat.size] = value
    else:
        base = np.clip(np.nan_to_num(base), 0, 30000)
    array = base.astype(('>' if big_endian else '<') + dtype)
    return array.T if transpose else array


def _check(exc):
    assert isinstance(exc, DOCUMENTED), f'undocumented {type(exc).__name__}: {exc}'
    assert str(exc).strip(), f'{type(exc).__name__} without a message'


@FUZZ
@given(image=images)
def test_enhance_works_or_says_why(tiny_sr, image):
    # an image with at least one finite pixel is valid input: it must be enhanced, an
    # error of any kind (a "documented" ValueError included) is a failure
    valid = bool(np.isfinite(image.astype(float)).any())
    try:
        out = tiny_sr.enhance(image, progress=False)
    except Exception as exc:  # noqa: BLE001 - the point is to classify every failure
        assert not valid, f'valid input refused: {type(exc).__name__}: {exc}'
        _check(exc)
        return
    assert valid, 'an image with no finite pixel was enhanced instead of refused'
    assert out.data.shape == (2 * image.shape[0], 2 * image.shape[1])
    finite = np.isfinite(image.astype(float))
    up = np.repeat(np.repeat(finite, 2, axis=0), 2, axis=1)
    assert np.isfinite(out.data[up]).all(), 'NaN leaked into pixels that had data'


@FUZZ
@given(image=images, batch=st.booleans())
def test_predict_proba_works_or_says_why(tiny_clf, image, batch):
    data = np.stack([image, image]) if batch else image
    # valid: at least the classifier's 16 px crop on each side and some finite pixel
    valid = min(image.shape) >= 16 and bool(np.isfinite(image.astype(float)).any())
    try:
        proba = tiny_clf.predict_proba(data)
    except Exception as exc:  # noqa: BLE001
        assert not valid, f'valid input refused: {type(exc).__name__}: {exc}'
        _check(exc)
        return
    assert valid, f'invalid input {image.shape} was classified instead of refused'
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(lr_size=st.integers(2, 24), factor=st.integers(1, 4), rotation=st.floats(0, 360),
       offset=st.floats(-5, 5), fill=st.sampled_from(['blob', 'zeros', 'nan-corner']))
def test_register_pair_works_or_says_why(lr_size, factor, rotation, offset, fill):
    yy, xx = np.mgrid[:lr_size, :lr_size]
    lr = np.exp(-((yy - lr_size / 2) ** 2 + (xx - lr_size / 2) ** 2) / 4.0) + 0.01
    hr_size = lr_size * factor + 4
    hy, hx = np.mgrid[:hr_size, :hr_size]
    hr = np.exp(-((hy - hr_size / 2) ** 2 + (hx - hr_size / 2) ** 2) / (4.0 * factor ** 2))
    if fill == 'zeros':
        lr, hr = np.zeros_like(lr), np.zeros_like(hr)
    elif fill == 'nan-corner':
        lr[:2, :2] = np.nan
    lr_wcs = make_wcs(lr.shape, 0.168)
    hr_wcs = make_wcs(hr.shape, 0.168 / factor, ra=150.0 + offset / 3600, rotation=rotation)
    try:
        pair = register_pair((lr, lr_wcs), (hr, hr_wcs), lr_psf=0.6, hr_psf=0.1)
    except Exception as exc:  # noqa: BLE001
        _check(exc)
        return
    assert pair.hr.data.shape == (pair.factor * lr_size, pair.factor * lr_size)


def test_small_and_odd_images_for_the_classifier(tiny_clf):
    with pytest.raises(ValueError, match='too small for this classifier'):
        tiny_clf.predict_proba(np.ones((8, 40)))
    # smaller than the shipped model's 84 px crop and odd: used whole, less a row
    shipped = LensClassifier.from_pretrained('deeplense-model-i')
    proba = shipped.predict_proba(np.random.default_rng(2).poisson(5, (2, 51, 37)))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
