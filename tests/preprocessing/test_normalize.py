import numpy as np
import pytest
from astropy import units as u
from astropy.nddata import NDData

from astrolens.preprocessing import METHODS, denormalize, normalize
from astrolens.wcs_utils import make_wcs


@pytest.fixture
def counts():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:40, :40]
    ring = 400 * np.exp(-((np.hypot(yy - 20, xx - 20) - 10) ** 2) / 8)
    return rng.poisson(ring + 7.5).astype(np.float64)


@pytest.mark.parametrize('method', METHODS)
def test_round_trip_is_exact(method, counts):
    nd = NDData(counts, wcs=make_wcs(counts.shape, 0.05), unit='electron')
    norm = normalize(nd, method=method)
    assert norm.meta['normalization']['method'] == method
    back = denormalize(norm)
    np.testing.assert_allclose(back.data, counts, rtol=1e-6, atol=1e-9 * counts.max())
    assert back.unit == u.electron
    assert back.wcs is nd.wcs or back.wcs.wcs.compare(nd.wcs.wcs)


@pytest.mark.parametrize('method', METHODS)
def test_batch_is_normalised_per_image(method, counts):
    batch = np.stack([counts, 3 * counts + 5])
    norm = normalize(batch, method=method)
    assert len(norm.meta['normalization']['scale']) == 2
    np.testing.assert_allclose(norm.data[0], norm.data[1], atol=1e-9)
    np.testing.assert_allclose(denormalize(norm).data, batch, rtol=1e-6)


def test_flux_method_is_linear_so_sums_come_back(counts):
    norm = normalize(counts, method='flux')
    rec = norm.meta['normalization']
    assert norm.data.sum() * rec['scale'] + rec['offset'] * counts.size == \
        pytest.approx(counts.sum(), rel=1e-9)


def test_minmax_matches_deeplense(counts):
    norm = normalize(counts, method='minmax')
    assert norm.data.min() == 0 and norm.data.max() == 1


def test_nans_are_ignored_and_kept(counts):
    counts[3, 3] = np.nan
    norm = normalize(counts)
    assert np.isnan(norm.data[3, 3]) and norm.mask[3, 3]
    assert np.isfinite(norm.data[~norm.mask]).all()


def test_constant_image_does_not_divide_by_zero():
    norm = normalize(np.full((5, 5), 3.0), method='minmax')
    np.testing.assert_array_equal(denormalize(norm).data, 3.0)


def test_errors_name_the_problem(counts):
    with pytest.raises(ValueError, match='method must be one of'):
        normalize(counts, method='zscale')
    with pytest.raises(ValueError, match='normalisation record'):
        denormalize(counts)
    with pytest.raises(ValueError, match="'method'"):
        denormalize(counts, record={'scale': 1})
