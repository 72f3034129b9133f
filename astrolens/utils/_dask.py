# Licensed under a 3-clause BSD style license - see LICENSE
"""The dask side of a batch: which cluster, submitting chunks, collecting records.

Shared by `astrolens.batch` (many files) and `astrolens.simulation` (many
simulated images); dask itself is imported only when a cluster is used.
"""

import contextlib
import importlib
import math
import numbers

__all__ = ['check_cluster_args', 'chunked', 'collect_chunks', 'n_workers', 'open_client',
           'require_distributed', 'run_chunks']

INSTALL_HINT = 'pip install "astrolens[all]"'


def require_distributed():
    """Import `distributed`, or say how to install it.

    Raises
    ------
    ImportError
        If dask.distributed is not installed.
    """
    try:
        return importlib.import_module('distributed')
    except ImportError:
        msg = (f'running on a dask cluster needs dask.distributed, which is not installed; '
               f'install it with: {INSTALL_HINT}')
        raise ImportError(msg) from None


def check_cluster_args(client, scheduler, workers):
    """Refuse contradictory or invalid choices of cluster.

    Raises
    ------
    ValueError
        If more than one of ``client``, ``scheduler`` and ``workers`` is
        given, or ``workers`` is not a positive integer.
    TypeError
        If ``scheduler`` is not an address string.
    """
    given = [name for name, value in (('client', client), ('scheduler', scheduler),
                                      ('workers', workers)) if value is not None]
    if len(given) > 1:
        msg = (f'give at most one of client, scheduler and workers, got {" and ".join(given)} '
               '(workers sets the size of the local cluster started when neither client nor '
               'scheduler is given)')
        raise ValueError(msg)
    if workers is not None and (isinstance(workers, bool)
                                or not isinstance(workers, numbers.Integral) or workers < 1):
        msg = f'workers must be a positive integer, got {workers!r}'
        raise ValueError(msg)
    if scheduler is not None and not isinstance(scheduler, str):
        msg = (f"scheduler must be an address string such as 'tcp://10.0.0.5:8786', "
               f'got {type(scheduler).__name__}')
        raise TypeError(msg)


@contextlib.contextmanager
def open_client(client=None, *, scheduler=None, workers=None):
    """Yield a `distributed.Client`: the given one, one on ``scheduler``, or a local cluster.

    A local cluster (``workers`` processes of one thread each, no
    dashboard) and a client opened on ``scheduler`` are closed on exit; a
    given client is left open.
    """
    distributed = require_distributed()
    if client is not None:
        if not isinstance(client, distributed.Client):
            msg = f'client must be a distributed.Client, got {type(client).__name__}'
            raise TypeError(msg)
        yield client
        return
    if scheduler is not None:
        with distributed.Client(scheduler) as opened:
            yield opened
        return
    from os import cpu_count

    n_workers = workers or cpu_count() or 1
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as opened:
        yield opened


def n_workers(client):
    """Number of workers the scheduler knows now (at least 1)."""
    return max(1, len(client.scheduler_info(n_workers=-1).get('workers', {})))


def chunked(items, *, chunk_size=None, n_workers=1):
    """Split ``items`` into lists of ``chunk_size``.

    By default about four chunks per worker, of 1 to 16 items: enough
    chunks to keep every worker busy to the end, few enough that the
    scheduler's cost per task (milliseconds) is small next to the work.
    """
    if chunk_size is None:
        chunk_size = min(16, max(1, math.ceil(len(items) / (4 * n_workers))))
    return [items[i:i + chunk_size] for i in range(0, len(items), chunk_size)]


def collect_chunks(futures, completed, *, on_error, bar):
    """Records of ``futures`` (``{future: chunk}``) in the order ``completed`` yields them.

    ``completed`` is the executor's ``as_completed``; a chunk whose future
    failed as a whole gives ``on_error(chunk, exception)`` instead, so one
    lost task never stops the others. ``bar`` advances by each chunk's size.
    """
    records = []
    for future in completed(futures):
        chunk = futures[future]
        try:
            result = future.result()
        except Exception as exc:  # a lost task must not stop the other chunks
            result = on_error(chunk, exc)
        records.extend(result)
        bar.update(len(chunk))
    return records


def run_chunks(client, function, chunks, *, on_error, progress=True, desc='batch', initial=0,
               total=None, **kwargs):
    """Run ``function(chunk, **kwargs)`` on the workers; return all the records.

    ``function`` returns one record (dict) per item of its chunk. A chunk
    whose task fails as a whole (its worker died, say) gives
    ``on_error(chunk, exception)`` instead, so one lost task never stops
    the others.
    """
    distributed = require_distributed()
    from tqdm.auto import tqdm

    futures = {client.submit(function, chunk, pure=False, **kwargs): chunk for chunk in chunks}
    try:
        with tqdm(total=total, initial=initial, desc=desc, unit='file',
                  disable=not progress) as bar:
            records = collect_chunks(futures, distributed.as_completed, on_error=on_error,
                                     bar=bar)
    except BaseException:
        # Interrupted (Ctrl-C): do not leave the tasks running on a cluster we do not own.
        client.cancel(list(futures))
        raise
    return records
