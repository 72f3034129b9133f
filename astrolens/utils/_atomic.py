# Licensed under a 3-clause BSD style license - see LICENSE
"""Atomic file output: write to a temporary file beside the target, then rename;
clean up the temporaries of a run that was killed before it could rename them.
"""

import contextlib
import os
import tempfile
import threading
from pathlib import Path

__all__ = ['atomic_path', 'check_writable', 'remove_stale_temporaries']


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


def remove_stale_temporaries(targets):
    """Delete temporaries that a killed run left for ``targets``.

    `astrolens.utils.atomic_path` writes ``NAME`` through a temporary
    ``.NAME.XXXXXXXX.tmpSUFFIX`` in the same folder; a process killed before
    the rename leaves it behind. Only temporaries of the given targets are
    touched, so other files in the folder are safe.

    Parameters
    ----------
    targets : iterable of `~pathlib.Path`

    Returns
    -------
    removed : list of `~pathlib.Path`
    """
    by_folder = {}
    for target in map(Path, targets):
        by_folder.setdefault(target.parent, set()).add(target.name)
    removed = []
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if _temporary_of(entry.name) in names and entry.is_file():
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _temporary_of(name):
    """The target ``NAME`` of a temporary ``.NAME.XXXXXXXX.tmpSUFFIX``, else None."""
    if not name.startswith('.') or '.tmp' not in name:
        return None
    head, _, suffix = name[1:].rpartition('.tmp')
    target, dot, random = head.rpartition('.')
    if not dot or not random or not target.endswith(suffix):
        return None
    return target
