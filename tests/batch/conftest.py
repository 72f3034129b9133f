import numpy as np
import pytest

from astrolens.io import make_wcs, write_fits


@pytest.fixture(scope='session')
def client():
    """Two single-threaded worker processes, shared by the batch tests (starting them costs
    seconds: each imports torch)."""
    distributed = pytest.importorskip(
        'distributed', reason='dask.distributed is not installed: pip install ".[test]"')
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope='session')
def sr():
    from astrolens.models import SuperResolver

    return SuperResolver.from_pretrained('survey-x2')


def write_cutouts(folder, n, *, size=16, seed=0):
    """``n`` seeded FITS cutouts with a TAN WCS (0.168"/px), in counts."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    paths = []
    for i in range(n):
        y, x = rng.uniform(size / 4, 3 * size / 4, 2)
        blob = 200 * np.exp(-0.5 * ((yy - y) ** 2 + (xx - x) ** 2) / 2.0 ** 2)
        image = (rng.normal(20, 2, (size, size)) + blob).astype(np.float32)
        path = folder / f'cutout{i:03d}.fits'
        write_fits((image, make_wcs((size, size), 0.168, ra=150 + i / 100)), path)
        paths.append(path)
    return paths
