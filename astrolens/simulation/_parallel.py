# Licensed under a 3-clause BSD style license - see LICENSE
"""Running independent simulation tasks in worker processes, in order, with progress."""

import os
from concurrent.futures import ProcessPoolExecutor

from tqdm.auto import tqdm

__all__ = ['check_workers', 'run_tasks']


def check_workers(workers):
    """``workers`` as a positive int (``None``, 0 or negative: all CPUs)."""
    if workers is None or (isinstance(workers, int) and workers <= 0):
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int):
        msg = f'workers must be an integer, got {workers!r}'
        raise ValueError(msg)
    return workers


def _init_worker():
    # one process per core: keep BLAS/OpenMP from oversubscribing it
    for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[name] = '1'
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def run_tasks(func, tasks, *, workers=1, progress=False, desc=None, total=None, initial=0,
              weight=None):
    """Yield ``func(task)`` for each task, in order, in ``workers`` processes.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled to the workers).
    tasks : list
    workers : int, optional
        1 runs everything in this process.
    progress : bool, optional
        Show a tqdm bar.
    desc : str, optional
        Label of the bar.
    total, initial : int, optional
        Size of the bar and where it starts (work already done).
    weight : callable, optional
        Bar units per task (default 1).
    """
    weight = weight or (lambda task: 1)
    bar = tqdm(total=total if total is not None else sum(weight(t) for t in tasks),
               initial=initial, desc=desc, disable=not progress, unit='img')
    try:
        if workers <= 1 or len(tasks) <= 1:
            for task in tasks:
                result = func(task)
                bar.update(weight(task))
                yield result
            return
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
            for task, result in zip(tasks, pool.map(func, tasks), strict=True):
                bar.update(weight(task))
                yield result
    finally:
        bar.close()
