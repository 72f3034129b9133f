# Licensed under a 3-clause BSD style license - see LICENSE
"""`LensSimulator`: DeepLenseSim Models I-III with no, CDM or vortex substructure."""

import numpy as np
from astropy.nddata import NDData

from astrolens.io import canonical_class
from astrolens.simulation._instruments import MODEL_I_LOG10_EXPOSURE, MODELS, get_instrument
from astrolens.simulation._physics import (
    MAIN_HALO_MASS,
    cdm_subhalos,
    einstein_radius,
    vortex_subhalos,
)
from astrolens.simulation._render import SceneRenderer, source_kwargs

__all__ = ['SUBSTRUCTURES', 'LensSimulator', 'check_model', 'check_substructure',
           'image_seed']

SUBSTRUCTURES = ('none', 'cdm', 'vortex')
# the simulator says 'none' where the class labels say 'no'
_SUBSTRUCTURE_OF_CLASS = {'no': 'none', 'cdm': 'cdm', 'vortex': 'vortex'}
SOURCE_CENTER_RANGE = (-0.35, 0.35)


def check_model(model):
    """Canonical model name (``'model_i'``, ``'model_ii'`` or ``'model_iii'``)."""
    key = str(model).strip().lower().replace('-', '_')
    if key not in MODELS:
        msg = f'unknown model {model!r}; choose one of {list(MODELS)}'
        raise ValueError(msg)
    return key


def check_substructure(substructure):
    """Canonical substructure name (``'none'``, ``'cdm'`` or ``'vortex'``)."""
    try:
        return _SUBSTRUCTURE_OF_CLASS[canonical_class(substructure)]
    except ValueError:
        msg = (f'unknown substructure {substructure!r}; choose one of {list(SUBSTRUCTURES)} '
               '(aliases: no, sphere, vort, axion)')
        raise ValueError(msg) from None


