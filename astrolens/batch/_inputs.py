# Licensed under a 3-clause BSD style license - see LICENSE
"""Which files a batch reads and where their results go."""

import glob
import os
from pathlib import Path

__all__ = ['expand_inputs', 'output_paths']

FITS_SUFFIXES = ('.fits', '.fit', '.fts', '.fits.gz', '.fit.gz', '.fts.gz', '.fits.fz', '.fz')


def _has_suffix(path, suffixes):
    return path.name.lower().endswith(suffixes)


def expand_inputs(inputs, *, suffixes=FITS_SUFFIXES):
    """The sorted list of files that ``inputs`` names.

    Parameters
    ----------
    inputs : str, `~pathlib.Path` or iterable of them
        A glob pattern (``'cutouts/*.fits'``, ``**`` recurses), a folder (its
        files ending in one of ``suffixes``, not recursively), or paths. Paths
        in a list are kept even when they do not exist: reading them fails
        later, for that file alone.
    suffixes : tuple of str, optional
        File endings a folder is searched for (case-insensitive).

    Returns
    -------
    files : list of `~pathlib.Path`

    Raises
    ------
    ValueError
        If nothing matches, or a list is empty.
    TypeError
        If ``inputs`` is not a string, a path or an iterable of them.
    """
    if isinstance(inputs, (str, os.PathLike)):
        path = Path(inputs)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and _has_suffix(p, suffixes))
            if not files:
                msg = f'no files ending in {", ".join(suffixes)} in the folder {path}'
                raise ValueError(msg)
            return files
        files = sorted(Path(p) for p in glob.glob(str(inputs), recursive=True)
                       if Path(p).is_file())
        if not files:
            what = 'matched the pattern' if glob.has_magic(str(inputs)) else 'exists at'
            msg = f'no input file {what} {str(inputs)!r}'
            raise ValueError(msg)
        return files
    try:
        items = list(inputs)
    except TypeError:
        msg = (f'inputs must be a glob pattern, a folder or a list of paths, got '
               f'{type(inputs).__name__}')
        raise TypeError(msg) from None
    bad = [item for item in items if not isinstance(item, (str, os.PathLike))]
    if bad:
        msg = f'inputs must be paths (str or Path), got {type(bad[0]).__name__}'
        raise TypeError(msg)
    if not items:
        msg = 'inputs is an empty list'
        raise ValueError(msg)
    return [Path(item) for item in items]


def output_paths(files, out_dir):
    """``out_dir / name`` for every input, refusing clashes.

    Raises
    ------
    ValueError
        If two inputs share a file name, or an output would be an input.
    """
    out_dir = Path(out_dir)
    # a tile-compressed input (.fits.fz) gives a plain FITS output: drop the .fz
    outputs = [out_dir / (f.name[:-3] if f.name.lower().endswith('.fz') else f.name)
               for f in files]
    seen = {}
    for source, target in zip(files, outputs, strict=True):
        if target.name in seen:
            msg = (f'{seen[target.name]} and {source} have the same name, so both would be '
                   f'written to {target}; enhance them into different folders')
            raise ValueError(msg)
        seen[target.name] = source
    resolved = {f.resolve() for f in files}
    clash = [t for t in outputs if t.resolve() in resolved]
    if clash:
        msg = (f'the output {clash[0]} would replace an input; inputs are never overwritten, '
               f'choose an output folder other than {clash[0].parent}')
        raise ValueError(msg)
    return outputs

