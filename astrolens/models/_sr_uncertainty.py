# Licensed under a 3-clause BSD style license - see LICENSE
"""Per-pixel uncertainty of a super-resolved image (`SuperResolver.enhance(uncertainty=...)`).

Three terms, added in quadrature:

(a) the input's noise carried through the whole pipeline (network, flux correction, and
    deconvolution when asked for): the image is enhanced ``samples`` times with noise drawn
    from the input's uncertainty (or, without one, its robust noise level), in antithetic
    pairs ``x + n`` / ``x - n``; half the difference of a pair is one draw of the output's
    noise, so the first-order propagation is measured without bias;
(b) the network's disagreement with itself: each pair runs in another of the 8 symmetries
    of the square, and the spread of the pair means between symmetries is added;
(c) a model error (``method='calibrated'``) that (a) and (b) cannot see: the network is
    confidently wrong where the truth has detail the input does not show, and a network that
    denoises removes faint structure with the noise (a bias, of the order of the input's
    noise, that the spread of its outputs does not show). It is modelled as
    ``sqrt((noise * sigma_in)**2 + (level * |sr - sky|)**2 + (gradient * |grad sr|)**2)``
    (`model_error`; the gradient per input pixel): a share of the input's noise on the
    output grid (``sigma_in``, as `astrolens.io.upsample_uncertainty` puts it there), a
    relative error of the flux and an error of ``gradient`` input pixels in the position or
    width of the output's structure (what the input cannot show is set by its own pixels),
    with (a) + (b) multiplied by ``scale``. The coefficients are fitted on real pairs whose
    truth is known by ``benchmarks/bench_uncertainty.py --fit`` and read from the
    ``uncertainty`` entry of the model's configuration; `DEFAULT_MODEL_ERROR` otherwise
    (fitted on simulated pairs of the models' own training recipes they came out several
    times too wide on real pairs: the benchmark shows both).

``method='d4'`` is the older estimate: the spread of the 8 symmetries of one clean input, in
quadrature with the input's uncertainty upsampled (`astrolens.io.upsample_uncertainty`). On
held-out real pairs it is far too narrow (``benchmarks/bench_uncertainty.py``).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ['DEFAULT_MODEL_ERROR', 'DEFAULT_SAMPLES', 'UNCERTAINTY_METHODS', 'ResampledSpread',
           'check_uncertainty', 'd4_array', 'd4_array_inverse', 'input_noise_on_output',
           'model_error', 'model_error_coefficients', 'resampled_spread', 'total_sigma']

#: What ``uncertainty=`` of `SuperResolver.enhance` accepts besides True/False.
UNCERTAINTY_METHODS = ('calibrated', 'resample', 'd4')
#: Forward passes of the resampled methods (4 antithetic pairs in 4 symmetries).
DEFAULT_SAMPLES = 8
#: Model-error coefficients for a model whose configuration has none (see `model_error`):
#: fitted on the 18 real x2 pairs (12 images: SDSS/KiDS and held-out HST) by
#: ``python benchmarks/bench_uncertainty.py --sets ground,hst --fit``. Held out, on the real
#: HSC/HST pair (another model, x3) it puts 65% of the source pixels within 1 sigma.
DEFAULT_MODEL_ERROR = {'scale': 1.0, 'noise': 0.0, 'level': 0.0, 'gradient': 0.775}
# symmetries of the pairs, in order: identity, the transposed quarter turns, the half turn, ...
_SYMMETRY_ORDER = (0, 5, 2, 7, 1, 4, 3, 6)


def check_uncertainty(uncertainty, samples):
    """The method (None, or one of `UNCERTAINTY_METHODS`) and ``samples``, checked.

    ``True`` means ``'calibrated'``; ``False`` or None, none.
    """
    if uncertainty is None or (isinstance(uncertainty, (bool, np.bool_)) and not uncertainty):
        method = None
    elif isinstance(uncertainty, (bool, np.bool_)):
        method = 'calibrated'
    elif isinstance(uncertainty, str) and uncertainty in UNCERTAINTY_METHODS:
        method = uncertainty
    else:
        msg = (f'uncertainty must be True, False or one of {UNCERTAINTY_METHODS}, '
               f'got {uncertainty!r}')
        raise ValueError(msg)
    if isinstance(samples, (bool, np.bool_)) or not isinstance(samples, (int, np.integer)) \
            or samples < 2 or samples % 2:
        msg = (f'uncertainty_samples must be an even number >= 2 (antithetic pairs of noise '
               f'draws), got {samples!r}')
        raise ValueError(msg)
    return method, int(samples)


def d4_array(a, k):
    """The k-th symmetry of the square of a 2-D array (as `_sr_inference.d4` on tensors)."""
    if k >= 4:
        a = a.T
    return np.rot90(a, k % 4)


def d4_array_inverse(a, k):
    """Undo `d4_array` with the same ``k``."""
    a = np.rot90(a, -(k % 4))
    return a.T if k >= 4 else a


@dataclass(frozen=True)
class ResampledSpread:
    """What `resampled_spread` measured (output grid, the input's units).

    Attributes
    ----------
    mean : `~numpy.ndarray`
        Mean of all passes: the mean over the pairs' symmetries of outputs whose
        first-order noise cancels (``x + n`` against ``x - n``).
    noise : `~numpy.ndarray`
        Standard deviation of the output from the input's noise (term a).
    symmetry : `~numpy.ndarray`
        Standard deviation of the pair means between symmetries (term b); zeros with one
        pair.
    passes : int
    """

    mean: np.ndarray
    noise: np.ndarray
    symmetry: np.ndarray
    passes: int


def resampled_spread(run, image, bad, noise_std, *, samples=DEFAULT_SAMPLES, seed=0,
                     progress=False):
    """Enhance ``samples`` noisy copies of an image; the spread of the outputs.

    Parameters
    ----------
    run : callable
        ``run(image, bad, k) -> sr``: the enhancement of an image already in the ``k``-th
        symmetry of the square (`d4_array`), in that same orientation; it must transform
        whatever else it uses on the input grid (a PSF image, a noise map).
    image : `~numpy.ndarray`
        The input; ``bad`` pixels may hold anything.
    bad : `~numpy.ndarray` of bool
    noise_std : float or `~numpy.ndarray`
        Standard deviation of the noise to draw, per input pixel or one for all.
    samples : int, optional
        Forward passes, an even number (pairs ``x + n``, ``x - n``).
    seed : int, optional
        Seeds the noise draws.
    progress : bool, optional
        A progress bar over the passes.

    Returns
    -------
    spread : `ResampledSpread`
    """
    from tqdm.auto import tqdm

    rng = np.random.default_rng([int(seed), 20240623])
    image = np.asarray(image, dtype=np.float64)
    std = np.broadcast_to(np.asarray(noise_std, dtype=np.float64), image.shape)
    std = np.where(np.isfinite(std) & (std > 0) & ~bad, std, 0.0)
    n_pairs = samples // 2
    means, noise_var = [], None
    bar = tqdm(total=2 * n_pairs, desc='uncertainty', unit='pass', leave=False,
               disable=not progress)
    for j in range(n_pairs):
        k = _SYMMETRY_ORDER[j % 8]
        draw = rng.standard_normal(image.shape) * std
        outs = []
        for sign in (1.0, -1.0):
            out = run(np.ascontiguousarray(d4_array(image + sign * draw, k)),
                      np.ascontiguousarray(d4_array(bad, k)), k)
            outs.append(np.asarray(d4_array_inverse(out, k), dtype=np.float64))
            bar.update()
        half = 0.5 * (outs[0] - outs[1])
        noise_var = half ** 2 if noise_var is None else noise_var + half ** 2
        means.append(0.5 * (outs[0] + outs[1]))
    bar.close()
    means = np.stack(means)
    mean = means.mean(axis=0)
    symmetry = means.std(axis=0, ddof=1) if n_pairs > 1 else np.zeros_like(mean)
    return ResampledSpread(mean=mean, noise=np.sqrt(noise_var / n_pairs), symmetry=symmetry,
                           passes=2 * n_pairs)


def model_error_coefficients(est):
    """The model-error coefficients of a fitted estimator (`DEFAULT_MODEL_ERROR` by default).

    They are the ``model_error`` entry of ``est.config_['uncertainty']`` (written by
    ``benchmarks/bench_uncertainty.py --fit ... --write``), each missing one taken from
    `DEFAULT_MODEL_ERROR`.
    """
    entry = ((getattr(est, 'config_', None) or {}).get('uncertainty') or {}).get('model_error')
    coeffs = dict(DEFAULT_MODEL_ERROR)
    for key in coeffs:
        value = (entry or {}).get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and np.isfinite(value) and value >= 0:
            coeffs[key] = float(value)
    return coeffs


def input_noise_on_output(noise, scale, *, surface_brightness=False):
    """The input's noise standard deviation (one value or per input pixel) on the output grid.

    As `astrolens.io.upsample_uncertainty` carries it: each input pixel's to its
    ``scale x scale`` sub-pixels, divided by ``scale**2`` for flux per pixel (fully
    correlated sub-pixels), unchanged for a surface brightness.
    """
    s = int(scale)
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim == 2:
        noise = np.repeat(np.repeat(noise, s, axis=0), s, axis=1)
    return noise if surface_brightness else noise / (s * s)


def model_error(sr, *, factor=1, input_noise=None, noise=0.0, level=0.0, gradient=0.0, **_):
    """The model-error standard deviation (term c) of an output ``sr``.

    ``sqrt((noise * input_noise)**2 + (level * |sr - sky|)**2
    + (gradient * factor * |grad sr|)**2)`` with ``sky`` the median of the finite pixels
    and ``grad`` per output pixel: a share ``noise`` of the input's noise on the output grid
    (`input_noise_on_output`), a relative flux error ``level`` and an error of ``gradient``
    input pixels (``factor`` output pixels each: the upscaling factor) in the position or
    width of the output's structure.
    """
    sr = np.asarray(sr, dtype=np.float64)
    finite = np.isfinite(sr)
    filled = np.where(finite, sr, np.median(sr[finite]) if finite.any() else 0.0)
    out = np.zeros(sr.shape)
    if noise and input_noise is not None:
        out += (noise * np.nan_to_num(np.asarray(input_noise, dtype=np.float64))) ** 2
    if level:
        out += (level * np.abs(filled - np.median(filled))) ** 2
    if gradient:
        gy, gx = np.gradient(filled)
        out += (gradient * factor) ** 2 * (gy ** 2 + gx ** 2)
    return np.sqrt(out)


def total_sigma(spread, sr, *, method, factor, coefficients=None, input_noise=None):
    """The standard deviation an output carries for a resampled ``method``.

    ``factor`` (the upscaling) and ``input_noise`` (the input's noise on the output grid,
    `input_noise_on_output`) are for the model error of ``'calibrated'``.
    """
    base2 = spread.noise ** 2 + spread.symmetry ** 2
    if method != 'calibrated':
        return np.sqrt(base2)
    coeffs = dict(DEFAULT_MODEL_ERROR, **(coefficients or {}))
    return np.sqrt(coeffs['scale'] ** 2 * base2
                   + model_error(sr, factor=factor, input_noise=input_noise, **coeffs) ** 2)
