# Licensed under a 3-clause BSD style license - see LICENSE
"""DeepLense ``.npy`` folder layouts for classification and super-resolution."""

import pickle
import re
from pathlib import Path

import numpy as np

from astrolens.utils import atomic_path, check_declared_size
from astrolens.utils._limits import DEFAULT_MAX_PIXELS

__all__ = ['CLASSES', 'DEEPLENSE_FOLDERS', 'canonical_class', 'load_deeplense_classification',
           'load_deeplense_sr', 'read_deeplense_npy', 'save_npy', 'write_deeplense_classification',
           'write_deeplense_sr']

#: Canonical class names, in label order.
CLASSES = ('no', 'cdm', 'vortex')

#: Folder names used by the DeepLense distributions, per canonical class.
DEEPLENSE_FOLDERS = {'no': 'no', 'cdm': 'sphere', 'vortex': 'vort'}

_ALIASES = {'no': 'no', 'no_sub': 'no', 'nosub': 'no', 'none': 'no',
            'cdm': 'cdm', 'sphere': 'cdm', 'subhalo': 'cdm', 'subhalos': 'cdm',
            'vortex': 'vortex', 'vort': 'vortex', 'axion': 'vortex'}

_SPLITS = ('train', 'val', 'test')


def canonical_class(name):
    """Canonical class name (``'no'``, ``'cdm'`` or ``'vortex'``) for a DeepLense alias.

    Raises
    ------
    ValueError
        For a name that is not a known alias.
    """
    key = str(name).strip().lower()
    if key not in _ALIASES:
        msg = (f'unknown class name {name!r}; expected one of {sorted(_ALIASES)} '
               '(no/no_sub, sphere/cdm/subhalo, vort/vortex/axion)')
        raise ValueError(msg)
    return _ALIASES[key]


def _natural_key(path):
    return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', path.name)]


def save_npy(path, array, *, overwrite=False):
    """Save an array with `numpy.save`, atomically (temporary file, then rename)."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, 'wb') as handle:
            np.save(handle, array, allow_pickle=array.dtype == object)
    return Path(path)


class _NumbersOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and numbers, nothing else: no function can be called."""

    _ALLOWED = {('numpy', 'ndarray'), ('numpy', 'dtype'),
                ('numpy.core.multiarray', '_reconstruct'), ('numpy.core.multiarray', 'scalar'),
                ('numpy._core.multiarray', '_reconstruct'),
                ('numpy._core.multiarray', 'scalar')}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        msg = f'refused to load {module}.{name}'
        raise pickle.UnpicklingError(msg)

    def persistent_load(self, pid):
        msg = 'refused a persistent reference'
        raise pickle.UnpicklingError(msg)


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, (bool, np.bool_))


def _refuse(path, reason):
    msg = (f'{path} holds Python objects that are not a DeepLense [image, axion_mass] pair of '
           f'numbers ({reason}); it was not loaded. astrolens never unpickles data by '
           'default: if you made this file yourself and trust it, pass allow_pickle=True')
    return ValueError(msg)


def _read_restricted(handle, path):
    try:
        raw = _NumbersOnlyUnpickler(handle, encoding='latin1').load()
    except Exception as exc:  # any failure of an untrusted stream is a refusal
        raise _refuse(path, exc) from None
    if not isinstance(raw, np.ndarray) or raw.dtype != object or raw.size != 2:
        raise _refuse(path, 'not a 2-element object array')
    image, mass = raw.ravel()
    if not isinstance(image, np.ndarray) or image.dtype.kind not in 'biuf':
        raise _refuse(path, 'the first element is not a numeric array')
    if not _is_number(mass):
        raise _refuse(path, 'the second element is not a number')
    return image, float(mass)


