# Licensed under a 3-clause BSD style license - see LICENSE
"""Weights as safetensors plus a JSON configuration; loading never unpickles.

safetensors checks the structure of a file (header, shapes, offsets) but
not the tensor bytes, so `save_weights` also records a SHA-256 of the
tensors in the file's metadata and `load_weights` verifies it when present.
"""

import hashlib
import json
import os
from pathlib import Path

import torch

from astrolens.utils import WeightsError, atomic_path

__all__ = ['CHECKSUM_KEY', 'NETWORK_KWARGS', 'check_network_kwargs', 'load_state',
           'load_weights', 'read_json_config', 'save_weights', 'tensor_digest', 'to_tensor_dict',
           'weight_paths']

CHECKSUM_KEY = 'astrolens_sha256'


def weight_paths(path):
    """``(weights, config)`` paths for ``path`` given with or without a suffix."""
    path = Path(path)
    if path.suffix in ('.safetensors', '.json'):
        path = path.with_suffix('')
    return path.with_name(path.name + '.safetensors'), path.with_name(path.name + '.json')


def save_weights(path, state_dict, config, *, overwrite=True):
    """Write ``state_dict`` as safetensors and ``config`` as JSON, each atomically."""
    from safetensors.torch import save_file

    weights, config_path = weight_paths(path)
    tensors = {k: v.detach().to('cpu').contiguous() for k, v in state_dict.items()}
    metadata = {'format': 'pt', CHECKSUM_KEY: tensor_digest(tensors)}
    with atomic_path(weights, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    with atomic_path(config_path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(config, indent=1, sort_keys=False) + '\n')
    for path in (weights, config_path):
        # The temporary files are private (0600); give the result ordinary permissions.
        path.chmod(0o666 & ~_umask())
    return weights, config_path


def tensor_digest(tensors):
    """SHA-256 (hex) of the names, dtypes, shapes and bytes of ``tensors``, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to('cpu').contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_json_config(path_or_text, *, source):
    """Parse a JSON configuration, raising `WeightsError` when it is not one."""
    try:
        text = path_or_text.read_text() if hasattr(path_or_text, 'read_text') else path_or_text
        config = json.loads(text)
    except FileNotFoundError:
        msg = f'configuration file not found: {source}'
        raise WeightsError(msg) from None
    except (OSError, ValueError) as exc:
        msg = f'{source} is not a readable JSON configuration ({exc})'
        raise WeightsError(msg) from None
    if not isinstance(config, dict):
        msg = f'{source} does not hold a JSON object'
        raise WeightsError(msg)
    return config


def load_weights(source, *, name=None):
    """Read safetensors weights from a path or a `importlib.resources` traversable.

    Raises
    ------
    WeightsError
        If the file is missing, truncated, not a safetensors file (a pickle
        is refused without being unpickled), or its tensors do not match
        the checksum recorded when it was saved.
    """
    from safetensors.torch import load as load_bytes

    name = name or str(source)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        msg = f'weights file not found: {name}'
        raise WeightsError(msg) from None
    except OSError as exc:
        msg = f'cannot read weights file {name} ({exc})'
        raise WeightsError(msg) from None
    try:
        tensors = load_bytes(data)
    except Exception as exc:  # noqa: BLE001 -- safetensors raises several error types
        if _looks_pickled(data):
            msg = (f'{name} looks like a pickle (torch.save) file, not safetensors; astrolens '
                   'never unpickles weights (unpickling can run arbitrary code). Convert '
                   'weights you trust with safetensors.torch.save_file')
        else:
            msg = f'{name} is not a valid safetensors file (truncated or corrupted?): {exc}'
        raise WeightsError(msg) from None
    expected = _header_metadata(data).get(CHECKSUM_KEY)
    if expected is not None and tensor_digest(tensors) != expected:
        msg = (f'{name} is corrupted: its tensor data do not match the checksum written with '
               'them; save or download the weights again')
        raise WeightsError(msg)
    return tensors


def _looks_pickled(data):
    # torch.save writes a zip archive (or, before torch 1.6, a bare pickle); pickle
    # protocols 2-5 start with PROTO (0x80) and the protocol number.
    return data[:4] == b'PK\x03\x04' or (data[:1] == b'\x80' and data[1:2] in
                                          (b'\x02', b'\x03', b'\x04', b'\x05'))


def _header_metadata(data):
    """The ``__metadata__`` of a safetensors file that has already been parsed once."""
    size = int.from_bytes(data[:8], 'little')
    return json.loads(data[8:8 + size]).get('__metadata__') or {}


def load_state(model, state, *, source):
    """``model.load_state_dict(state)``, strictly, with mismatches as `WeightsError`."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = (f'the weights in {source} do not fit the architecture in its configuration '
               f'(wrong shapes or names): {str(exc).splitlines()[0]} ...')
        raise WeightsError(msg) from None
    return model


def to_tensor_dict(state_dict):
    """CPU copies of a state dict, for saving."""
    return {k: v.detach().to('cpu', copy=True) for k, v in state_dict.items()
            if isinstance(v, torch.Tensor)}


#: What a saved configuration may pass to each network constructor; anything else
#: (``pretrained``, ``checkpoint_path``, ``pretrained_cfg``, file paths, ...) is refused,
#: so that loading a model never downloads, reads other files or runs anything but
#: the architecture it names. ``'timm'`` applies to every timm model name.
NETWORK_KWARGS = {
    'd4lensnet': frozenset({'widths', 'depths', 'patch', 'physics', 'group_pool', 'dropout',
                            'train_views'}),
    'lensresnet': frozenset({'widths', 'depths', 'dropout', 'stem'}),
    'lensresnet_s': frozenset({'widths', 'depths', 'dropout', 'stem'}),
    'timm': frozenset({'drop_rate', 'drop_path_rate', 'drop_block_rate', 'global_pool'}),
}


def _plain_value(value):
    if isinstance(value, bool | int | float) or value is None:
        return True
    if isinstance(value, str):
        # names such as 'avg' or 'grad'; nothing that looks like a path or URL
        return len(value) <= 32 and value.replace('_', '').isalnum()
    if isinstance(value, list | tuple):
        return all(_plain_value(v) for v in value)
    return False


def check_network_kwargs(backbone, kwargs, *, source):
    """Check the network arguments of a saved configuration against `NETWORK_KWARGS`.

    Parameters
    ----------
    backbone : str
        Network name (registered in astrolens, or a timm model).
    kwargs : dict or None
    source : str
        File named in the error message.

    Returns
    -------
    kwargs : dict

    Raises
    ------
    WeightsError
        If an argument is not on the list for this network (``pretrained``,
        ``checkpoint_path`` and the like never are) or a value is not a
        plain number, short name, or list of them.
    """
    if kwargs is None:
        return {}
    if not isinstance(kwargs, dict):
        msg = f'{source}: the network arguments must be a JSON object, got {type(kwargs).__name__}'
        raise WeightsError(msg)
    allowed = NETWORK_KWARGS.get(backbone, NETWORK_KWARGS['timm'])
    refused = sorted(str(k) for k in kwargs if k not in allowed)
    if refused:
        msg = (f'{source} passes {refused} to the {backbone!r} network; a saved model may only '
               f'set {sorted(allowed)} (weights come from the .safetensors file, never from '
               'pretrained downloads, checkpoint paths or other files)')
        raise WeightsError(msg)
    bad = sorted(k for k, v in kwargs.items() if not _plain_value(v))
    if bad:
        msg = (f'{source} gives {bad} values that are not plain numbers or short names; '
               'refusing to build the network from them')
        raise WeightsError(msg)
    return dict(kwargs)
