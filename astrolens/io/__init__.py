# Licensed under a 3-clause BSD style license - see LICENSE
"""Reading and writing images: one parser for every accepted input
(`to_nddata`), FITS files with WCS, unit, mask and uncertainty, and the
DeepLense ``.npy`` folder layouts for classification and super-resolution.
"""

from astrolens.io._deeplense import (
                                     CLASSES,
                                     DEEPLENSE_FOLDERS,
                                     canonical_class,
                                     load_deeplense_classification,
                                     load_deeplense_sr,
                                     read_deeplense_npy,
                                     save_npy,
                                     write_deeplense_classification,
                                     write_deeplense_sr,
)
from astrolens.io._fits import read_fits, write_fits
from astrolens.io._parse import as_image_array, to_nddata
from astrolens.wcs_utils import make_wcs

__all__ = ['CLASSES', 'DEEPLENSE_FOLDERS', 'as_image_array', 'canonical_class',
           'load_deeplense_classification', 'load_deeplense_sr', 'make_wcs',
           'read_deeplense_npy', 'read_fits', 'save_npy', 'to_nddata',
           'write_deeplense_classification', 'write_deeplense_sr', 'write_fits']
