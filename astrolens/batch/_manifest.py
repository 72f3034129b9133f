# Licensed under a 3-clause BSD style license - see LICENSE
"""The record of a batch run as an `~astropy.table.Table`, written atomically as ECSV."""

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from astrolens.utils import atomic_path
from astrolens.version import __version__

__all__ = ['STATUSES', 'build_table', 'write_table']

STATUSES = ('done', 'skipped', 'failed')


def build_table(records, order, *, columns, meta=None):
    """One row per input in the order of ``order``, with ``columns`` then the run columns.

    Parameters
    ----------
    records : list of dict
        From the worker tasks; keyed by ``record['input']``.
    order : list of str
        Every input, in the order the rows should have.
    columns : list of (name, dtype, default)
        Columns specific to the kind of run, placed after ``input``.
    meta : dict, optional
        Added to ``table.meta`` along with the version, the time and the counts.
    """
    by_input = {r['input']: r for r in records}
    missing = [name for name in order if name not in by_input]
    if missing:  # a bug if it ever happens, but the manifest must still say so
        for name in missing:
            by_input[name] = {'input': name, 'status': 'failed', 'seconds': 0.0,
                              'error': 'no result came back for this input', 'worker': ''}
    rows = [by_input[name] for name in order]
    # imported here: astropy.table costs a quarter second of every CLI start
    from astropy.table import Table

    table = Table()
    table['input'] = np.array([r['input'] for r in rows], dtype=str)
    for name, dtype, default in columns:
        table[name] = np.array([r.get(name, default) for r in rows], dtype=dtype)
    table['status'] = np.array([r['status'] for r in rows], dtype=str)
    table['seconds'] = np.array([r['seconds'] for r in rows], dtype=float)
    table['seconds'].info.format = '.3f'
    table['error'] = np.array([r['error'] for r in rows], dtype=str)
    table['worker'] = np.array([r['worker'] for r in rows], dtype=str)
    counts = Counter(table['status'])
    table.meta.update(meta or {})
    table.meta.update({'astrolens_version': __version__,
                       'finished': datetime.now(timezone.utc).isoformat(timespec='seconds'),
                       **{f'n_{status}': int(counts.get(status, 0)) for status in STATUSES}})
    return table


def write_table(table, path):
    """Write ``table`` as ECSV through a temporary file (replacing ``path``)."""
    path = Path(path)
    with atomic_path(path, overwrite=True) as tmp:
        table.write(tmp, format='ascii.ecsv', overwrite=True)
    return path
