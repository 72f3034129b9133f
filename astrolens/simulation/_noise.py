# Licensed under a 3-clause BSD style license - see LICENSE
"""Noise of simulated images, each image from its own random stream.

Every image owns a `~numpy.random.Generator`; all its random numbers are
uniforms drawn from that generator alone, in an order that depends only on
the image, so an image is the same bit for bit whatever batch (or worker)
rendered it. The transforms of the uniforms into Gaussian and Poisson draws
are vectorised over the pixels of an image (NumPy's own samplers draw one
number at a time and cost 3-5 times more here). Work arrays stay at about
one image (~100 kB): larger temporaries are fresh memory from the operating
system on every call, and its page faults cost more than the arithmetic.

Gaussian draws use the Box-Muller transform. A Poisson draw of mean ``lam``
is the sum of three independent Poisson draws whose means add up to ``lam``
(a Poisson law is closed under sums): a multiple of 64 and a multiple of
1/4 below 64, each drawn by Walker's alias method from a table built once
(one uniform per draw, no loop), and a remainder below 1/4, drawn by
inversion (one uniform; more than one step for at most 22% of the pixels).
Means above the tables (4096 + 64) use Hormann's PTRS, the algorithm NumPy
uses. All are exact samplers, up to floating-point rounding; the tables
leave out tails of probability below 1e-20.
"""

import functools

import numpy as np
from scipy.special import gammaln

__all__ = ['deeplense_counts', 'gaussian_noise', 'poisson', 'standard_normal']

_FINE_STEP = 0.25
_COARSE_STEP = 64.0
_COARSE_MAX = 4096.0
# tails of probability below ~1e-20 are left out of the tables
_TAIL_SIGMAS = 12.0
# a guard against float rounding leaving an inversion's CDF below u forever
_MAX_INVERSION_STEPS = 100


def standard_normal(rng, size, *, dtype=np.float32):
    """``size`` standard normal draws from ``size`` (rounded up to even) uniforms of ``rng``.

    Box-Muller: the first half of the uniforms gives the radii, the second
    half the angles.
    """
    half = (int(size) + 1) // 2
    # 1 - u is in (0, 1]: the logarithm is finite
    radius = np.log1p(-rng.random(half)).astype(dtype)
    radius *= dtype(-2.0)
    np.sqrt(radius, out=radius)
    angle = rng.random(half).astype(dtype)
    angle *= dtype(2.0 * np.pi)
    out = np.empty(2 * half, dtype=dtype)
    np.cos(angle, out=out[:half])
    np.sin(angle, out=out[half:])
    out[:half] *= radius
    out[half:] *= radius
    return out[:size]


def _alias_table(pmf):
    """Walker/Vose alias table of a probability vector: ``(prob, alias)``."""
    width = pmf.size
    scaled = pmf * (width / pmf.sum())
    prob = np.ones(width)
    alias = np.arange(width)
    small = [i for i in range(width) if scaled[i] < 1.0]
    large = [i for i in range(width) if scaled[i] >= 1.0]
    scaled = scaled.tolist()
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias


class _AliasRows:
    """Alias tables of Poisson laws of the given means, one row each."""

    def __init__(self, means):
        from scipy.stats import poisson as poisson_law

        means = np.asarray(means, dtype=float)
        spread = _TAIL_SIGMAS * np.sqrt(means) + 12.0
        self.low = np.maximum(0, np.floor(means - spread)).astype(np.int64)
        high = np.ceil(means + spread).astype(np.int64) + 1
        self.width = int((high - self.low).max())
        self.prob = np.zeros((means.size, self.width))
        self.alias = np.zeros((means.size, self.width), dtype=np.int64)
        for row, (mean, low) in enumerate(zip(means, self.low, strict=True)):
            pmf = poisson_law.pmf(np.arange(low, low + self.width), mean)
            self.prob[row], self.alias[row] = _alias_table(pmf)
        self.prob = self.prob.ravel()
        self.alias = self.alias.ravel()

    def draw(self, row, u):
        """One draw of each row ``row`` from the uniforms ``u`` (overwritten)."""
        u *= self.width
        column = u.astype(np.int64)
        np.minimum(column, self.width - 1, out=column)
        u -= column
        flat = row * self.width
        flat += column
        k = np.where(u < self.prob.take(flat), column, self.alias.take(flat))
        if self.low.any():
            k += self.low.take(row)
        return k


@functools.lru_cache(maxsize=1)
def _tables():
    fine = _AliasRows(np.arange(0.0, _COARSE_STEP, _FINE_STEP))
    coarse = _AliasRows(np.arange(_COARSE_STEP, _COARSE_MAX + _COARSE_STEP / 2, _COARSE_STEP))
    return fine, coarse


def _inversion(lam, u):
    """Poisson draws of means below 1 by inversion: the number of k with CDF(k) <= u."""
    k = np.zeros(lam.shape, dtype=np.int64)
    # CDF(0) = exp(-lam) >= 1 - lam: below that bound the draw is 0 without an exp
    maybe = np.flatnonzero(u + lam >= 1.0)
    lam, u = lam.take(maybe).astype(float), u.take(maybe)
    p = np.exp(-lam)
    more = u >= p
    active, lam, u, p = maybe[more], lam[more], u[more], p[more]
    cdf = p.copy()
    step = 0
    while active.size and step < _MAX_INVERSION_STEPS:
        step += 1
        k[active] = step
        p *= lam * (1.0 / step)
        cdf += p
        more = u >= cdf
        active, lam, u, p, cdf = active[more], lam[more], u[more], p[more], cdf[more]
    return k


