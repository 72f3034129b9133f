# Licensed under a 3-clause BSD style license - see LICENSE
"""Classify many image files on a dask cluster, or without one."""

import numbers
from pathlib import Path

import numpy as np

from astrolens.batch._inputs import FITS_SUFFIXES, expand_inputs
from astrolens.batch._local import local_workers, run_chunks_here
from astrolens.batch._manifest import build_table, write_table
from astrolens.batch._models import resolve_model
from astrolens.batch._worker import classify_chunk
from astrolens.utils import check_writable
from astrolens.utils._dask import (
    check_cluster_args,
    chunked,
    n_workers,
    open_client,
    require_distributed,
    run_chunks,
)

__all__ = ['classify_many']

_CHUNK_HERE = 32


def classify_many(inputs, *, model='deeplense-model-i', client=None, workers=None,
                  scheduler=None, output=None, overwrite=False, hdu=None, device='auto',
                  chunk_size=None, batch_size=256, progress=True):
    """Class probabilities of many image files, computed in parallel with `dask.distributed`.

    Each worker process loads the classifier once. The images of a task go
    through the network together (FITS images each resampled from its own
    WCS to the model's grid first). Without dask.distributed, or with
    ``workers=1``, the batch runs without a cluster (see ``workers``).

    Parameters
    ----------
    inputs : str, `~pathlib.Path` or list of them
        A glob pattern, a folder (its FITS and ``.npy`` files) or a list of
        FITS or DeepLense ``.npy`` files.
    model : str or `~pathlib.Path`, optional
        Shipped model name or path of a saved `~astrolens.models.LensClassifier`.
    client, workers, scheduler : optional
        Which cluster, as in `enhance_many`: ``workers=1`` runs in this
        process, and without dask.distributed ``workers`` local processes
        (default one per CPU) run the batch.
    output : str or `~pathlib.Path`, optional
        Write the table there as ECSV (atomically).
    overwrite : bool, optional
        Replace ``output`` if it exists (default: refuse before starting).
    hdu : int or str, optional
        FITS extension holding the image.
    device : str, optional
    chunk_size : int, optional
        Files per task (default as in `enhance_many`; 32 in this process).
    batch_size : int, optional
        Images per network call.
    progress : bool, optional

    Returns
    -------
    table : `~astropy.table.Table`
        One row per input, in input order: ``input``, ``class`` (the most
        probable class; empty for a failure), ``p_<class>`` for each of the
        model's classes (NaN for a failure), ``outlier`` and
        ``outlier_score`` (see `LensClassifier.outlier_score
        <astrolens.models.LensClassifier.outlier_score>`), ``status``
        (``'done'`` or ``'failed'``), ``seconds``, ``error`` and ``worker``.
        ``meta['outlier_threshold']`` is the model's threshold (None when it
        has no outlier statistics).

    Raises
    ------
    ImportError
        If ``client`` or ``scheduler`` is given and dask.distributed is not
        installed.
    FileExistsError
        If ``output`` exists and ``overwrite`` is false.
    ValueError
        If no input matches, the model does not exist, or an option is invalid.
    TypeError
        If ``inputs``, ``model`` or ``scheduler`` is of the wrong type.
    """
    check_cluster_args(client, scheduler, workers)
    here = local_workers(client, scheduler, workers)
    if here is None:
        require_distributed()
    for name, value in (('chunk_size', chunk_size), ('batch_size', batch_size)):
        if value is not None and (isinstance(value, bool) or
                                  not isinstance(value, numbers.Integral) or value < 1):
            msg = f'{name} must be a positive integer, got {value!r}'
            raise ValueError(msg)
    files = [str(f) for f in expand_inputs(inputs, suffixes=(*FITS_SUFFIXES, '.npy'))]
    name, config = resolve_model('classifier', model)
    classes = list(config.get('classes', ()))
    if output is not None:
        output = check_writable(output, overwrite=overwrite)
        if output.resolve() in {Path(f).resolve() for f in files}:
            msg = f'the output table {output} would replace an input'
            raise ValueError(msg)

    def lost(chunk, exc):
        return [{'input': path, 'status': 'failed', 'seconds': 0.0,
                 'error': f'task lost: {type(exc).__name__}: {exc}', 'worker': ''}
                for path in chunk]

    task = {'on_error': lost, 'progress': progress, 'desc': 'classify', 'total': len(files),
            'model': name, 'device': device, 'hdu': hdu, 'batch_size': batch_size}
    if here is not None:
        if here == 1 and chunk_size is None:
            # one process has no load to balance: network batches of 32, a bar that moves
            chunk_size = _CHUNK_HERE
        chunks = chunked(files, chunk_size=chunk_size, n_workers=here)
        records = run_chunks_here(classify_chunk, chunks, workers=here, **task)
    else:
        with open_client(client, scheduler=scheduler, workers=workers) as active:
            chunks = chunked(files, chunk_size=chunk_size, n_workers=n_workers(active))
            records = run_chunks(active, classify_chunk, chunks, **task)
    outliers = config.get('outliers')
    threshold = outliers.get('threshold') if isinstance(outliers, dict) else None
    for record in records:
        proba = record.pop('proba', None)
        for c in classes:
            record[f'p_{c}'] = np.nan if proba is None else proba[c]
        record['class'] = '' if proba is None else max(proba, key=proba.get)
        score = record.pop('outlier_score', np.nan)
        record['outlier_score'] = score
        record['outlier'] = bool(threshold is not None and score > threshold)
    columns = ([('class', str, '')] + [(f'p_{c}', float, np.nan) for c in classes]
               + [('outlier', bool, False), ('outlier_score', float, np.nan)])
    table = build_table(records, files, columns=columns,
                        meta={'model': config.get('name', name), 'model_source': name,
                              'classes': classes, 'outlier_threshold': threshold})
    for c in classes:
        table[f'p_{c}'].info.format = '.4f'
    if output is not None:
        write_table(table, output)
    return table
