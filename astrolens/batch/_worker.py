# Licensed under a 3-clause BSD style license - see LICENSE
"""What runs on a worker: a per-process model cache and the per-chunk tasks.

Each task gets the model by name, not the model itself: shipping a network
with every task would cost a pickle per task, and the name lets each worker
process load it once and keep it. The cache is a module-level dict, so it
lives exactly as long as the worker process, is shared by the threads of a
worker, and works the same without dask (calling the tasks directly).
"""

import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

__all__ = ['classify_chunk', 'enhance_chunk', 'get_model', 'model_loads']

_MODELS = {}
_LOADS = Counter()
_LOCK = threading.Lock()


def _cache_key(kind, model, device):
    from astrolens.models._serialization import weight_paths

    weights = weight_paths(model)[0]
    # A saved model rewritten under the same path must be read again.
    version = weights.stat().st_mtime_ns if weights.is_file() else None
    return f'{kind}:{model}:{device}:{version}'


def _load(kind, model, device):
    if kind == 'sr':
        from astrolens.models._superres import SuperResolver

        return SuperResolver.from_pretrained(model, device=device)
    from astrolens.models._classifier import LensClassifier
    from astrolens.models.pretrained import available_models

    clf = (LensClassifier.from_pretrained(model) if model in available_models()
           else LensClassifier.load(model))
    clf.device = device
    return clf


def get_model(kind, model, *, device='auto'):
    """The estimator ``model`` of ``kind`` (``'sr'`` or ``'classifier'``), loaded once per process.

    Parameters
    ----------
    kind : {'sr', 'classifier'}
    model : str
        Shipped model name or path of a saved model.
    device : str, optional
    """
    key = _cache_key(kind, model, device)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = _load(kind, model, device)
            _LOADS[key] += 1
        return _MODELS[key]


def model_loads():
    """How many times each model was loaded by this process, ``{key: count}``."""
    with _LOCK:
        return dict(_LOADS)


def _worker_name():
    # a dask worker has imported distributed already; importing it here would cost
    # a third of a second of every run without dask
    if 'distributed' not in sys.modules:
        return f'pid {os.getpid()}'
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f'pid {os.getpid()}'


def _describe(exc):
    return f'{type(exc).__name__}: {exc}'


def _record(source, *, status, seconds=0.0, error='', worker='', **extra):
    return {'input': str(source), 'status': status, 'seconds': float(seconds),
            'error': error, 'worker': worker, **extra}


def enhance_chunk(jobs, *, model, device='auto', overwrite=False, options=None):
    """Enhance ``(input, output)`` pairs with one model; one record per pair.

    A file that cannot be read, enhanced or written gives a ``'failed'``
    record with the message; an output that appeared since the run started
    (and ``overwrite`` is false) gives ``'skipped'``.
    """
    from astrolens.io import write_fits

    worker = _worker_name()
    try:
        sr = get_model('sr', model, device=device)
    except Exception as exc:  # a model that cannot be loaded fails its files, not the run
        return [_record(src, output=str(dst), status='failed', error=_describe(exc),
                        worker=worker) for src, dst in jobs]
    records = []
    for source, target in jobs:
        start = time.perf_counter()
        status, error = 'done', ''
        try:
            out = sr.enhance(str(source), progress=False, **(options or {}))
            out.meta.pop('path', None)
            write_fits(out, target, overwrite=overwrite)
        except FileExistsError:
            status = 'skipped'
        except Exception as exc:  # one bad file must not stop the others
            status, error = 'failed', _describe(exc)
        records.append(_record(source, output=str(target), status=status, error=error,
                               seconds=time.perf_counter() - start, worker=worker))
    return records


def _read_image(path, hdu):
    """A ``.npy`` image as an array; a FITS image as NDData, so that its WCS is used."""
    from astrolens.io import read_deeplense_npy, read_fits

    path = Path(path)
    if path.suffix.lower() == '.npy':
        return read_deeplense_npy(path)[0]
    return read_fits(path, hdu=hdu)


def classify_chunk(paths, *, model, device='auto', hdu=None, batch_size=256):
    """Class probabilities and outlier score of each file; one record per file.

    Arrays of the same shape go through the network together, and so do
    all the FITS images (each resampled from its own WCS to the model's
    pixel scale, as `LensClassifier.predict_proba` does); when such a group
    fails, its images are retried one by one so that only the bad ones are
    reported.
    """
    import warnings

    worker = _worker_name()
    try:
        clf = get_model('classifier', model, device=device)
    except Exception as exc:  # a model that cannot be loaded fails its files, not the run
        return [_record(p, status='failed', error=_describe(exc), worker=worker)
                for p in paths]
    records, images, seconds = {}, {}, {}
    for path in paths:
        start = time.perf_counter()
        try:
            images[path] = _read_image(path, hdu)
        except Exception as exc:  # unreadable file: report it, classify the rest
            records[path] = _record(path, status='failed', error=_describe(exc), worker=worker)
        seconds[path] = time.perf_counter() - start
    groups = {}
    for path, image in images.items():
        key = image.shape if isinstance(image, np.ndarray) else 'fits'
        groups.setdefault(key, []).append(path)
    for group in groups.values():
        start = time.perf_counter()
        first = images[group[0]]
        data = (np.stack([images[p] for p in group]) if isinstance(first, np.ndarray)
                else [images[p] for p in group])
        try:
            with warnings.catch_warnings():
                # outliers are reported in their own column, not as warnings in the worker log
                warnings.simplefilter('ignore')
                proba, scores = clf.predict_proba(data, batch_size=batch_size,
                                                  return_outlier_score=True)
        except Exception as exc:  # isolate the image(s) that made the group fail
            if len(group) == 1:
                records[group[0]] = _record(group[0], status='failed', error=_describe(exc),
                                            worker=worker)
            else:
                for path in group:
                    records[path] = classify_chunk([path], model=model, device=device,
                                                   hdu=hdu, batch_size=batch_size)[0]
            continue
        share = (time.perf_counter() - start) / len(group)
        if scores is None:  # a classifier without outlier statistics
            scores = np.full(len(group), np.nan)
        for path, row, score in zip(group, proba, scores, strict=True):
            records[path] = _record(path, status='done', worker=worker,
                                    seconds=seconds[path] + share,
                                    proba=dict(zip(clf.classes_, map(float, row), strict=True)),
                                    outlier_score=float(score))
    return [records[p] for p in paths]
