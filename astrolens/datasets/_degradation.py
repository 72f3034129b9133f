# Licensed under a 3-clause BSD style license - see LICENSE
"""A physical degradation model: high-resolution image -> (low-resolution image, target).

`degrade` turns one high-resolution (HR) image, in flux per pixel, into a
training pair the way a telescope would have seen the same sky:

1. **pixel scale**: the HR image is resampled (exact pixel-overlap weights,
   flux kept) onto the *target* grid, ``pixel_ratio / scale`` times coarser;
   ``pixel_ratio = scale`` leaves it as it is, ``pixel_ratio = 3.36`` with
   ``scale = 3`` is HST ACS (0.05") -> HSC (0.168") onto a 0.056" target grid;
2. **target PSF**: the target is blurred to ``target_fwhm`` (target pixels)
   when that is wider than the image's own PSF, so targets can also be a
   ground-based image (KiDS-like) and not only HST;
3. **LR PSF**: the target is convolved with the kernel that takes its PSF to
   the LR PSF (Gaussian, Moffat, or a real PSF from ``../shared/real``),
   ``lr_fwhm`` target pixels wide;
4. **sampling**: a small sub-pixel offset (registration error), then
   ``scale x scale`` block sums (flux per pixel is kept);
5. **sky and noise**: a sky level, Poisson noise of sky and sources (Gaussian
   approximation) and read noise, with the peak signal-to-noise ratio
   ``snr`` of the LR image; optionally correlated like drizzled data; the
   sky is then either left on (and added to the target) or subtracted with
   an estimated (sigma-clipped median) level, as pipelines do;
6. **defects**: cosmic-ray hits (in the LR only) and masked pixels (NaN,
   with a mask).

The ranges each training preset draws from are in `RANGES` (documented in
``docs/superres.rst``); `draw_recipe` draws one `Recipe` from them.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from astrolens.utils import psf_fwhm, robust_sigma

__all__ = ['RANGES', 'REAL_PSFS', 'DegradedPair', 'Recipe', 'degrade', 'draw_recipe',
           'elliptical_gaussian_psf', 'gaussian_psf', 'lr_psf_image', 'moffat_psf', 'psf_fwhm',
           'real_psf', 'rebin', 'robust_sigma', 'stretch_psf']

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))

# The shared data folder beside the checkout (``../shared/real``); None when absent.

#: Ranges of `draw_recipe` per preset. FWHMs are in *target* pixels; ``snr`` is
#: the peak signal-to-noise ratio of the LR image (drawn log-uniformly);
#: probabilities are per pair.
RANGES = {
    # ground (SDSS -> KiDS-like targets) and space (HST -> 2x coarser) at x2
    'survey-x2': {
        'scale': 2, 'pixel_ratio': (2.0,),
        'target_fwhm': (1.0, 4.0),          # target PSF (x native if narrower)
        # LR FWHM / target FWHM, from 1 (nothing to sharpen): a model that never saw an input
        # barely blurrier than its target sharpens every input by 1.3x or more (issue 23)
        'fwhm_ratio': (1.0, 3.0),
        'lr_fwhm_min': 1.2,                 # LR PSF at least this many LR pixels wide
        'psf_kinds': {'gaussian': 0.4, 'moffat': 0.4, 'real': 0.2},
        'moffat_beta': (2.0, 5.0),
        'snr': (5.0, 500.0),
        'read_fraction': (0.0, 1.0),        # share of the sky variance from read noise
        'sky_sigmas': (3.0, 100.0),         # sky level in units of its noise
        'p_sky_subtracted': 0.5,
        'p_correlated': 0.3, 'correlation_fwhm': (0.8, 1.6),   # LR pixels
        'max_offset': 0.15,                 # LR pixels, each axis
        'p_cosmic': 0.15, 'p_mask': 0.15,
    },
    # DeepLense-like lenses: HR 0.05"/0.087", LR 0.10"/0.15" and around it
    'deeplense-x2': {
        'scale': 2, 'pixel_ratio': (2.0,),
        'target_fwhm': (1.5, 2.2),
        'fwhm_ratio': (1.4, 2.4),
        'lr_fwhm_min': 1.2,
        'psf_kinds': {'gaussian': 0.6, 'moffat': 0.3, 'real': 0.1},
        'moffat_beta': (2.5, 5.0),
        'snr': (5.0, 500.0),
        'read_fraction': (0.0, 1.0),
        'sky_sigmas': (3.0, 100.0),
        'p_sky_subtracted': 0.5,
        'p_correlated': 0.2, 'correlation_fwhm': (0.8, 1.4),
        'max_offset': 0.1,
        'p_cosmic': 0.1, 'p_mask': 0.1,
    },
    # HST (0.03-0.06") -> HSC (0.168", seeing 0.55-0.9") onto a 0.056" target grid
    'hsc-hst-x3': {
        'scale': 3, 'pixel_ratio': (3.0, 3.36),
        'target_fwhm': (1.6, 2.4),
        'fwhm_ratio': (4.0, 9.0),
        'lr_fwhm_min': 2.5,
        'psf_kinds': {'gaussian': 0.3, 'moffat': 0.4, 'real': 0.3},
        'moffat_beta': (2.5, 4.5),
        'snr': (5.0, 500.0),
        'read_fraction': (0.0, 0.5),
        'sky_sigmas': (10.0, 200.0),
        'p_sky_subtracted': 0.6,
        'p_correlated': 0.3, 'correlation_fwhm': (0.8, 1.5),
        'max_offset': 0.15,
        'p_cosmic': 0.1, 'p_mask': 0.1,
    },
}


@dataclass
class Recipe:
    """One draw of the degradation; everything needed to repeat it (with the seed).

    Attributes
    ----------
    scale : int
        Target pixels per LR pixel (per axis).
    pixel_ratio : float
        HR input pixels per LR pixel; ``!= scale`` resamples the input.
    target_fwhm : float
        PSF FWHM of the target, in target pixels (at least the input's own).
    lr_fwhm : float
        PSF FWHM of the LR image, in target pixels.
    psf_kind : {'gaussian', 'moffat', 'real'}
    moffat_beta : float
    real_psf : str or None
        Name of the real PSF (see `real_psf`) when ``psf_kind == 'real'``.
    snr : float
        Peak signal-to-noise ratio of the LR image: its noise-free 99.9th
        percentile over its median, divided by the sky noise.
    read_fraction : float
        Share of the sky-level variance that is read noise.
    sky_sigmas : float
        Sky level in units of the sky noise.
    sky_subtracted : bool
    correlation_fwhm : float
        FWHM (LR pixels) of the kernel that correlates the noise; 0 = white.
    offset : tuple of float
        Sub-pixel shift (y, x) of the LR image against the target, LR pixels.
    n_cosmic : int
    mask_fraction : float
    psf_axis_ratio : float
        Minor/major axis ratio of the LR PSF kernel (1: round); any kind of
        PSF is made elliptical (`stretch_psf`). A preset draws it only when
        its ranges have ``p_elliptical``; the shipped presets do not, so
        elliptical PSFs are an unseen degradation for their models.
    psf_angle : float
        Position angle of the major axis, degrees.
    """

    scale: int = 2
    pixel_ratio: float = 2.0
    target_fwhm: float = 2.0
    lr_fwhm: float = 4.0
    psf_kind: str = 'gaussian'
    moffat_beta: float = 3.0
    real_psf: str = None
    snr: float = 50.0
    read_fraction: float = 0.5
    sky_sigmas: float = 10.0
    sky_subtracted: bool = True
    correlation_fwhm: float = 0.0
    offset: tuple = (0.0, 0.0)
    n_cosmic: int = 0
    mask_fraction: float = 0.0
    psf_axis_ratio: float = 1.0
    psf_angle: float = 0.0

    def to_dict(self):
        """A JSON-ready dict."""
        out = asdict(self)
        out['offset'] = [float(v) for v in self.offset]
        return out


@dataclass
class DegradedPair:
    """A degraded pair.

    Attributes
    ----------
    lr : `~numpy.ndarray`
        ``(h, w)`` LR image, flux per pixel; NaN where masked.
    hr : `~numpy.ndarray`
        ``(scale*h, scale*w)`` target, flux per pixel (the sky is in it when
        it is left on in ``lr``).
    sigma : `~numpy.ndarray`
        ``(h, w)`` noise standard deviation of every LR pixel (the truth, as
        an uncertainty array would give it).
    mask : `~numpy.ndarray`
        ``(h, w)`` bool, True where ``lr`` is masked.
    recipe : `Recipe`
    """

    lr: np.ndarray
    hr: np.ndarray
    sigma: np.ndarray
    mask: np.ndarray
    recipe: Recipe = field(default_factory=Recipe)


# --------------------------------------------------------------------------- PSFs

def _grid(size):
    half = (size - 1) / 2.0
    y, x = np.mgrid[:size, :size] - half
    return y, x


def gaussian_psf(fwhm, *, size=None):
    """A normalised circular Gaussian PSF of FWHM ``fwhm`` pixels (odd ``size``)."""
    sigma = max(float(fwhm), 1e-3) * _FWHM_TO_SIGMA
    size = size or 2 * int(np.ceil(4 * sigma)) + 1
    y, x = _grid(size)
    psf = np.exp(-0.5 * (x * x + y * y) / sigma ** 2)
    return psf / psf.sum()


def moffat_psf(fwhm, beta, *, size=None):
    """A normalised circular Moffat PSF of FWHM ``fwhm`` pixels and index ``beta``."""
    alpha = float(fwhm) / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    size = size or 2 * int(np.ceil(6 * fwhm)) + 1
    y, x = _grid(size)
    psf = (1.0 + (x * x + y * y) / alpha ** 2) ** (-beta)
    return psf / psf.sum()


#: Real PSFs in ``../shared/real``: file, HDU/plane, pixel scale (").
REAL_PSFS = {
    'hsc-g': ('hsc_hst_cosmos/PSF_HSC.fits', (0, 0), 0.168),
    'hsc-r': ('hsc_hst_cosmos/PSF_HSC.fits', (0, 1), 0.168),
    'hsc-i': ('hsc_hst_cosmos/PSF_HSC.fits', (0, 2), 0.168),
    'hsc-z': ('hsc_hst_cosmos/PSF_HSC.fits', (0, 3), 0.168),
    'hsc-y': ('hsc_hst_cosmos/PSF_HSC.fits', (0, 4), 0.168),
    'acs-tinytim': ('slacs_hst/tinytim_ACS.fits', (0, None), 0.05),
    'aegis-f814w': ('hst_galaxies/AEGIS_F814w_PSF_images_01.fits', (0, None), 0.03),
}
_PSF_CACHE = {}


def _fwhm_of(psf):
    """FWHM (pixels) of a centred PSF from the area above half maximum (8x oversampled)."""
    fine = ndimage.zoom(np.asarray(psf, dtype=np.float64), 8, order=1)
    area = float(np.sum(fine >= 0.5 * fine.max())) / 64.0
    return 2.0 * np.sqrt(area / np.pi)


def real_psf(name, fwhm, *, root=None):
    """A real PSF from ``../shared/real`` resampled so that its FWHM is ``fwhm`` pixels.

    The shape (wings, asymmetry) of the real PSF is kept; its width is set to
    what the recipe asks (its native pixel scale only fixes the sampling).

    Parameters
    ----------
    name : str
        One of `REAL_PSFS`.
    fwhm : float
        Wanted FWHM in output pixels.
    root : str or `~pathlib.Path`, optional
        The ``shared/real`` folder; default the one beside the checkout.

    Returns
    -------
    psf : `~numpy.ndarray` or None
        Normalised, odd-sized; None when the file is not available.
    """
    from astropy.io import fits

    if name not in REAL_PSFS:
        msg = f'unknown real PSF {name!r}; use one of {sorted(REAL_PSFS)}'
        raise ValueError(msg)
    key = (name, str(root))
    if key not in _PSF_CACHE:
        if root is None:
            from astrolens.datasets._sources import shared_real

            root = shared_real()
        if root is None:
            _PSF_CACHE[key] = None
            return None
        path = Path(root) / REAL_PSFS[name][0]
        if not path.is_file():
            _PSF_CACHE[key] = None
        else:
            hdu, plane = REAL_PSFS[name][1]
            with fits.open(path) as f:
                data = np.asarray(f[hdu].data, dtype=np.float64)
            if plane is not None:
                data = data[plane]
            data = np.clip(np.nan_to_num(data), 0, None)
            _PSF_CACHE[key] = data / data.sum()
    psf = _PSF_CACHE[key]
    if psf is None:
        return None
    zoom = float(fwhm) / _fwhm_of(psf)
    out = np.clip(ndimage.zoom(psf, zoom, order=1), 0, None)
    if out.shape[0] % 2 == 0:
        out = np.pad(out, ((0, 1), (0, 1)))
    return out / out.sum()


def elliptical_gaussian_psf(fwhm, axis_ratio, angle):
    """A normalised elliptical Gaussian: major-axis FWHM ``fwhm``, angle in degrees."""
    major = max(float(fwhm), 1e-3) * _FWHM_TO_SIGMA
    minor = major * float(axis_ratio)
    size = 2 * int(np.ceil(4 * major)) + 1
    y, x = _grid(size)
    theta = np.deg2rad(angle)
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    psf = np.exp(-0.5 * ((u / major) ** 2 + (v / minor) ** 2))
    return psf / psf.sum()


def stretch_psf(psf, axis_ratio, angle):
    """A PSF made elliptical: narrowed by ``axis_ratio`` across the axis at ``angle`` degrees.

    The width along that axis (the major axis) is kept, so a round PSF of
    FWHM ``f`` becomes one of FWHM ``f`` by ``axis_ratio * f``; wings and
    asymmetries are narrowed alike. The result is normalised.
    """
    psf = np.asarray(psf, dtype=np.float64)
    theta = np.deg2rad(angle)
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    # output (y, x) -> input: rotate into the (major, minor) frame, widen the minor axis
    # coordinate by 1/axis_ratio (so the profile is narrower there), rotate back
    along = np.array([[1.0, 0.0], [0.0, 1.0 / float(axis_ratio)]])
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])          # (y, x) <-> (x, y)
    matrix = swap @ rot.T @ along @ rot @ swap
    centre = (np.array(psf.shape) - 1) / 2.0
    out = ndimage.affine_transform(psf, matrix, offset=centre - matrix @ centre, order=1,
                                   mode='constant', cval=0.0)
    out = np.clip(out, 0, None)
    return out / out.sum()


def _psf(kind, fwhm, *, beta=3.0, name=None):
    if kind == 'moffat':
        return moffat_psf(fwhm, beta)
    if kind == 'real':
        psf = real_psf(name or 'hsc-i', fwhm)
        if psf is not None:
            return psf
    return gaussian_psf(fwhm)


# --------------------------------------------------------------------------- resampling

def _overlap_matrix(n_in, factor, n_out, offset):
    """``(n_out, n_in)`` weights: share of input pixel j inside output pixel i.

    Output pixel i covers input coordinates ``[(i + offset) * factor, (i + 1 + offset) * factor)``
    (pixel edges at integers); every weight row sums to the covered input pixels, so the
    operator sums flux.
    """
    lo = (np.arange(n_out)[:, None] + offset) * factor
    hi = lo + factor
    j = np.arange(n_in)[None, :]
    return np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)


def rebin(image, factor, *, offset=(0.0, 0.0), shape=None):
    """Sum ``image`` into pixels ``factor`` times larger (any positive real factor).

    Exact pixel-overlap weights: flux per pixel is kept (the total is kept
    over the covered area); ``factor = 2`` is a 2x2 block sum.

    Parameters
    ----------
    image : `~numpy.ndarray`
        2-D.
    factor : float
        Output pixel size in input pixels.
    offset : tuple of float, optional
        Shift (y, x) >= 0 of the output grid, in output pixels.
    shape : tuple of int, optional
        Output shape; default the largest that fits.

    Returns
    -------
    rebinned : `~numpy.ndarray`
    """
    image = np.asarray(image, dtype=np.float64)
    if min(offset) < 0:
        msg = f'offset must be >= 0 (output pixels), got {offset}'
        raise ValueError(msg)
    if shape is None:
        shape = (int(np.floor(image.shape[0] / factor - offset[0] + 1e-9)),
                 int(np.floor(image.shape[1] / factor - offset[1] + 1e-9)))
    ay = _overlap_matrix(image.shape[0], factor, shape[0], offset[0])
    ax = _overlap_matrix(image.shape[1], factor, shape[1], offset[1])
    return ay @ image @ ax.T


# --------------------------------------------------------------------------- recipes

def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_recipe(rng, *, preset='survey-x2', native_fwhm=1.0, overrides=None):
    """Draw a `Recipe` from ``RANGES[preset]``.

    Parameters
    ----------
    rng : `numpy.random.Generator`
    preset : str
        A key of `RANGES`.
    native_fwhm : float, optional
        PSF FWHM of the HR input, in its own pixels (the target is never
        sharper than this).
    overrides : dict, optional
        Fixed values for some `Recipe` fields (e.g. an evaluation recipe).

    Returns
    -------
    recipe : `Recipe`
    """
    if preset not in RANGES:
        msg = f'unknown degradation preset {preset!r}; use one of {sorted(RANGES)}'
        raise ValueError(msg)
    r = RANGES[preset]
    scale = int(r['scale'])
    pixel_ratio = float(rng.choice(r['pixel_ratio']))
    native_target = native_fwhm * scale / pixel_ratio
    target = max(native_target, float(rng.uniform(*r['target_fwhm'])))
    lr_fwhm = target * float(rng.uniform(*r['fwhm_ratio']))
    lr_fwhm = max(lr_fwhm, r['lr_fwhm_min'] * scale, target * r['fwhm_ratio'][0])
    kinds, weights = zip(*r['psf_kinds'].items(), strict=True)
    kind = str(rng.choice(kinds, p=np.array(weights) / sum(weights)))
    real = str(rng.choice(sorted(REAL_PSFS))) if kind == 'real' else None
    correlated = rng.random() < r['p_correlated']
    recipe = Recipe(
        scale=scale, pixel_ratio=pixel_ratio, target_fwhm=float(target), lr_fwhm=float(lr_fwhm),
        psf_kind=kind, moffat_beta=float(rng.uniform(*r['moffat_beta'])), real_psf=real,
        snr=_log_uniform(rng, *r['snr']), read_fraction=float(rng.uniform(*r['read_fraction'])),
        sky_sigmas=_log_uniform(rng, *r['sky_sigmas']),
        sky_subtracted=bool(rng.random() < r['p_sky_subtracted']),
        correlation_fwhm=float(rng.uniform(*r['correlation_fwhm'])) if correlated else 0.0,
        offset=tuple(float(v) for v in rng.uniform(-r['max_offset'], r['max_offset'], 2)),
        n_cosmic=int(rng.poisson(3)) if rng.random() < r['p_cosmic'] else 0,
        mask_fraction=float(rng.uniform(0.002, 0.03)) if rng.random() < r['p_mask'] else 0.0)
    # drawn last, and only by a preset that has 'p_elliptical' (and 'psf_axis_ratio'): the
    # shipped ones do not (a stage trained with 0.5 of elliptical PSFs, axis ratio 0.5-1, lost
    # 3.4 dB on the real SDSS/KiDS pairs), so their recipes stay those the shipped weights saw
    if 'p_elliptical' in r and rng.random() < r['p_elliptical']:
        recipe.psf_axis_ratio = float(rng.uniform(*r['psf_axis_ratio']))
        recipe.psf_angle = float(rng.uniform(0.0, 180.0))
    for key, value in (overrides or {}).items():
        if not hasattr(recipe, key):
            msg = f'unknown recipe field {key!r}'
            raise ValueError(msg)
        setattr(recipe, key, value)
    return recipe


# --------------------------------------------------------------------------- degradation

def _convolve(image, kernel):
    pad = kernel.shape[0] // 2
    padded = np.pad(image, pad, mode='reflect')
    return signal.fftconvolve(padded, kernel, mode='same')[pad:-pad or None, pad:-pad or None]


def _cosmic_rays(rng, shape, n, level):
    hits = np.zeros(shape)
    for _ in range(n):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        length = int(rng.integers(1, 4))
        dy, dx = (0, 1) if rng.random() < 0.5 else (1, 0)
        amp = level * _log_uniform(rng, 5.0, 100.0)
        for k in range(length):
            yy, xx = y + k * dy, x + k * dx
            if yy < shape[0] and xx < shape[1]:
                hits[yy, xx] += amp
    return hits


def _mask(rng, shape, fraction):
    mask = np.zeros(shape, dtype=bool)
    if fraction <= 0:
        return mask
    n = max(1, int(fraction * mask.size))
    if rng.random() < 0.5:   # a bad column or row segment
        if rng.random() < 0.5:
            mask[:, rng.integers(0, shape[1])] = True
        else:
            mask[rng.integers(0, shape[0]), :] = True
    ys, xs = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    mask[ys, xs] = True
    # iterations=0 would dilate until nothing changes: grow once, or not at all
    return ndimage.binary_dilation(mask) if rng.random() < 0.5 else mask


def _lr_kernel(recipe, native):
    """The kernel taking the target PSF (FWHM ``max(target_fwhm, native)``) to the LR PSF."""
    width = np.sqrt(max(recipe.lr_fwhm ** 2 - max(recipe.target_fwhm, native) ** 2, 0.25))
    if recipe.psf_axis_ratio < 1.0 and recipe.psf_kind == 'gaussian':
        return elliptical_gaussian_psf(width, recipe.psf_axis_ratio, recipe.psf_angle)
    kernel = _psf(recipe.psf_kind, width, beta=recipe.moffat_beta, name=recipe.real_psf)
    if recipe.psf_axis_ratio < 1.0:
        kernel = stretch_psf(kernel, recipe.psf_axis_ratio, recipe.psf_angle)
    return kernel


def lr_psf_image(recipe, *, native_fwhm=1.0):
    """The PSF of the LR images `degrade` makes with ``recipe``, sampled on the LR grid.

    The target's Gaussian PSF (FWHM ``max(target_fwhm, native)`` target
    pixels) convolved with the recipe's kernel and summed into LR pixels,
    centred on the middle pixel of an odd-sized array, normalised to sum 1:
    what a user would pass as the input's PSF. Only for recipes whose pixel
    ratio equals their scale (no resampling).

    Returns
    -------
    psf : `~numpy.ndarray`
    target_fwhm : float
        FWHM of the target's PSF, in target pixels.
    """
    s = int(recipe.scale)
    if abs(float(recipe.pixel_ratio) - s) > 1e-6:
        msg = f'lr_psf_image needs a pixel ratio equal to the scale, not {recipe.pixel_ratio}'
        raise ValueError(msg)
    native = float(native_fwhm)
    target = max(float(recipe.target_fwhm), native)
    kernel = _lr_kernel(recipe, native)
    n = 2 * int(np.ceil((kernel.shape[0] / 2 + 4 * target) / s)) + 1
    # centred on the middle of the middle LR pixel: (s*n - 1) / 2 in target pixels
    y, x = _grid(s * n)
    sigma = target * _FWHM_TO_SIGMA
    point = np.exp(-0.5 * (x * x + y * y) / sigma ** 2)
    blurred = _convolve(point / point.sum(), kernel)
    psf = blurred.reshape(n, s, n, s).sum(axis=(1, 3))
    return psf / psf.sum(), target


def degrade(hr, recipe, *, rng, native_fwhm=1.0, margin=0):
    """Degrade one HR image (flux per pixel) by ``recipe``.

    Parameters
    ----------
    hr : `~numpy.ndarray`
        2-D, flux per pixel, finite.
    recipe : `Recipe`
    rng : `numpy.random.Generator`
        Draws the noise, cosmic rays and mask.
    native_fwhm : float, optional
        PSF FWHM of ``hr`` in its own pixels.
    margin : int, optional
        LR pixels cut from every side after degrading (so borders, where the
        convolution saw reflected pixels, are not part of the pair).

    Returns
    -------
    pair : `DegradedPair`
    """
    hr = np.asarray(hr, dtype=np.float64)
    if hr.ndim != 2 or not np.all(np.isfinite(hr)):
        msg = 'degrade needs a finite 2-D image; fill or cut masked pixels first'
        raise ValueError(msg)
    s = int(recipe.scale)
    resample = float(recipe.pixel_ratio) / s
    target = hr if abs(resample - 1.0) < 1e-6 else rebin(hr, resample)
    native = native_fwhm / resample
    if recipe.target_fwhm > native * 1.01:
        target = _convolve(target, gaussian_psf(np.sqrt(recipe.target_fwhm ** 2 - native ** 2)))
    # the LR grid starts one LR pixel in, so a shift either way stays inside the target
    n_lr = (target.shape[0] // s - 2, target.shape[1] // s - 2)
    blurred = _convolve(target, _lr_kernel(recipe, native))
    off = (1.0 + recipe.offset[0], 1.0 + recipe.offset[1])
    lr = rebin(blurred, s, offset=off, shape=n_lr)
    target = target[s:s + s * n_lr[0], s:s + s * n_lr[1]]
    # noise: the peak S/N fixes the sky noise
    peak = float(np.percentile(lr, 99.9) - np.median(lr))
    sky_sigma = peak / recipe.snr if peak > 0 else 1.0
    sky = recipe.sky_sigmas * sky_sigma
    read2 = recipe.read_fraction * sky_sigma ** 2
    gain = sky / max(sky_sigma ** 2 - read2, 1e-12 * sky_sigma ** 2)   # counts per flux unit
    var = read2 + np.clip(lr + sky, 0, None) / gain
    noise = rng.standard_normal(lr.shape)
    if recipe.correlation_fwhm > 0:
        corr = gaussian_psf(recipe.correlation_fwhm)
        noise = _convolve(noise, corr) / np.sqrt(np.sum(corr ** 2))
    sigma = np.sqrt(var)
    observed = lr + sky + sigma * noise
    if recipe.n_cosmic:
        observed += _cosmic_rays(rng, lr.shape, recipe.n_cosmic, sky_sigma)
    if recipe.sky_subtracted:
        from astropy.stats import sigma_clipped_stats

        _, median, _ = sigma_clipped_stats(observed, sigma=3.0, maxiters=5)
        observed = observed - median
        target = target + (sky - median) / (s * s)
    else:
        target = target + sky / (s * s)
    mask = _mask(rng, lr.shape, recipe.mask_fraction)
    observed[mask] = np.nan
    if margin:
        m, hm = int(margin), int(margin) * s
        observed, sigma, mask = observed[m:-m, m:-m], sigma[m:-m, m:-m], mask[m:-m, m:-m]
        target = target[hm:-hm, hm:-hm]
    return DegradedPair(lr=observed, hr=target, sigma=sigma, mask=mask, recipe=recipe)

