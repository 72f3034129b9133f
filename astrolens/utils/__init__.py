# Licensed under a 3-clause BSD style license - see LICENSE
"""Shared helpers: exceptions and warnings, atomic file output."""

from astrolens.utils._atomic import atomic_path, check_writable
from astrolens.utils.exceptions import (
                                        AstrolensError,
                                        AstrolensUserWarning,
                                        NotFittedError,
                                        WeightsError,
)

__all__ = ['AstrolensError', 'AstrolensUserWarning', 'NotFittedError',
           'WeightsError', 'atomic_path', 'check_writable']
