"""Ctrl-C during ``astrolens train``: one clear line, exit status 130, and a checkpoint
that the same command resumes from (also without --checkpoint-dir)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import astrolens
from astrolens.models._training import CHECKPOINT_NAME

CHECKOUT = Path(astrolens.__file__).resolve().parents[1]


def _env():
    path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get('PYTHONPATH')) if p)
    return dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=path)


def test_ctrl_c_saves_and_the_same_command_resumes(tmp_path):
    from astrolens.io import write_deeplense_sr

    rng = np.random.default_rng(0)
    hr = rng.gamma(2.0, 1.0, (16, 48, 48)).astype(np.float32)
    write_deeplense_sr(tmp_path / 'pairs', hr.reshape(16, 24, 2, 24, 2).sum(axis=(2, 4)), hr)
    cmd = [sys.executable, '-m', 'astrolens.cli', 'train', 'sr', '--data', str(tmp_path / 'pairs'),
           '--arch', 'edsr-xs', '--epochs', '200', '--batch-size', '4', '--patch-size', '12',
           '-o', str(tmp_path / 'model')]
    # enough epochs (milliseconds each) that the run is still going when the signal arrives on a
    # loaded machine; the resumed run finishes them (a resume keeps the run's own schedule)
    checkpoint = tmp_path / 'model.checkpoint' / CHECKPOINT_NAME  # the default folder
    # Ctrl-C as in a terminal: a shell's background job (CI runners, nohup) starts with SIGINT
    # ignored, which the child would inherit, and Python then never raises KeyboardInterrupt
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    try:
        while not checkpoint.is_file():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, 'no checkpoint in time'
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err
    last = [line for line in err.splitlines() if line.strip()][-1]
    assert last.startswith('astrolens train: interrupted') and 'rerun the same command' in last
    assert 'more minutes for epochs' in err  # the duration estimate after the first epoch
    assert checkpoint.is_file() and not (tmp_path / 'model.safetensors').exists()

    # the same command again: it resumes and finishes the run's remaining epochs
    resumed = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                             timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed from' in resumed.stderr
    assert (tmp_path / 'model.safetensors').is_file()
    assert not checkpoint.parent.exists(), 'the default checkpoint folder is removed once saved'


def test_training_from_the_degradation_model_also_checkpoints_by_default(tmp_path, monkeypatch):
    import astrolens.training._sr_presets as sr_training
    from astrolens.cli import main

    seen = {}

    def fake_train(preset, out, *, checkpoint_dir, **kwargs):
        seen['checkpoint_dir'] = checkpoint_dir
        Path(checkpoint_dir).mkdir()            # what a real run leaves until it saves
        return type('Fitted', (), {'history_': []})()

    monkeypatch.setattr(sr_training, 'train_sr_preset', fake_train)
    out = tmp_path / 'model'
    assert main(['train', 'sr', '--degradation', '--preset', 'survey-x2', '-q', '-o',
                 str(out)]) == 0
    assert seen['checkpoint_dir'] == f'{out}.checkpoint'
    assert not Path(f'{out}.checkpoint').exists()    # removed once the model is saved


def test_ctrl_c_inside_a_progress_bar_constructor_adds_no_traceback(monkeypatch, capsys):
    # what a CI run once printed after the one-line message: tqdm.__del__ of a bar whose
    # __init__ the signal cut short fails with "no attribute 'pos'"
    import weakref

    from tqdm.auto import tqdm

    import astrolens.cli as cli

    bars, reported = [], []

    def interrupted_while_building_a_bar(args):
        bar = tqdm.__new__(tqdm)                # where the signal cut __init__ short:
        bar.disable = False                     # enabled, but without its ``pos`` yet
        bars.append(weakref.ref(bar))
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, '_run_info', interrupted_while_building_a_bar)
    monkeypatch.setattr(sys, 'unraisablehook', reported.append)
    assert cli.main(['info']) == 130
    assert bars[0]() is None, 'the interrupted frames are released before main returns'
    assert reported == []
    assert 'astrolens info: interrupted' in capsys.readouterr().err


def test_other_finalizer_errors_after_ctrl_c_are_still_reported(monkeypatch):
    import astrolens.cli as cli

    class Leaky:
        def __del__(self):
            raise RuntimeError('a real problem')

    reported = []

    def interrupted(args):
        leaky = Leaky()                        # noqa: F841 (freed with the frame)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, '_run_info', interrupted)
    monkeypatch.setattr(sys, 'unraisablehook', reported.append)
    assert cli.main(['info']) == 130
    assert [str(u.exc_value) for u in reported] == ['a real problem']
