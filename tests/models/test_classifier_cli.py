import numpy as np
import pytest
from astropy.table import Table

from astrolens.cli import main
from astrolens.io import write_deeplense_classification


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = rng.poisson(5, size=(12, 20, 20)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 4)
    images[labels == 1, 8:12, 8:12] += 30
    root = tmp_path_factory.mktemp('cli') / 'set'
    write_deeplense_classification(root, images, labels)
    return root


@pytest.fixture(scope='module')
def trained(folder):
    out = folder.parent / 'clf'
    status = main(['train', 'classifier', '--data', str(folder), '--backbone', 'lensresnet_s',
                   '--epochs', '1', '--batch-size', '4', '--crop', '0', '--threads', '1',
                   '--no-progress', '--out', str(out)])
    assert status == 0
    return out


def test_train_classifier_writes_weights_and_config(trained, capsys):
    import json

    config = json.loads(trained.with_name('clf.json').read_text())
    assert config['training']['command'].startswith('astrolens ')
    assert config['training']['n_train'] + config['training']['n_val'] == 12
    assert trained.with_name('clf.safetensors').is_file()


def test_classify_prints_a_table(trained, folder, capsys):
    files = sorted((folder / 'sphere').glob('*.npy'))
    assert main(['classify', *map(str, files), '--model', str(trained)]) == 0
    out = capsys.readouterr().out
    assert 'p_cdm' in out and files[0].name in out


def test_classify_writes_ecsv(trained, folder, tmp_path):
    table_path = tmp_path / 'table.ecsv'
    assert main(['classify', str(folder), '--model', str(trained), '--out',
                 str(table_path)]) == 0
    table = Table.read(table_path, format='ascii.ecsv')
    assert len(table) == 12
    assert table.colnames == ['file', 'class', 'p_no', 'p_cdm', 'p_vortex', 'outlier',
                              'outlier_score', 'error']
    # this model has no outlier statistics (too few validation images): unknown, not False
    assert table['outlier'].mask.all()
    np.testing.assert_allclose(table['p_no'] + table['p_cdm'] + table['p_vortex'], 1,
                               atol=1e-3)
    assert main(['classify', str(folder), '--model', str(trained), '--out',
                 str(table_path)]) == 1


def test_classify_missing_path(trained, capsys):
    assert main(['classify', 'no/such/file.npy', '--model', str(trained)]) == 1
    assert 'no such file' in capsys.readouterr().err


def test_classify_writes_an_outlier_column(tmp_path, capsys):
    import torch

    from astrolens.io import save_npy
    from astrolens.models import LensClassifier

    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:24, :24] - 11.5
    ring = 40 * np.exp(-0.5 * ((np.hypot(yy, xx) - 6) / 1.5) ** 2) + 2

    def lenses(n):
        images = rng.poisson(ring * rng.uniform(1, 3, (n, 1, 1))).astype(np.float32)
        labels = np.repeat([0, 1, 2], n // 3)
        images[labels == 1, 10:13, 4:7] += 40
        images[labels == 2, 11:13, :] += 20
        return images, labels

    clf = LensClassifier('d4lensnet', backbone_kwargs={'widths': [8, 12], 'depths': [1, 1]},
                         epochs=2, batch_size=8, crop=None, tta=False, augment=None,
                         progress=False)
    clf.fit(*lenses(48), val_images=lenses(36)[0], val_labels=lenses(36)[1])
    clf.save(tmp_path / 'model')
    save_npy(tmp_path / 'flat.npy', np.full((24, 24), 5.0, dtype=np.float32))
    save_npy(tmp_path / 'noise.npy', rng.normal(0, 1, (24, 24)).astype(np.float32))
    assert main(['classify', str(tmp_path / 'flat.npy'), str(tmp_path / 'noise.npy'),
                 '--model', str(tmp_path / 'model'), '--out', str(tmp_path / 't.ecsv')]) == 0
    table = Table.read(tmp_path / 't.ecsv', format='ascii.ecsv')
    assert list(table['outlier']) == [True, True]
    assert np.all(table['outlier_score'] > clf.outlier_threshold_)
    assert '2 of 2 images look unlike the training data' in capsys.readouterr().err
