# Licensed under a 3-clause BSD style license - see LICENSE
"""Simulation chunks fanned out over `dask.distributed` (or run here, in order).

The cluster side (which client, chunking, submitting, progress, cancelling
on Ctrl-C) is `astrolens.batch`'s; this module only decides between this
process and a cluster and turns lost tasks into one clear error.
"""

import functools
import numbers

from astrolens.simulation._parallel import check_workers

__all__ = ['check_fan_out', 'limit_threads_once', 'run_chunks_somewhere']


def check_fan_out(workers, scheduler, client):
    """Where the work runs: ``None`` (this process) or ``(client, scheduler, workers)``.

    ``workers`` 1 (the default) runs here, more starts a local cluster of that
    many single-threaded processes, 0 or None one per CPU; ``scheduler`` (an
    address) or ``client`` uses a running cluster instead.

    Raises
    ------
    ValueError
        If ``workers`` is not a non-negative integer, or is combined with
        ``scheduler`` or ``client``, or both of those are given.
    """
    if scheduler is not None or client is not None:
        if workers not in (1, None):
            msg = ('workers sets the size of a local cluster: give it, or scheduler/client for '
                   f'a running one, not both (got workers={workers!r})')
            raise ValueError(msg)
        from astrolens.utils._dask import check_cluster_args

        check_cluster_args(client, scheduler, None)
        return client, scheduler, None
    if workers is not None and (isinstance(workers, bool)
                                or not isinstance(workers, numbers.Integral) or workers < 0):
        msg = f'workers must be a non-negative integer (0: one per CPU), got {workers!r}'
        raise ValueError(msg)
    workers = check_workers(None if workers is None else int(workers))
    return None if workers == 1 else (None, None, workers)


@functools.lru_cache(maxsize=1)
def limit_threads_once():
    """Limit BLAS/OpenMP to one thread in this (worker) process, once.

    A dask worker runs one task per thread and one thread per core here, so
    a multithreaded BLAS would only oversubscribe the cores; finding the
    thread pools costs milliseconds, too much to do for every task.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(1)


def run_chunks_somewhere(function, items, *, where, chunk_size, progress=False, desc='simulate',
                         total=None, initial=0, **kwargs):
    """``function(chunk, **kwargs)`` over chunks of ``items``; all the records they return.

    Parameters
    ----------
    function : callable
        Module level (it is pickled to the workers); returns one record per
        item of its chunk. On a cluster it gets ``on_worker=True`` too.
    items : list
    where : None or tuple
        From `check_fan_out`.
    chunk_size : int
        Items per chunk here; on a cluster, smaller chunks where that keeps
        every worker busy (about four per worker, at least 8 items).

    Returns
    -------
    records : list
        In item order here, in completion order on a cluster.

    Raises
    ------
    RuntimeError
        If tasks were lost (a worker died): what finished is kept, and a
        rerun does the rest.
    """
    from tqdm.auto import tqdm

    if not items:
        return []
    if where is None:
        records = []
        with tqdm(total=total, initial=initial, desc=desc, unit='img',
                  disable=not progress) as bar:
            for start in range(0, len(items), chunk_size):
                chunk = items[start:start + chunk_size]
                records.extend(function(chunk, **kwargs))
                bar.update(len(chunk))
        return records
    from astrolens.utils._dask import (
        chunked,
        n_workers,
        open_client,
        require_distributed,
        run_chunks,
    )

    require_distributed()
    client, scheduler, workers = where
    failures = []

    def lost(chunk, exc):
        failures.append(f'{len(chunk)} items: {type(exc).__name__}: {exc}')
        return []

    with open_client(client, scheduler=scheduler, workers=workers) as active:
        size = min(chunk_size, max(8, -(-len(items) // (4 * n_workers(active)))))
        records = run_chunks(active, function, chunked(items, chunk_size=size),
                             on_error=lost, progress=progress, desc=desc, initial=initial,
                             total=total, on_worker=True, **kwargs)
    if failures:
        msg = (f'{len(failures)} simulation tasks were lost ({failures[0]}); the files that '
               'were written are complete: run the same command again to make the rest')
        raise RuntimeError(msg)
    return records
