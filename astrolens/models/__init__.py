# Licensed under a 3-clause BSD style license - see LICENSE
"""Networks and estimators: `LensClassifier` for dark-matter substructure
classes, `SuperResolver` for flux- and WCS-preserving super-resolution, the
shared training loop, safetensors serialisation and the registry of shipped
weights (`astrolens.models.pretrained`).

The names are imported on first use: they need torch, which takes seconds to
import, and the command line should not pay that for ``astrolens --version``.
"""

import importlib

__all__ = ['GAN_DEFAULTS', 'D4LensNet', 'LensClassifier', 'LensResNet', 'SRDiscriminator',
           'SuperResolver', 'bicubic_upscale', 'create_network', 'create_sr_network',
           'prepare_images', 'register_network', 'train']

_HOMES = {'LensClassifier': '_classifier', 'prepare_images': '_classifier',
          'D4LensNet': '_d4',
          'LensResNet': '_networks', 'create_network': '_networks',
          'register_network': '_networks', 'train': '_training',
          'SuperResolver': '_superres', 'bicubic_upscale': '_superres',
          'create_sr_network': '_sr_networks', 'GAN_DEFAULTS': '_adversarial',
          'SRDiscriminator': '_adversarial'}


def __getattr__(name):
    if name in _HOMES:
        value = getattr(importlib.import_module(f'{__name__}.{_HOMES[name]}'), name)
        globals()[name] = value
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(__all__))
