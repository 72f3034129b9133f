# Licensed under a 3-clause BSD style license - see LICENSE
"""astrolens: simulate, classify and super-resolve strong gravitational lensing
images, as `~astropy.nddata.NDData` with WCS, keeping flux and sky coordinates
right.
"""

from astrolens.io import read_fits, to_nddata, write_fits
from astrolens.version import __version__
from astrolens.wcs_utils import make_wcs, scale_wcs

__all__ = ['LensClassifier', '__version__', 'make_wcs', 'read_fits', 'scale_wcs', 'to_nddata',
           'write_fits']


def __getattr__(name):
    # The estimators import torch; load them on first use so `import astrolens` stays light.
    if name == 'LensClassifier':
        from astrolens.models import LensClassifier

        return LensClassifier
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
