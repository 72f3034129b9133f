# Licensed under a 3-clause BSD style license - see LICENSE
"""Preparing images for the networks: invertible, flux-aware normalisation
(recorded in ``meta``), LR/HR pair registration and PSF matching.
"""

from astrolens.preprocessing._normalize import (METHODS, denormalize, denormalize_array,
                                                normalize, normalize_array)

__all__ = ['METHODS', 'denormalize', 'denormalize_array', 'normalize', 'normalize_array']
