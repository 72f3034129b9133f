# Licensed under a 3-clause BSD style license - see LICENSE
"""`LensSimulator`: DeepLenseSim Models I-III with no, CDM or vortex substructure."""

import numpy as np
from astropy.nddata import NDData

from astrolens.io import canonical_class
from astrolens.simulation._batch import BatchRenderer
from astrolens.simulation._instruments import MODEL_I_LOG10_EXPOSURE, MODELS, get_instrument
from astrolens.simulation._noise import deeplense_counts, gaussian_noise
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
# images rendered together: large enough to spread the per-call costs, small
# enough that a batch's work arrays stay in the CPU caches
BATCH_SIZE = 8


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
    """DeepLenseSim-faithful strong-lens images, rendered in vectorised batches.

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
    batch_size : int, optional
        Images rendered together (`BatchRenderer`); it changes the speed,
        never the images.

    Examples
    --------
    >>> sim = LensSimulator('model_i', 'vortex', seed=1)
    >>> sim.simulate(4).shape
    (4, 150, 150)
    """

    def __init__(self, model='model_i', substructure='none', *, seed=None, noise=True,
                 batch_size=BATCH_SIZE):
        self.model = check_model(model)
        self.substructure = check_substructure(substructure)
        self.seed = seed
        self.noise = bool(noise)
        self.batch_size = check_count(batch_size, 'batch_size')
        if self.batch_size < 1:
            msg = f'batch_size must be at least 1, got {batch_size!r}'
            raise ValueError(msg)
        self._seed_seq = (seed if isinstance(seed, np.random.SeedSequence)
                          else np.random.SeedSequence(seed))
        self._next_index = 0
        self.instrument = get_instrument(self.model)
        inst = self.instrument
        self._renderer = SceneRenderer(inst.num_pix, inst.pixel_scale, inst.psf_fwhm)
        if inst.kwargs_single_band is not None:
            # lenstronomy's SimAPI builds its Gaussian PSF with its own truncation
            self._renderer.kernel = _simapi_kernel(inst)
        self._batch = BatchRenderer(self._renderer, source_kwargs(inst.source_amp, 0.0, 0.0))

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
            return meta
        meta.update(subhalo_masses=masses, subhalo_x=x, subhalo_y=y)
        return meta

    def draw(self, rng, *, source_center=None):
        """The random scene parameters of one image, drawn from ``rng``.

        In this order: substructure, source centre, exposure time (Model I).

        Returns
        -------
        meta : dict
            ``source_x``, ``source_y``, ``exposure_time`` and, with
            substructure, ``subhalo_masses``, ``subhalo_x``, ``subhalo_y``
            (and ``axion_mass``, ``vortex_angle`` for a vortex).
        """
        meta = self._draw_substructure(rng)
        if source_center is None:
            source_center = rng.uniform(*SOURCE_CENTER_RANGE, size=2)
        meta.update(source_x=float(source_center[0]), source_y=float(source_center[1]))
        inst = self.instrument
        if inst.noise == 'deeplense':
            meta['exposure_time'] = float(10.0 ** rng.uniform(*MODEL_I_LOG10_EXPOSURE))
        else:
            meta['exposure_time'] = float(inst.exposure_time)
        return meta

    def render_batch(self, rngs, *, source_centers=None):
        """Images of several scenes, scene ``i`` drawn from ``rngs[i]`` alone.

        All draws of an image (scene, then noise) come from its own
        generator, so an image does not depend on the others in the batch.

        Parameters
        ----------
        rngs : list of `~numpy.random.Generator`
        source_centers : list of tuple, optional
            Fix the source centres (arcsec) instead of drawing them.

        Returns
        -------
        images : `~numpy.ndarray`
            ``(len(rngs), ny, nx)`` float32.
        metas : list of dict
        """
        centers = [None] * len(rngs) if source_centers is None else list(source_centers)
        if len(centers) != len(rngs):
            msg = (f'source_centers has {len(centers)} entries for {len(rngs)} generators; '
                   'give one centre per image')
            raise ValueError(msg)
        metas = [self.draw(rng, source_center=c) for rng, c in zip(rngs, centers, strict=True)]
        if not metas:
            return np.empty((0, *self.shape), dtype=np.float32), metas
        subhalos = None
        if self.substructure != 'none':
            subhalos = [(einstein_radius(m['subhalo_masses']), m['subhalo_x'], m['subhalo_y'])
                        for m in metas]
        model = self._batch.model([m['source_x'] for m in metas],
                                  [m['source_y'] for m in metas], subhalos)
        inst = self.instrument
        if inst.noise == 'deeplense':
            exp_time = np.array([m['exposure_time'] for m in metas])
            if self.noise:
                return deeplense_counts(model, exp_time, inst.background_noise, rngs), metas
            model *= exp_time.astype(np.float32)[:, None, None]
            return model, metas
        if not self.noise:
            return model, metas
        # SimAPI's background and photon noise: independent Gaussians, drawn as one
        sigma = np.clip(model, 0, None)
        sigma /= np.float32(inst.exposure_time)
        sigma += np.float32(inst.background_noise) ** 2
        np.sqrt(sigma, out=sigma)
        return gaussian_noise(model, sigma, rngs), metas

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
        images, metas = self.render_batch(
            [rng], source_centers=None if source_center is None else [source_center])
        return images[0], metas[0]

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
        first = self._next_index
        for start_k in range(0, n, self.batch_size):
            indices = range(first + start_k, first + min(n, start_k + self.batch_size))
            rngs = [np.random.default_rng(image_seed(self._seed_seq, k)) for k in indices]
            batch, batch_metas = self.render_batch(rngs)
            images[start_k:start_k + len(rngs)] = batch
            for k, meta in zip(indices, batch_metas, strict=True):
                meta['index'] = k
            metas.extend(batch_metas)
        self._next_index = first + n
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


def _simapi_kernel(inst):
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    sim = SimAPI(inst.num_pix, inst.kwargs_single_band,
                 {'lens_model_list': ['SIE'], 'source_light_model_list': ['SERSIC_ELLIPSE']})
    image_model = sim.image_model_class({'point_source_supersampling_factor': 1})
    kernel = np.asarray(image_model.PSF.kernel_point_source, dtype=float)
    return kernel / kernel.sum()
