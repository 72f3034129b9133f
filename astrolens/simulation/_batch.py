# Licensed under a 3-clause BSD style license - see LICENSE
"""Rendering many DeepLense scenes in one call.

The main halo (SIE + external shear) is the same in every scene, so its
ray-shooting positions are computed once, in closed form, by lenstronomy.
Per scene, point-mass subhalos are added in closed form (a float32 direct
sum near the masses, their multipole expansion farther out), the elliptical
Sersic source is evaluated at the deflected positions (float32;
lenstronomy's ``SERSIC_ELLIPSE`` with its ``b_n``, product-average
ellipticity and smoothing radius), and the PSF is applied: a separable
kernel (every Gaussian PSF here) as two 1-D passes, anything else by FFT,
zero outside the image either way, as lenstronomy's ``'same'`` convolution.
The grid is DeepLenseSim's: one ray per pixel centre
(``supersampling_factor=1``, what the original uses for every model).

The arithmetic is vectorised over the pixels of an image and done image by
image within a batch: work arrays of one image (~100 kB) stay in the CPU
caches, and larger temporaries are fresh memory from the operating system
on each call, whose page faults cost more than the arithmetic. Nothing an
image computes depends on the other images of its batch.
"""

import numpy as np

from astrolens.simulation._physics import point_mass_deflection

__all__ = ['BatchRenderer']

# lenstronomy's SersicUtil: b_n approximation and smoothing radius
_SERSIC_SMOOTHING = 1e-4
# point masses: pixels beyond this many extents of the masses use the multipole
# expansion of that many terms, whose relative error (below 3**-12 = 2e-6 of a
# deflection of at most ~0.05" there) is under the float32 rounding of positions
_FAR_FACTOR = 3.0
_MULTIPOLE_ORDER = 12
# largest (mass, pixel) work array of the direct sum, in elements (float32)
_BLOCK = 1 << 18


def _b_n(n_sersic):
    return max(1.9992 * n_sersic - 0.3271, 1e-5)


