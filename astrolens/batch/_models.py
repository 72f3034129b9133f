# Licensed under a 3-clause BSD style license - see LICENSE
"""Checking a model name on the client, from its JSON configuration alone."""

import json
import os
from pathlib import Path

__all__ = ['model_kind', 'resolve_model', 'shipped_models']

_KINDS = {'sr': ('kind', 'astrolens.SuperResolver', 'super-resolution model'),
          'classifier': ('format', 'astrolens-classifier', 'classifier')}


def model_kind(config):
    """``'sr'``, ``'classifier'`` or None: the kind of model a JSON configuration describes."""
    if not isinstance(config, dict):
        return None
    for kind, (key, expected, _) in _KINDS.items():
        if config.get(key) == expected:
            return kind
    return None


def shipped_models(kind=None):
    """Names of the shipped models of ``kind`` (``'sr'``, ``'classifier'`` or None: all), sorted."""
    from astrolens.models.pretrained import available_models, read_config

    return [name for name in available_models()
            if kind is None or model_kind(read_config(name)) == kind]


def _shipped_of(kind):
    what = _KINDS[kind][2]
    names = shipped_models(kind)
    return f'the shipped {what}s are {", ".join(names)}' if names else f'no {what} is shipped'


def resolve_model(kind, model):
    """Check that ``model`` names a model of ``kind``; return its name and configuration.

    Only the JSON configuration is read, so the client process does not
    import torch; the workers load the weights.

    Parameters
    ----------
    kind : {'sr', 'classifier'}
    model : str or `~pathlib.Path`
        Shipped model name, or the path of a saved model (with or without
        its ``.safetensors`` / ``.json`` suffix).

    Returns
    -------
    name : str
        The shipped name, or the absolute path without suffix (workers may
        run in another folder).
    config : dict

    Raises
    ------
    TypeError
        If ``model`` is not a string or a path (pass a saved model's path
        rather than an estimator).
    ValueError
        If there is no such model, or it is not of ``kind``.
    """
    from astrolens.models.pretrained import available_models, read_config

    what = _KINDS[kind][2]
    if not isinstance(model, (str, os.PathLike)):
        msg = (f'model must be a shipped model name or the path of a saved model, got '
               f'{type(model).__name__}; save an estimator with .save(path) and pass the path')
        raise TypeError(msg)
    if str(model) in available_models():
        name, config = str(model), read_config(str(model))
    else:
        base = Path(model)
        if base.suffix in ('.safetensors', '.json'):
            base = base.with_suffix('')
        config_path = base.with_name(base.name + '.json')
        weights = base.with_name(base.name + '.safetensors')
        missing = [p.name for p in (weights, config_path) if not p.is_file()]
        if missing:
            msg = (f'no shipped {what} named {str(model)!r} and no saved model there '
                   f'({" and ".join(missing)} not found); {_shipped_of(kind)}')
            raise ValueError(msg)
        try:
            config = json.loads(config_path.read_text())
        except (OSError, ValueError) as exc:
            msg = f'{config_path} is not a readable JSON configuration ({exc})'
            raise ValueError(msg) from None
        if not isinstance(config, dict):
            msg = f'{config_path} does not hold a JSON object: it is not a saved model'
            raise ValueError(msg)
        name = str(base.resolve())
    if model_kind(config) != kind:
        other = model_kind(config)
        actual = f'a {_KINDS[other][2]}' if other else 'not an astrolens model'
        msg = f'{model!s} is {actual}, not a {what}: {_shipped_of(kind)}'
        raise ValueError(msg)
    return name, config
