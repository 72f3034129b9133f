# Licensed under a 3-clause BSD style license - see LICENSE
"""Lens physics of the DeepLenseSim scenes: Einstein radii, substructure draws, deflections."""

import functools

import numpy as np
from astropy import constants as const
from astropy import units as u
from astropy.cosmology import FlatLambdaCDM

__all__ = ['CDM_MASS_RANGE', 'CDM_N_SUBHALOS', 'CDM_SLOPE', 'MAIN_HALO_MASS', 'VORTEX_MASS',
           'VORTEX_N_POINTS', 'Z_LENS', 'Z_SOURCE', 'cdm_subhalos', 'cosmology',
           'einstein_radius', 'point_mass_deflection', 'point_mass_deflection_grid',
           'sample_cdm_masses', 'vortex_half_length',
           'vortex_subhalos']

Z_LENS = 0.5
Z_SOURCE = 1.0
MAIN_HALO_MASS = 1e12
CDM_N_SUBHALOS = 25
CDM_MASS_RANGE = (1e6, 1e10)
CDM_SLOPE = -0.9
CDM_RADIUS_RANGE = (0.25, 2.0)
VORTEX_MASS = 3e10
VORTEX_N_POINTS = 100
AXION_MASS_RANGE = (1e-24, 1e-22)

# DeepLenseSim converts radians to arcseconds with this rounded factor; keeping it
# keeps our Einstein radii equal to theirs (1.28149" rather than 1.28149" - 1e-6).
_RAD_TO_ARCSEC = 206265.0


@functools.lru_cache(maxsize=1)
def cosmology():
    """The DeepLenseSim cosmology, ``FlatLambdaCDM(H0=70, Om0=0.3, Ob0=0.05)``."""
    return FlatLambdaCDM(H0=70, Om0=0.3, Ob0=0.05)


@functools.lru_cache(maxsize=8)
def _theta_e_per_sqrt_mass(z_lens, z_source):
    cosmo = cosmology()
    d_l = cosmo.luminosity_distance(z_lens).to_value(u.m)
    d_s = cosmo.luminosity_distance(z_source).to_value(u.m)
    d_ls = d_s - d_l
    factor = 4 * const.G.value * const.M_sun.value / const.c.value ** 2 * d_ls / (d_l * d_s)
    return float(np.sqrt(factor) * _RAD_TO_ARCSEC)


def einstein_radius(mass, *, z_lens=Z_LENS, z_source=Z_SOURCE):
    """Einstein radius of a point mass, in arcseconds, with DeepLenseSim's convention.

    DeepLenseSim uses *luminosity* distances with ``D_LS = D_S - D_L``:
    ``theta_E = sqrt(4 G M / c^2 * D_LS / (D_L D_S))``. This is not the
    textbook angular-diameter form, but it is what the DeepLense data sets
    were made with (1.2815" for the 1e12 Msun main halo).

    Parameters
    ----------
    mass : float or array-like
        Mass in solar masses.
    z_lens, z_source : float, optional

    Returns
    -------
    theta_e : float or `~numpy.ndarray`
    """
    if z_source <= z_lens:
        msg = f'z_source ({z_source}) must be larger than z_lens ({z_lens})'
        raise ValueError(msg)
    mass = np.asarray(mass, dtype=float)
    if np.any(mass < 0):
        msg = 'mass must be non-negative'
        raise ValueError(msg)
    theta = _theta_e_per_sqrt_mass(float(z_lens), float(z_source)) * np.sqrt(mass)
    return float(theta) if theta.ndim == 0 else theta


def sample_cdm_masses(rng, size, *, m_min=CDM_MASS_RANGE[0], m_max=CDM_MASS_RANGE[1],
                      slope=CDM_SLOPE):
    """Draw subhalo masses from ``dN/dm ~ m**slope`` between ``m_min`` and ``m_max``.

    Inverse-CDF sampling of the truncated power law.

    Parameters
    ----------
    rng : `~numpy.random.Generator`
    size : int
    m_min, m_max : float, optional
        Mass range in solar masses.
    slope : float, optional
        Logarithmic slope of the mass function; must not be -1.

    Returns
    -------
    masses : `~numpy.ndarray`
    """
    p = slope + 1.0
    if p == 0:
        msg = 'slope -1 is not supported by the inverse-CDF sampler'
        raise ValueError(msg)
    lo, hi = m_min ** p, m_max ** p
    return (lo + (hi - lo) * rng.uniform(size=size)) ** (1.0 / p)


