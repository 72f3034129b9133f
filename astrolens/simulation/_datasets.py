# Licensed under a 3-clause BSD style license - see LICENSE
"""Classification data sets: no / CDM / vortex images, in memory or in the DeepLense layout."""

import functools
import json
from pathlib import Path

import numpy as np
from astropy.nddata import NDData

from astrolens.io import CLASSES, DEEPLENSE_FOLDERS, save_npy, write_fits
from astrolens.simulation._distributed import (
    check_fan_out,
    limit_threads_once,
    run_chunks_somewhere,
)
from astrolens.simulation._simulator import (
    BATCH_SIZE,
    LensSimulator,
    check_count,
    check_model,
    image_seed,
)
from astrolens.utils import atomic_path, remove_stale_temporaries

__all__ = ['simulate_classification_set']

FORMATS = ('deeplense', 'fits')
_SUBSTRUCTURE_OF_CLASS = {'no': 'none', 'cdm': 'cdm', 'vortex': 'vortex'}
# images per task when the work runs here: a few batches
_CHUNK = 4 * BATCH_SIZE
RUN_RECORD = '.astrolens-simulation.json'


@functools.lru_cache(maxsize=16)
def _simulator(model, substructure):
    # one per process and kind: building the renderer is the expensive part
    return LensSimulator(model, substructure, seed=0)


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
    return path


def _central(image, crop):
    if crop is None:
        return image
    h, w = image.shape[-2:]
    top, left = (h - crop) // 2, (w - crop) // 2
    # a copy, so that the rendered batch the crop came from can be freed
    return image[..., top:top + crop, left:left + crop].copy()


def classification_chunk(items, *, model, seed, root=None, fmt='deeplense', crop=None,
                         on_worker=False):
    """Render (and write) the images ``items = [(class_index, index), ...]``.

    Image ``index`` of class ``c`` is drawn from ``image_seed(seed, c, index)``
    alone; the images of one class are rendered together as batches. In
    memory, ``crop`` keeps the central ``crop x crop`` pixels of each.

    ``on_worker`` (set by the cluster runner) limits BLAS to one thread in
    the worker process.

    Returns
    -------
    records : list of dict
        One per item: ``label``, ``index`` and, in memory, ``image`` and
        ``meta``; with ``root``, ``path`` of the file written.
    """
    if on_worker:
        limit_threads_once()
    records = []
    for class_index in sorted({c for c, _ in items}):
        indices = [i for c, i in items if c == class_index]
        sim = _simulator(model, _SUBSTRUCTURE_OF_CLASS[CLASSES[class_index]])
        for start in range(0, len(indices), sim.batch_size):
            batch = indices[start:start + sim.batch_size]
            rngs = [np.random.default_rng(image_seed(seed, class_index, i)) for i in batch]
            images, metas = sim.render_batch(rngs)
            for image, meta, index in zip(images, metas, batch, strict=True):
                meta.update(index=int(index), label=int(class_index),
                            class_name=CLASSES[class_index])
                record = {'label': int(class_index), 'index': int(index)}
                if root is None:
                    record.update(image=_central(image, crop), meta=meta)
                else:
                    record['path'] = str(_write_one(root, fmt, model, image, meta))
                records.append(record)
    return records


def _check_run_record(root, settings):
    """Refuse to mix two different simulations in one folder; record this one."""
    path = root / RUN_RECORD
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except ValueError:
            previous = None
        if previous != settings:
            msg = (f'{root} holds a simulation made with other settings ({previous}, now '
                   f'{settings}); resuming would mix them: write to a new folder')
            raise ValueError(msg)
        return
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(settings, sort_keys=True) + '\n')