def read_deeplense_npy(path, *, allow_pickle=False, max_pixels=DEFAULT_MAX_PIXELS):
    """Read one DeepLense ``.npy`` file as ``(image (H, W) float32, axion_mass or nan)``.

    DeepLense vortex ("axion") files are object arrays ``[image, mass]``,
    which NumPy can only read by unpickling -- and unpickling runs whatever
    code the file names. They are read instead by a restricted loader that
    admits only numpy arrays of numbers and plain numbers: anything else
    (functions, classes, other objects) is refused with a `ValueError`
    before it can run.

    Parameters
    ----------
    path : str or `~pathlib.Path`
    allow_pickle : bool, optional
        Use NumPy's unrestricted unpickling instead: only for files you made
        yourself.
    max_pixels : int or None, optional
        Refuse numeric arrays whose header declares more elements (checked
        before reading).

    Returns
    -------
    image : `~numpy.ndarray`
    mass : float
    """
    path = Path(path)
    try:
        with open(path, 'rb') as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            if dtype.hasobject and not allow_pickle:
                image, mass = _read_restricted(handle, path)
                raw = None
            else:
                if not dtype.hasobject:
                    check_declared_size(shape, itemsize=dtype.itemsize, max_pixels=max_pixels,
                                        source=str(path))
                handle.seek(0)
                raw = np.load(handle, allow_pickle=allow_pickle)
    except (OSError, EOFError) as exc:
        msg = f'{path} is not a readable .npy file ({exc})'
        raise ValueError(msg) from None
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        msg = f'{path} is not a readable .npy file ({exc})'
        raise ValueError(msg) from None
    if raw is not None:
        mass = np.nan
        if raw.dtype == object:
            if raw.shape[0] != 2:
                msg = f'{path} holds an object array that is not [image, axion_mass]'
                raise ValueError(msg)
            image, mass = raw[0], float(raw[1])
        else:
            image = raw
    shape = np.shape(image)
    image = np.squeeze(np.asarray(image, dtype=np.float32))
    if image.ndim != 2:
        msg = f'{path} holds an array of shape {shape}, not a single image'
        raise ValueError(msg)
    return image, mass


def _class_dirs(root):
    dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith('.')]
    found = {}
    for d in dirs:
        cls = canonical_class(d.name)
        if cls in found:
            msg = f'{root} holds two folders for class {cls!r}: {found[cls].name} and {d.name}'
            raise ValueError(msg)
        found[cls] = d
    return found


def load_deeplense_classification(root, *, split=None, return_masses=False, allow_pickle=False):
    """Read a DeepLense classification folder.

    Parameters
    ----------
    root : str or `~pathlib.Path`
        Either a folder of class folders (``no/ sphere/ vort/``, or the
        aliases ``no_sub``, ``cdm``, ``axion``, ...) or a folder of split
        folders (``train/ val/``) that each hold class folders.
    split : str, optional
        Split folder to read (``'train'``, ``'val'``); by default every split
        found is read, or ``root`` itself when it holds class folders.
    return_masses : bool, optional
        Also return the axion masses (NaN for files that carry none).
    allow_pickle : bool, optional
        See `read_deeplense_npy`.

    Returns
    -------
    images : `~numpy.ndarray`
        ``(N, H, W)`` float32.
    labels : `~numpy.ndarray`
        ``(N,)`` int64 indices into ``classes``.
    classes : tuple of str
        Canonical names of the classes found, in the order of `CLASSES`.
    masses : `~numpy.ndarray`
        Only with ``return_masses=True``.
    """
    root = Path(root)
    if not root.is_dir():
        msg = f'DeepLense folder not found: {root}'
        raise FileNotFoundError(msg)
    if split is not None:
        roots = [root / split]
        if not roots[0].is_dir():
            msg = f'{root} has no {split!r} split folder'
            raise FileNotFoundError(msg)
    else:
        roots = [root / s for s in _SPLITS if (root / s).is_dir()] or [root]
    files = []
    for folder in roots:
        for cls, class_dir in _class_dirs(folder).items():
            files.extend((cls, f) for f in sorted(class_dir.glob('*.npy'), key=_natural_key))
    if not files:
        msg = f'no .npy images found in class folders under {root}'
        raise ValueError(msg)
    classes = tuple(c for c in CLASSES if any(cls == c for cls, _ in files))
    images, labels, masses = [], [], []
    for cls, path in files:
        image, mass = read_deeplense_npy(path, allow_pickle=allow_pickle)
        if images and image.shape != images[0].shape:
            msg = f'{path} has shape {image.shape}, unlike the {images[0].shape} of the others'
            raise ValueError(msg)
        images.append(image)
        labels.append(classes.index(cls))
        masses.append(mass)
    out = (np.stack(images), np.asarray(labels, dtype=np.int64), classes)
    if return_masses:
        out = (*out, np.asarray(masses, dtype=np.float64))
    return out


def _indexed(paths, pattern):
    indexed = {}
    for path in paths:
        match = re.fullmatch(pattern, path.name)
        if match:
            indexed[int(match.group(1))] = path
    return indexed


