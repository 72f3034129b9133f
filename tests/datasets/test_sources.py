"""Training sources: train/eval split disjoint; held-out files and the HDF right half unused."""

import numpy as np
import pytest

from astrolens.datasets._sources import (
    HDF_SPLIT_COLUMN,
    HST_EVAL,
    HST_TRAIN,
    SOURCE_WEIGHTS,
    SourcePool,
    draw_lens_scene,
    draw_star_field,
    hdf_half,
    load_hst_images,
    shared_real,
)


def _object(path):
    """Files of the same object (several bands) count as one."""
    stem = path.split('/')[-1]
    for band in ('_F390W', '_F475X', '_F600LP', '_F814W', '_f105w', '_f555w'):
        stem = stem.split(band)[0]
    return stem


def test_train_and_eval_share_no_file_and_no_object():
    train = {p for p, *_ in HST_TRAIN}
    held = {p for p, *_ in HST_EVAL}
    assert not train & held
    assert not {_object(p) for p in train} & {_object(p) for p in held}
    # the truth of the real HSC/HST validation pair is never a training source
    assert 'hsc_hst_cosmos/Cut_HST.fits' in held


def test_hdf_halves_split_at_the_documented_column():
    left, right = hdf_half('left'), hdf_half('right')
    assert left.shape[1] == HDF_SPLIT_COLUMN
    assert left.shape[1] + right.shape[1] == 1000
    with pytest.raises(ValueError, match='half'):
        hdf_half('middle')


def test_pool_cuts_only_training_data():
    if shared_real() is None:
        pytest.skip('../shared/real is absent (the real HST images live there)')
    pool = SourcePool('survey-x2', n_lenses=2)
    names = {im.name.split('[')[0] for im in pool.hst}
    assert names == {p for p, *_ in HST_TRAIN}
    assert np.array_equal(pool.hdf, hdf_half('left'))
    held = load_hst_images('eval')
    assert {im.name.split('[')[0] for im in held} == {p for p, *_ in HST_EVAL}
    # no crop ever equals a piece of a held-out image
    rng = np.random.default_rng(0)
    held_values = {float(im.data[10, 10]) for im in held}
    for _ in range(50):
        crop, fwhm, kind, _ = pool.crop(rng, 40)
        assert crop.shape == (40, 40) and fwhm > 0
        assert kind in SOURCE_WEIGHTS['survey-x2']
        if kind == 'hst':
            assert not held_values & set(crop.ravel().tolist())


def test_lens_scenes_are_drawn_afresh():
    rng = np.random.default_rng(1)
    a, b = draw_lens_scene(rng, num_pix=48), draw_lens_scene(rng, num_pix=48)
    assert a.shape == (48, 48) and np.all(np.isfinite(a))
    assert a.max() == pytest.approx(1.0)
    assert not np.allclose(a, b)


def test_star_fields_hold_point_sources():
    field = draw_star_field(np.random.default_rng(2), shape=(64, 64))
    assert field.sum() > 0
    # point sources: most of the flux sits in few pixels
    assert np.sort(field.ravel())[::-1][:200].sum() > 0.95 * field.sum()
