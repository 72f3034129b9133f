"""Faults: training killed with SIGKILL resumes to the same model; bad weights are refused.

The training commands run as real subprocesses of the checkout these tests
import (``python -m astrolens.cli`` with the checkout first on
``PYTHONPATH``), on one thread and tiny data.
"""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits

import astrolens
from astrolens.cli import main
from astrolens.models import LensClassifier, SuperResolver
from astrolens.models._training import CHECKPOINT_NAME
from astrolens.utils import WeightsError

CHECKOUT = Path(astrolens.__file__).resolve().parents[1]
RUN_TIMEOUT = 150


def _env():
    path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get('PYTHONPATH')) if p)
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=path)


def _astrolens(*args):
    return [sys.executable, '-m', 'astrolens.cli', *map(str, args)]


def _run(cmd, cwd):
    result = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                            timeout=RUN_TIMEOUT, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def _run_here(cmd):
    """Run an ``astrolens`` command line made by `_astrolens` in this process, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(cmd[3:]) == 0
    finally:
        torch.set_num_threads(threads)


def _kill_after_first_checkpoint(cmd, checkpoint_dir, cwd):
    """Start ``cmd``, SIGKILL its process group once a checkpoint exists; its epoch."""
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME
    with open(Path(cwd) / 'killed.log', 'w') as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(), stdout=log, stderr=log,
                                start_new_session=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            while not checkpoint.is_file():
                assert proc.poll() is None, (f'the run ended ({proc.returncode}) before its '
                                             'first checkpoint: '
                                             + (Path(cwd) / 'killed.log').read_text()[-3000:])
                assert time.monotonic() < deadline, 'no checkpoint in time'
                time.sleep(0.01)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return int(torch.load(checkpoint, map_location='cpu', weights_only=True)['epoch'])


def _assert_same_state(a, b, atol=1e-6):
    a, b = a.state_dict(), b.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key].double().numpy(), b[key].double().numpy(), rtol=0,
                                   atol=atol, err_msg=key)


def _assert_same_history(a, b, keys):
    assert [row['epoch'] for row in a] == [row['epoch'] for row in b]
    for key in keys:
        np.testing.assert_allclose([row[key] for row in a], [row[key] for row in b],
                                   rtol=1e-6, err_msg=key)


# ---------------------------------------------------------------- SIGKILL, then resume

def test_train_classifier_killed_then_rerun_resumes_to_the_uninterrupted_result(tmp_path):
    # The simulated set is read from --cache, written here with small images, so the
    # runs spend their time on training rather than on lenstronomy.
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 6)
    images = rng.poisson(5.0, (18, 40, 40)).astype(np.float32)
    images[:, 16:24, 16:24] += 10.0 * labels[:, None, None]
    np.savez(tmp_path / 'sim.npz', images=images, labels=labels)
    epochs = 10

    def command(name):
        return _astrolens('train', 'classifier', '--simulate', 'model_i', '--n-per-class', 6,
                          '--cache', tmp_path / 'sim.npz', '--crop', 32, '--epochs', epochs,
                          '--batch-size', 4, '--backbone', 'lensresnet_s',
                          '--val-fraction', 0.25, '--threads', 1, '--no-progress',
                          '--seed', 3, '--checkpoint-dir', tmp_path / f'ck-{name}',
                          '--out', tmp_path / name)

    killed_at = _kill_after_first_checkpoint(command('clf'), tmp_path / 'ck-clf', tmp_path)
    assert 1 <= killed_at < epochs
    assert not (tmp_path / 'clf.json').exists()

    resumed = _run(command('clf'), tmp_path)
    assert f'at epoch {killed_at}' in resumed.stderr
    config = json.loads((tmp_path / 'clf.json').read_text())
    assert [row['epoch'] for row in config['history']] == list(range(1, epochs + 1))
    assert config['training']['resumed_from_epoch'] == killed_at

    # The loop restores the RNG state and the batches depend only on (seed, epoch), so
    # the killed and resumed run is the uninterrupted one (run here, on one thread too).
    _run_here(command('reference'))
    reference = json.loads((tmp_path / 'reference.json').read_text())
    assert reference['training']['resumed_from_epoch'] == 0
    _assert_same_history(config['history'], reference['history'],
                         ('train_loss', 'val_loss', 'val_accuracy'))
    assert config['training']['best_epoch'] == reference['training']['best_epoch']
    _assert_same_state(LensClassifier.load(tmp_path / 'clf').model_,
                       LensClassifier.load(tmp_path / 'reference').model_)


def test_train_sr_killed_then_rerun_resumes_to_the_uninterrupted_result(tmp_path):
    from astrolens.io import write_deeplense_sr

    rng = np.random.default_rng(0)
    hr = rng.gamma(2.0, 1.0, (16, 48, 48)).astype(np.float32)
    write_deeplense_sr(tmp_path / 'pairs', hr.reshape(16, 24, 2, 24, 2).sum(axis=(2, 4)), hr)
    epochs = 16

    def command(name):
        return _astrolens('train', 'sr', '--data', tmp_path / 'pairs', '--arch', 'edsr-xs',
                          '--epochs', epochs, '--batch-size', 4, '--patch-size', 12,
                          '--seed', 3, '--checkpoint-dir', tmp_path / f'ck-{name}',
                          '-o', tmp_path / name)

    killed_at = _kill_after_first_checkpoint(command('sr'), tmp_path / 'ck-sr', tmp_path)
    assert 1 <= killed_at < epochs
    assert not (tmp_path / 'sr.safetensors').exists()

    resumed = _run(command('sr'), tmp_path)
    assert f'at epoch {killed_at}' in resumed.stderr
    config = json.loads((tmp_path / 'sr.json').read_text())
    history = config['training']['history']
    assert [row['epoch'] for row in history] == list(range(1, epochs + 1))
    assert config['training']['resumed_from_epoch'] == killed_at
    assert config['training']['world_size'] == 1

    _run_here(command('reference'))
    reference = json.loads((tmp_path / 'reference.json').read_text())
    assert reference['training']['resumed_from_epoch'] == 0
    _assert_same_history(history, reference['training']['history'],
                         ('train_loss', 'val_loss', 'val_psnr'))
    assert config['training']['best_epoch'] == reference['training']['best_epoch']
    _assert_same_state(SuperResolver.load(tmp_path / 'sr').model_,
                       SuperResolver.load(tmp_path / 'reference').model_)


# ---------------------------------------------------------------- bad weights files

@pytest.fixture(scope='module')
def saved(tmp_path_factory):
    """A tiny fitted super-resolver and classifier, saved; ``{kind: path}``."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('saved')
    rng = np.random.default_rng(0)
    hr = rng.gamma(2.0, 1.0, (8, 32, 32)).astype(np.float32)
    lr = hr.reshape(8, 16, 2, 16, 2).sum(axis=(2, 4))
    sr = SuperResolver(2, arch='edsr-xs', arch_kwargs={'n_feats': 8, 'n_blocks': 1})
    sr.fit(lr, hr, epochs=1, batch_size=4, patch_size=12, val_fraction=0, progress=False)
    sr.save(root / 'sr')
    clf = LensClassifier('lensresnet_s', epochs=1, batch_size=4, crop=None, val_fraction=0,
                         progress=False)
    clf.fit(rng.poisson(5.0, (6, 24, 24)).astype(np.float32), [0, 1, 2, 0, 1, 2])
    clf.save(root / 'clf')
    return {'sr': root / 'sr', 'classifier': root / 'clf'}