class BatchRenderer:
    """Noise-free model images of many DeepLense scenes in one call.

    Parameters
    ----------
    scene : `~astrolens.simulation._render.SceneRenderer`
        Grid, main-halo ray shooting and PSF kernel to use.
    source : dict
        ``SERSIC_ELLIPSE`` keywords without the centre (``amp``,
        ``R_sersic``, ``n_sersic``, ``e1``, ``e2``).
    """

    def __init__(self, scene, source):
        self.scene = scene
        self.shape = scene.x.shape
        self.x = scene.x[0].copy()
        self.y = scene.y[:, 0].copy()
        if not (np.allclose(scene.x, self.x[None, :]) and np.allclose(scene.y, self.y[:, None])):
            msg = 'BatchRenderer needs an axis-aligned pixel grid'
            raise ValueError(msg)
        e1, e2 = float(source['e1']), float(source['e2'])
        # lenstronomy's transform_e1e2_product_average, as a matrix
        norm = np.sqrt(max(abs(1 - e1 ** 2 - e2 ** 2), 1e-6))
        self._ellipse = np.array([[1 - e1, -e2], [-e2, 1 + e1]]) / norm
        n_sersic = float(source['n_sersic'])
        if n_sersic <= 0:
            msg = f'n_sersic must be positive, got {n_sersic}'
            raise ValueError(msg)
        self._inv_n = 1.0 / n_sersic
        self._b_n = _b_n(n_sersic)
        self._r_sersic = max(float(source['R_sersic']), _SERSIC_SMOOTHING)
        # amplitude and pixel area folded into the exponent: one multiply less per pixel
        self._log_scale = np.log(float(source['amp']) * scene.pixel_area) + self._b_n
        self._z = (self.x[None, :] + 1j * self.y[:, None]).astype(np.complex64)
        u, v = self._transform(scene._beta_x, scene._beta_y)
        # float32 positions: a 1e-7 relative error is 1e-6 of the Sersic profile
        self._u, self._v = u.astype(np.float32), v.astype(np.float32)
        self.kernel = scene.kernel

    @property
    def kernel(self):
        """PSF kernel (odd-sized, unit sum)."""
        return self._kernel

    @kernel.setter
    def kernel(self, kernel):
        kernel = np.asarray(kernel, dtype=float)
        if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
            msg = f'the PSF kernel must be 2-D with odd sides, got shape {kernel.shape}'
            raise ValueError(msg)
        self._kernel = kernel
        u, s, vt = np.linalg.svd(kernel)
        self._separable = None
        if s[1:].sum() <= 1e-12 * s[0]:
            self._separable = ((u[:, 0] * np.sqrt(s[0])).astype(np.float32),
                               (vt[0] * np.sqrt(s[0])).astype(np.float32))

    def _transform(self, x, y):
        t = self._ellipse
        return t[0, 0] * x + t[0, 1] * y, t[1, 0] * x + t[1, 1] * y

    def _sersic(self, u, v, u0, v0, out):
        """Sersic flux per pixel at transformed positions ``(u - u0, v - v0)``, into ``out``."""
        dv = np.subtract(v, v0, dtype=np.float32)
        np.subtract(u, u0, out=out, casting='same_kind')
        out *= out
        dv *= dv
        out += dv
        np.sqrt(out, out=out)
        np.maximum(out, np.float32(_SERSIC_SMOOTHING), out=out)
        out *= np.float32(1.0 / self._r_sersic)
        if self._inv_n != 1.0:
            out **= np.float32(self._inv_n)
        out *= np.float32(-self._b_n)
        out += np.float32(self._log_scale)
        return np.exp(out, out=out)

    def surface_brightness(self, source_x, source_y, subhalos=None):
        """Lensed source flux per pixel before the PSF, ``(N, ny, nx)`` float32.

        Parameters
        ----------
        source_x, source_y : array-like
            ``(N,)`` source centres in arcseconds.
        subhalos : list, optional
            Per image, ``None`` or ``(theta_E, x, y)`` arrays of point masses.
        """
        source_x = np.atleast_1d(np.asarray(source_x, dtype=float))
        source_y = np.atleast_1d(np.asarray(source_y, dtype=float))
        u0, v0 = self._transform(source_x, source_y)
        out = np.empty((source_x.size, *self.shape), dtype=np.float32)
        # image by image: a few 100 kB work arrays stay in the caches (and, on some
        # systems, spare page faults that cost more than the arithmetic)
        for i in range(source_x.size):
            self._sersic(*self._deflected(subhalos, i), u0[i], v0[i], out[i])
        return out

    def _deflected(self, subhalos, i):
        """Transformed source-plane positions of image ``i`` (main halo + its subhalos)."""
        if subhalos is None or subhalos[i] is None or not len(subhalos[i][0]):
            return self._u, self._v
        theta_e, cx, cy = (np.asarray(a, dtype=float).ravel() for a in subhalos[i])
        au, av = self._point_mass_shift(theta_e, cx, cy)
        np.subtract(self._u, au, out=au)
        np.subtract(self._v, av, out=av)
        return au, av

    def _point_mass_shift(self, theta_e, cx, cy):
        """Deflection of point masses in the Sersic frame (``T @ alpha``), float32.

        ``alpha = sum_i theta_E,i**2 (x - x_i) / |x - x_i|**2`` as lenstronomy's
        ``POINT_MASS``. Near the masses a direct sum: on the separable grid
        ``|x - x_i|**2`` is a broadcast sum of two small tables, and its
        reciprocal is contracted in one float32 matrix product with
        ``theta_E**2`` and ``T @ theta_E**2 x_i`` (``T`` the Sersic ellipse
        transform, so the result comes out in the frame the source needs).
        Beyond ``_FAR_FACTOR`` extents of the masses, their multipole
        expansion.
        """
        x, y = self.x, self.y
        b = theta_e ** 2
        au = np.empty(self.shape, dtype=np.float32)
        av = np.empty(self.shape, dtype=np.float32)
        x0, y0 = cx.mean(), cy.mean()
        reach = _FAR_FACTOR * max(np.hypot(cx - x0, cy - y0).max(), 1e-12)
        cols = np.flatnonzero(np.abs(x - x0) <= reach)
        rows = np.flatnonzero(np.abs(y - y0) <= reach)
        c0, c1 = (cols[0], cols[-1] + 1) if cols.size else (0, 0)
        r0, r1 = (rows[0], rows[-1] + 1) if rows.size else (0, 0)
        if c1 - c0 < x.size or r1 - r0 < y.size:
            # the whole grid by the expansion; the direct sum below replaces the box
            # near the masses (cheaper than gathering the pixels outside it)
            au[...], av[...] = self._multipole(x0, y0, cx, cy, b)
        if c1 > c0 and r1 > r0:
            xs, ys = x[c0:c1], y[r0:r1]
            # |x - x_i|**2 of a (row, column) is dy2 + dx2: a product of (dy2, 1) and
            # (1, dx2), which BLAS does faster than NumPy broadcasts the sum
            rows_1 = np.ones((b.size, ys.size, 2), dtype=np.float32)
            rows_1[:, :, 0] = np.square(ys[None, :] - cy[:, None])
            cols_1 = np.ones((b.size, 2, xs.size), dtype=np.float32)
            cols_1[:, 1, :] = np.square(xs[None, :] - cx[:, None])
            weights = np.stack([b, *self._transform(b * cx, b * cy)]).astype(np.float32)
            pu, pv = self._transform(xs[None, :], ys[:, None])
            pu, pv = pu.astype(np.float32), pv.astype(np.float32)
            step = max(1, _BLOCK // (b.size * xs.size))
            work = np.empty(b.size * min(step, ys.size) * xs.size, dtype=np.float32)
            sums = np.empty(3 * min(step, ys.size) * xs.size, dtype=np.float32)
            for start in range(0, ys.size, step):
                stop = min(start + step, ys.size)
                size = (stop - start) * xs.size
                inv_r2 = work[:b.size * size].reshape(b.size, stop - start, xs.size)
                np.matmul(rows_1[:, start:stop], cols_1, out=inv_r2)
                with np.errstate(divide='ignore'):
                    np.divide(np.float32(1.0), inv_r2, out=inv_r2)
                block_sums = sums[:3 * size].reshape(3, size)
                np.matmul(weights, inv_r2.reshape(b.size, size), out=block_sums)
                block_sums = block_sums.reshape(3, stop - start, xs.size)
                block = np.s_[r0 + start:r0 + stop, c0:c1]
                # inf - inf where a pixel centre is on a mass: redone below
                with np.errstate(invalid='ignore'):
                    np.multiply(pu[start:stop], block_sums[0], out=au[block])
                    au[block] -= block_sums[1]
                    np.multiply(pv[start:stop], block_sums[0], out=av[block])
                    av[block] -= block_sums[2]
            # one sum tells whether any pixel is not finite (only a pixel centre on a
            # point mass can be); then find them
            if not (np.isfinite(au.sum()) and np.isfinite(av.sum())):
                bad = ~(np.isfinite(au) & np.isfinite(av))
                # a pixel centre on a point mass: lenstronomy's careful sum
                yy, xx = np.nonzero(bad)
                ax, ay = point_mass_deflection(x[xx], y[yy], cx, cy, theta_e,
                                               far_factor=np.inf)
                au[bad], av[bad] = self._transform(ax, ay)
        return au, av

    def _multipole(self, x0, y0, cx, cy, b):
        """``T @ alpha`` of the masses from their multipole expansion about ``(x0, y0)``.

        ``sum_i b_i / (z - z_i) = sum_k M_k / (z - z0)**(k + 1)`` with
        ``M_k = sum_i b_i (z_i - z0)**k`` (``z = x + iy``), evaluated by
        Horner's rule in complex64; ``alpha = (Re, -Im)``.
        """
        zi = (cx - x0) + 1j * (cy - y0)
        moments = (b[None, :] * zi[None, :] ** np.arange(_MULTIPOLE_ORDER)[:, None]).sum(axis=1)
        moments = moments.astype(np.complex64)
        inv = self._z - np.complex64(x0 + 1j * y0)
        np.divide(np.complex64(1.0), inv, out=inv)
        total = inv * moments[-1]
        for moment in moments[-2::-1]:
            total += moment
            total *= inv
        ax, ay = total.real, total.imag
        t = self._ellipse.astype(np.float32)
        au = ax * t[0, 0]
        au -= ay * t[0, 1]
        av = ax * t[1, 0]
        av -= ay * t[1, 1]
        return au, av

    def convolve(self, images):
        """PSF convolution of a ``(N, ny, nx)`` batch, zero outside the images."""
        if self._separable is None:
            from scipy.signal import fftconvolve

            return fftconvolve(images, self._kernel[None], mode='same',
                               axes=(1, 2)).astype(np.float32)
        column, row = self._separable
        out = np.empty_like(images)
        for image, o in zip(images, out, strict=True):
            o[...] = _correlate1d(_correlate1d(image, column[::-1], axis=0), row[::-1], axis=1)
        return out

    def model(self, source_x, source_y, subhalos=None):
        """Noise-free model images in flux per pixel, ``(N, ny, nx)`` float32.

        The same as lenstronomy's ``ImageModel.image`` (``supersampling_factor=1``)
        for each scene.
        """
        return self.convolve(self.surface_brightness(source_x, source_y, subhalos))


def _correlate1d(images, weights, *, axis):
    """``sum_j weights[j] * images[..., i + j - h, ...]`` along ``axis``, zero outside."""
    half = weights.size // 2
    out = images * weights[half]
    length = images.shape[axis]
    for j in range(1, half + 1):
        if j >= length:
            break
        lo = [slice(None)] * images.ndim
        hi = [slice(None)] * images.ndim
        lo[axis], hi[axis] = slice(0, length - j), slice(j, length)
        lo, hi = tuple(lo), tuple(hi)
        # out[i] += w[h + j] * x[i + j] and out[i] += w[h - j] * x[i - j]
        out[lo] += weights[half + j] * images[hi]
        out[hi] += weights[half - j] * images[lo]
    return out
