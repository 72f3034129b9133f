"""Data parallelism: two gloo processes match one process.

The processes run the checkout these tests import (it goes first on
``PYTHONPATH``), on one thread each, with bounded timeouts.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import astrolens
from astrolens.cli import main
from astrolens.models import LensClassifier
from astrolens.models._training import train

CHECKOUT = Path(astrolens.__file__).resolve().parents[1]
TIMEOUT = 300


def _env(**extra):
    path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get('PYTHONPATH')) if p)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=path, **extra)
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        if name not in extra:
            env.pop(name, None)
    return env


def _run_here(args):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([str(a) for a in args]) == 0
    finally:
        torch.set_num_threads(threads)


def _torchrun(args, cwd):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
           '--nproc-per-node=2', '--no-python', 'astrolens', *map(str, args)]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=_env(),
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


# ---------------------------------------------------------------- the loop itself

GLOBAL_BATCH, STEPS, EPOCHS = 16, 4, 3
TRAIN_OPTIONS = {'epochs': EPOCHS, 'steps_per_epoch': STEPS, 'lr': 0.05, 'weight_decay': 0.05,
                 'warmup_steps': 2, 'grad_clip': 0.5, 'device': 'cpu', 'seed': 0,
                 'progress': False}


def _toy_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))


def _toy_batches(epoch, rank, world_size):
    """Each rank's equal share of the same global batches."""
    gen = torch.Generator().manual_seed(100 + epoch)
    per_rank = GLOBAL_BATCH // world_size
    mine = slice(rank * per_rank, (rank + 1) * per_rank)
    for _ in range(STEPS):
        x = torch.randn(GLOBAL_BATCH, 6, generator=gen)
        y = torch.stack([x[:, 0] * x[:, 1], x[:, 2].sin(), x[:, 3:].sum(1)], dim=1)
        yield x[mine], y[mine]


def _toy_train(batches=_toy_batches):
    model = _toy_model()
    train(model, F.mse_loss, batches, **TRAIN_OPTIONS)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def _toy_worker(out):
    """One gloo process of the toy run (RANK, WORLD_SIZE, MASTER_* in the environment)."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    shares = set()

    def batches(epoch, rank, world_size):
        shares.add((rank, world_size))
        return _toy_batches(epoch, rank, world_size)

    weights = _toy_train(batches)
    np.savez(out, shares=np.array(sorted(shares)), world_size=dist.get_world_size(),
             **weights)
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_train_like_one_process_on_the_whole_batch(tmp_path):
    # Averaging the gradients of mean losses over equal halves gives the gradient of the
    # mean over the whole batch; clipping and AdamW then act on identical gradients, so
    # the weights agree to float32 rounding.
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, __file__, str(tmp_path / f'rank{rank}.npz')],
                              env=_env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                                       MASTER_ADDR='127.0.0.1', MASTER_PORT=port),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in range(2)]
    try:
        logs = [proc.communicate(timeout=TIMEOUT)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert [proc.returncode for proc in procs] == [0, 0], '\n'.join(logs)[-4000:]

    torch.set_num_threads(1)
    whole = _toy_train()
    initial = {k: v.detach().numpy() for k, v in _toy_model().state_dict().items()}
    for rank in range(2):
        with np.load(tmp_path / f'rank{rank}.npz') as ddp:
            assert ddp['world_size'] == 2 and ddp['shares'].tolist() == [[rank, 2]]
            for key, value in whole.items():
                np.testing.assert_allclose(ddp[key], value, rtol=0, atol=1e-5, err_msg=key)
    # The test can tell: training went far, and on one half alone it ends elsewhere.
    assert max(np.abs(whole[k] - initial[k]).max() for k in whole) > 0.1
    half = _toy_train(lambda epoch, rank, world_size: _toy_batches(epoch, 0, 2))
    assert max(np.abs(whole[k] - half[k]).max() for k in whole) > 1e-2


# ---------------------------------------------------------------- the commands

@pytest.fixture
def toy_classification_cache(tmp_path):
    """A --cache file for ``--simulate model_i --n-per-class 12``: small, learnable images."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 12)
    images = rng.poisson(5.0, (36, 40, 40)).astype(np.float32)
    images[:, 16:24, 16:24] += 8.0 * labels[:, None, None]
    np.savez(tmp_path / 'sim.npz', images=images, labels=labels)
    return tmp_path / 'sim.npz'


