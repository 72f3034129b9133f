# Licensed under a 3-clause BSD style license - see LICENSE
"""Shared helpers: exceptions and warnings, atomic file output, size limits on
what is read and the rule that outputs never replace inputs.
"""

from astrolens.utils._atomic import atomic_path, check_writable
from astrolens.utils._limits import (
                                     DEFAULT_MAX_PIXELS,
                                     ImageTooLargeError,
                                     check_declared_size,
                                     check_not_inputs,
)
from astrolens.utils.exceptions import (
                                        AmbiguousHDUError,
                                        AstrolensError,
                                        AstrolensUserWarning,
                                        NotFittedError,
                                        WeightsError,
)

__all__ = ['DEFAULT_MAX_PIXELS', 'AmbiguousHDUError', 'AstrolensError', 'AstrolensUserWarning',
           'ImageTooLargeError', 'NotFittedError', 'WeightsError', 'atomic_path',
           'check_declared_size', 'check_not_inputs', 'check_writable']