def cdm_subhalos(rng, *, n=CDM_N_SUBHALOS):
    """Masses and positions of DeepLenseSim's CDM point-mass subhalos.

    Radii are uniform in 0.25-2.0" and angles uniform, measured as
    DeepLenseSim does (``x = r sin(angle)``, ``y = r cos(angle)``).

    Returns
    -------
    masses, x, y : `~numpy.ndarray`
        Solar masses and arcseconds.
    """
    masses = sample_cdm_masses(rng, n)
    radius = rng.uniform(*CDM_RADIUS_RANGE, size=n)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    return masses, radius * np.sin(angle), radius * np.cos(angle)


def vortex_half_length(axion_mass):
    """Half-length in arcseconds of the vortex line for an axion mass in eV.

    DeepLenseSim's conversion of an axion mass to a de Broglie length,
    ``0.06e-22 / (2 m_a)`` (valid for a halo at z = 0.5).
    """
    return 0.06e-22 / (2.0 * np.asarray(axion_mass, dtype=float))


def vortex_subhalos(rng, *, axion_mass=None, total_mass=VORTEX_MASS, n=VORTEX_N_POINTS):
    """Equal point masses on a line through the lens centre at a random angle.

    Parameters
    ----------
    rng : `~numpy.random.Generator`
    axion_mass : float, optional
        In eV; drawn log-uniformly in [1e-24, 1e-22] when not given.
    total_mass : float, optional
        Mass of the vortex in solar masses, split evenly over ``n`` points.
    n : int, optional

    Returns
    -------
    masses, x, y : `~numpy.ndarray`
    axion_mass : float
    angle : float
        Direction of the line in radians from the +x axis.
    """
    if axion_mass is None:
        axion_mass = 10.0 ** rng.uniform(np.log10(AXION_MASS_RANGE[0]),
                                         np.log10(AXION_MASS_RANGE[1]))
    half = float(vortex_half_length(axion_mass))
    angle = 2.0 * np.pi * rng.uniform()
    coords = np.linspace(-half, half, n)
    masses = np.full(n, total_mass / n)
    return masses, coords * np.cos(angle), coords * np.sin(angle), float(axion_mass), angle


def point_mass_deflection(x, y, center_x, center_y, theta_e, *, chunk=16384, r_min=1e-25,
                          far_factor=3.0, order=24):
    """Total deflection of many point masses at many positions, vectorised.

    ``alpha = sum_i theta_E,i**2 (x - x_i) / |x - x_i|**2``, as lenstronomy's
    ``POINT_MASS``. Near the masses it is evaluated directly as matrix
    products per block of positions: ``r**2 = |x|**2 - 2 x.x_i + |x_i|**2``
    for every (position, mass) pair, then ``1 / r**2`` times ``theta_E**2``,
    ``theta_E**2 x_i`` and ``theta_E**2 y_i``. Positions farther than
    ``far_factor`` times the extent of the masses from their centre use the
    multipole expansion of ``sum_i b_i / (z - z_i)`` to ``order`` terms, whose
    relative error is below ``far_factor**-order`` (2e-12 by default): a
    compact vortex costs little more than one point mass.

    Parameters
    ----------
    x, y : `~numpy.ndarray`
        Positions (arcsec), any shape; the result has the shape of ``x``.
    center_x, center_y, theta_e : `~numpy.ndarray`
        1-D, one entry per point mass.
    chunk : int, optional
        (position, mass) pairs per block of the direct sum, to keep its work
        arrays in cache.
    r_min : float, optional
        Smallest distance used, as lenstronomy does, to avoid dividing by zero.
    far_factor : float, optional
        Positions beyond this many extents use the multipole expansion;
        ``numpy.inf`` turns it off.
    order : int, optional
        Number of multipole terms.

    Returns
    -------
    alpha_x, alpha_y : `~numpy.ndarray`
    """
    shape = np.shape(x)
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    cx = np.asarray(center_x, dtype=float).ravel()
    cy = np.asarray(center_y, dtype=float).ravel()
    b = np.asarray(theta_e, dtype=float).ravel() ** 2
    alpha_x = np.zeros_like(x)
    alpha_y = np.zeros_like(y)
    if b.size == 0:
        return alpha_x.reshape(shape), alpha_y.reshape(shape)
    x0, y0 = cx.mean(), cy.mean()
    extent = np.hypot(cx - x0, cy - y0).max()
    radius2 = (x - x0) ** 2 + (y - y0) ** 2
    far = radius2 > (far_factor * max(extent, r_min)) ** 2
    if np.any(far):
        alpha_x[far], alpha_y[far] = _multipole_sum(x[far], y[far], x0, y0, cx, cy, b, order)
    near = np.flatnonzero(~far)
    if near.size:
        _direct_sum(x[near], y[near], cx, cy, b, alpha_x, alpha_y, near, chunk, r_min)
    return alpha_x.reshape(shape), alpha_y.reshape(shape)


