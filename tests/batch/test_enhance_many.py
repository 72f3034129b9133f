import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astrolens.batch import enhance_many
from astrolens.io import read_fits
from astrolens.wcs_utils import scale_wcs

from .conftest import write_cutouts

pytest.importorskip(
    'distributed', reason='dask.distributed is not installed: pip install ".[test]"')


@pytest.fixture
def cutouts(tmp_path):
    return write_cutouts(tmp_path / 'in', 6)


def assert_enhanced(output, source, sr):
    expected = sr.enhance(str(source), progress=False)
    got = read_fits(output)
    np.testing.assert_allclose(got.data, expected.data, rtol=1e-5, atol=1e-4)
    want = scale_wcs(read_fits(source).wcs, 2)
    np.testing.assert_allclose(got.wcs.wcs.crpix, want.wcs.crpix, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.wcs.pixel_scale_matrix, want.pixel_scale_matrix, rtol=1e-12)
    np.testing.assert_allclose(got.wcs.wcs.crval, want.wcs.crval, rtol=0, atol=1e-12)
    assert got.data.shape == tuple(2 * n for n in read_fits(source).data.shape)


def test_enhance_many_writes_what_enhance_gives_and_a_manifest(client, cutouts, tmp_path, sr):
    out = tmp_path / 'out'
    table = enhance_many(str(tmp_path / 'in' / '*.fits'), out, client=client, progress=False)
    assert list(table['input']) == [str(p) for p in cutouts]
    assert list(table['status']) == ['done'] * 6
    assert list(table['error']) == [''] * 6
    assert set(table['worker']) <= set(client.scheduler_info()['workers'])
    for row in table:
        assert_enhanced(row['output'], row['input'], sr)
    written = Table.read(out / 'manifest.ecsv', format='ascii.ecsv')
    assert written.colnames == ['input', 'output', 'status', 'seconds', 'error', 'worker']
    assert len(written) == 6 and written.meta['n_done'] == 6
    assert (written['seconds'] > 0).all()
    assert written.meta['model'] == 'survey-x2'


def test_rerun_skips_finished_files_and_overwrite_redoes_them(client, cutouts, tmp_path):
    out = tmp_path / 'out'
    enhance_many(tmp_path / 'in', out, client=client, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob('cutout*.fits')}
    # Nothing to do: no cluster is needed, so none is started (workers=1 would take seconds).
    again = enhance_many(tmp_path / 'in', out, workers=1, progress=False)
    assert list(again['status']) == ['skipped'] * 6
    assert again.meta['n_skipped'] == 6 and again.meta['n_done'] == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob('cutout*.fits')} == stamps
    redone = enhance_many(tmp_path / 'in', out, client=client, overwrite=True, progress=False)
    assert list(redone['status']) == ['done'] * 6
    assert all(p.stat().st_mtime_ns >= stamps[p] for p in stamps)
    assert all(cutout.is_file() for cutout in cutouts)


def test_bad_inputs_fail_alone_with_their_message(client, cutouts, tmp_path):
    folder = tmp_path / 'in'
    (folder / 'corrupt.fits').write_bytes(b'SIMPLE  = this is not a FITS file')
    fits.PrimaryHDU(np.ones((2, 2, 8, 8), dtype=np.float32)).writeto(folder / 'cube.fits')
    fits.PrimaryHDU(np.full((8, 8), np.nan)).writeto(folder / 'empty.fits')
    missing = folder / 'missing.fits'
    out = tmp_path / 'out'
    table = enhance_many([*cutouts, folder / 'corrupt.fits', folder / 'cube.fits',
                          folder / 'empty.fits', missing], out, client=client, progress=False)
    status = dict(zip(table['input'], table['status'], strict=True))
    error = dict(zip(table['input'], table['error'], strict=True))
    assert [status[str(p)] for p in cutouts] == ['done'] * 6
    assert 'not a readable FITS file' in error[str(folder / 'corrupt.fits')]
    assert '(2, 2, 8, 8)' in error[str(folder / 'cube.fits')]
    assert 'no finite pixel' in error[str(folder / 'empty.fits')]
    assert 'no such file' in error[str(missing)]
    assert table.meta['n_failed'] == 4 and table.meta['n_done'] == 6
    for name in ('corrupt.fits', 'cube.fits', 'empty.fits', 'missing.fits'):
        assert not (out / name).exists()
    # Failed files are tried again on a rerun, finished ones are not.
    rerun = enhance_many(out.parent / 'in', out, client=client, progress=False)
    assert rerun.meta['n_skipped'] == 6 and rerun.meta['n_failed'] == 3


