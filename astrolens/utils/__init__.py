# Licensed under a 3-clause BSD style license - see LICENSE
"""Shared helpers: exceptions and warnings, atomic file output, size limits on
what is read and the rule that outputs never replace inputs, and the small
pieces that several subpackages need -- bicubic upsampling, noise and PSF-width
measurements, and the dask plumbing of batches (`astrolens.utils._dask`, kept
out of this namespace so that importing it never imports dask).

Nothing here imports another astrolens subpackage, so every other one may
import it.
"""

from astrolens.utils._atomic import atomic_path, check_writable, remove_stale_temporaries
from astrolens.utils._limits import (
                                     DEFAULT_MAX_PIXELS,
                                     ImageTooLargeError,
                                     check_declared_size,
                                     check_not_inputs,
)
from astrolens.utils._measure import psf_fwhm, robust_sigma
from astrolens.utils._resample import bicubic_upscale
from astrolens.utils.exceptions import (
                                        AmbiguousHDUError,
                                        AstrolensError,
                                        AstrolensUserWarning,
                                        NotFittedError,
                                        WeightsError,
)

__all__ = ['DEFAULT_MAX_PIXELS', 'AmbiguousHDUError', 'AstrolensError', 'AstrolensUserWarning',
           'ImageTooLargeError', 'NotFittedError', 'WeightsError', 'atomic_path',
           'bicubic_upscale', 'check_declared_size', 'check_not_inputs', 'check_writable',
           'psf_fwhm', 'remove_stale_temporaries', 'robust_sigma']
