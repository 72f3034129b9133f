import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from astrolens.cli import main
from astrolens.io import load_deeplense_classification, load_deeplense_sr, read_fits
from astrolens.simulation import simulate_classification_set, simulate_sr_pairs
from astrolens.simulation._datasets import classification_chunk


def test_classification_set_is_the_same_whatever_the_workers(sim_client):
    one = simulate_classification_set(3, seed=4, workers=1, return_masses=True)
    images, labels, classes, masses = one
    assert images.shape == (9, 150, 150) and classes == ('no', 'cdm', 'vortex')
    assert list(labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert np.all(np.isnan(masses[:6])) and np.all((masses[6:] > 1e-24) & (masses[6:] < 1e-22))
    # two dask workers, reached as a client or by the scheduler's address
    for where in ({'client': sim_client}, {'scheduler': sim_client.scheduler.address}):
        two = simulate_classification_set(3, seed=4, return_masses=True, **where)
        assert np.array_equal(images, two[0]) and np.array_equal(masses, two[3], equal_nan=True)
        assert np.array_equal(labels, two[1])


def test_a_cropped_set_is_the_central_field_cut_where_it_is_rendered():
    whole, labels = simulate_classification_set(2, seed=4)[:2]
    cropped, cropped_labels = simulate_classification_set(2, seed=4, crop=96)[:2]
    assert cropped.shape == (6, 96, 96) and np.array_equal(labels, cropped_labels)
    assert np.array_equal(cropped, whole[:, 27:123, 27:123])
    # each record owns its crop: a view would keep the whole rendered batch in memory
    records = classification_chunk([(0, 0), (0, 1)], model='model_i', seed=4, crop=96)
    assert all(r['image'].shape == (96, 96) and r['image'].base is None for r in records)


@pytest.mark.parametrize('crop', [0, 151, 2.5, True])
def test_a_crop_that_is_not_a_number_of_pixels_in_the_image_is_refused(crop):
    with pytest.raises(ValueError, match='crop must be a number of pixels from 1 to 150'):
        simulate_classification_set(1, crop=crop)


def test_crop_is_refused_for_files(tmp_path):
    with pytest.raises(ValueError, match='crop applies to images returned in memory'):
        simulate_classification_set(1, crop=96, out=tmp_path)
    assert not any(tmp_path.iterdir())


def test_classification_files_are_the_same_whatever_the_workers(tmp_path, sim_client):
    simulate_classification_set(9, model='model_iii', seed=6, out=tmp_path / 'here')
    simulate_classification_set(9, model='model_iii', seed=6, out=tmp_path / 'dask',
                                client=sim_client)
    assert _file_bytes(tmp_path / 'here') == _file_bytes(tmp_path / 'dask')


def _n_complete(root):
    return sum(1 for p in root.rglob('*.npy') if not p.name.startswith('.'))


def _file_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


@pytest.mark.skipif(not hasattr(os, 'killpg'), reason='needs POSIX process groups (os.killpg)')
def test_killed_cli_run_resumes_to_exactly_the_files_of_an_uninterrupted_run(tmp_path,
                                                                           sim_client):
    n = 60
    reference = simulate_classification_set(n, model='model_iii', seed=3, out=tmp_path / 'ref')
    out = tmp_path / 'killed'
    command = [sys.executable, '-m', 'astrolens.cli', 'simulate', 'classification',
               '--model', 'model_iii', '--n-per-class', str(n), '--seed', '3',
               '--out', str(out), '--workers', '2', '--quiet']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    # its own process group: the kill takes the dask scheduler and workers with it
    process = subprocess.Popen(command, start_new_session=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if _n_complete(out) >= 10:
                break
            time.sleep(0.005)
    finally:
        with contextlib.suppress(ProcessLookupError):  # a group that already ended
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    written = _n_complete(out)
    assert 10 <= written < 3 * n, f'the run was not killed mid-way ({written} files)'
    # what a kill during a write leaves (atomic_path's temporary), made certain here
    missing = next(i for i in range(n) if not (out / 'vort' / f'{i}.npy').exists())
    (out / 'vort' / f'.{missing}.npy.k1ll3d00.tmp.npy').write_bytes(b'\x93NUMPY partial')
    # the same command again (on the running test cluster, to spare starting another)
    rerun = command[3:-3] + ['--scheduler', sim_client.scheduler.address, '--quiet']
    assert main(rerun) == 0
    assert _file_bytes(out) == _file_bytes(reference)


def test_classification_set_bad_arguments():
    with pytest.raises(ValueError, match='n_per_class'):
        simulate_classification_set(-2)
    with pytest.raises(ValueError, match='model'):
        simulate_classification_set(1, model='model_x')
    with pytest.raises(ValueError, match='format'):
        simulate_classification_set(1, out='x', format='hdf5')
    with pytest.raises(ValueError, match='not both'):
        simulate_classification_set(1, workers=2, scheduler='tcp://127.0.0.1:1')
    with pytest.raises(ValueError, match='workers must be a non-negative integer'):
        simulate_classification_set(1, workers=-1)


def test_resume_with_other_settings_is_refused(tmp_path):
    simulate_classification_set(1, model='model_iii', seed=1, out=tmp_path)
    with pytest.raises(ValueError, match='write to a new folder'):
        simulate_classification_set(1, model='model_iii', seed=2, out=tmp_path)


def test_cli_writes_deeplense_layout_and_resumes(tmp_path, capsys):
    out = tmp_path / 'set'
    assert main(['simulate', 'classification', '--n-per-class', '2', '--out', str(out),
                 '--seed', '1']) == 0
    assert sorted(p.name for p in out.iterdir()) == ['.astrolens-simulation.json', 'no',
                                                     'sphere', 'vort']
    images, labels, classes, masses = load_deeplense_classification(out, return_masses=True)
    assert images.shape == (6, 150, 150) and np.isfinite(masses[labels == 2]).all()
    expected = simulate_classification_set(2, seed=1)[0]
    assert np.array_equal(images, expected)
    # a rerun keeps complete files and only makes the missing one
    kept = out / 'sphere' / '0.npy'
    stamp = kept.stat().st_mtime_ns
    (out / 'no' / '1.npy').unlink()
    assert main(['simulate', 'classification', '--n-per-class', '2', '--out', str(out),
                 '--seed', '1']) == 0
    assert kept.stat().st_mtime_ns == stamp
    assert np.array_equal(load_deeplense_classification(out)[0], expected)
    assert not list(out.rglob('*.tmp*'))


def test_cli_rejects_negative_count(tmp_path, capsys):
    assert main(['simulate', 'sr', '--n', '-3', '--out', str(tmp_path)]) == 1
    assert 'n must be a non-negative integer' in capsys.readouterr().err


def test_fits_classification_files_carry_wcs(tmp_path):
    simulate_classification_set(1, seed=2, out=tmp_path, format='fits')
    nd = read_fits(tmp_path / 'vort' / '0.fits')
    assert nd.data.shape == (150, 150) and nd.wcs.has_celestial


def test_deeplense_x2_pairs_shapes_and_flux(tmp_path):
    lr, hr = simulate_sr_pairs(3, seed=0)
    assert lr.shape == (3, 75, 75) and hr.shape == (3, 150, 150)
    # same physical flux: 4x larger pixels hold 4x the flux per pixel
    assert np.allclose(lr.sum(axis=(1, 2)), hr.sum(axis=(1, 2)), rtol=0.03)
    simulate_sr_pairs(3, seed=0, out=tmp_path, workers=2)
    lr2, hr2 = load_deeplense_sr(tmp_path)
    assert np.array_equal(lr2, lr) and np.array_equal(hr2, hr)


def test_hsc_hst_pairs_carry_wcs_psf_and_offset():
    from astropy.wcs.utils import proj_plane_pixel_scales

    lrs, hrs = simulate_sr_pairs(2, preset='hsc-hst', seed=3)
    for lr, hr in zip(lrs, hrs, strict=True):
        assert np.allclose(proj_plane_pixel_scales(lr.wcs) * 3600, 0.168)
        assert np.allclose(proj_plane_pixel_scales(hr.wcs) * 3600, 0.05)
        assert lr.psf.ndim == 2 and hr.psf.ndim == 2
        assert lr.psf.sum() == pytest.approx(1) and hr.psf.sum() == pytest.approx(1)
        offset = np.hypot(lr.meta['offset_dra_arcsec'], lr.meta['offset_ddec_arcsec'])
        assert offset <= 0.1
        assert 0.5 < lr.meta['psf_fwhm_lr'] < 0.75 and 0.09 < hr.meta['psf_fwhm_hr'] < 0.11
        # the LR header is off by the recorded offset: its centre is displaced
        true_centre = hr.wcs.pixel_to_world(79.5, 79.5)
        claimed = lr.wcs.pixel_to_world(15.5, 15.5)
        dra = (claimed.ra - true_centre.ra).deg * 3600 * np.cos(np.deg2rad(2.0))
        ddec = (claimed.dec - true_centre.dec).deg * 3600
        assert dra == pytest.approx(lr.meta['offset_dra_arcsec'], abs=1e-6)
        assert ddec == pytest.approx(lr.meta['offset_ddec_arcsec'], abs=1e-6)
        # both see the same scene: similar total flux (HR covers a bit more sky)
        assert lr.data.sum() == pytest.approx(hr.data.sum(), rel=0.1)
