# Licensed under a 3-clause BSD style license - see LICENSE
"""astrolens: simulate, classify and super-resolve strong gravitational lensing
images, as `~astropy.nddata.NDData` with WCS, keeping flux and sky coordinates
right.
"""

from astrolens.io import read_fits, to_nddata, write_fits
from astrolens.version import __version__
from astrolens.wcs_utils import make_wcs, scale_wcs

__all__ = ['LensClassifier', 'LensSimulator', 'SuperResolver', '__version__', 'make_wcs',
           'read_fits', 'register_pair', 'scale_wcs', 'to_nddata', 'write_fits']

_LAZY = {'LensClassifier': 'astrolens.models', 'SuperResolver': 'astrolens.models',
         'LensSimulator': 'astrolens.simulation', 'register_pair': 'astrolens.preprocessing'}


def __getattr__(name):
    # The estimators import torch (seconds); load them on first use so that
    # `import astrolens` and `astrolens --version` stay light.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