def _direct_sum(x, y, cx, cy, b, alpha_x, alpha_y, where, chunk, r_min):
    n = cx.size
    step = max(64, chunk // n)
    weights = np.stack([b, b * cx, b * cy], axis=0)
    left = np.stack([-2.0 * cx, -2.0 * cy, cx * cx + cy * cy, np.ones_like(cx)], axis=1)
    right = np.stack([x, y, np.ones_like(x), x * x + y * y], axis=0)
    buffer = np.empty((n, min(step, x.size)))
    with np.errstate(divide='ignore', invalid='ignore'):
        for start in range(0, x.size, step):
            block = right[:, start:start + step]
            inv_r2 = buffer[:, :block.shape[1]]
            np.matmul(left, block, out=inv_r2)
            np.divide(1.0, inv_r2, out=inv_r2)
            sums = weights @ inv_r2
            ax = block[0] * sums[0] - sums[1]
            ay = block[1] * sums[0] - sums[2]
            bad = ~(np.isfinite(ax) & np.isfinite(ay))
            if np.any(bad):
                # a position on (or within rounding of) a point mass: redo it the
                # careful way, with lenstronomy's smallest radius
                dx = block[0, bad][:, None] - cx
                dy = block[1, bad][:, None] - cy
                r2 = np.maximum(dx * dx + dy * dy, r_min * r_min)
                ax[bad] = (b * dx / r2).sum(axis=1)
                ay[bad] = (b * dy / r2).sum(axis=1)
            alpha_x[where[start:start + step]] = ax
            alpha_y[where[start:start + step]] = ay


def _multipole_sum(x, y, x0, y0, cx, cy, b, order):
    """``sum_i b_i / (z - z_i)`` for ``|z - z0|`` well beyond the masses, as alpha_x, alpha_y."""
    zi = (cx - x0) + 1j * (cy - y0)
    moments = (b[None, :] * zi[None, :] ** np.arange(order)[:, None]).sum(axis=1)
    inv_z = 1.0 / ((x - x0) + 1j * (y - y0))
    total = np.full(inv_z.shape, moments[-1])
    for moment in moments[-2::-1]:
        total *= inv_z
        total += moment
    total *= inv_z
    return total.real, -total.imag


def point_mass_deflection_grid(x, y, center_x, center_y, theta_e, *, far_factor=3.0, order=16,
                               max_elements=150_000):
    """Deflection of many point masses on a regular, axis-aligned pixel grid.

    The grid is separable, so ``r**2 = dx**2 + dy**2`` of every (pixel, mass)
    pair is one broadcast sum of two small tables; ``1 / r**2`` (float32:
    a sum of squares loses no precision) is then contracted with
    ``theta_E**2``, ``theta_E**2 x_i`` and ``theta_E**2 y_i`` in one matrix
    product. Only the rows and columns within ``far_factor`` extents of the
    masses are summed directly; the other pixels use the multipole expansion
    (relative error below ``far_factor**-order``). The float32 sums agree
    with lenstronomy's ``POINT_MASS`` to better than 1e-3 of the deflection
    at a pixel right next to a mass (1e-4" for the vortex), 1e-6 elsewhere:
    far below anything the images can show.

    Parameters
    ----------
    x : `~numpy.ndarray`
        1-D, the ``nx`` pixel-centre x coordinates (arcsec) of the columns.
    y : `~numpy.ndarray`
        1-D, the ``ny`` pixel-centre y coordinates of the rows.
    center_x, center_y, theta_e : `~numpy.ndarray`
        1-D, one entry per point mass.
    far_factor, order : float, int, optional
        See `point_mass_deflection`.
    max_elements : int, optional
        Largest (pixel, mass) work array (the default, 600 kB, stays in a
        typical L2 cache); bigger problems go in row blocks.

    Returns
    -------
    alpha_x, alpha_y : `~numpy.ndarray`
        ``(ny, nx)``.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    cx = np.asarray(center_x, dtype=float).ravel()
    cy = np.asarray(center_y, dtype=float).ravel()
    b = np.asarray(theta_e, dtype=float).ravel() ** 2
    alpha_x = np.zeros((y.size, x.size))
    alpha_y = np.zeros((y.size, x.size))
    if b.size == 0:
        return alpha_x, alpha_y
    x0, y0 = cx.mean(), cy.mean()
    reach = far_factor * max(np.hypot(cx - x0, cy - y0).max(), 1e-12)
    cols = np.flatnonzero(np.abs(x - x0) <= reach)
    rows = np.flatnonzero(np.abs(y - y0) <= reach)
    c0, c1 = (cols[0], cols[-1] + 1) if cols.size else (0, 0)
    r0, r1 = (rows[0], rows[-1] + 1) if rows.size else (0, 0)
    if c1 - c0 < x.size or r1 - r0 < y.size:
        outside = np.ones((y.size, x.size), dtype=bool)
        outside[r0:r1, c0:c1] = False
        yy, xx = np.nonzero(outside)
        alpha_x[outside], alpha_y[outside] = _multipole_sum(x[xx], y[yy], x0, y0, cx, cy, b,
                                                            order)
    if c1 > c0 and r1 > r0:
        xs, ys = x[c0:c1], y[r0:r1]
        dx = xs[None, :] - cx[:, None]
        dy = ys[None, :] - cy[:, None]
        dx2 = (dx * dx).astype(np.float32)
        dy2 = (dy * dy).astype(np.float32)
        weights = np.stack([b, b * cx, b * cy]).astype(np.float32)
        step = max(1, max_elements // (b.size * xs.size))
        for start in range(0, ys.size, step):
            stop = min(start + step, ys.size)
            inv_r2 = np.add(dx2[:, None, :], dy2[:, start:stop, None])
            with np.errstate(divide='ignore'):
                np.divide(np.float32(1.0), inv_r2, out=inv_r2)
            sums = (weights @ inv_r2.reshape(b.size, -1)).astype(float)
            sums = sums.reshape(3, stop - start, xs.size)
            ax = xs[None, :] * sums[0] - sums[1]
            ay = ys[start:stop, None] * sums[0] - sums[2]
            alpha_x[r0 + start:r0 + stop, c0:c1] = ax
            alpha_y[r0 + start:r0 + stop, c0:c1] = ay
        bad = ~(np.isfinite(alpha_x) & np.isfinite(alpha_y))
        if np.any(bad):
            # a pixel centre on a point mass: the careful general sum
            yy, xx = np.nonzero(bad)
            alpha_x[bad], alpha_y[bad] = point_mass_deflection(
                x[xx], y[yy], cx, cy, np.sqrt(b), far_factor=np.inf)
    return alpha_x, alpha_y
