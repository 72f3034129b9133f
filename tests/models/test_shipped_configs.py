"""The shipped models' JSON configs: rerunnable from the repository, no machine paths."""

import json
import re

import pytest

from astrolens.models.pretrained import available_models, model_files

# absolute POSIX paths, home folders and Windows drives: meaningless on another machine
_MACHINE_PATH = re.compile(
    r'(?:^|[\s="\'])(?:/(?:work|home|tmp|root|Users|mnt|data)\b|~/|[A-Za-z]:\\)')


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.parametrize('name', available_models())
def test_config_has_no_machine_paths(name):
    _, config_path = model_files(name)
    config = json.loads(config_path.read_text())
    bad = [s for s in _strings(config) if _MACHINE_PATH.search(s)]
    assert bad == [], f'{name}: machine paths in the shipped config: {bad[:3]}'


@pytest.mark.parametrize('name', available_models())
def test_config_records_how_to_rerun(name):
    _, config_path = model_files(name)
    config = json.loads(config_path.read_text())
    text = json.dumps(config)
    assert 'astrolens train' in text or 'python ' in text, f'{name}: no training command recorded'


def test_the_pattern_catches_machine_paths():
    assert _MACHINE_PATH.search('astrolens train sr --checkpoint-dir /work/ckpt/sr')
    assert _MACHINE_PATH.search('/home/me/data.npz')
    assert not _MACHINE_PATH.search('astrolens train sr --checkpoint-dir checkpoints/stage1')
