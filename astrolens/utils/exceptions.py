# Licensed under a 3-clause BSD style license - see LICENSE
"""Exceptions and warnings raised by astrolens."""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ['AmbiguousHDUError', 'AstrolensError', 'AstrolensUserWarning', 'NotFittedError',
           'WeightsError']


class AstrolensError(Exception):
    """Base class for astrolens errors that are not plain argument errors."""


class NotFittedError(AstrolensError, AttributeError):
    """An estimator was used before `fit` or loading gave it a model."""


class WeightsError(AstrolensError, ValueError):
    """A weights file or its configuration is missing, corrupted or incompatible."""


class AmbiguousHDUError(AstrolensError, ValueError):
    """A FITS file holds several images and none was chosen (or the one asked is missing).

    ``str(error)`` speaks Python (``hdu=``); `message` words it for another
    interface, e.g. ``error.message('--hdu ')`` on the command line.

    Attributes
    ----------
    source : str
        The file (or object) read.
    choices : list of str
        The image HDUs there, as ``index:NAME`` (or ``index:NAME,VER``).
    reason : str
        What went wrong, without the advice.
    """

    def __init__(self, source, choices, reason):
        self.source, self.choices, self.reason = source, list(choices), reason
        super().__init__(self.message('hdu='))

    def message(self, option):
        """The error text with ``option`` (``'hdu='``, ``'--hdu '``) in the advice."""
        first = self.choices[0].split(':', 1) if self.choices else ['1']
        example = first[-1] if first[-1] else first[0]
        example = f'{option}{example!r}' if option.endswith('=') else f'{option}{example}'
        return (f'{self.reason}; image HDUs: {", ".join(self.choices) or "none"}; '
                f'choose one with {example} (an index, a name or NAME,VER)')


class AstrolensUserWarning(AstropyUserWarning):
    """A warning about something the user may want to change."""
