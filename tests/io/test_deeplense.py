import numpy as np
import pytest

from astrolens.io import (
    canonical_class,
    load_deeplense_classification,
    load_deeplense_sr,
    write_deeplense_classification,
    write_deeplense_sr,
)


@pytest.fixture
def images():
    return np.random.default_rng(2).random((6, 8, 8)).astype(np.float32)


def test_classification_round_trip_with_axion_masses(images, tmp_path):
    labels = np.array([0, 1, 2, 0, 1, 2])
    masses = np.array([np.nan, np.nan, 3e-23, np.nan, np.nan, 5e-24])
    write_deeplense_classification(tmp_path, images, labels, masses=masses)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['no', 'sphere', 'vort']
    raw = np.load(tmp_path / 'vort' / '2.npy', allow_pickle=True)
    assert raw.dtype == object and raw[1] == 3e-23
    got, got_labels, classes, got_masses = load_deeplense_classification(
        tmp_path, return_masses=True)
    assert classes == ('no', 'cdm', 'vortex')
    order = [0, 3, 1, 4, 2, 5]
    np.testing.assert_array_equal(got, images[order])
    np.testing.assert_array_equal(got_labels, labels[order])
    np.testing.assert_array_equal(got_masses[4:], [3e-23, 5e-24])


def test_split_folders_and_aliases(images, tmp_path):
    for split in ('train', 'val'):
        for folder in ('no_sub', 'cdm', 'axion'):
            (tmp_path / split / folder).mkdir(parents=True)
            np.save(tmp_path / split / folder / '0.npy', images[0][None])
    got, labels, classes = load_deeplense_classification(tmp_path, split='val')
    assert got.shape == (3, 8, 8) and classes == ('no', 'cdm', 'vortex')
    assert len(load_deeplense_classification(tmp_path)[0]) == 6


def test_natural_order_not_lexical(images, tmp_path):
    for i in (10, 2, 1):
        (tmp_path / 'no').mkdir(exist_ok=True)
        np.save(tmp_path / 'no' / f'img{i}.npy', np.full((4, 4), i, np.float32))
    got = load_deeplense_classification(tmp_path)[0]
    assert got[:, 0, 0].tolist() == [1, 2, 10]


def test_empty_folder_and_unknown_class_are_explained(tmp_path):
    with pytest.raises(ValueError, match='no .npy images'):
        load_deeplense_classification(tmp_path)
    (tmp_path / 'galaxies').mkdir()
    with pytest.raises(ValueError, match="unknown class name 'galaxies'"):
        load_deeplense_classification(tmp_path)
    with pytest.raises(FileNotFoundError, match='not found'):
        load_deeplense_classification(tmp_path / 'nope')


def test_axion_files_are_read_by_the_restricted_loader_without_unpickling(tmp_path, images,
                                                                            monkeypatch):
    write_deeplense_classification(tmp_path, images[:1], [2], masses=[1e-23])

    def no_unpickling(*args, **kwargs):
        if kwargs.get('allow_pickle'):
            raise AssertionError('np.load(allow_pickle=True) was called')
        return real_load(*args, **kwargs)

    real_load = np.load
    monkeypatch.setattr(np, 'load', no_unpickling)
    got, _, _, masses = load_deeplense_classification(tmp_path, return_masses=True)
    np.testing.assert_array_equal(got[0], images[0])
    assert masses[0] == 1e-23


def test_canonical_class_aliases():
    assert [canonical_class(c) for c in ('sphere', 'vort', 'no_sub', 'Axion')] == \
        ['cdm', 'vortex', 'no', 'vortex']


@pytest.mark.parametrize('layout', ['folders', 'pairs'])
def test_sr_round_trip_matches_by_index(layout, tmp_path):
    rng = np.random.default_rng(3)
    lr = rng.random((12, 4, 4)).astype(np.float32)
    hr = rng.random((12, 8, 8)).astype(np.float32)
    write_deeplense_sr(tmp_path, lr, hr, layout=layout)
    got_lr, got_hr = load_deeplense_sr(tmp_path)
    # sample10 sorts before sample2 lexically; pairing must follow the number
    np.testing.assert_array_equal(got_lr, lr)
    np.testing.assert_array_equal(got_hr, hr)


def test_sr_unmatched_indices_are_listed(tmp_path):
    write_deeplense_sr(tmp_path, np.ones((2, 4, 4)), np.ones((2, 8, 8)))
    (tmp_path / 'HR' / 'sample1.npy').rename(tmp_path / 'HR' / 'sample7.npy')
    with pytest.raises(ValueError, match=r'only in LR: \[1\], only in HR: \[7\]'):
        load_deeplense_sr(tmp_path)
    (tmp_path / 'HR' / 'sample7.npy').unlink()
    with pytest.raises(ValueError, match='2 LR and 1 HR'):
        load_deeplense_sr(tmp_path)


def test_sr_empty_folder(tmp_path):
    with pytest.raises(ValueError, match='no super-resolution pairs'):
        load_deeplense_sr(tmp_path)
