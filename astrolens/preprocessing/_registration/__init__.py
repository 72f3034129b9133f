# Licensed under a 3-clause BSD style license - see LICENSE
"""LR/HR pair registration: flux-conserving resampling onto an integer
multiple of the LR grid, PSF matching and sub-pixel alignment (public function
and result in ``_high_level``, numerics in ``_core``, folders in ``_directory``).
"""

from astrolens.preprocessing._registration._directory import register_directory
from astrolens.preprocessing._registration._high_level import METHODS, RegisteredPair, register_pair

__all__ = ['METHODS', 'RegisteredPair', 'register_directory', 'register_pair']
