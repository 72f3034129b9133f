# Licensed under a 3-clause BSD style license - see LICENSE
"""Classification data sets: no / CDM / vortex images, in memory or in the DeepLense layout."""

import functools
from pathlib import Path

import numpy as np
from astropy.nddata import NDData

from astrolens.io import CLASSES, DEEPLENSE_FOLDERS, save_npy, write_fits
from astrolens.simulation._parallel import check_workers, run_tasks
from astrolens.simulation._simulator import LensSimulator, check_count, check_model, image_seed

__all__ = ['simulate_classification_set']

FORMATS = ('deeplense', 'fits')
_SUBSTRUCTURE_OF_CLASS = {'no': 'none', 'cdm': 'cdm', 'vortex': 'vortex'}
_CHUNK = 16


@functools.lru_cache(maxsize=16)
def _simulator(model, substructure):
    # one per process and kind: building the renderer is the expensive part
    return LensSimulator(model, substructure, seed=0)


def _render_one(model, class_index, seed, index):
    sim = _simulator(model, _SUBSTRUCTURE_OF_CLASS[CLASSES[class_index]])
    rng = np.random.default_rng(image_seed(seed, class_index, index))
    image, meta = sim.render(rng)
    meta.update(index=int(index), label=int(class_index), class_name=CLASSES[class_index])
    return image, meta


def class_file(root, class_index, index, fmt):
    """Path of image ``index`` of class ``class_index`` in the DeepLense layout."""
    suffix = '.npy' if fmt == 'deeplense' else '.fits'
    return Path(root) / DEEPLENSE_FOLDERS[CLASSES[class_index]] / f'{index}{suffix}'


def _write_one(root, fmt, model, image, meta):
    path = class_file(root, meta['label'], meta['index'], fmt)
    if fmt == 'deeplense':
        if CLASSES[meta['label']] == 'vortex':
            array = np.empty(2, dtype=object)
            array[0], array[1] = image, meta['axion_mass']
        else:
            array = image
        save_npy(path, array, overwrite=True)
    else:
        from astrolens.wcs_utils import make_wcs

        sim = _simulator(model, _SUBSTRUCTURE_OF_CLASS[CLASSES[meta['label']]])
        meta = {**sim.describe(), **meta}
        write_fits(NDData(image, wcs=make_wcs(image.shape, sim.pixel_scale), unit=sim.unit,
                          meta=meta), path, overwrite=True)


def _classification_task(task):
    model, seed, root, fmt, items = task
    images, metas = [], []
    for class_index, index in items:
        image, meta = _render_one(model, class_index, seed, index)
        if root is None:
            images.append(image)
            metas.append(meta)
        else:
            _write_one(root, fmt, model, image, meta)
    return images, metas


def simulate_classification_set(n_per_class, *, model='model_i', seed=0, out=None,
                                format='deeplense', workers=1, return_masses=False,
                                progress=False):
    """Simulate a balanced no / CDM / vortex classification set.

    Image ``i`` of class ``c`` depends only on ``(seed, c, i)``, so the result
    is the same whatever ``workers`` is, and a run into a folder that already
    holds some files (a killed earlier run) only makes the missing ones.

    Parameters
    ----------
    n_per_class : int
    model : {'model_i', 'model_ii', 'model_iii'}, optional
    seed : int, optional
    out : str or `~pathlib.Path`, optional
        Folder to write to, in the DeepLense layout ``out/{no,sphere,vort}/i.npy``
        (vortex files hold ``[image, axion_mass]`` like the original) or, with
        ``format='fits'``, ``out/{no,sphere,vort}/i.fits`` with a WCS and the
        scalar draws as header cards. Files are written atomically and
        existing ones are kept. Default: return the arrays.
    format : {'deeplense', 'fits'}, optional
    workers : int, optional
        Processes to use (``None`` or 0: all CPUs).
    return_masses : bool, optional
        Also return the axion masses (in memory only).
    progress : bool, optional
        Show a tqdm progress bar.

    Returns
    -------
    images : `~numpy.ndarray`
        ``(3 n_per_class, H, W)`` float32, classes in the order of ``classes``.
    labels : `~numpy.ndarray`
        int64 indices into ``classes``.
    classes : tuple of str
        ``('no', 'cdm', 'vortex')``.
    masses : `~numpy.ndarray`
        Axion mass in eV of each image (NaN except for vortex); only with
        ``return_masses=True``.
    root : `~pathlib.Path`
        Instead of all the above when ``out`` is given.
    """
    n = check_count(n_per_class, 'n_per_class')
    model = check_model(model)
    if format not in FORMATS:
        msg = f'format must be one of {list(FORMATS)}, got {format!r}'
        raise ValueError(msg)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        msg = f'seed must be a non-negative integer, got {seed!r}'
        raise ValueError(msg)
    workers = check_workers(workers)
    items = [(c, i) for c in range(len(CLASSES)) for i in range(n)]
    done = 0
    root = None
    if out is not None:
        root = Path(out)
        todo = [item for item in items if not class_file(root, *item, format).exists()]
        done = len(items) - len(todo)
        items = todo
        for name in CLASSES:
            (root / DEEPLENSE_FOLDERS[name]).mkdir(parents=True, exist_ok=True)
    tasks = [(model, int(seed), root, format, items[k:k + _CHUNK])
             for k in range(0, len(items), _CHUNK)]
    results = run_tasks(_classification_task, tasks, workers=workers, progress=progress,
                        desc=f'simulate {model}', total=3 * n, initial=done,
                        weight=lambda task: len(task[-1]))
    images, metas = [], []
    for chunk_images, chunk_metas in results:
        images.extend(chunk_images)
        metas.extend(chunk_metas)
    if root is not None:
        return root
    shape = _simulator(model, 'none').shape
    images = np.stack(images) if images else np.empty((0, *shape), dtype=np.float32)
    labels = np.array([m['label'] for m in metas], dtype=np.int64)
    out = (images, labels, CLASSES)
    if return_masses:
        masses = np.array([m.get('axion_mass', np.nan) for m in metas], dtype=np.float64)
        out = (*out, masses)
    return out