class _Trap:
    """Unpickling this creates ``marker`` (what a malicious weights file could do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def _flip_header_bytes(weights, marker, kind):
    data = bytearray(weights.read_bytes())
    middle = 8 + int.from_bytes(data[:8], 'little') // 2
    data[middle:middle + 4] = bytes(b ^ 0xFF for b in data[middle:middle + 4])
    weights.write_bytes(bytes(data))


def _rewrite_header_dtype(weights, marker, kind):
    # Still valid JSON, but the tensor sizes no longer add up to the data section.
    weights.write_bytes(weights.read_bytes().replace(b'"F32"', b'"F16"', 1))


def _flip_tensor_bytes(weights, marker, kind):
    # The header stays valid: only the checksum written with the file can tell.
    data = bytearray(weights.read_bytes())
    data[-64:-60] = bytes(b ^ 0x55 for b in data[-64:-60])
    weights.write_bytes(bytes(data))


def _cut_inside_length_field(weights, marker, kind):
    weights.write_bytes(weights.read_bytes()[:5])


def _torch_save(weights, marker, kind):
    torch.save({'weight': torch.zeros(3), 'trap': _Trap(marker)}, weights)


def _pickle_dumps(weights, marker, kind):
    weights.write_bytes(pickle.dumps(_Trap(marker)))


def _drop_config(weights, marker, kind):
    weights.with_suffix('.json').unlink()


def _config_not_an_object(weights, marker, kind):
    weights.with_suffix('.json').write_text('[1, 2, 3]\n')


def _set_arch(names):
    def damage(weights, marker, kind):
        path = weights.with_suffix('.json')
        config = json.loads(path.read_text())
        if kind == 'sr':
            config['arch'] = names[kind]
        else:
            config['architecture']['backbone'] = names[kind]
        path.write_text(json.dumps(config))
    return damage


# name: (how the saved files are damaged, what the WeightsError says)
CASES = {
    'header bytes flipped': (_flip_header_bytes, 'not a valid safetensors file'),
    'header dtype rewritten': (_rewrite_header_dtype, 'not a valid safetensors file'),
    'tensor bytes flipped': (_flip_tensor_bytes, 'corrupted: its tensor data do not match'),
    'truncated in the length field': (_cut_inside_length_field, 'not a valid safetensors'),
    'torch.save file': (_torch_save, 'pickle .*never unpickles'),
    'pickle.dumps file': (_pickle_dumps, 'pickle .*never unpickles'),
    'no configuration': (_drop_config, 'not found'),
    'configuration not an object': (_config_not_an_object, 'does not hold a JSON object'),
    'unknown architecture': (_set_arch({'sr': 'edsr-nope', 'classifier': 'lensresnet_nope'}),
                             'unknown (arch|backbone)'),
    'weights of another architecture': (_set_arch({'sr': 'srresnet',
                                                   'classifier': 'lensresnet'}),
                                        'do not fit the architecture'),
}
_ESTIMATORS = {'sr': SuperResolver, 'classifier': LensClassifier}


def _damaged(saved, kind, case, tmp_path):
    """Copy the saved ``kind`` model into ``tmp_path`` and damage it; ``(path, marker)``."""
    path = tmp_path / 'model'
    for suffix in ('.safetensors', '.json'):
        path.with_suffix(suffix).write_bytes(saved[kind].with_suffix(suffix).read_bytes())
    marker = tmp_path / 'unpickled.txt'
    CASES[case][0](path.with_suffix('.safetensors'), marker, kind)
    return path, marker


@pytest.mark.parametrize('case', sorted(CASES))
@pytest.mark.parametrize('kind', sorted(_ESTIMATORS))
def test_load_refuses_bad_weights_with_weights_error(saved, kind, case, tmp_path):
    path, marker = _damaged(saved, kind, case, tmp_path)
    for given in (path, path.with_suffix('.safetensors')):
        with pytest.raises(WeightsError, match=CASES[case][1]):
            _ESTIMATORS[kind].load(given)
    assert not marker.exists()


def _cli_args(kind, path, tmp_path):
    if kind == 'sr':
        fits.PrimaryHDU(np.ones((16, 16), dtype=np.float32)).writeto(tmp_path / 'in.fits')
        return ['enhance', tmp_path / 'in.fits', '-o', tmp_path / 'out.fits', '--model', path,
                '-q']
    np.save(tmp_path / 'in.npy', np.ones((24, 24), dtype=np.float32))
    return ['classify', tmp_path / 'in.npy', '--model', path, '--out', tmp_path / 'out.ecsv']


@pytest.mark.parametrize('case', sorted(CASES))
@pytest.mark.parametrize('kind', sorted(_ESTIMATORS))
def test_cli_refuses_bad_weights_in_one_line(saved, kind, case, tmp_path, capsys):
    path, marker = _damaged(saved, kind, case, tmp_path)
    args = _cli_args(kind, path, tmp_path)
    assert main([str(a) for a in args]) == 1
    out, err = capsys.readouterr()
    assert out == ''
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'astrolens {args[0]}: error: ')
    expected = CASES[case][1]
    assert re.search(expected, lines[0]) and str(path) in lines[0]
    assert not marker.exists()
    assert not any(tmp_path.glob('out.*'))


@pytest.mark.parametrize('kind', sorted(_ESTIMATORS))
def test_cli_process_refuses_a_pickle_without_unpickling_it(saved, kind, tmp_path):
    path, marker = _damaged(saved, kind, 'pickle.dumps file', tmp_path)
    result = subprocess.run(_astrolens(*_cli_args(kind, path, tmp_path)), cwd=tmp_path,
                            env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            check=False)
    assert result.returncode == 1 and result.stdout == ''
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('astrolens ') and 'never unpickles' in lines[0]
    assert not marker.exists()
    # The trap works: unpickling it the ordinary way does create the marker.
    pickle.loads(path.with_suffix('.safetensors').read_bytes()).close()
    assert marker.exists()
