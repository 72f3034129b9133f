# Licensed under a 3-clause BSD style license - see LICENSE
"""Training and test pairs of the shipped super-resolution models.

The pairs of ``astrolens train sr --preset NAME`` and of
``benchmarks/bench_superres.py``: simulated lens pairs
(`astrolens.simulation.simulate_sr_pairs`), pairs cut from scikit-image's
Hubble Deep Field (`hdf_pairs`) and registered simulated HSC/HST pairs
(`registered_hsc_hst_pairs`).
"""

from pathlib import Path

import numpy as np

__all__ = ['HDF_SPLIT_COLUMN', 'SR_PRESETS', 'hdf_pairs', 'registered_hsc_hst_pairs',
           'sr_test_sets', 'sr_training_pairs']

SR_PRESETS = {'deeplense-x2': {'scale': 2, 'sim_preset': 'deeplense-x2'},
              'survey-x2': {'scale': 2, 'sim_preset': 'deeplense-x2'},
              'hsc-hst-x3': {'scale': 3, 'sim_preset': 'hsc-hst'}}
# scikit-image's Hubble Deep Field: columns < 500 train, columns >= 500 are for evaluation only
HDF_SPLIT_COLUMN = 500


def _simulated(preset, n, seed):
    from astrolens.simulation import simulate_sr_pairs

    pairs = simulate_sr_pairs(n, preset=preset, seed=seed)
    if isinstance(pairs, tuple) and len(pairs) == 2:
        return pairs
    return pairs.lr, pairs.hr


def hdf_pairs(n, *, half='left', seed=0, lr_size=75):
    """LR/HR pairs cut from scikit-image's Hubble Deep Field, degraded like "deeplense-x2".

    HR: a random ``2*lr_size`` square crop of the grey-level image (sum of
    the RGB planes), in a random D4 orientation. LR: the crop blurred by a
    Gaussian of FWHM 2.44 HR pixels (0.15" vs 0.087" PSFs at 0.05"/px), summed
    over 2x2 blocks (flux per pixel is kept), plus Gaussian noise of a random
    sigma in [1, 4] (the sky level of the binned image is ~150).

    Parameters
    ----------
    n : int
    half : {'left', 'right'}
        ``'left'``: columns < 500 (training); ``'right'``: columns >= 500,
        for evaluation only.
    seed : int

    Returns
    -------
    lr, hr : `~numpy.ndarray`
        ``(n, lr_size, lr_size)`` and ``(n, 2*lr_size, 2*lr_size)`` float32.
    """
    from scipy import ndimage
    from skimage import data

    grey = data.hubble_deep_field().astype(np.float64).sum(axis=-1)
    part = grey[:, :HDF_SPLIT_COLUMN] if half == 'left' else grey[:, HDF_SPLIT_COLUMN:]
    rng = np.random.default_rng([seed, 0 if half == 'left' else 1])
    size = 2 * lr_size
    sigma = 2.44 / (2 * np.sqrt(2 * np.log(2)))
    lrs, hrs = [], []
    for _ in range(n):
        r = rng.integers(0, part.shape[0] - size + 1)
        c = rng.integers(0, part.shape[1] - size + 1)
        hr = part[r:r + size, c:c + size]
        k = int(rng.integers(0, 8))
        hr = np.rot90(hr.T if k >= 4 else hr, k % 4)
        blurred = ndimage.gaussian_filter(hr, sigma, mode='reflect')
        lr = blurred.reshape(lr_size, 2, lr_size, 2).sum(axis=(1, 3))
        lr = lr + rng.normal(0, rng.uniform(1.0, 4.0), lr.shape)
        lrs.append(lr)
        hrs.append(hr)
    return np.stack(lrs).astype(np.float32), np.stack(hrs).astype(np.float32)


