# Licensed under a 3-clause BSD style license - see LICENSE
"""Limits on what astrolens reads, and checks that outputs never replace inputs."""

import os
from pathlib import Path

import numpy as np

from astrolens.utils.exceptions import AstrolensError

__all__ = ['DEFAULT_MAX_PIXELS', 'ImageTooLargeError', 'check_declared_size',
           'check_not_inputs']

#: Largest image (all axes multiplied) read by default: 200 million pixels,
#: 800 MB as float32 -- a full HST/ACS drizzled mosaic fits, a tile-compressed
#: file that decompresses to many GB does not. Override with ``max_pixels=``
#: (``--max-pixels`` on the command line); ``None`` or 0 means no limit.
DEFAULT_MAX_PIXELS = 200_000_000


class ImageTooLargeError(AstrolensError, ValueError):
    """An image declares more pixels than the allowed maximum.

    ``str(error)`` names the Python option (``max_pixels=``); `message`
    words it for another interface (``error.message('--max-pixels ')``).
    """

    def __init__(self, source, shape, limit, itemsize):
        self.source, self.shape, self.limit, self.itemsize = source, tuple(shape), limit, itemsize
        self.n_pixels = int(np.prod([int(v) for v in shape], dtype=object))
        super().__init__(self.message('max_pixels='))

    def message(self, option):
        """The one-line error text with ``option`` as the way to raise the limit."""
        gigabytes = self.n_pixels * int(self.itemsize) / 1e9
        shown = ' x '.join(str(int(v)) for v in self.shape)
        return (f'{self.source} declares {shown} = {self.n_pixels:,} pixels ({gigabytes:.1f} GB '
                f'in memory), more than the limit of {int(self.limit):,}; cut it into smaller '
                f'images, or raise the limit with {option}{self.n_pixels} if you trust the file '
                'and have the memory')


def check_declared_size(shape, *, itemsize=4, max_pixels=DEFAULT_MAX_PIXELS,
                        source='the image', option='max_pixels='):
    """Refuse an image whose declared shape exceeds ``max_pixels``, before reading it.

    Parameters
    ----------
    shape : tuple of int
        The shape the file declares (``NAXISn`` or ``ZNAXISn``, or a ``.npy``
        header's shape).
    itemsize : int, optional
        Bytes per pixel, for the message.
    max_pixels : int or None, optional
        The limit; ``None`` or 0 disables the check.
    source : str, optional
        Name used in the message.
    option : str, optional
        How to raise the limit, in the caller's language (``'--max-pixels'``
        on the command line).

    Raises
    ------
    ImageTooLargeError
        With one line saying the size, the limit and how to raise it.
    """
    if not max_pixels:
        return
    n = int(np.prod([int(v) for v in shape], dtype=object)) if len(shape) else 0
    if n > int(max_pixels):
        error = ImageTooLargeError(source, shape, max_pixels, itemsize)
        if option != 'max_pixels=':
            error.args = (error.message(option),)
        raise error


def _same_file(a, b):
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_inputs(outputs, inputs, *, option='overwrite'):
    """Refuse outputs that are one of the inputs (a command never writes over them).

    Parameters
    ----------
    outputs : iterable of path
        Files about to be written.
    inputs : iterable of path
        Files being read (expand folders into their files first).
    option : str, optional
        Named in the message as the option that does not change this.

    Raises
    ------
    ValueError
        Naming the output, the input it would replace, and what to do.
    """
    inputs = [Path(p) for p in inputs if p is not None]
    for out in outputs:
        out = Path(out)
        for source in inputs:
            if _same_file(out, source):
                msg = (f'{out} is one of the inputs; astrolens never writes over its own '
                       f'inputs, even with {option}: choose another output name or folder')
                raise ValueError(msg)
