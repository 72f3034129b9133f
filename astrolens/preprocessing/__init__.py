# Licensed under a 3-clause BSD style license - see LICENSE
"""Preparing images for the networks: invertible, flux-aware normalisation
(recorded in ``meta``), LR/HR pair registration, PSF matching and PSFs measured
on the stars of an image.
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
from astrolens.preprocessing._stars import StarPSF, psf_from_stars

__all__ = ['METHODS', 'RegisteredPair', 'StarPSF', 'denormalize', 'denormalize_array',
           'gaussian_psf', 'match_psf', 'matching_kernel', 'normalize', 'normalize_array',
           'psf_from_stars', 'read_psf', 'register_directory', 'register_pair']