def sr_training_pairs(preset, n, seed, cache=None):
    """The training pairs of the shipped model ``preset`` (a key of `SR_PRESETS`).

    Parameters
    ----------
    preset : str
    n : int
        Number of pairs.
    seed : int
    cache : str or `~pathlib.Path`, optional
        Folder for the registered hsc-hst pairs (see `registered_hsc_hst_pairs`).

    Returns
    -------
    lr, hr : `~numpy.ndarray`
    source : str
        What the pairs are, for the model's configuration.
    """
    if preset == 'survey-x2':
        n_hdf = n // 2
        llr, lhr = _simulated('deeplense-x2', n - n_hdf, seed)
        hlr, hhr = hdf_pairs(n_hdf, half='left', seed=seed)
        order = np.random.default_rng(seed).permutation(n)
        lr, hr = np.concatenate([llr, hlr])[order], np.concatenate([lhr, hhr])[order]
        source = ('half simulate_sr_pairs(preset="deeplense-x2"), half '
                  'astrolens.datasets.hdf_pairs(half="left") (HDF columns < 500)')
        return lr, hr, source
    sim = SR_PRESETS[preset]['sim_preset']
    if sim == 'hsc-hst':
        lr, hr = registered_hsc_hst_pairs(n, seed=seed, cache=cache)
        return lr, hr, ('astrolens.simulation.simulate_sr_pairs(preset="hsc-hst") '
                        '+ astrolens.preprocessing.register_pair(factor=3)')
    lr, hr = _simulated(sim, n, seed)
    return lr, hr, f'astrolens.simulation.simulate_sr_pairs(preset={sim!r})'


def registered_hsc_hst_pairs(n, *, seed=0, cache=None, progress=False):
    """Simulated "hsc-hst" pairs registered onto exact x3 grids, as arrays.

    Parameters
    ----------
    n, seed : int
        Passed to `astrolens.simulation.simulate_sr_pairs`.
    cache : str or `~pathlib.Path`, optional
        Folder where the simulated FITS pairs (resumable) and the registered
        arrays (``registered-seed{seed}-n{n}.npz``, no pickles) are kept.

    Returns
    -------
    lr, hr : `~numpy.ndarray`
        ``(n, 32, 32)`` and ``(n, 96, 96)``; pairs whose registration failed
        are left out.
    """
    from astrolens.io import read_fits
    from astrolens.preprocessing import register_pair
    from astrolens.simulation import simulate_sr_pairs

    done = None
    if cache is not None:
        done = Path(cache) / f'registered-seed{seed}-n{n}.npz'
        if done.is_file():
            with np.load(done, allow_pickle=False) as f:
                return f['lr'], f['hr']
        root = simulate_sr_pairs(n, preset='hsc-hst', seed=seed,
                                 out=Path(cache) / f'raw-seed{seed}', progress=progress)
        lrs = [read_fits(root / 'LR' / f'sample{i}.fits') for i in range(n)]
        hrs = [read_fits(root / 'HR' / f'sample{i}.fits') for i in range(n)]
    else:
        lrs, hrs = simulate_sr_pairs(n, preset='hsc-hst', seed=seed, progress=progress)
    out_lr, out_hr = [], []
    for low, high in zip(lrs, hrs, strict=True):
        try:
            pair = register_pair(low, high, factor=SR_PRESETS['hsc-hst-x3']['scale'])
        except ValueError:
            continue
        out_lr.append(np.asarray(pair.lr.data, dtype=np.float32))
        out_hr.append(np.asarray(pair.hr.data, dtype=np.float32))
    lr, hr = np.stack(out_lr), np.stack(out_hr)
    if done is not None:
        from astrolens.utils import atomic_path

        # atomically: a killed run, or torchrun processes sharing the cache, never
        # leave a partial file for the next run to read
        with atomic_path(done, overwrite=True) as tmp:
            np.savez(tmp, lr=lr, hr=hr)
    return lr, hr


def sr_test_sets(preset, n, seed, cache=None):
    """Test sets of the shipped model ``preset``: ``{name: (lr, hr, source)}``.

    Use a ``seed`` other than the training one; for ``'survey-x2'`` the Hubble
    Deep Field pairs come from its right half, never seen in training.
    """
    if preset == 'survey-x2':
        return {'hdf-right': (*hdf_pairs(n, half='right', seed=seed),
                              'hdf_pairs(half="right"), HDF columns >= 500'),
                'deeplense-x2': (*_simulated('deeplense-x2', n, seed),
                                 'simulate_sr_pairs(preset="deeplense-x2")')}
    lr, hr, source = sr_training_pairs(preset, n, seed, cache)
    return {preset: (lr, hr, source)}
