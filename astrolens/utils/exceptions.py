# Licensed under a 3-clause BSD style license - see LICENSE
"""Exceptions and warnings raised by astrolens."""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ['AstrolensError', 'AstrolensUserWarning', 'NotFittedError',
           'WeightsError']


class AstrolensError(Exception):
    """Base class for astrolens errors that are not plain argument errors."""


class NotFittedError(AstrolensError, AttributeError):
    """An estimator was used before `fit` or loading gave it a model."""


class WeightsError(AstrolensError, ValueError):
    """A weights file or its configuration is missing, corrupted or incompatible."""


class AstrolensUserWarning(AstropyUserWarning):
    """A warning about something the user may want to change."""
