# Licensed under a 3-clause BSD style license - see LICENSE
"""A batch without a dask cluster: in this process, or in local worker processes.

dask.distributed is an optional dependency (the ``[all]`` extra). Without
it a batch still runs, on `concurrent.futures` processes; with one worker
it runs here, where starting a cluster would only add seconds.
"""

import importlib
import os

__all__ = ['has_distributed', 'local_workers', 'run_chunks_here']


def has_distributed():
    """Whether `distributed` can be imported."""
    try:
        importlib.import_module('distributed')
    except ImportError:
        return False
    return True


def local_workers(client, scheduler, workers):
    """How many local processes run a batch (1: this one), or None for a dask cluster.

    A ``client`` or ``scheduler`` means dask. Otherwise ``workers=1`` runs in
    this process; more (or None: one per CPU) start a dask `LocalCluster`
    when dask.distributed is installed and `concurrent.futures` processes
    when it is not.
    """
    if client is not None or scheduler is not None:
        return None
    if workers == 1:
        return 1
    if has_distributed():
        return None
    return int(workers or os.cpu_count() or 1)


def _init_worker():
    # one process per core: keep torch (which reads OMP_NUM_THREADS when the task imports
    # it) and the BLAS numpy has loaded from oversubscribing it
    for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[name] = '1'
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(1)


def run_chunks_here(function, chunks, *, workers, on_error, progress=True, desc='batch',
                    initial=0, total=None, **kwargs):
    """Run ``function(chunk, **kwargs)`` here or in ``workers`` processes; all the records.

    The local counterpart of `astrolens.utils._dask.run_chunks`: a chunk
    whose task fails as a whole (its process died, say) gives
    ``on_error(chunk, exception)``, and the other chunks go on.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    from astrolens.utils._dask import collect_chunks

    records = []
    with tqdm(total=total, initial=initial, desc=desc, unit='file',
              disable=not progress) as bar:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                try:
                    result = function(chunk, **kwargs)
                except Exception as exc:  # as on a cluster: one lost chunk, not the run
                    result = on_error(chunk, exc)
                records.extend(result)
                bar.update(len(chunk))
            return records
        # spawned, not forked: a fork of a process that has run torch can hang
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)),
                                   mp_context=get_context('spawn'), initializer=_init_worker)
        try:
            futures = {pool.submit(function, chunk, **kwargs): chunk for chunk in chunks}
            records.extend(collect_chunks(futures, as_completed, on_error=on_error, bar=bar))
        except BaseException:
            # Interrupted (Ctrl-C): leave no task running behind us.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return records
