import numpy as np
import pytest
from scipy import stats

from astrolens.simulation._noise import deeplense_counts, poisson, standard_normal


@pytest.mark.parametrize('mean', [0.0, 0.3, 10.2, 37.3, 63.9, 100.13, 1234.5, 4300.7])
def test_poisson_draws_follow_the_poisson_law(mean):
    # below 64 (table + remainder), above (two tables + remainder), beyond the tables (PTRS)
    n = 100_000
    k = poisson(np.full(n, mean), np.random.default_rng(int(mean * 10)))
    assert k.dtype == np.int64
    assert abs(k.mean() - mean) < 5 * np.sqrt(max(mean, 1e-3) / n)
    if mean == 0:
        assert not k.any()
        return
    low, high = np.floor(mean - 6 * np.sqrt(mean)), np.ceil(mean + 6 * np.sqrt(mean)) + 1
    values = np.arange(max(low, 0), high)
    expected = stats.poisson.pmf(values, mean) * n
    observed = np.array([np.count_nonzero(k == v) for v in values])
    keep = expected > 20
    chi2 = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep])
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-4


def test_poisson_of_mixed_means_is_unbiased_and_has_poisson_variance():
    rng = np.random.default_rng(1)
    lam = rng.uniform(0, 300, 200_000)
    k = poisson(lam, np.random.default_rng(2))
    pull = (k - lam) / np.sqrt(lam)
    assert abs(pull.mean()) < 5 / np.sqrt(lam.size)
    assert pull.var() == pytest.approx(1.0, abs=0.02)


def test_standard_normal_is_standard_normal():
    z = standard_normal(np.random.default_rng(3), 100_001)
    assert z.shape == (100_001,) and z.dtype == np.float32
    assert stats.kstest(z, 'norm').pvalue > 1e-4


def test_deeplense_counts_sky_has_the_originals_mean_and_spread():
    # on an empty sky Poisson(max(0, t * 0.01 * z)) has mean t * 0.01 * phi(0)
    t, rms = 2000.0, 0.01
    counts = deeplense_counts(np.zeros((4, 100, 100), np.float32), np.full(4, t), rms,
                              [np.random.default_rng(k) for k in range(4)])
    scale = t * rms
    assert counts.mean() == pytest.approx(scale * stats.norm.pdf(0), rel=0.02)
    # E[K^2] = E[lam] + E[lam^2] with lam = max(0, scale z)
    second = scale * stats.norm.pdf(0) + scale ** 2 / 2
    assert (counts.astype(float) ** 2).mean() == pytest.approx(second, rel=0.03)
    assert np.all(counts == np.round(counts)) and counts.min() == 0
