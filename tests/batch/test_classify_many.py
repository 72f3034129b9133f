from contextlib import nullcontext

import numpy as np
import pytest
from astropy.table import Table

from astrolens.batch import classify_many
from astrolens.io import make_wcs, write_fits

pytest.importorskip(
    'distributed', reason='dask.distributed is not installed: pip install ".[test]"')


@pytest.fixture(scope='module')
def clf():
    from astrolens.models import LensClassifier

    return LensClassifier.from_pretrained('deeplense-model-i')


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / 'in'
    folder.mkdir()
    paths = []
    # at least the model's 84 px field at its 0.05"/px (FITS files are resampled by their WCS)
    for i, size in enumerate((96, 96, 100, 96)):
        yy, xx = np.mgrid[:size, :size] - size / 2
        ring = 50 * np.exp(-0.5 * ((np.hypot(yy, xx) - 12) / 2) ** 2)
        image = rng.poisson(5 + ring).astype(np.float32)
        path = folder / f'lens{i}.fits'
        write_fits((image, make_wcs((size, size), 0.05)), path)
        paths.append(path)
    np.save(folder / 'lens4.npy', rng.poisson(5, (96, 96)).astype(np.float32))
    paths.append(folder / 'lens4.npy')
    return paths


def test_rows_and_probabilities_match_predict_proba(client, clf, images, tmp_path):
    bad = tmp_path / 'in' / 'small.fits'
    write_fits(np.ones((8, 8), dtype=np.float32), bad)
    output = tmp_path / 'classes.ecsv'
    table = classify_many(tmp_path / 'in', client=client, output=output, chunk_size=3,
                          progress=False)
    files = sorted(images + [bad])
    assert list(table['input']) == [str(p) for p in files]
    assert table.colnames == ['input', 'class', 'p_no', 'p_cdm', 'p_vortex', 'outlier',
                              'outlier_score', 'status', 'seconds', 'error', 'worker']
    for row, path in zip(table, files, strict=True):
        if path == bad:
            assert row['status'] == 'failed' and row['class'] == ''
            assert 'too small' in row['error'] and np.isnan(row['p_no'])
            continue
        with pytest.warns(UserWarning) if path.suffix == '.npy' else nullcontext():
            expected, score = clf.predict_proba([path], return_outlier_score=True)
        expected = expected[0]
        got = np.array([row['p_no'], row['p_cdm'], row['p_vortex']])
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert row['outlier_score'] == pytest.approx(score[0], rel=1e-5)
        assert row['outlier'] == (score[0] > clf.outlier_threshold_)
        assert row['status'] == 'done' and row['error'] == ''
        assert row['class'] == clf.classes_[int(np.argmax(expected))]
    written = Table.read(output, format='ascii.ecsv')
    assert len(written) == 6 and written.meta['n_done'] == 5 and written.meta['n_failed'] == 1
    np.testing.assert_allclose(written['p_cdm'][:5], table['p_cdm'][:5])
    with pytest.raises(FileExistsError, match='overwrite=True'):
        classify_many(images, client=client, output=output, progress=False)


def test_classify_many_refuses_a_super_resolution_model(images):
    with pytest.raises(ValueError, match='not a classifier'):
        classify_many(images, model='survey-x2', progress=False)
