# Licensed under a 3-clause BSD style license - see LICENSE
"""Detection purity: are the sources of an output real?"""

import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = ['DetectionPurity', 'detection_purity']


@dataclass(frozen=True)
class DetectionPurity:
    """Peaks of an output image and how many of them the truth holds.

    Attributes
    ----------
    purity : float
        ``n_real / n_peaks``; NaN when the output has no peak above the
        threshold.
    n_peaks : int
        Peaks of the smoothed output above the threshold.
    n_real : int
        Those with a counterpart in the truth.
    n_invented : int
        Those without: ``n_peaks - n_real``.
    sky_sigma : float
        Noise standard deviation per pixel of the truth's sky used.
    invented : `~numpy.ndarray`
        ``(n_invented, 2)`` pixel positions ``(x, y)`` of the peaks without a
        counterpart.
    """

    purity: float
    n_peaks: int
    n_real: int
    n_invented: int
    sky_sigma: float
    invented: np.ndarray = field(repr=False)


def detection_purity(output, truth, *, nsigma=5.0, match_nsigma=2.0, match_radius=2.0,
                     smooth=1.0, box_size=5, sky_sigma=None):
    """Purity of the sources of ``output``: the share with a counterpart in ``truth``.

    Both images are smoothed by a Gaussian of ``smooth`` pixels and have the
    truth's sky level (sigma-clipped median) subtracted. Peaks of the output
    (local maxima over ``box_size`` pixels, `photutils.detection.find_peaks`)
    above ``nsigma`` times the truth's sky noise are found where the truth
    covers; a peak is real when the smoothed truth has a pixel above
    ``match_nsigma`` times that noise within ``match_radius`` pixels of it,
    and invented otherwise. An output that sharpens noise or artefacts into
    sources on empty sky scores below 1; a peak on the wing of a true source
    counts as real (it is not invented, at worst misplaced light).

    Parameters
    ----------
    output, truth : array-like
        2-D images on the same grid and photometric scale; NaN pixels of the
        truth (no coverage) are left out, as are output peaks within
        ``match_radius`` of them.
    nsigma : float, optional
        Detection threshold on the output, in units of the truth's sky noise.
    match_nsigma : float, optional
        Level the truth must reach near a peak for it to be real.
    match_radius : float, optional
        Matching radius in pixels.
    smooth : float, optional
        Standard deviation in pixels of the Gaussian both images are smoothed
        by (0: none).
    box_size : int, optional
        Size of the box in which a peak is the local maximum.
    sky_sigma : float, optional
        Noise per pixel of the truth's sky; by default measured from its
        source-masked sky (`astrolens.datasets.sky_noise_sigma`).

    Returns
    -------
    result : `DetectionPurity`

    Raises
    ------
    ValueError
        If the images differ in shape or are not 2-D, an option is out of
        range, or the truth has too little empty sky to measure its noise
        (then pass ``sky_sigma=``).
    """
    from astropy.stats import sigma_clipped_stats
    from photutils.detection import find_peaks
    from photutils.utils.exceptions import NoDetectionsWarning
    from scipy import ndimage

    output = np.asarray(output, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if output.ndim != 2 or output.shape != truth.shape:
        msg = (f'output and truth must be 2-D images of the same shape, got {output.shape} '
               f'and {truth.shape}')
        raise ValueError(msg)
    for name, value in (('nsigma', nsigma), ('match_radius', match_radius)):
        if not (np.isfinite(value) and value > 0):
            msg = f'{name} must be a positive number, got {value!r}'
            raise ValueError(msg)
    for name, value in (('match_nsigma', match_nsigma), ('smooth', smooth)):
        if not (np.isfinite(value) and value >= 0):
            msg = f'{name} must be a number >= 0, got {value!r}'
            raise ValueError(msg)
    if isinstance(box_size, bool) or not float(box_size).is_integer() or box_size < 1:
        msg = f'box_size must be a positive integer, got {box_size!r}'
        raise ValueError(msg)
    covered = np.isfinite(truth)
    if covered.sum() < 9:
        msg = 'the truth has fewer than 9 finite pixels'
        raise ValueError(msg)
    if sky_sigma is None:
        from astrolens.datasets import sky_noise_sigma

        sky_sigma = sky_noise_sigma(truth)
        if not (np.isfinite(sky_sigma) and sky_sigma > 0):
            msg = ('the truth has too little empty sky to measure its noise: pass '
                   'sky_sigma= (its noise per pixel)')
            raise ValueError(msg)
    elif not (np.isfinite(sky_sigma) and sky_sigma > 0):
        msg = f'sky_sigma must be a positive noise level, got {sky_sigma!r}'
        raise ValueError(msg)
    _, sky, _ = sigma_clipped_stats(truth[covered], sigma=3.0, maxiters=10)

    def smoothed(image):
        filled = np.where(np.isfinite(image), image - sky, 0.0)
        return ndimage.gaussian_filter(filled, smooth) if smooth > 0 else filled

    out_s, truth_s = smoothed(output), smoothed(truth)
    radius = int(np.ceil(match_radius))
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disk = np.hypot(yy, xx) <= match_radius
    near_truth = ndimage.maximum_filter(np.where(covered, truth_s, -np.inf), footprint=disk,
                                        mode='constant', cval=-np.inf)
    excluded = ndimage.binary_dilation(~covered, structure=disk) | ~np.isfinite(output)
    with warnings.catch_warnings():
        # no peak is a result here (n_peaks = 0), not something to warn about
        warnings.simplefilter('ignore', NoDetectionsWarning)
        table = find_peaks(np.where(excluded, 0.0, out_s), nsigma * sky_sigma,
                           box_size=int(box_size), mask=excluded)
    if table is None or len(table) == 0:
        return DetectionPurity(purity=float('nan'), n_peaks=0, n_real=0, n_invented=0,
                               sky_sigma=float(sky_sigma), invented=np.zeros((0, 2)))
    x = np.asarray(table['x_peak'], dtype=int)
    y = np.asarray(table['y_peak'], dtype=int)
    real = near_truth[y, x] > match_nsigma * sky_sigma
    n_peaks, n_real = int(real.size), int(real.sum())
    invented = np.stack([x[~real], y[~real]], axis=1).astype(float)
    return DetectionPurity(purity=n_real / n_peaks, n_peaks=n_peaks, n_real=n_real,
                           n_invented=n_peaks - n_real, sky_sigma=float(sky_sigma),
                           invented=invented)
