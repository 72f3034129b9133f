# Licensed under a 3-clause BSD style license - see LICENSE
"""Registry of the weights shipped inside the package.

Each model is a pair of files in this folder: ``NAME.safetensors`` (the
weights) and ``NAME.json`` (architecture, normalisation, training command,
data and metrics). They are read with `importlib.resources`, never from the
network.
"""

import json
from importlib import resources

__all__ = ['available_models', 'model_files', 'read_config']


def available_models():
    """Names of the shipped models, sorted."""
    folder = resources.files(__name__)
    return sorted(entry.name[:-len('.json')] for entry in folder.iterdir()
                  if entry.name.endswith('.json')
                  and folder.joinpath(entry.name[:-len('.json')] + '.safetensors').is_file())


def model_files(name):
    """Traversable paths ``(weights, config)`` of shipped model ``name``.

    Raises
    ------
    ValueError
        If no such model is shipped; the message lists those that are.
    """
    if name not in available_models():
        msg = f'no shipped model named {name!r}; available: {available_models() or "none"}'
        raise ValueError(msg)
    folder = resources.files(__name__)
    return folder.joinpath(f'{name}.safetensors'), folder.joinpath(f'{name}.json')


def read_config(name):
    """The JSON configuration of shipped model ``name`` as a dict."""
    return json.loads(model_files(name)[1].read_text())
