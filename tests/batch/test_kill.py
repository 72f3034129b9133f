"""SIGKILL in the middle of ``astrolens enhance --many``, then a rerun."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import astrolens
from astrolens.batch import enhance_many
from astrolens.io import read_fits

from .conftest import write_cutouts

pytest.importorskip(
    'distributed', reason='dask.distributed is not installed: pip install ".[test]"')

N_FILES = 40


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _outputs(folder):
    return sorted(p for p in folder.glob('*.fits') if not p.name.startswith('.'))


def test_killed_run_leaves_only_complete_outputs_and_a_rerun_finishes(client, sr, tmp_path):
    inputs = write_cutouts(tmp_path / 'in', N_FILES, size=32, seed=7)
    out = tmp_path / 'out'
    root = str(Path(astrolens.__file__).resolve().parents[1])
    env = {**os.environ, 'PYTHONPATH': root, 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-m', 'astrolens.cli', 'enhance', '--many',
           str(tmp_path / 'in' / '*.fits'), '-o', str(out), '--workers', '1', '-q']
    log = (tmp_path / 'log.txt').open('w')
    # A session of its own: killing its process group kills the dask scheduler, nanny and
    # worker processes too, as a kill of a terminal's job would.
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while not (out.is_dir() and _outputs(out)):
            assert proc.poll() is None, (tmp_path / 'log.txt').read_text()
            assert time.monotonic() < deadline, 'no output within 120 s'
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        log.close()
    end = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < end:
        time.sleep(0.1)
    assert not _group_alive(proc.pid), 'a process of the killed run survived'

    finished = _outputs(out)
    assert 0 < len(finished) < N_FILES, 'the kill did not land in the middle of the run'
    assert not (out / 'manifest.ecsv').exists()
    for path in finished:  # complete files only, equal to what enhance gives
        expected = sr.enhance(str(tmp_path / 'in' / path.name), progress=False)
        np.testing.assert_allclose(read_fits(path).data, expected.data, rtol=1e-5, atol=1e-4)

    # Whatever temporary the kill left, plus one planted for a file not yet written.
    pending = next(p for p in inputs if not (out / p.name).exists())
    (out / f'.{pending.name}.zz_stale.tmp.fits').write_bytes(b'SIMPLE  =' + b' ' * 100)
    table = enhance_many(str(tmp_path / 'in' / '*.fits'), out, client=client, progress=False)
    assert table.meta['n_skipped'] == len(finished)
    assert table.meta['n_done'] == N_FILES - len(finished)
    assert table.meta['n_failed'] == 0
    assert sorted(table['status'][np.isin(table['output'], [str(p) for p in finished])]) == \
        ['skipped'] * len(finished)
    assert [p.name for p in _outputs(out)] == [p.name for p in inputs]
    assert not [p.name for p in out.iterdir() if '.tmp' in p.name]
    for path in _outputs(out)[::8]:
        assert read_fits(path).data.shape == (64, 64)
