import json
import os
import subprocess
import sys

import numpy as np

from astrolens.models import LensClassifier


def test_two_gloo_processes_under_torchrun_finish_a_tiny_fit(tmp_path):
    out = tmp_path / 'clf'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node=2',
           '--no-python', 'astrolens', 'train', 'classifier', '--simulate', 'model_i',
           '--n-per-class', '8', '--epochs', '2', '--batch-size', '4',
           '--backbone', 'lensresnet_s', '--val-fraction', '0.25', '--threads', '1',
           '--no-progress', '--out', str(out), '--checkpoint-dir', str(tmp_path / 'ckpt')]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    config = json.loads((tmp_path / 'clf.json').read_text())
    assert config['training']['world_size'] == 2
    assert [row['epoch'] for row in config['history']] == [1, 2]
    clf = LensClassifier.load(out)
    proba = clf.predict_proba(np.random.default_rng(0).poisson(8, (2, 150, 150)))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
