# Licensed under a 3-clause BSD style license - see LICENSE
"""Preparing images for the networks: invertible, flux-aware normalisation
(recorded in ``meta``), LR/HR pair registration and PSF matching.
"""

from astrolens.preprocessing._normalize import (
                                                METHODS,
                                                denormalize,
                                                denormalize_array,
                                                normalize,
                                                normalize_array,
)
from astrolens.preprocessing._psf import gaussian_psf, match_psf, matching_kernel, read_psf
from astrolens.preprocessing._registration import RegisteredPair, register_directory, register_pair

__all__ = ['METHODS', 'RegisteredPair', 'denormalize', 'denormalize_array', 'gaussian_psf',
           'match_psf', 'matching_kernel', 'normalize', 'normalize_array', 'read_psf',
           'register_directory', 'register_pair']