def _sr_file_pairs(root):
    if (root / 'HR').is_dir() and (root / 'LR').is_dir():
        hr = _indexed((root / 'HR').glob('*.npy'), r'\D*(\d+)\.npy')
        lr = _indexed((root / 'LR').glob('*.npy'), r'\D*(\d+)\.npy')
        where = f'{root}/LR and {root}/HR'
    else:
        hr = _indexed(root.glob('HR_*.npy'), r'HR_(\d+)\.npy')
        lr = _indexed(root.glob('LR_*.npy'), r'LR_(\d+)\.npy')
        where = f'{root} (LR_i.npy / HR_i.npy)'
    if not hr and not lr:
        msg = f'no super-resolution pairs in {root}: expected HR/ and LR/ folders or HR_i.npy files'
        raise ValueError(msg)
    if len(hr) != len(lr) or set(hr) != set(lr):
        only_lr = sorted(set(lr) - set(hr))[:10]
        only_hr = sorted(set(hr) - set(lr))[:10]
        msg = (f'unmatched super-resolution files in {where}: {len(lr)} LR and {len(hr)} HR; '
               f'indices only in LR: {only_lr}, only in HR: {only_hr}')
        raise ValueError(msg)
    return [(lr[i], hr[i]) for i in sorted(lr)]


def load_deeplense_sr(root):
    """Read a DeepLense super-resolution folder as ``(lr, hr)`` arrays.

    Both layouts are understood: ``root/LR/sampleN.npy`` with
    ``root/HR/sampleN.npy``, and ``root/LR_i.npy`` with ``root/HR_i.npy``.
    Files are paired by the number in their name, never by sort order.

    Returns
    -------
    lr, hr : `~numpy.ndarray`
        ``(N, h, w)`` and ``(N, H, W)`` float32.
    """
    root = Path(root)
    if not root.is_dir():
        msg = f'DeepLense folder not found: {root}'
        raise FileNotFoundError(msg)
    lrs, hrs = [], []
    for lr_path, hr_path in _sr_file_pairs(root):
        lrs.append(read_deeplense_npy(lr_path, allow_pickle=False)[0])
        hrs.append(read_deeplense_npy(hr_path, allow_pickle=False)[0])
    for name, stack in (('LR', lrs), ('HR', hrs)):
        if len({a.shape for a in stack}) > 1:
            msg = f'{name} images in {root} have different shapes'
            raise ValueError(msg)
    return np.stack(lrs), np.stack(hrs)


def write_deeplense_classification(root, images, labels, *, classes=CLASSES, masses=None,
                                   start=0, overwrite=False):
    """Write images in the DeepLense classification layout ``root/{no,sphere,vort}/i.npy``.

    Vortex images with a finite entry in ``masses`` are saved as
    ``[image, axion_mass]`` object arrays, as DeepLense distributes them.

    Parameters
    ----------
    root : str or `~pathlib.Path`
    images : array-like
        ``(N, H, W)``.
    labels : array-like of int
        Indices into ``classes``.
    classes : sequence of str, optional
        Class names (aliases accepted).
    masses : array-like, optional
        Axion masses in eV per image (NaN where none).
    start : int, optional
        Number of the first file name, for appending to a folder.
    overwrite : bool, optional

    Returns
    -------
    paths : list of `~pathlib.Path`
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or labels.shape != (len(images),):
        msg = f'images must be (N, H, W) with N labels; got {images.shape} and {labels.shape}'
        raise ValueError(msg)
    folders = [DEEPLENSE_FOLDERS[canonical_class(c)] for c in classes]
    paths = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        path = Path(root) / folders[int(label)] / f'{start + i}.npy'
        mass = np.nan if masses is None else float(masses[i])
        if folders[int(label)] == 'vort' and np.isfinite(mass):
            array = np.empty(2, dtype=object)
            array[0], array[1] = image, mass
        else:
            array = image
        paths.append(save_npy(path, array, overwrite=overwrite))
    return paths


def write_deeplense_sr(root, lr, hr, *, layout='folders', start=0, overwrite=False):
    """Write LR/HR pairs as ``root/{LR,HR}/sampleN.npy`` or ``root/{LR,HR}_N.npy``.

    Parameters
    ----------
    root : str or `~pathlib.Path`
    lr, hr : array-like
        ``(N, h, w)`` and ``(N, H, W)``.
    layout : {'folders', 'pairs'}, optional
    start : int, optional
        Number of the first pair.
    overwrite : bool, optional
    """
    if layout not in ('folders', 'pairs'):
        msg = f"layout must be 'folders' or 'pairs', got {layout!r}"
        raise ValueError(msg)
    lr, hr = np.asarray(lr), np.asarray(hr)
    if len(lr) != len(hr):
        msg = f'{len(lr)} LR images but {len(hr)} HR images'
        raise ValueError(msg)
    root = Path(root)
    for i, (low, high) in enumerate(zip(lr, hr, strict=True), start=start):
        if layout == 'folders':
            save_npy(root / 'LR' / f'sample{i}.npy', low, overwrite=overwrite)
            save_npy(root / 'HR' / f'sample{i}.npy', high, overwrite=overwrite)
        else:
            save_npy(root / f'LR_{i}.npy', low, overwrite=overwrite)
            save_npy(root / f'HR_{i}.npy', high, overwrite=overwrite)
    return root
