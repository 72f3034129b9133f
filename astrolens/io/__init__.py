# Licensed under a 3-clause BSD style license - see LICENSE
"""Reading and writing images: one parser for every accepted input
(`to_nddata`), FITS files with WCS, unit, mask and uncertainty -- including the
HST drizzled and calibrated, HSC/LSST calexp and astrolens layouts, bit-plane
masks and cubes -- uncertainty propagation helpers, and the DeepLense ``.npy``
folder layouts for classification and super-resolution (read without
unpickling).
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
from astrolens.io._fits import read_fits, read_hdulist, write_fits
from astrolens.io._header import PIXEL_STATISTICS, SR_PSF_CARDS, resampled_header, resampled_meta
from astrolens.io._layouts import Layout, find_layout, parse_hdu
from astrolens.io._masks import (
                                 DEFAULT_BAD_PLANES,
                                 HST_DQ_FLAGS,
                                 INFORMATIONAL_PLANES,
                                 bad_pixels_from_bitmask,
                                 mask_planes,
)
from astrolens.io._parse import as_image_array, restore_type, to_nddata
from astrolens.io._uncertainty import (
                                       as_variance,
                                       combine_in_quadrature,
                                       like_uncertainty,
                                       resampled_variance_factor,
                                       upsample_uncertainty,
)
from astrolens.wcs_utils import make_wcs

__all__ = ['CLASSES', 'DEEPLENSE_FOLDERS', 'DEFAULT_BAD_PLANES', 'HST_DQ_FLAGS',
           'INFORMATIONAL_PLANES', 'PIXEL_STATISTICS', 'SR_PSF_CARDS', 'Layout', 'as_image_array',
           'as_variance',
           'bad_pixels_from_bitmask', 'canonical_class', 'combine_in_quadrature',
           'find_layout', 'like_uncertainty', 'load_deeplense_classification',
           'load_deeplense_sr', 'make_wcs', 'mask_planes', 'parse_hdu', 'read_deeplense_npy',
           'read_fits', 'read_hdulist', 'resampled_header', 'resampled_meta',
           'resampled_variance_factor', 'restore_type', 'save_npy', 'to_nddata',
           'upsample_uncertainty', 'write_deeplense_classification', 'write_deeplense_sr',
           'write_fits']