def simulate_classification_set(n_per_class, *, model='model_i', seed=0, out=None,
                                format='deeplense', crop=None, workers=1, scheduler=None,
                                client=None, return_masses=False, progress=False):
    """Simulate a balanced no / CDM / vortex classification set.

    Image ``i`` of class ``c`` depends only on ``(seed, c, i)``, so the result
    is the same whatever ``workers`` (or cluster) did the work, and a run into
    a folder that already holds some files (a killed earlier run) only makes
    the missing ones.

    Parameters
    ----------
    n_per_class : int
    model : {'model_i', 'model_ii', 'model_iii'}, optional
    seed : int, optional
    out : str or `~pathlib.Path`, optional
        Folder to write to, in the DeepLense layout ``out/{no,sphere,vort}/i.npy``
        (vortex files hold ``[image, axion_mass]`` like the original) or, with
        ``format='fits'``, ``out/{no,sphere,vort}/i.fits`` with a WCS and the
        scalar draws as header cards. Files are written through a temporary
        name and renamed, so a file that exists is complete; existing files
        are kept, temporaries left by a killed run are removed, and the
        settings are recorded in ``out/.astrolens-simulation.json`` so that a
        rerun with other settings is refused instead of mixed in. Default:
        return the arrays.
    format : {'deeplense', 'fits'}, optional
    crop : int, optional
        In memory (``out=None``) only: keep the central ``crop x crop``
        pixels of each image, cut where it is rendered, so that a large set
        (a training pool of 100k Model I images) needs the memory of the
        crops alone.
    workers : int, optional
        1 (default): render in this process. More: a local
        `dask.distributed` cluster of that many single-threaded worker
        processes; 0 or None: one per CPU.
    scheduler : str, optional
        Address of a running dask scheduler (``'tcp://host:8786'``) to use
        instead; its workers need astrolens and, with ``out``, must see the
        folder.
    client : `distributed.Client`, optional
        A client to use instead (left open).
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

    Raises
    ------
    RuntimeError
        If cluster tasks were lost; the files written are complete and a
        rerun makes the rest.
    """
    n = check_count(n_per_class, 'n_per_class')
    model = check_model(model)
    if format not in FORMATS:
        msg = f'format must be one of {list(FORMATS)}, got {format!r}'
        raise ValueError(msg)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        msg = f'seed must be a non-negative integer, got {seed!r}'
        raise ValueError(msg)
    shape = _simulator(model, 'none').shape
    if crop is not None:
        if out is not None:
            msg = 'crop applies to images returned in memory; pass out=None to crop'
            raise ValueError(msg)
        if (not isinstance(crop, (int, np.integer)) or isinstance(crop, bool)
                or not 0 < crop <= min(shape)):
            msg = f'crop must be a number of pixels from 1 to {min(shape)}, got {crop!r}'
            raise ValueError(msg)
        crop = int(crop)
        shape = (crop, crop)
    where = check_fan_out(workers, scheduler, client)
    items = [(c, i) for c in range(len(CLASSES)) for i in range(n)]
    done = 0
    root = None
    if out is not None:
        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        _check_run_record(root, {'model': model, 'seed': int(seed), 'format': format})
        for name in CLASSES:
            (root / DEEPLENSE_FOLDERS[name]).mkdir(parents=True, exist_ok=True)
        targets = [class_file(root, *item, format) for item in items]
        remove_stale_temporaries(targets)
        todo = [item for item, target in zip(items, targets, strict=True)
                if not target.exists()]
        done = len(items) - len(todo)
        items = todo
    records = run_chunks_somewhere(classification_chunk, items, where=where, chunk_size=_CHUNK,
                                   progress=progress, desc=f'simulate {model}', total=3 * n,
                                   initial=done, model=model, seed=int(seed), root=root,
                                   fmt=format, crop=crop)
    if root is not None:
        return root
    records.sort(key=lambda r: (r['label'], r['index']))
    images = (np.stack([r['image'] for r in records]) if records
              else np.empty((0, *shape), dtype=np.float32))
    labels = np.array([r['label'] for r in records], dtype=np.int64)
    result = (images, labels, CLASSES)
    if return_masses:
        masses = np.array([r['meta'].get('axion_mass', np.nan) for r in records],
                          dtype=np.float64)
        result = (*result, masses)
    return result
