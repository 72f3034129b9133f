"""Batches without a dask cluster: here, or in local processes when dask is not installed."""

import os
import sys

import numpy as np
import pytest

from astrolens.batch import classify_many, enhance_many
from astrolens.batch._local import local_workers, run_chunks_here

from .conftest import write_cutouts


@pytest.fixture
def no_dask(monkeypatch):
    for name in ('dask', 'distributed'):
        monkeypatch.setitem(sys.modules, name, None)


def test_where_a_batch_runs_without_dask(no_dask):
    assert local_workers(None, None, 1) == 1
    assert local_workers(None, None, 3) == 3
    assert local_workers(None, None, None) == (os.cpu_count() or 1)
    assert local_workers(None, 'tcp://host:8786', None) is None


def test_local_processes_run_every_chunk_and_report_a_lost_one(no_dask):
    lost = []

    def on_error(chunk, exc):
        lost.append((chunk, type(exc).__name__))
        return [f'lost {chunk}']

    # dict() of a chunk of pairs gives its keys; of a chunk of ints it fails, in a child process
    records = run_chunks_here(dict, [[('a', 1), ('b', 2)], [1], [('c', 3)]], workers=2,
                              on_error=on_error, progress=False)
    assert sorted(records) == ['a', 'b', 'c', 'lost [1]']
    assert lost == [([1], 'TypeError')]


def test_classify_and_enhance_many_run_here_without_dask(no_dask, tmp_path):
    paths = write_cutouts(tmp_path / 'in', 2, size=16, seed=3)
    table = enhance_many(paths, tmp_path / 'out', workers=1, progress=False)
    assert list(table['status']) == ['done', 'done']
    assert table['worker'][0] == f'pid {os.getpid()}'
    images = tmp_path / 'npy'
    images.mkdir()
    for i in range(3):
        np.save(images / f'{i}.npy', np.random.default_rng(i).gamma(2, 1, (48, 48)))
    table = classify_many(images, workers=1, progress=False)
    assert list(table['status']) == ['done'] * 3
    np.testing.assert_allclose(table['p_no'] + table['p_cdm'] + table['p_vortex'], 1,
                               atol=1e-4)


def test_a_scheduler_without_dask_is_refused_before_anything_is_written(no_dask, tmp_path):
    paths = write_cutouts(tmp_path / 'in', 1, size=16)
    with pytest.raises(ImportError, match='astrolens\\[all\\]'):
        enhance_many(paths, tmp_path / 'out', scheduler='tcp://127.0.0.1:1', progress=False)
    assert not (tmp_path / 'out').exists()
