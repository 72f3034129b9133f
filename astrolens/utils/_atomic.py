# Licensed under a 3-clause BSD style license - see LICENSE
"""Atomic file output: write to a temporary file beside the target, then rename."""

import contextlib
import os
import tempfile
import threading
from pathlib import Path

__all__ = ['atomic_path', 'check_writable']


def check_writable(path, *, overwrite=False):
    """Raise `FileExistsError` if ``path`` exists and ``overwrite`` is false.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    overwrite : bool, optional

    Returns
    -------
    path : `~pathlib.Path`
    """
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f'{path} already exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)
    return path


_UMASK_LOCK = threading.Lock()


def _umask():
    # os.umask can only be read by setting it; the lock keeps threads from seeing 0o077
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, *, overwrite=False):
    """Yield a temporary path that is renamed to ``path`` on success.

    The temporary file lives in the same folder as ``path`` so the final
    `os.replace` is atomic; if the body raises (or the process is killed) the
    target is left untouched and the temporary file is removed when possible.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Final location.
    overwrite : bool, optional
        Replace an existing file. Default: refuse with `FileExistsError`.

    The file gets the permissions of any newly created file (``0o666`` less
    the umask), not the private ``0o600`` of the temporary file.

    Yields
    ------
    tmp : `~pathlib.Path`
        Where to write. It has the same suffix as ``path`` so writers that
        look at the extension (``np.save``, ``savefig``) do the right thing.
    """
    path = check_writable(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix=f'.tmp{path.suffix}',
                               dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
