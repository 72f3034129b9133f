# Licensed under a 3-clause BSD style license - see LICENSE
"""Super-resolve many FITS files on a dask cluster, or without one."""

import numbers
import os
from pathlib import Path

from astrolens.batch._inputs import expand_inputs, output_paths
from astrolens.batch._local import local_workers, run_chunks_here
from astrolens.batch._manifest import build_table, write_table
from astrolens.batch._models import resolve_model
from astrolens.batch._worker import enhance_chunk
from astrolens.utils import remove_stale_temporaries
from astrolens.utils._dask import (
    check_cluster_args,
    chunked,
    n_workers,
    open_client,
    require_distributed,
    run_chunks,
)

__all__ = ['enhance_many']


def _check_options(tile, chunk_size, flux):
    for name, value in (('tile', tile), ('chunk_size', chunk_size)):
        if value is None and name == 'chunk_size':
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            msg = f'{name} must be a positive integer, got {value!r}'
            raise ValueError(msg)
    if flux not in ('default', 'total', 'block', None):
        msg = f"flux must be 'default', 'total', 'block' or None, got {flux!r}"
        raise ValueError(msg)


def enhance_many(inputs, out_dir, *, model='survey-x2', client=None, workers=None,
                 scheduler=None, overwrite=False, tile=512, flux='default', uncertainty=False,
                 hdu=None, bad_bits=None, max_pixels='default', device='auto', chunk_size=None,
                 progress=True, manifest=None, psf=None, output_fwhm=None,
                 deconvolve=False, support_nsigma=None):
    """Super-resolve many FITS files in parallel with `dask.distributed`.

    Every input ``NAME`` gives ``out_dir/NAME``, the result of
    `SuperResolver.enhance <astrolens.models.SuperResolver.enhance>` written
    with `astrolens.io.write_fits` (WCS rescaled, unit, flux and header
    kept). Files are written through a temporary name and renamed, so an
    output that exists is complete; inputs are never overwritten. Each
    worker process loads the model once and keeps it for all the files it
    enhances.

    Run it again with the same arguments after an interruption: inputs
    whose output exists are skipped, temporary files left by a killed run
    are removed, and the rest is done.

    Parameters
    ----------
    inputs : str, `~pathlib.Path` or list of them
        A glob pattern (``'cutouts/*.fits'``), a folder (its FITS files) or a
        list of FITS files.
    out_dir : str or `~pathlib.Path`
        Folder of the results, created if needed; must not be where an
        input lives.
    model : str or `~pathlib.Path`, optional
        Shipped model name or path of a saved `~astrolens.models.SuperResolver`.
    client : `distributed.Client`, optional
        Run on this client's cluster (left open).
    workers : int, optional
        Without ``client`` or ``scheduler``: start a
        `~distributed.LocalCluster` of this many single-threaded worker
        processes (default: one per CPU) and close it at the end; 1 runs in
        this process, without a cluster. Without dask.distributed installed,
        this many `concurrent.futures` processes run the batch instead.
    scheduler : str, optional
        Address of a running dask scheduler (``'tcp://host:8786'``); its
        workers need astrolens installed and must see the same files.
    overwrite : bool, optional
        Enhance again inputs whose output exists (default: skip them).
    tile, flux, uncertainty, hdu, bad_bits, max_pixels, psf, output_fwhm, deconvolve, \
support_nsigma : optional
        Passed to ``SuperResolver.enhance`` (``flux='default'``: the
        model's setting; ``uncertainty=True`` adds an ``UNCERT`` extension
        and is 8 times slower; ``psf``, a FWHM in input pixels, applies to
        every file, and a file's own PSF extension is used without it;
        ``deconvolve=True`` carries the deconvolution on to the noise where a
        file's PSF is known; ``support_nsigma`` keeps the output only where
        the input is that significant).
    device : str, optional
        Device of the model on the workers.
    chunk_size : int, optional
        Files per task. By default about four tasks per worker, of at most
        16 files: fewer, larger tasks spare the scheduler's overhead per task.
    progress : bool, optional
        Show a progress bar over the files.
    manifest : str, `~pathlib.Path` or False, optional
        Where to write the manifest (ECSV); default ``out_dir/manifest.ecsv``;
        False: do not write it.

    Returns
    -------
    manifest : `~astropy.table.Table`
        One row per input, in input order: ``input``, ``output``, ``status``
        (``'done'``, ``'skipped'`` or ``'failed'``), ``seconds`` (time spent
        on the file), ``error`` (the message of a failure, else empty) and
        ``worker`` (address of the worker that did it). ``meta`` holds the
        model, the manifest path, the counts per status (``n_done``,
        ``n_skipped``, ``n_failed``) and the time.

    Raises
    ------
    ImportError
        If ``client`` or ``scheduler`` is given and dask.distributed is not
        installed (before anything is written).
    ValueError
        If no input matches, two inputs share a name, an output would
        replace an input, the model does not exist, or an option is invalid
        (including more than one of ``client``, ``scheduler``, ``workers``).
    TypeError
        If ``inputs``, ``model``, ``scheduler`` or ``manifest`` is of the
        wrong type (an estimator instead of a model name, say).

    Notes
    -----
    A file that cannot be read or enhanced (not FITS, not 2-D, every pixel
    masked, ...) is recorded as ``'failed'`` with its message; the others
    go on. So does every file of a task whose worker died.
    """
    check_cluster_args(client, scheduler, workers)
    here = local_workers(client, scheduler, workers)
    if here is None:
        require_distributed()
    _check_options(tile, chunk_size, flux)
    files = expand_inputs(inputs)
    out_dir = Path(out_dir)
    outputs = output_paths(files, out_dir)
    name, config = resolve_model('sr', model)
    if not (manifest is None or manifest is False or isinstance(manifest, (str, os.PathLike))):
        msg = f'manifest must be a path, None or False, got {manifest!r}'
        raise TypeError(msg)
    manifest_path = None if manifest is False else Path(manifest or out_dir / 'manifest.ecsv')
    if manifest_path is not None and manifest_path.resolve() in {f.resolve() for f in files}:
        msg = f'the manifest {manifest_path} would replace an input'
        raise ValueError(msg)

    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(outputs + ([manifest_path] if manifest_path else []))
    records, todo = [], []
    for source, target in zip(files, outputs, strict=True):
        if target.exists() and not overwrite:
            records.append({'input': str(source), 'output': str(target), 'status': 'skipped',
                            'seconds': 0.0, 'error': '', 'worker': ''})
        else:
            todo.append((str(source), str(target)))
    if todo:
        options = {'tile': int(tile), 'flux': flux, 'hdu': hdu,
                   'uncertainty': bool(uncertainty), 'bad_bits': bad_bits,
                   'max_pixels': max_pixels, 'psf': psf, 'output_fwhm': output_fwhm,
                   'deconvolve': bool(deconvolve), 'support_nsigma': support_nsigma}

        def lost(chunk, exc):
            return [{'input': src, 'output': dst, 'status': 'failed', 'seconds': 0.0,
                     'error': f'task lost: {type(exc).__name__}: {exc}', 'worker': ''}
                    for src, dst in chunk]

        task = {'on_error': lost, 'progress': progress, 'desc': 'enhance',
                'initial': len(records), 'total': len(files), 'model': name, 'device': device,
                'overwrite': overwrite, 'options': options}
        if here is not None:
            chunks = chunked(todo, chunk_size=chunk_size, n_workers=here)
            records += run_chunks_here(enhance_chunk, chunks, workers=here, **task)
        else:
            with open_client(client, scheduler=scheduler, workers=workers) as active:
                chunks = chunked(todo, chunk_size=chunk_size, n_workers=n_workers(active))
                records += run_chunks(active, enhance_chunk, chunks, **task)
    table = build_table(records, [str(f) for f in files], columns=[('output', str, '')],
                        meta={'model': config.get('name', name), 'model_source': name,
                              'out_dir': str(out_dir),
                              'manifest': '' if manifest_path is None else str(manifest_path)})
    if manifest_path is not None:
        write_table(table, manifest_path)
    return table
