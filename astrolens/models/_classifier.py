# Licensed under a 3-clause BSD style license - see LICENSE
"""`LensClassifier`: dark-matter substructure classes of strong-lens images."""

import inspect
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from astrolens.io import (
    CLASSES,
    as_image_array,
    canonical_class,
    load_deeplense_classification,
    read_deeplense_npy,
    to_nddata,
)
from astrolens.models._networks import create_network
from astrolens.models._outliers import FeatureGaussian, fit_temperature, softmax_mean
from astrolens.models._resample import resample_to_model
from astrolens.models._serialization import (
    check_network_kwargs,
    load_state,
    load_weights,
    read_json_config,
    save_weights,
    to_tensor_dict,
    weight_paths,
)
from astrolens.models._training import epoch_rng, resolve_device, train
from astrolens.utils import AstrolensUserWarning, NotFittedError, WeightsError

__all__ = ['LensClassifier', 'STRETCHES', 'prepare_images']

#: Intensity stretches available after the per-image min-max scaling.
STRETCHES = ('sqrt', 'asinh', 'linear')

_FORMAT = 'astrolens-classifier'
# safetensors keys of the outlier statistics, stored beside the network's weights
_OUTLIER_PREFIX = 'outlier_stats.'


def prepare_images(images, *, crop=84, stretch='sqrt'):
    """Turn images into network inputs, independently of their intensity units.

    Each image is centre-cropped, scaled to [0, 1] by its own minimum and
    maximum, stretched, and standardised to zero mean and unit variance.
    The min-max step makes the result invariant to any positive affine
    rescaling of the input, so raw counts (DeepLenseSim) and DeepLense's
    min-max normalised files give the same network input.

    Parameters
    ----------
    images : `~numpy.ndarray`
        ``(N, H, W)`` batch (or one ``(H, W)`` image).
    crop : int or None, optional
        Side of the central crop; images no larger than it are kept whole,
        and None (or 0) keeps every image whole.
    stretch : {'sqrt', 'asinh', 'linear'}, optional
        ``'sqrt'`` approximately equalises Poisson noise on counts,
        ``'asinh'`` is ``asinh(x / 0.02)``.

    Returns
    -------
    prepared : `~numpy.ndarray`
        ``(N, h, w)`` float32.
    """
    if stretch not in STRETCHES:
        msg = f'stretch must be one of {STRETCHES}, got {stretch!r}'
        raise ValueError(msg)
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    if crop:
        crop = int(crop)
        h, w = x.shape[-2:]
        top, left = max(0, (h - crop) // 2), max(0, (w - crop) // 2)
        x = x[:, top:top + min(h, crop), left:left + min(w, crop)]
    x = np.array(x, dtype=np.float32, copy=True)
    bad = ~np.isfinite(x)
    if bad.any():
        fill = np.nanmin(np.where(bad, np.nan, x), axis=(1, 2), keepdims=True)
        x = np.where(bad, np.nan_to_num(fill, nan=0.0), x)
    lo = x.min(axis=(1, 2), keepdims=True)
    span = x.max(axis=(1, 2), keepdims=True) - lo
    x = (x - lo) / np.where(span > 0, span, 1.0)
    if stretch == 'sqrt':
        x = np.sqrt(x)
    elif stretch == 'asinh':
        x = np.arcsinh(x / 0.02)
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return ((x - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def _on_model_grid(nddata, target, source):
    """The data of ``nddata``, resampled to ``target`` when it has a celestial WCS."""
    data = nddata.data
    wcs = getattr(nddata, 'wcs', None)
    if target is None or wcs is None or not getattr(wcs, 'has_celestial', False) or \
            np.ndim(data) not in (2, 3):
        return data
    mask = getattr(nddata, 'mask', None)
    if mask is not None and np.any(mask):
        data = np.where(np.asarray(mask, dtype=bool), np.nan, data)
    if np.ndim(data) == 3:
        # a cube (band, y, x): every plane on the model's grid through the celestial axes
        return np.stack([resample_to_model(plane, wcs, pixel_scale=target[0], shape=target[1],
                                           source=f'{source}, plane {k}')
                         for k, plane in enumerate(data)])
    return resample_to_model(data, wcs, pixel_scale=target[0], shape=target[1], source=source)


def _single_image(item, target=None):
    if isinstance(item, (str, Path)) and Path(item).suffix == '.npy':
        return read_deeplense_npy(item)[0]
    data = _on_model_grid(to_nddata(item), target, str(item) if isinstance(item, (str, Path))
                          else 'image')
    return as_image_array(data, name='image', allow_batch=False)


def _as_images(X, target=None):
    """Parse any accepted input into an ``(N, H, W)`` array (and labels for a folder).

    ``target`` is ``(pixel scale, (ny, nx))``: inputs with a celestial WCS
    are resampled onto that grid (arrays without a WCS are taken as they are).
    """
    if isinstance(X, (str, Path)) and Path(X).is_dir():
        images, labels, classes = load_deeplense_classification(X)
        return images, [classes[i] for i in labels]
    if isinstance(X, np.ndarray):
        array = as_image_array(X, name='X')
        return (array[None] if array.ndim == 2 else array), None
    if isinstance(X, list):
        if not X:
            msg = 'X is an empty list'
            raise ValueError(msg)
        arrays = [_single_image(item, target) for item in X]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            msg = f'all images must have the same shape, got {sorted(shapes)}'
            raise ValueError(msg)
        return np.stack(arrays), None
    if isinstance(X, (str, Path)) and Path(X).suffix == '.npy':
        return read_deeplense_npy(X)[0][None], None
    data = _on_model_grid(to_nddata(X), target, str(X) if isinstance(X, (str, Path)) else 'X')
    array = as_image_array(data, name='X')
    return (array[None] if array.ndim == 2 else array), None


def _classifier_layer(model):
    """The final linear layer of a network (whose input are the features)."""
    if hasattr(model, 'get_classifier'):  # timm
        return model.get_classifier()
    for name in ('fc', 'head', 'classifier'):
        layer = getattr(model, name, None)
        if isinstance(layer, torch.nn.Sequential):
            layer = layer[-1]
        if isinstance(layer, torch.nn.Linear):
            return layer
    msg = f'cannot find the final linear layer of {type(model).__name__}'
    raise TypeError(msg)


def _features_and_logits(model, x):
    """``(features, logits)`` of one batch; features are what the last linear layer sees."""
    if hasattr(model, 'features') and hasattr(model, 'head'):  # D4LensNet
        features = model.features(x)
        return features, model.head(features)
    seen = []
    hook = _classifier_layer(model).register_forward_hook(
        lambda module, args, output: seen.append(args[0]))
    try:
        logits = model(x)
    finally:
        hook.remove()
    return seen[0].flatten(1), logits


def _d4(x, k):
    """Element ``k`` (0-7) of the dihedral group on the last two axes of a tensor."""
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k % 4, dims=(-2, -1))


def _augment_d4(x, rng):
    which = rng.integers(0, 8, size=len(x))
    out = torch.empty_like(x)
    for k in range(8):
        idx = np.flatnonzero(which == k)
        if idx.size:
            t = torch.from_numpy(idx)
            out[t] = _d4(x[t], k)
    return out


#: Training batches (of a reserved epoch) over which batch-norm statistics are re-measured.
_BN_REFRESH_STEPS = 8
_BN_REFRESH_EPOCH = 1_000_000


@torch.no_grad()
def _refresh_batch_norm(model, batches, *, steps):
    """Re-measure every batch-norm layer's statistics with the current weights.

    During training the running averages trail weights that change quickly;
    a network whose class signal is a small difference on a large common
    signal (substructure on an Einstein ring) then predicts one class in
    evaluation mode while it is right in training mode. The statistics are
    replaced by plain averages over ``steps`` training batches.
    """
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return
    momenta = [m.momentum for m in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average
    device = next(model.parameters()).device
    was_training = model.training
    model.train()
    try:
        for i, (inputs, _) in enumerate(batches(_BN_REFRESH_EPOCH, 0, 1)):
            if i >= steps:
                break
            model(inputs.to(device))
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        model.train(was_training)


def _instrument_of(simulator):
    """Pixel scale, PSF and image shape shared by the simulators of a fit, if they say."""
    found = set()
    for source in simulator.values():
        scale = getattr(source, 'pixel_scale', None)
        inst = getattr(source, 'instrument', None)
        shape = getattr(source, 'shape', None)
        if scale is None or shape is None:
            return None
        found.add((float(scale), getattr(inst, 'psf_fwhm', None), tuple(int(n) for n in shape)))
    if len(found) != 1:
        return None
    scale, psf, shape = found.pop()
    return {'pixel_scale': scale, 'psf_fwhm': None if psf is None else float(psf),
            'shape': list(shape)}


class LensClassifier:
    """Classify strong-lens images by dark-matter substructure: no / CDM / vortex.

    Parameters
    ----------
    backbone : str, optional
        ``'lensresnet'`` (default), a compact residual network that keeps
        full resolution in its first stage, where substructure shows as
        perturbations a few pixels wide; ``'lensresnet_s'``, a smaller one;
        ``'d4lensnet'``, invariant to the 8 rotations/reflections by
        construction (its encoder sees all 8 and pools over them; see
        `astrolens.models.D4LensNet`), the network of the shipped
        ``deeplense-model-*`` weights; or any `timm` model name (built with
        ``in_chans=1``, ``pretrained=False``), such as
        ``'efficientnet_b0'`` or ``'resnet18'``.
    epochs : int, optional
        Maximum number of epochs.
    batch_size : int, optional
    lr : float, optional
        Peak AdamW learning rate (linear warm-up, then cosine decay).
    weight_decay : float, optional
    augment : {'d4', None}, optional
        Random rotations by multiples of 90 degrees and flips in training.
    tta : bool or {'d4', 'rot4'}, optional
        Average predicted probabilities over the 8 (``True``, ``'d4'``) or
        4 (``'rot4'``) symmetric versions of each image (pointless, and
        skipped, for ``'d4lensnet'``, which is invariant already).
    normalization : {'sqrt', 'asinh', 'linear'}, optional
        Stretch applied after the per-image min-max scaling and before the
        per-image standardisation (see `prepare_images`); part of the saved
        model.
    crop : int or None, optional
        Side of the central crop fed to the network (part of the saved
        model). Model I lenses lie within ~2" (40 px) of the centre.
    val_fraction : float, optional
        Fraction of the training images held out (stratified) for
        validation, early stopping and keeping the best epoch; 0 turns
        validation off.
    patience : int, optional
        Early-stopping patience in epochs (None: never stop early).
    max_minutes : float, optional
        Training time budget; the cosine schedule is shortened to end
        inside it.
    device : str, optional
        ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ...
    seed : int, optional
        Seeds the weights, the validation split, shuffling and augmentation.
    checkpoint_dir : str or `~pathlib.Path`, optional
        Write a checkpoint every epoch there and resume from it.
    backbone_kwargs : dict, optional
        Extra arguments of the network factory (JSON-serialisable).
    warm_start : bool, optional
        Start `fit` from the current `model_` (after an earlier fit or
        `load`) instead of new weights, with a new optimiser and schedule:
        fine-tuning, or a second training phase.
    progress : bool, optional
        Show progress bars.

    Attributes
    ----------
    model_ : `torch.nn.Module`
        The trained network (on the CPU, in evaluation mode).
    classes_ : tuple of str
        Class names, in the order of the columns of `predict_proba`.
    history_ : list of dict
        Per-epoch training loss, learning rate and validation metrics.
    info_ : dict
        Provenance: training data sizes, seeds, command and metrics, saved
        in the JSON configuration.
    temperature_ : float
        Divides the logits before the softmax (temperature scaling, fitted
        by `calibrate`; 1 before).
    outlier_threshold_ : float or None
        `outlier_score` above which `is_outlier` is true, set by `calibrate`
        (which `fit` calls on its validation images) so that about
        ``1 - outlier_quantile`` of held-out training-like images exceed it.
    instrument_ : dict or None
        ``pixel_scale`` (arcsec/px), ``psf_fwhm`` (arcsec) and ``shape``
        (pixels) of the training images, when known (fit on simulators, or
        the shipped configurations). Inputs with a celestial WCS are
        resampled to this pixel scale before classification; arrays without
        a WCS are taken to be at it already.

    Notes
    -----
    Pixel scale: a 2-D array has no pixel scale, so it is classified as if
    it had the model's (0.05"/px for ``deeplense-model-i``). Give NDData, a
    FITS file or ``(array, wcs)`` to have it resampled first (flux-conserving,
    `reproject.reproject_exact`, keeping the image's orientation); an
    image that covers less of the sky than the model's field (its central
    crop) is refused with a message.
    """

    def __init__(self, backbone='lensresnet', *, epochs=20, batch_size=64, lr=2e-3,
                 weight_decay=0.05, augment='d4', tta=True, normalization='sqrt', crop=84,
                 val_fraction=0.1, patience=None, max_minutes=None, device='auto', seed=0,
                 checkpoint_dir=None, backbone_kwargs=None, warm_start=False, progress=True):
        self.backbone = backbone
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.augment = augment
        self.tta = tta
        self.normalization = normalization
        self.crop = crop
        self.val_fraction = val_fraction
        self.patience = patience
        self.max_minutes = max_minutes
        self.device = device
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.backbone_kwargs = backbone_kwargs
        self.warm_start = warm_start
        self.progress = progress

    _PARAMS = ('backbone', 'epochs', 'batch_size', 'lr', 'weight_decay', 'augment', 'tta',
               'normalization', 'crop', 'val_fraction', 'patience', 'max_minutes', 'device',
               'seed', 'checkpoint_dir', 'backbone_kwargs', 'warm_start', 'progress')

    def get_params(self):
        """Constructor parameters as a dict (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params):
        """Set constructor parameters; returns ``self`` (scikit-learn convention)."""
        for name, value in params.items():
            if name not in self._PARAMS:
                msg = f'unknown parameter {name!r}; valid ones: {list(self._PARAMS)}'
                raise ValueError(msg)
            setattr(self, name, value)
        return self

    def __repr__(self):
        changed = {k: v for k, v in self.get_params().items()
                   if v != type(self)().get_params()[k]}
        return f'{type(self).__name__}({", ".join(f"{k}={v!r}" for k, v in changed.items())})'

    # -- helpers -----------------------------------------------------------------------

    def _check_params(self):
        if self.augment not in ('d4', None, False):
            msg = f"augment must be 'd4' or None, got {self.augment!r}"
            raise ValueError(msg)
        if self.tta not in (True, False, None, 'd4', 'rot4'):
            msg = f"tta must be True, False, 'd4' or 'rot4', got {self.tta!r}"
            raise ValueError(msg)
        if self.normalization not in STRETCHES:
            msg = f'normalization must be one of {STRETCHES}, got {self.normalization!r}'
            raise ValueError(msg)
        if not 0 <= self.val_fraction < 1:
            msg = f'val_fraction must be in [0, 1), got {self.val_fraction!r}'
            raise ValueError(msg)

    def _prepare(self, images):
        h, w = np.shape(images)[-2:]
        eff_h, eff_w = (min(h, self.crop), min(w, self.crop)) if self.crop else (h, w)
        # the network halves the image several times: below 16 px there is
        # nothing left for it to look at
        if min(eff_h, eff_w) < 16:
            msg = (f'images of {h}x{w} pixels are too small for this classifier: it needs at '
                   f'least 16x16 pixels and looks at the central {self.crop}x{self.crop} of '
                   'larger ones (crop); pass larger images (DeepLense Model I images are '
                   '150x150)')
            if not self.crop:
                msg = (f'images of {h}x{w} pixels are too small for this classifier: it needs '
                       'at least 16x16 pixels (DeepLense Model I images are 150x150)')
            raise ValueError(msg)
        crop = self.crop
        if self.backbone == 'd4lensnet':
            # rotations need a square: the central square of a rectangular image
            crop = min(eff_h, eff_w)
        prepared = prepare_images(images, crop=crop, stretch=self.normalization)
        # its space-to-depth stem needs even sides: drop a last odd row or column
        return prepared[..., :prepared.shape[-2] // 2 * 2, :prepared.shape[-1] // 2 * 2]

    def _encode(self, y, n):
        """Labels -> (indices, classes)."""
        y = list(np.asarray(y).ravel()) if not isinstance(y, list) else list(y)
        if len(y) != n:
            msg = f'y has {len(y)} labels but X has {n} images'
            raise ValueError(msg)
        arr = np.asarray(y)
        if arr.dtype.kind in 'iu' or (arr.dtype.kind == 'f' and np.all(arr == np.round(arr))):
            ints = arr.astype(np.int64)
            if ints.min() >= 0 and ints.max() < len(CLASSES):
                return ints, CLASSES
            classes = tuple(str(v) for v in np.unique(ints))
            return np.searchsorted(np.unique(ints), ints), classes
        names = [str(v) for v in y]
        try:
            canon = [canonical_class(v) for v in names]
        except ValueError:
            classes = tuple(sorted(set(names)))
            return np.array([classes.index(v) for v in names]), classes
        return np.array([CLASSES.index(v) for v in canon]), CLASSES

    def _build(self, num_classes):
        return create_network(self.backbone, in_chans=1, num_classes=num_classes,
                              **(self.backbone_kwargs or {}))

    def _tta_ops(self):
        if self.backbone == 'd4lensnet':
            return range(1)
        if self.tta in (True, 'd4'):
            return range(8)
        if self.tta == 'rot4':
            return range(4)
        return range(1)

    def _check_fitted(self):
        if getattr(self, 'model_', None) is None:
            msg = (f'this {type(self).__name__} is not fitted yet: call fit() first, or use '
                   'LensClassifier.load(path) or LensClassifier.from_pretrained(name)')
            raise NotFittedError(msg)

    # -- training ----------------------------------------------------------------------

    def fit(self, X=None, y=None, *, simulator=None, steps=None, val_images=None,
            val_labels=None):
        """Train on images, a DeepLense folder, or freshly simulated images.

        Parameters
        ----------
        X : array-like, list, or path, optional
            ``(N, H, W)`` images (any units: counts or normalised), a list
            of anything `astrolens.io.to_nddata` accepts, or a DeepLense
            classification folder (then ``y`` must be None).
        y : array-like, optional
            ``(N,)`` labels: class names (DeepLense aliases are mapped to
            ``'no'``, ``'cdm'``, ``'vortex'``) or integer indices (0, 1, 2
            mean no, cdm, vortex).
        simulator : dict, optional
            Instead of ``X``: ``{class name: source}`` where ``source`` is an
            object with ``simulate(n)`` (such as
            ``astrolens.simulation.LensSimulator``) or a callable ``f(n)``
            returning ``(n, H, W)`` images. Every batch is simulated afresh,
            so a long run never sees the same image twice.
        steps : int, optional
            Optimiser steps per epoch. Required with ``simulator``; with
            images it defaults to one pass over the training split.
        val_images, val_labels : optional
            An explicit validation set instead of ``val_fraction`` of ``X``
            (with ``simulator``, by default ``val_fraction * steps *
            batch_size`` images, at least 60, are simulated once).

        Returns
        -------
        self : `LensClassifier`
        """
        self._check_params()
        rng = np.random.default_rng(self.seed)
        if simulator is not None:
            if X is not None:
                msg = 'pass either X (and y) or simulator, not both'
                raise ValueError(msg)
            if steps is None:
                msg = 'fit(simulator=...) needs steps= (optimiser steps per epoch)'
                raise ValueError(msg)
            batches, val, classes, n_train = self._simulated_batches(simulator, steps, rng)
            if val_images is not None:
                val = self._val_tensors(val_images, val_labels, classes)
        else:
            if X is None:
                msg = 'fit needs images X (with labels y) or simulator='
                raise ValueError(msg)
            images, folder_labels = _as_images(X)
            if folder_labels is not None:
                if y is not None:
                    msg = 'X is a DeepLense folder, which carries its labels: pass y=None'
                    raise ValueError(msg)
                y = folder_labels
            elif y is None:
                msg = 'fit(X, y) needs labels y for an array of images'
                raise ValueError(msg)
            labels, classes = self._encode(y, len(images))
            prepared = self._prepare(images)
            del images
            if val_images is not None:
                train_idx = np.arange(len(labels))
                val = self._val_tensors(val_images, val_labels, classes)
            else:
                train_idx, val_idx = self._split(labels, rng)
                val = None
                if val_idx.size:
                    val = (torch.from_numpy(prepared[val_idx][:, None]),
                           torch.from_numpy(labels[val_idx]))
            x_train = torch.from_numpy(prepared[train_idx][:, None])
            y_train = torch.from_numpy(labels[train_idx])
            n_train = len(train_idx)
            batches, steps = self._array_batches(x_train, y_train, steps)
        num_classes = len(classes)
        torch.manual_seed(self.seed)
        if self.warm_start and getattr(self, 'model_', None) is not None:
            if tuple(self.classes_) != tuple(classes):
                msg = (f'warm_start needs the same classes as the current model, '
                       f'{self.classes_}, got {classes}')
                raise ValueError(msg)
            model = self.model_
        else:
            model = self._build(num_classes)
        val_fn = None
        if val is not None:
            xv, yv, bs = val[0], val[1], max(self.batch_size, 128)

            def val_fn():
                # validate (and keep as best) the network with batch-norm statistics
                # measured on the current weights, not a running average of older ones
                _refresh_batch_norm(model, batches, steps=_BN_REFRESH_STEPS)
                return ((xv[i:i + bs], yv[i:i + bs]) for i in range(0, len(xv), bs))

        def metrics(outputs, targets):
            from astrolens.metrics import roc_auc

            proba = torch.softmax(outputs, 1).numpy()
            t = targets.numpy()
            out = {'accuracy': float(np.mean(proba.argmax(1) == t))}
            if len(np.unique(t)) > 1:
                out['auc_macro'] = roc_auc(t, proba)['macro']
            return out

        t0 = time.perf_counter()
        result = train(model, F.cross_entropy, batches, epochs=self.epochs,
                       steps_per_epoch=steps, lr=self.lr, weight_decay=self.weight_decay,
                       val_batches=val_fn, metrics=metrics, monitor='val_loss', mode='min',
                       patience=self.patience, max_minutes=self.max_minutes,
                       checkpoint_dir=self.checkpoint_dir, device=self.device, seed=self.seed,
                       progress=self.progress)
        model.eval()
        self.model_ = model
        self.classes_ = tuple(classes)
        self.history_ = result.history
        if simulator is not None:
            self.instrument_ = _instrument_of(simulator)
        elif not self.warm_start:
            self.instrument_ = None
        self.temperature_, self.outlier_stats_, self.outlier_threshold_ = 1.0, None, None
        # measurements of loaded weights do not describe the new ones; stage records do
        stages = (getattr(self, 'config_', None) or {}).get('stages')
        self.config_ = {'stages': stages} if stages else {}
        if val is not None:
            counts = np.bincount(val[1].numpy(), minlength=len(classes))
            if len(val[1]) >= 20 and np.all(counts >= 4):
                self._calibrate_tensors(val[0], val[1].numpy())
        self.info_ = {'n_train': int(n_train), 'n_val': 0 if val is None else len(val[1]),
                      'steps_per_epoch': int(steps), 'best_epoch': result.best_epoch,
                      'stopped_early': result.stopped_early,
                      'resumed_from_epoch': result.resumed_from,
                      'train_seconds_this_run': round(time.perf_counter() - t0, 1),
                      'data': 'simulated on the fly' if simulator is not None else 'arrays'}
        return self

    def _split(self, labels, rng):
        if not self.val_fraction:
            return np.arange(len(labels)), np.array([], dtype=np.int64)
        train_idx, val_idx = [], []
        for k in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == k))
            n_val = int(round(self.val_fraction * idx.size))
            if idx.size > 1:
                n_val = min(max(n_val, 1), idx.size - 1)
            else:
                n_val = 0
            val_idx.append(idx[:n_val])
            train_idx.append(idx[n_val:])
        return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))

    def _val_tensors(self, images, labels, classes):
        images, _ = _as_images(images)
        idx, val_classes = self._encode(labels, len(images))
        if tuple(val_classes) != tuple(classes):
            msg = f'validation classes {val_classes} differ from the training classes {classes}'
            raise ValueError(msg)
        return torch.from_numpy(self._prepare(images)[:, None]), torch.from_numpy(idx)

    def _array_batches(self, x, y, steps):
        n, bs = len(x), self.batch_size
        augment, seed = self.augment == 'd4', self.seed
        if steps is None:
            # One pass over the data per epoch, shared between torchrun processes.
            world = max(1, int(os.environ.get('WORLD_SIZE', '1')))
            steps = max(1, math.ceil(n / (bs * world)))

        def batches(epoch, rank, world_size):
            rng = epoch_rng(seed, epoch, rank)
            shared = epoch_rng(seed, epoch)
            per_rank = steps * bs
            order = np.concatenate([shared.permutation(n)
                                    for _ in range(math.ceil(per_rank * world_size / n) + 1)])
            mine = order[rank::world_size][:per_rank]
            for i in range(0, len(mine), bs):
                idx = torch.from_numpy(mine[i:i + bs])
                xb = x[idx]
                if augment:
                    xb = _augment_d4(xb, rng)
                yield xb, y[idx]

        return batches, steps

    def _simulated_batches(self, simulator, steps, rng):
        if not isinstance(simulator, dict) or not simulator:
            msg = ('simulator must be a dict {class name: object with simulate(n) or '
                   'callable f(n)}')
            raise TypeError(msg)
        names = list(simulator)
        try:
            canon = [canonical_class(n) for n in names]
            classes = tuple(c for c in CLASSES if c in canon) if len(canon) == 3 else CLASSES
            sources = {CLASSES.index(c): simulator[n] for c, n in zip(canon, names, strict=True)}
        except ValueError:
            classes = tuple(str(n) for n in names)
            sources = dict(enumerate(simulator.values()))
        if classes == CLASSES and len(sources) < 3:
            classes = CLASSES

        def draw(source, n, start):
            if hasattr(source, 'simulate'):
                # simulators that can seek draw disjoint images for every
                # (epoch, rank) and the validation set, also after a resume
                seekable = 'start' in inspect.signature(source.simulate).parameters
                images = source.simulate(n, start=start) if seekable else source.simulate(n)
            else:
                images = source(n)
            return self._prepare(as_image_array(images, name='simulated images'))

        def make(n, gen, offset):
            counts = np.bincount(gen.integers(0, len(sources), size=n), minlength=len(sources))
            xs, ys = [], []
            for (label, source), c in zip(sources.items(), counts, strict=True):
                if c:
                    xs.append(draw(source, int(c), offset[label]))
                    offset[label] += int(c)
                    ys.append(np.full(int(c), label, dtype=np.int64))
            return torch.from_numpy(np.concatenate(xs)[:, None]), torch.from_numpy(
                np.concatenate(ys))

        n_val = max(60, int(round(self.val_fraction * steps * self.batch_size)))
        val = make(n_val, rng, dict.fromkeys(sources, 0)) if self.val_fraction else None
        augment, seed, bs = self.augment == 'd4', self.seed, self.batch_size
        # each (epoch, rank) owns a block of sequence indices after the validation images
        block = steps * bs

        def batches(epoch, rank, world_size):
            gen = epoch_rng(seed, epoch, rank)
            first = n_val + (epoch * world_size + rank) * block
            offset = dict.fromkeys(sources, first)
            for _ in range(steps):
                xb, yb = make(bs, gen, offset)
                if augment:
                    xb = _augment_d4(xb, gen)
                yield xb, yb

        return batches, val, classes, steps * bs

    # -- prediction --------------------------------------------------------------------

    def _target(self):
        """``(pixel scale, (ny, nx))`` of the field the network looks at, or None."""
        inst = getattr(self, 'instrument_', None)
        if not inst or not inst.get('pixel_scale'):
            return None
        shape = tuple(int(n) for n in inst['shape'])
        if self.crop:
            shape = (min(shape[0], int(self.crop)), min(shape[1], int(self.crop)))
        return float(inst['pixel_scale']), shape

    def _images(self, X):
        return _as_images(X, self._target())[0]

    @torch.no_grad()
    def _infer(self, x, *, batch_size=256):
        """Logits ``(V, N, K)`` of the TTA views and view-averaged features ``(N, D)``."""
        device = resolve_device(self.device)
        model = self.model_.to(device).eval()
        logits, features = [], []
        try:
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size].to(device)
                parts = [_features_and_logits(model, _d4(xb, k)) for k in self._tta_ops()]
                features.append(torch.stack([f for f, _ in parts]).float().mean(0).cpu())
                logits.append(torch.stack([z for _, z in parts]).float().cpu())
        finally:
            self.model_.to('cpu')
        return torch.cat(logits, 1).numpy(), torch.cat(features).numpy()

    def _outlier_model(self):
        stats = getattr(self, 'outlier_stats_', None)
        if stats is None or getattr(self, 'outlier_threshold_', None) is None:
            msg = ('this classifier has no outlier statistics: call calibrate(images, labels) '
                   'with held-out images of its training distribution (fit does it when it '
                   'has validation images)')
            raise NotFittedError(msg)
        return stats

    def predict_proba(self, X, *, batch_size=256, return_outlier_score=False):
        """Class probabilities, ``(N, len(classes_))``, columns following `classes_`.

        Probabilities are calibrated by `temperature_`. When the classifier
        has outlier statistics, inputs unlike its training data raise an
        `~astrolens.utils.AstrolensUserWarning` (their probabilities mean
        little; see `is_outlier`).

        Parameters
        ----------
        X : array-like, list, `~astropy.nddata.NDData`, HDU, or path
            One image, an ``(N, H, W)`` batch, a list of images or a
            DeepLense folder; raw counts and normalised images are
            equivalent. Inputs with a celestial WCS are resampled to the
            model's pixel scale first (see the class notes).
        batch_size : int, optional
        return_outlier_score : bool, optional
            Also return `outlier_score` of every image (one network pass for
            both; None when the classifier has no outlier statistics).

        Returns
        -------
        proba : `~numpy.ndarray`
        scores : `~numpy.ndarray` or None
            Only with ``return_outlier_score=True``.
        """
        self._check_fitted()
        x = torch.from_numpy(self._prepare(self._images(X))[:, None])
        logits, features = self._infer(x, batch_size=batch_size)
        proba = softmax_mean(logits, getattr(self, 'temperature_', 1.0))
        scores = None
        if getattr(self, 'outlier_stats_', None) is not None and \
                getattr(self, 'outlier_threshold_', None) is not None:
            scores = self.outlier_stats_.score(features)
            n_out = int(np.sum(scores > self.outlier_threshold_))
            if n_out:
                msg = (f'{n_out} of {len(scores)} images do not look like the images this '
                       'classifier was trained on (outlier_score above outlier_threshold_): '
                       'their class probabilities are not meaningful; check the pixel scale, '
                       'field and content (see is_outlier)')
                warnings.warn(msg, AstrolensUserWarning, stacklevel=2)
        if return_outlier_score:
            return proba, scores
        return proba

    def outlier_score(self, X, *, batch_size=256):
        """How unlike the training data each image is (higher: less like it), ``(N,)``.

        The Mahalanobis distance of the image's network features to the
        nearest class centre, in units of the training spread (see
        `calibrate`). Compare with `outlier_threshold_`, or use `is_outlier`.
        """
        self._check_fitted()
        stats = self._outlier_model()
        x = torch.from_numpy(self._prepare(self._images(X))[:, None])
        return stats.score(self._infer(x, batch_size=batch_size)[1])

    def is_outlier(self, X, *, batch_size=256):
        """Boolean ``(N,)``: `outlier_score` above `outlier_threshold_`."""
        return self.outlier_score(X, batch_size=batch_size) > self.outlier_threshold_

    def calibrate(self, X, y=None, *, outlier_quantile=0.99, seed=0):
        """Fit the temperature and the outlier statistics on held-out labelled images.

        The images must come from the training distribution but not have
        been trained on (a validation set). The temperature minimises the
        negative log-likelihood of the labels; the outlier statistics (class
        centres and shared covariance of the features) are estimated on one
        half of the images, chosen at random within each class, and
        `outlier_threshold_` is the ``outlier_quantile`` quantile of the
        scores of the other half.

        Parameters
        ----------
        X, y : see `evaluate`
        outlier_quantile : float, optional
            Fraction of held-out training-like images kept below the
            threshold.
        seed : int, optional
            Seeds the split.

        Returns
        -------
        self : `LensClassifier`
        """
        self._check_fitted()
        images, idx = self._labels_for(X, y)
        x = torch.from_numpy(self._prepare(images)[:, None])
        return self._calibrate_tensors(x, idx, outlier_quantile=outlier_quantile, seed=seed)

    def _calibrate_tensors(self, x, idx, *, outlier_quantile=0.99, seed=0):
        if not 0 < outlier_quantile < 1:
            msg = f'outlier_quantile must be in (0, 1), got {outlier_quantile!r}'
            raise ValueError(msg)
        idx = np.asarray(idx)
        counts = np.bincount(idx, minlength=len(self.classes_))
        if len(idx) < 20 or np.any(counts < 4):
            msg = (f'calibrate needs at least 20 images and 4 per class, got {len(idx)} '
                   f'({dict(zip(self.classes_, counts.tolist(), strict=True))})')
            raise ValueError(msg)
        logits, features = self._infer(x)
        self.temperature_ = fit_temperature(logits, idx)
        rng = np.random.default_rng(seed)
        fit_part = np.zeros(len(idx), dtype=bool)
        for k in np.unique(idx):
            members = rng.permutation(np.flatnonzero(idx == k))
            fit_part[members[:len(members) // 2]] = True
        self.outlier_stats_ = FeatureGaussian.fit(features[fit_part], idx[fit_part])
        held_out = self.outlier_stats_.score(features[~fit_part])
        self.outlier_threshold_ = float(np.quantile(held_out, outlier_quantile))
        self.calibration_info_ = {'n_images': int(len(idx)), 'outlier_quantile': outlier_quantile,
                                  'seed': seed}
        return self

    def predict(self, X, **kwargs):
        """Most probable class name of each image, as an array of str."""
        proba = self.predict_proba(X, **kwargs)
        return np.asarray(self.classes_)[proba.argmax(axis=1)]

    def _labels_for(self, X, y):
        images, folder_labels = _as_images(X, self._target())
        if folder_labels is not None and y is None:
            y = folder_labels
        if y is None:
            msg = 'labels y are needed (or a DeepLense folder)'
            raise ValueError(msg)
        idx, classes = self._encode(y, len(images))
        if tuple(classes) != tuple(self.classes_):
            names = np.asarray(classes)[idx]
            unknown = sorted(set(names) - set(self.classes_))
            if unknown:
                msg = f'labels {unknown} are not among the classes {self.classes_}'
                raise ValueError(msg)
            idx = np.array([self.classes_.index(n) for n in names])
        return images, idx

    def score(self, X, y=None):
        """Accuracy on ``X`` with true labels ``y``."""
        images, idx = self._labels_for(X, y)
        return float(np.mean(self.predict_proba(images).argmax(axis=1) == idx))

    def evaluate(self, X, y=None):
        """Accuracy, ROC AUCs and confusion matrix on labelled images.

        Returns
        -------
        report : dict
            See `astrolens.metrics.classification_report`: ``accuracy``,
            ``auc_micro``, ``auc_macro``, ``auc_per_class`` (by class name),
            ``confusion_matrix`` (rows: true class, columns: predicted, in
            the order of `classes_`), ``n_samples``, ``classes``.
        """
        from astrolens.metrics import classification_report

        images, idx = self._labels_for(X, y)
        return classification_report(idx, self.predict_proba(images), classes=self.classes_)

    # -- persistence -------------------------------------------------------------------

    def _config(self, extra=None):
        from astrolens.version import __version__

        params = self.get_params()
        params['checkpoint_dir'] = None if params['checkpoint_dir'] is None else str(
            params['checkpoint_dir'])
        config = {'format': _FORMAT, 'format_version': 1, 'astrolens_version': __version__,
                  'architecture': {'backbone': self.backbone, 'in_chans': 1,
                                   'num_classes': len(self.classes_),
                                   'kwargs': self.backbone_kwargs or {}},
                  'normalization': {'method': 'crop, per-image min-max, stretch, standardise',
                                    'crop': self.crop, 'stretch': self.normalization},
                  'classes': list(self.classes_), 'params': params,
                  'instrument': getattr(self, 'instrument_', None),
                  'calibration': {'temperature': float(getattr(self, 'temperature_', 1.0)),
                                  'method': 'temperature scaling (NLL on held-out images)',
                                  **(getattr(self, 'calibration_info_', None) or {})},
                  'outliers': None if getattr(self, 'outlier_stats_', None) is None else {
                      'threshold': self.outlier_threshold_,
                      'method': 'Mahalanobis distance of the network features to the nearest '
                                'class centre (shared covariance); statistics in the '
                                f'{_OUTLIER_PREFIX}* tensors'},
                  'training': dict(getattr(self, 'info_', {}) or {}),
                  'history': list(getattr(self, 'history_', []) or [])}
        # records of earlier training stages and measurements travel with the weights
        for key in ('stages', 'metrics', 'notes'):
            if key in (getattr(self, 'config_', None) or {}):
                config[key] = self.config_[key]
        if extra:
            config.update(extra)
        return config

    def save(self, path, *, metadata=None, overwrite=True):
        """Write ``PATH.safetensors`` (weights) and ``PATH.json`` (configuration).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            With or without the ``.safetensors`` suffix.
        metadata : dict, optional
            Extra JSON-serialisable entries for the configuration (training
            command, metrics, ...).
        overwrite : bool, optional

        Returns
        -------
        weights, config : `~pathlib.Path`
        """
        self._check_fitted()
        tensors = to_tensor_dict(self.model_.state_dict())
        stats = getattr(self, 'outlier_stats_', None)
        if stats is not None:
            tensors[_OUTLIER_PREFIX + 'means'] = torch.from_numpy(stats.means.astype(np.float32))
            tensors[_OUTLIER_PREFIX + 'precision'] = torch.from_numpy(
                stats.precision.astype(np.float32))
        return save_weights(path, tensors, self._config(metadata), overwrite=overwrite)

    @classmethod
    def _from_files(cls, weights, config_source, *, name):
        config = read_json_config(config_source, source=f'{name}.json')
        if config.get('format') != _FORMAT:
            msg = (f'{name}.json is not a LensClassifier configuration '
                   f'(format={config.get("format")!r})')
            raise WeightsError(msg)
        try:
            arch, norm = config['architecture'], config['normalization']
            params = dict(config.get('params', {}))
            classes = tuple(config['classes'])
            backbone = arch['backbone']
            if not isinstance(backbone, str):
                msg = f'{name}.json: the backbone must be a name, got {backbone!r}'
                raise WeightsError(msg)
            kwargs = check_network_kwargs(backbone, arch.get('kwargs'), source=f'{name}.json')
            params.update(backbone=backbone, backbone_kwargs=kwargs or None,
                          crop=norm['crop'], normalization=norm['stretch'])
        except (KeyError, TypeError) as exc:
            msg = f'{name}.json misses an entry the classifier needs: {exc}'
            raise WeightsError(msg) from None
        params = {k: v for k, v in params.items() if k in cls._PARAMS}
        params['checkpoint_dir'] = None
        params['device'] = 'auto'
        clf = cls(**params)
        try:
            model = clf._build(len(classes))
        except (ValueError, TypeError) as exc:
            msg = f'{name}.json describes an architecture that cannot be built: {exc}'
            raise WeightsError(msg) from None
        tensors = load_weights(weights, name=f'{name}.safetensors')
        stats = {k[len(_OUTLIER_PREFIX):]: tensors.pop(k).double().numpy()
                 for k in list(tensors) if k.startswith(_OUTLIER_PREFIX)}
        load_state(model, tensors, source=f'{name}.safetensors')
        model.eval()
        clf.model_, clf.classes_ = model, classes
        clf.instrument_ = config.get('instrument')
        clf.temperature_ = float((config.get('calibration') or {}).get('temperature', 1.0))
        outliers = config.get('outliers') or {}
        clf.outlier_stats_, clf.outlier_threshold_ = None, None
        if stats and outliers.get('threshold') is not None:
            try:
                clf.outlier_stats_ = FeatureGaussian(stats['means'], stats['precision'])
            except KeyError as exc:
                msg = f'{name}.safetensors misses the outlier statistics tensor {exc}'
                raise WeightsError(msg) from None
            clf.outlier_threshold_ = float(outliers['threshold'])
        clf.history_ = config.get('history', [])
        clf.info_ = config.get('training', {})
        clf.config_ = config
        return clf

    @classmethod
    def load(cls, path):
        """Read a classifier written by `save` (no unpickling).

        Raises
        ------
        WeightsError
            If a file is missing, corrupted or truncated, or the weights do
            not fit the architecture of the configuration.
        """
        weights, config = weight_paths(path)
        for file in (weights, config):
            if not file.is_file():
                msg = f'{file} not found: a saved classifier is a .safetensors + .json pair'
                raise WeightsError(msg)
        return cls._from_files(weights, config, name=str(weights.with_suffix('')))

    @classmethod
    def from_pretrained(cls, name='deeplense-model-i'):
        """Load shipped weights by name (see `astrolens.models.pretrained.available_models`).

        Read from package data with `importlib.resources`; never from the
        network.
        """
        from astrolens.models.pretrained import model_files

        weights, config = model_files(name)
        return cls._from_files(weights, config, name=name)