def _ptrs(lam, u, v):
    """One round of PTRS: the draws and which of them were accepted."""
    b = np.sqrt(lam)
    b *= 2.53
    b += 0.931
    a = 0.02483 * b - 0.059
    u = u - 0.5
    us = 0.5 - np.abs(u)
    with np.errstate(divide='ignore', invalid='ignore'):
        k = np.floor((2.0 * a / us + b) * u + lam + 0.43)
    accept = (us >= 0.07) & (v <= 0.9277 - 3.6224 / (b - 2.0))
    slow = np.flatnonzero(~accept & (k >= 0) & ~((us < 0.013) & (v > us)))
    if slow.size:
        ls, ks, us_s, bs, as_ = lam[slow], k[slow], us[slow], b[slow], a[slow]
        inv_alpha = 1.1239 + 1.1328 / (bs - 3.4)
        with np.errstate(divide='ignore'):
            left = np.log(v[slow] * inv_alpha / (as_ / (us_s * us_s) + bs))
        right = -ls + ks * np.log(ls) - gammaln(ks + 1.0)
        accept[slow] = left <= right
    return k.astype(np.int64), accept


def _ptrs_draws(lam, rng):
    """PTRS draws of large means, retrying rejections in order with fresh uniforms."""
    k = np.empty(lam.size, dtype=np.int64)
    todo = np.arange(lam.size)
    while todo.size:
        u, v = rng.random(todo.size), rng.random(todo.size)
        draws, accept = _ptrs(lam[todo], u, v)
        k[todo[accept]] = draws[accept]
        todo = todo[~accept]
    return k


def poisson(lam, rng):
    """Poisson draws of the means ``lam`` (1-D, non-negative) from uniforms of ``rng``.

    Uses, in order: one uniform per entry (draws below 64), one per entry
    (the remainder below 1/4), one per entry of mean 64 or more (the
    multiple of 64), then PTRS uniforms for means above 4160 if any.
    """
    lam = np.asarray(lam)
    if lam.dtype not in (np.float32, np.float64):
        lam = lam.astype(float)
    fine, coarse = _tables()
    u_fine = rng.random(lam.size)
    u_rest = rng.random(lam.size)
    # lam = 64 n_coarse + row / 4 + rest, rest in [0, 1/4): every step is exact in
    # binary floating point (scaling by powers of two, subtracting the integer part)
    scaled = lam * lam.dtype.type(1.0 / _COARSE_STEP)
    n_coarse = np.floor(scaled)
    scaled -= n_coarse
    scaled *= lam.dtype.type(_COARSE_STEP / _FINE_STEP)
    row = scaled.astype(np.int64)
    # rounding can put the remainder a hair outside [0, 64): keep the row in the table
    np.clip(row, 0, fine.low.size - 1, out=row)
    scaled -= row
    scaled *= lam.dtype.type(_FINE_STEP)
    np.maximum(scaled, 0, out=scaled)
    k = fine.draw(row, u_fine)
    k += _inversion(scaled, u_rest)
    big = np.flatnonzero(n_coarse >= 1.0)
    if big.size:
        rows = n_coarse.take(big).astype(np.int64) - 1
        huge = rows >= coarse.low.size
        u_coarse = rng.random(big.size)
        rows[huge] = 0
        extra = coarse.draw(rows, u_coarse)
        if np.any(huge):
            # beyond the tables: the whole multiple of 64 by PTRS
            extra[huge] = _ptrs_draws(n_coarse[big[huge]].astype(float) * _COARSE_STEP, rng)
        k[big] += extra
    return k


def deeplense_counts(model, exp_time, background_rms, rngs):
    """DeepLenseSim's Model I counts of a batch of model images.

    ``Poisson(exp_time * (model + n))`` clipped at zero, where ``n`` is
    Gaussian with variance ``|model| / exp_time + background_rms**2``: the
    sum of the original's two independent Gaussian terms ("Poisson" and
    background) in flux units, before the exposure scaling and the Poisson
    draw.

    Parameters
    ----------
    model : `~numpy.ndarray`
        ``(N, ny, nx)`` flux per pixel, float32.
    exp_time : `~numpy.ndarray`
        ``(N,)`` seconds.
    background_rms : float
    rngs : list of `~numpy.random.Generator`
        One per image.

    Returns
    -------
    counts : `~numpy.ndarray`
        ``(N, ny, nx)`` float32.
    """
    counts = np.zeros(model.shape, dtype=np.float32)
    variance = np.float32(background_rms) ** 2
    for image, t, rng, out in zip(model, exp_time, rngs, counts, strict=True):
        t = np.float32(t)
        expected = np.abs(image).ravel()
        expected /= t
        expected += variance
        np.sqrt(expected, out=expected)
        expected *= standard_normal(rng, image.size)
        expected += image.ravel()
        expected *= t
        # Poisson(0) is 0: only the positive expectations (about half the sky) need a draw
        positive = np.flatnonzero(expected > 0)
        out.ravel()[positive] = poisson(expected.take(positive), rng).astype(np.float32)
    return counts


def gaussian_noise(model, sigma, rngs):
    """``model + sigma * z``, ``z`` standard normal, image ``i`` from ``rngs[i]``; float32.

    ``model`` and ``sigma`` are ``(N, ...)``.
    """
    out = np.empty(model.shape, dtype=np.float32)
    for image, s, rng, o in zip(model, sigma, rngs, out, strict=True):
        z = standard_normal(rng, image.size).reshape(image.shape)
        z *= s
        z += image
        o[...] = z
    return out
