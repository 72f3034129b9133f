# Licensed under a 3-clause BSD style license - see LICENSE
"""astrolens: simulate, classify and super-resolve strong gravitational lensing
images, as `~astropy.nddata.NDData` with WCS, keeping flux and sky coordinates
right.
"""

from astrolens.version import __version__

__all__ = ['LensClassifier', 'LensSimulator', 'SuperResolver', '__version__', 'make_wcs',
           'read_fits', 'register_pair', 'scale_wcs', 'to_nddata', 'write_fits']

_LAZY = {'LensClassifier': 'astrolens.models', 'SuperResolver': 'astrolens.models',
         'LensSimulator': 'astrolens.simulation', 'register_pair': 'astrolens.preprocessing',
         'read_fits': 'astrolens.io', 'to_nddata': 'astrolens.io', 'write_fits': 'astrolens.io',
         'make_wcs': 'astrolens.wcs_utils', 'scale_wcs': 'astrolens.wcs_utils'}


def __getattr__(name):
    # The estimators import torch (seconds) and the rest astropy; load them on first
    # use so that `import astrolens` and `astrolens --version` stay light.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(__all__))