def test_model_is_loaded_once_per_worker_process(client, tmp_path):
    from astrolens.batch._worker import model_loads
    from astrolens.models import SuperResolver

    paths = write_cutouts(tmp_path / 'in', 12, seed=1)
    # A saved model under a new path: no worker can have it cached from another test.
    SuperResolver.from_pretrained('deeplense-x2').save(tmp_path / 'model')
    table = enhance_many(paths, tmp_path / 'out', client=client, model=tmp_path / 'model',
                         chunk_size=1, progress=False)
    assert list(table['status']) == ['done'] * 12
    loads = client.run(model_loads)
    assert len(set(client.run(os.getpid).values())) == 2  # two processes, two caches
    used = set(table['worker'])
    assert used <= set(loads)
    for address, counts in loads.items():
        ours = [n for key, n in counts.items() if str(tmp_path / 'model') in key]
        assert ours == ([1] if address in used else []), counts
    assert table.meta['model'] == 'deeplense-x2'


def test_stale_temporaries_of_this_run_are_removed(client, cutouts, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    stale = [out / '.cutout000.fits.k3j_x9ab.tmp.fits', out / '.manifest.ecsv.abcdefgh.tmp.ecsv']
    unrelated = [out / '.notes.txt.abcdefgh.tmp.txt', out / 'cutout000.fits.bak']
    for path in stale + unrelated:
        path.write_bytes(b'partial')
    enhance_many(cutouts, out, client=client, progress=False)
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in unrelated)


@pytest.mark.parametrize(('kwargs', 'error', 'match'), [
    ({'inputs': 'nowhere/*.fits'}, ValueError, 'no input file matched'),
    ({'inputs': []}, ValueError, 'empty list'),
    ({'inputs': 42}, TypeError, 'glob pattern, a folder or a list'),
    ({'inputs': [1.5]}, TypeError, 'must be paths'),
    ({'client': object(), 'scheduler': 'tcp://localhost:8786'}, ValueError,
     'client and scheduler'),
    ({'workers': 2, 'scheduler': 'tcp://localhost:8786'}, ValueError, 'at most one'),
    ({'workers': 0}, ValueError, 'workers must be a positive integer'),
    ({'workers': 1.5}, ValueError, 'workers must be a positive integer'),
    ({'scheduler': 8786}, TypeError, 'address string'),
    ({'model': 'no-such-model'}, ValueError,
     'super-resolution models are deeplense-iiia-x2, deeplense-x2, '),
    ({'model': 'deeplense-model-i'}, ValueError, 'not a super-resolution model'),
    ({'tile': 0}, ValueError, 'tile must be a positive integer'),
    ({'chunk_size': -1}, ValueError, 'chunk_size must be a positive integer'),
    ({'flux': 'sum'}, ValueError, 'flux must be'),
    ({'manifest': True}, TypeError, 'manifest must be a path'),
])
def test_bad_arguments_are_refused_before_any_work(cutouts, tmp_path, kwargs, error, match):
    kwargs = {'inputs': cutouts, **kwargs}
    with pytest.raises(error, match=match):
        enhance_many(kwargs.pop('inputs'), tmp_path / 'out', progress=False, **kwargs)
    assert not (tmp_path / 'out').exists()


def test_estimator_instead_of_a_name_says_to_save_it(cutouts, tmp_path, sr):
    with pytest.raises(TypeError, match=r'\.save\(path\)'):
        enhance_many(cutouts, tmp_path / 'out', model=sr, progress=False)


def test_inputs_are_never_overwritten(cutouts, tmp_path):
    with pytest.raises(ValueError, match='would replace an input'):
        enhance_many(cutouts, tmp_path / 'in', progress=False)
    other = tmp_path / 'other'
    other.mkdir()
    (other / cutouts[0].name).write_bytes(cutouts[0].read_bytes())
    with pytest.raises(ValueError, match='have the same name'):
        enhance_many([cutouts[0], other / cutouts[0].name], tmp_path / 'out', progress=False)
    with pytest.raises(ValueError, match='manifest .* would replace an input'):
        enhance_many(cutouts, tmp_path / 'out', manifest=cutouts[0], progress=False)


def test_without_dask_a_scheduler_says_what_to_install(cutouts, tmp_path, monkeypatch):
    # (without a scheduler the batch runs on local processes: tests/batch/test_local.py)
    monkeypatch.setitem(sys.modules, 'distributed', None)
    with pytest.raises(ImportError, match=r'pip install "astrolens\[all\]"'):
        enhance_many(cutouts, tmp_path / 'out', scheduler='tcp://127.0.0.1:1')


def test_import_astrolens_does_not_import_dask():
    code = ('import sys, astrolens, astrolens.batch; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed")))')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__import__('astrolens').__file__)))
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            env={**os.environ, 'PYTHONPATH': root}, check=True)
    assert result.stdout.strip() == '[]'
