import pytest


@pytest.fixture(scope='session')
def sim_client():
    """Two single-threaded dask worker processes for the simulation tests."""
    distributed = pytest.importorskip(
        'distributed', reason='dask.distributed is not installed: pip install ".[test]"')
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client