def test_train_classifier_under_torchrun_matches_one_process(tmp_path, toy_classification_cache):
    def args(name, batch_size):
        return ['train', 'classifier', '--simulate', 'model_i', '--n-per-class', 12,
                '--cache', toy_classification_cache, '--crop', 32, '--epochs', 6,
                '--batch-size', batch_size, '--backbone', 'lensresnet_s',
                '--val-fraction', 0.25, '--threads', 1, '--no-progress',
                '--checkpoint-dir', tmp_path / f'ck-{name}', '--out', tmp_path / name]

    result = _torchrun(args('ddp', 4), tmp_path)
    assert result.stdout.count('wrote ') == 1  # rank 0 alone saves and prints
    ddp = json.loads((tmp_path / 'ddp.json').read_text())
    assert ddp['training']['world_size'] == 2
    assert [row['epoch'] for row in ddp['history']] == [1, 2, 3, 4, 5, 6]

    # --batch-size is per process: one process with twice the batch takes the same
    # images at every step. What differs is the batch-norm statistics (over 4 images
    # per process instead of 8), the D4 augmentation and dropout draws (seeded per
    # rank), so the runs agree to a tolerance, not exactly: measured, the validation
    # losses differ by up to ~0.08 while they fall by ~0.35, the probabilities by ~0.08.
    _run_here(args('one', 8))
    one = json.loads((tmp_path / 'one.json').read_text())
    assert one['training']['world_size'] == 1
    assert ddp['training']['steps_per_epoch'] == one['training']['steps_per_epoch']
    first = ddp['history'][0]['val_loss']
    assert ddp['history'][-1]['val_loss'] < first - 0.2  # it learnt something
    np.testing.assert_allclose([row['val_loss'] for row in ddp['history']],
                               [row['val_loss'] for row in one['history']], atol=0.2)

    images = np.load(toy_classification_cache)['images'][::5]
    p_ddp = LensClassifier.load(tmp_path / 'ddp').predict_proba(images)
    p_one = LensClassifier.load(tmp_path / 'one').predict_proba(images)
    np.testing.assert_allclose(p_ddp.sum(axis=1), 1, rtol=1e-5)
    assert np.abs(p_ddp - p_one).max() < 0.2


def test_train_sr_under_torchrun_matches_one_process(tmp_path):
    # 17 pairs: 15 train after validation, an odd number, so the processes' shares of
    # the epoch must be evened out (unequal numbers of steps would hang DDP).
    args = ['train', 'sr', '--preset', 'deeplense-x2', '--n-train', 17, '--n-test', 4,
            '--arch', 'edsr-xs', '--epochs', 4, '--batch-size', 4, '--patch-size', 12]
    result = _torchrun([*args, '-o', tmp_path / 'ddp'], tmp_path)
    assert result.stdout.count('saved ') == 1  # rank 0 alone evaluates, saves and prints
    ddp = json.loads((tmp_path / 'ddp.json').read_text())
    assert ddp['training']['world_size'] == 2
    assert [row['epoch'] for row in ddp['training']['history']] == [1, 2, 3, 4]

    _run_here([*args, '-o', tmp_path / 'one', '-q'])
    one = json.loads((tmp_path / 'one.json').read_text())
    assert one['training']['world_size'] == 1
    # Same command, so the two processes take twice the patches per step and half the
    # steps per epoch, from other patch draws: not the same run. Measured on this tiny
    # set, the runs differ by ~0.1-0.2 dB and other seeds by up to ~0.6 dB in validation
    # PSNR (other validation pairs) and ~0.1 dB on the test pairs; a broken run (NaN or
    # diverged weights) would be far outside 0.5 dB and 0.02 in SSIM.
    best = [max(row['val_psnr'] for row in run['training']['history']) for run in (ddp, one)]
    assert abs(best[0] - best[1]) < 0.5
    test_ddp, test_one = (run['metrics']['deeplense-x2']['model'] for run in (ddp, one))
    assert abs(test_ddp['psnr'] - test_one['psnr']) < 0.5
    assert abs(test_ddp['ssim'] - test_one['ssim']) < 0.02
    assert np.isfinite(test_ddp['psnr']) and test_ddp['flux_conservation'] < 1e-3


if __name__ == '__main__':  # one process of the toy run, started by the test above
    _toy_worker(Path(sys.argv[1]))
