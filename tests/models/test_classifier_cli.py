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
    assert table.colnames == ['file', 'class', 'p_no', 'p_cdm', 'p_vortex']
    np.testing.assert_allclose(table['p_no'] + table['p_cdm'] + table['p_vortex'], 1,
                               atol=1e-3)
    assert main(['classify', str(folder), '--model', str(trained), '--out',
                 str(table_path)]) == 1


def test_classify_missing_path(trained, capsys):
    assert main(['classify', 'no/such/file.npy', '--model', str(trained)]) == 1
    assert 'no such file' in capsys.readouterr().err