def check_count(n, name='n'):
    """``n`` as a non-negative int, or a `ValueError` naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        msg = f'{name} must be a non-negative integer, got {n!r}'
        raise ValueError(msg)
    return int(n)


def image_seed(seed, *key):
    """Independent `~numpy.random.SeedSequence` of one image.

    The child ``key`` of ``SeedSequence(seed)`` (what ``spawn`` would give as
    its ``key``-th child), so an image depends only on the seed and its
    index, never on how the work was split between processes.
    """
    if isinstance(seed, np.random.SeedSequence):
        entropy, prefix = seed.entropy, tuple(seed.spawn_key)
    else:
        entropy, prefix = seed, ()
    return np.random.SeedSequence(entropy, spawn_key=prefix + tuple(int(k) for k in key))


class LensSimulator:
    """DeepLenseSim-faithful strong-lens images, several times faster than the original.

    The main halo is a 1e12 Msun SIE (Einstein radius 1.2815") with external
    shear at z = 0.5; the source a Sersic galaxy at z = 1 whose centre is
    drawn uniformly in +-0.35". Substructure is none, 25 CDM point-mass
    subhalos or a vortex of 100 point masses (3e10 Msun) along a line whose
    length follows the drawn axion mass. Model I images are counts, exactly
    as DeepLenseSim writes them (Poisson draw after exposure scaling);
    Models II (Euclid VIS) and III (HST WFC3 F160W) are electrons per second
    with lenstronomy's noise.

    Parameters
    ----------
    model : {'model_i', 'model_ii', 'model_iii'}, optional
    substructure : {'none', 'cdm', 'vortex'}, optional
        DeepLense aliases (``'no'``, ``'sphere'``, ``'vort'``, ``'axion'``) work too.
    seed : int, `~numpy.random.SeedSequence` or None, optional
        Image ``k`` of this simulator depends only on ``seed`` and ``k``.
    noise : bool, optional
        Add noise (default). Without it Model I returns the expected counts
        ``exp_time * model``.

    Examples
    --------
    >>> sim = LensSimulator('model_i', 'vortex', seed=1)
    >>> sim.simulate(4).shape
    (4, 150, 150)
    """

    def __init__(self, model='model_i', substructure='none', *, seed=None, noise=True):
        self.model = check_model(model)
        self.substructure = check_substructure(substructure)
        self.seed = seed
        self.noise = bool(noise)
        self._seed_seq = (seed if isinstance(seed, np.random.SeedSequence)
                          else np.random.SeedSequence(seed))
        self._next_index = 0
        self.instrument = get_instrument(self.model)
        inst = self.instrument
        self._renderer = SceneRenderer(inst.num_pix, inst.pixel_scale, inst.psf_fwhm)
        if inst.kwargs_single_band is not None:
            # lenstronomy's SimAPI builds its Gaussian PSF with its own truncation
            self._renderer.kernel = _simapi_kernel(inst)

    @property
    def shape(self):
        """``(ny, nx)`` of the images."""
        return self.instrument.shape

    @property
    def pixel_scale(self):
        """Arcseconds per pixel."""
        return self.instrument.pixel_scale

    @property
    def unit(self):
        """Unit of the pixel values (counts for Model I, electron / s otherwise)."""
        return self.instrument.unit

    def __repr__(self):
        return (f'LensSimulator(model={self.model!r}, substructure={self.substructure!r}, '
                f'seed={self.seed!r})')

    def _draw_substructure(self, rng):
        meta = {}
        if self.substructure == 'cdm':
            masses, x, y = cdm_subhalos(rng)
        elif self.substructure == 'vortex':
            masses, x, y, axion_mass, angle = vortex_subhalos(rng)
            meta['axion_mass'] = axion_mass
            meta['vortex_angle'] = angle
        else:
            return None, meta
        meta.update(subhalo_masses=masses, subhalo_x=x, subhalo_y=y)
        return (einstein_radius(masses), x, y), meta

    def render(self, rng, *, source_center=None):
        """One image and the record of its random draws.

        Parameters
        ----------
        rng : `~numpy.random.Generator`
        source_center : tuple of float, optional
            Fix the source centre (arcsec) instead of drawing it.

        Returns
        -------
        image : `~numpy.ndarray`
            ``(ny, nx)`` float32.
        meta : dict
        """
        subhalos, meta = self._draw_substructure(rng)
        if source_center is None:
            source_center = rng.uniform(*SOURCE_CENTER_RANGE, size=2)
        inst = self.instrument
        kwargs = source_kwargs(inst.source_amp, *source_center)
        model = self._renderer.image(kwargs, subhalos=subhalos)
        meta.update(source_x=float(source_center[0]), source_y=float(source_center[1]))
        if inst.noise == 'deeplense':
            exp_time = 10.0 ** rng.uniform(*MODEL_I_LOG10_EXPOSURE)
            image = _deeplense_counts(model, exp_time, inst.background_noise, rng,
                                      noise=self.noise)
        else:
            exp_time = inst.exposure_time
            image = model
            if self.noise:
                # SimAPI's background and photon noise: independent Gaussians, drawn as one
                sigma = np.sqrt(inst.background_noise ** 2 + inst.flux_noise(model) ** 2)
                image = model + sigma * rng.standard_normal(model.shape)
        meta['exposure_time'] = float(exp_time)
        return image.astype(np.float32), meta

    def _image(self, index):
        rng = np.random.default_rng(image_seed(self._seed_seq, index))
        return self.render(rng)

    def simulate(self, n, *, start=None, return_meta=False):
        """Simulate ``n`` images (the next ``n`` of this simulator's sequence).

        Parameters
        ----------
        n : int
        start : int, optional
            Index of the first image in the sequence; by default where the
            previous call stopped. Parallel or resumed training jobs use it to
            draw disjoint images from one seed.
        return_meta : bool, optional
            Also return one dict of random draws per image.

        Returns
        -------
        images : `~numpy.ndarray`
            ``(n, ny, nx)`` float32.
        metas : list of dict
            Only with ``return_meta=True``.
        """
        n = check_count(n)
        if start is not None:
            self._next_index = check_count(start, 'start')
        images = np.empty((n, *self.shape), dtype=np.float32)
        metas = []
        for k in range(n):
            images[k], meta = self._image(self._next_index)
            meta['index'] = self._next_index
            metas.append(meta)
            self._next_index += 1
        return (images, metas) if return_meta else images

    def simulate_nddata(self, *, ra=150.0, dec=2.0):
        """Simulate the next image as `~astropy.nddata.NDData` with a TAN WCS.

        Parameters
        ----------
        ra, dec : float, optional
            Sky position of the image centre in degrees.

        Returns
        -------
        nddata : `~astropy.nddata.NDData`
            ``meta`` holds every random draw (source centre, subhalo masses
            and positions, axion mass, exposure time) and the settings.
        """
        from astrolens.wcs_utils import make_wcs

        images, (meta,) = self.simulate(1, return_meta=True)
        meta.update(self.describe())
        return NDData(images[0], wcs=make_wcs(self.shape, self.pixel_scale, ra=ra, dec=dec),
                      unit=self.unit, meta=meta)

    def describe(self):
        """Settings of this simulator, as ``meta`` entries."""
        return {'model': self.model, 'substructure': self.substructure,
                'instrument': self.instrument.instrument, 'pixel_scale': self.pixel_scale,
                'psf_fwhm': self.instrument.psf_fwhm, 'main_halo_mass': MAIN_HALO_MASS,
                'theta_e': einstein_radius(MAIN_HALO_MASS), 'simulator': 'astrolens'}


def _deeplense_counts(model, exp_time, background_rms, rng, *, noise=True):
    """DeepLenseSim's Model I noise: Poisson(exp_time * (model + poisson + background)).

    The Gaussian "Poisson" and background terms are added in flux units
    before the exposure scaling and the final Poisson draw of the clipped
    expectation, as the original does.
    """
    if not noise:
        return exp_time * model
    # DeepLenseSim adds two independent Gaussians, sqrt(|model| / exp_time) and
    # background_rms: one Gaussian with the summed variance is the same distribution
    sigma = np.sqrt(np.abs(model) / exp_time + background_rms ** 2)
    expected = exp_time * (model + sigma * rng.standard_normal(model.shape))
    # Poisson(0) is 0: drawing only where the clipped expectation is positive
    # (about half of the sky) gives the same distribution for half the work
    positive = expected > 0
    counts = np.zeros(model.shape)
    counts[positive] = rng.poisson(expected[positive])
    return counts


def _simapi_kernel(inst):
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    sim = SimAPI(inst.num_pix, inst.kwargs_single_band,
                 {'lens_model_list': ['SIE'], 'source_light_model_list': ['SERSIC_ELLIPSE']})
    image_model = sim.image_model_class({'point_source_supersampling_factor': 1})
    kernel = np.asarray(image_model.PSF.kernel_point_source, dtype=float)
    return kernel / kernel.sum()
