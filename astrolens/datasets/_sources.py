# Licensed under a 3-clause BSD style license - see LICENSE
"""High-resolution training sources for super-resolution, and the held-out split.

Sources that look like the sky:

- **real HST images** from ``../shared/real`` (AEGIS stamps, SLACS lenses,
  HST cutouts of ``more/hst``), split by *file* into `HST_TRAIN` and
  `HST_EVAL`: a file (and every band of the same object) is in one list
  only. The COSMOS HST cutout (``hsc_hst_cosmos/Cut_HST.fits``) is the truth
  of the real HSC/HST validation pair, so it is evaluation only;
- the **left half** (columns < 500) of scikit-image's Hubble Deep Field; the
  right half is evaluation only (`hdf_half`);
- **drawn-scene simulated lenses** (`draw_lens_scene`): every scene draws its
  Einstein radius, ellipticity, shear, lens light, 1-4 source clumps and
  subhalos;
- **star fields** and **empty sky** (`draw_star_field`, zeros).

`SourcePool` holds them and cuts random crops for the degradation model.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astrolens.datasets._sr_pairs import HDF_SPLIT_COLUMN

__all__ = ['HDF_SPLIT_COLUMN', 'HST_EVAL', 'HST_TRAIN', 'HstImage', 'SourcePool',
           'draw_lens_scene', 'draw_star_field', 'hdf_half', 'load_hst_images', 'shared_real']

# (path under shared/real, HDU, pixel scale ", PSF FWHM ")
HST_TRAIN = (
    ('hst_galaxies/AEGIS_F606w_images_01.fits', 0, 0.03, 0.09),
    ('hst_galaxies/AEGIS_F606w_images_01.fits', 1, 0.03, 0.09),
    ('hst_galaxies/AEGIS_F606w_images_01.fits', 2, 0.03, 0.09),
    ('hst_galaxies/AEGIS_F606w_images_02.fits', 0, 0.03, 0.09),
    ('hst_galaxies/AEGIS_F606w_images_02.fits', 1, 0.03, 0.09),
    ('hst_galaxies/AEGIS_F814w_images_01.fits', 0, 0.03, 0.10),
    ('hst_galaxies/AEGIS_F814w_images_01.fits', 1, 0.03, 0.10),
    ('hst_galaxies/AEGIS_F814w_images_01.fits', 2, 0.03, 0.10),
    ('hst_galaxies/AEGIS_F814w_images_02.fits', 0, 0.03, 0.10),
    ('hst_galaxies/AEGIS_F814w_images_02.fits', 1, 0.03, 0.10),
    ('slacs_hst/SDSSJ0029-0055.fits', 1, 0.05, 0.10),
    ('slacs_hst/SDSSJ0737+3216.fits', 1, 0.05, 0.10),
    ('more/hst/dolphin_lens_system1_F390W.fits', 0, 0.04, 0.08),
    ('more/hst/dolphin_lens_system3_F475X.fits', 0, 0.04, 0.08),
    ('more/hst/dolphin_lens_system3_F600LP.fits', 0, 0.04, 0.08),
    ('more/hst/petrofit_a2744_cd_galaxy_f105w.fits.gz', 0, 0.06, 0.13),
    ('more/hst/petrofit_a2744_group_f105w.fits.gz', 0, 0.06, 0.13),
    ('more/hst/rbh_rbh1_acs_f606w_f814w.fits', 1, 0.05, 0.10),
    ('more/hst/rbh_rbh1_acs_f606w_f814w.fits', 3, 0.05, 0.10),
)
#: Held out of every training: real HST images for evaluation only.
HST_EVAL = (
    ('slacs_hst/SDSSJ0753+3416.fits', 1, 0.05, 0.10),
    ('more/hst/dolphin_lensed_quasar_F814W.fits', 0, 0.04, 0.08),
    ('more/hst/imfit_n5419_wfpc2pc_f555w.fits', 0, 0.0455, 0.08),
    ('more/hst/petrofit_a2744_spiral_galaxy_f105w.fits.gz', 0, 0.06, 0.13),
    ('more/hst/petrofit_a2744_dwarf_galaxy_f105w.fits.gz', 0, 0.06, 0.13),
    ('hsc_hst_cosmos/Cut_HST.fits', 0, 0.03, 0.10),
)


def shared_real():
    """The ``shared/real`` folder of real survey files, or None when it is absent.

    Looked for, in order: ``$ASTROLENS_SHARED/real``; ``shared/real`` beside
    the checkout that holds this package (an editable install); ``../shared/real``
    from the current folder (a checkout's root, with astrolens installed into
    site-packages, as CI does).
    """
    candidates = [Path(__file__).resolve().parents[3] / 'shared' / 'real',
                  Path.cwd().resolve().parent / 'shared' / 'real']
    if os.environ.get('ASTROLENS_SHARED'):
        candidates.insert(0, Path(os.environ['ASTROLENS_SHARED']) / 'real')
    return next((path for path in candidates if path.is_dir()), None)


@dataclass
class HstImage:
    """A real HST image: pixels (flux per pixel, NaNs filled), pixel scale and PSF FWHM (")."""

    name: str
    data: np.ndarray
    pixel_scale: float
    fwhm: float

    @property
    def fwhm_pixels(self):
        """PSF FWHM in pixels."""
        return self.fwhm / self.pixel_scale


def load_hst_images(split='train', *, root=None):
    """The real HST images of one split.

    Parameters
    ----------
    split : {'train', 'eval'}
    root : str or `~pathlib.Path`, optional
        The ``shared/real`` folder; default the one beside the checkout.

    Returns
    -------
    images : list of `HstImage`
        Empty when the folder is absent.
    """
    from astropy.io import fits

    if split not in ('train', 'eval'):
        msg = f"split must be 'train' or 'eval', got {split!r}"
        raise ValueError(msg)
    root = Path(root) if root is not None else shared_real()
    if root is None:
        return []
    out = []
    for rel, hdu, scale, fwhm in (HST_TRAIN if split == 'train' else HST_EVAL):
        path = root / rel
        if not path.is_file():
            continue
        with fits.open(path) as f:
            data = np.array(f[hdu].data, dtype=np.float64)
        bad = ~np.isfinite(data)
        if bad.any():
            data[bad] = np.median(data[~bad])
        out.append(HstImage(f'{rel}[{hdu}]', data, scale, fwhm))
    return out


def hdf_half(half='left'):
    """Grey-level (sum of RGB) Hubble Deep Field from scikit-image, one half.

    ``'left'`` (columns < 500) is for training, ``'right'`` for evaluation only.
    """
    from skimage import data

    if half not in ('left', 'right'):
        msg = f"half must be 'left' or 'right', got {half!r}"
        raise ValueError(msg)
    grey = data.hubble_deep_field().astype(np.float64).sum(axis=-1)
    return grey[:, :HDF_SPLIT_COLUMN] if half == 'left' else grey[:, HDF_SPLIT_COLUMN:]


# --------------------------------------------------------------------------- simulated scenes

def _sersic_params(rng, *, r_range, n_range, e_max, center):
    return {'amp': 1.0, 'R_sersic': float(np.exp(rng.uniform(*np.log(r_range)))),
            'n_sersic': float(rng.uniform(*n_range)),
            'e1': float(rng.uniform(-e_max, e_max)), 'e2': float(rng.uniform(-e_max, e_max)),
            'center_x': float(center[0]), 'center_y': float(center[1])}


def draw_lens_scene(rng, *, num_pix=128, pixel_scale=0.05, supersample=2):
    """A strong-lens scene whose every parameter is drawn (noise-free, no PSF).

    SIE main lens (Einstein radius 0.5-2", ellipticity up to 0.3, centre
    within 0.2"), external shear up to 0.1, 0-20 point-mass subhalos; a
    Sersic lens light (absent in a fifth of the scenes) and 1-4 Sersic source
    clumps near the caustic. Flux per pixel, brightest pixel of order 1.

    Returns
    -------
    image : `~numpy.ndarray`
        ``(num_pix, num_pix)``.
    """
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel

    n = num_pix * supersample
    step = pixel_scale / supersample
    coords = (np.arange(n) - (n - 1) / 2.0) * step
    x, y = np.meshgrid(coords, coords)
    x, y = x.ravel(), y.ravel()
    centre = rng.uniform(-0.2, 0.2, 2)
    n_sub = int(rng.integers(0, 21))
    models = ['SIE', 'SHEAR'] + ['POINT_MASS'] * n_sub
    kwargs = [{'theta_E': float(rng.uniform(0.5, 2.0)), 'e1': float(rng.uniform(-0.3, 0.3)),
               'e2': float(rng.uniform(-0.3, 0.3)), 'center_x': float(centre[0]),
               'center_y': float(centre[1])},
              {'gamma1': float(rng.uniform(-0.1, 0.1)), 'gamma2': float(rng.uniform(-0.1, 0.1))}]
    for _ in range(n_sub):
        radius, angle = rng.uniform(0.3, 2.5), rng.uniform(0, 2 * np.pi)
        kwargs.append({'theta_E': float(np.exp(rng.uniform(np.log(0.005), np.log(0.08)))),
                       'center_x': float(centre[0] + radius * np.cos(angle)),
                       'center_y': float(centre[1] + radius * np.sin(angle))})
    bx, by = LensModel(models).ray_shooting(x, y, kwargs)
    n_clumps = int(rng.integers(1, 5))
    src_centre = centre + rng.uniform(-0.3, 0.3, 2)
    clumps = []
    for i in range(n_clumps):
        offset = rng.normal(0, 0.15, 2) if i else np.zeros(2)
        params = _sersic_params(rng, r_range=(0.03, 0.4) if i else (0.1, 0.5),
                                n_range=(0.5, 4.0), e_max=0.4, center=src_centre + offset)
        params['amp'] = float(np.exp(rng.uniform(np.log(0.2), np.log(1.0)))) if i else 1.0
        clumps.append(params)
    image = LightModel(['SERSIC_ELLIPSE'] * n_clumps).surface_brightness(bx, by, clumps)
    image = image / max(float(image.max()), 1e-12)
    if rng.random() > 0.2:
        lens = _sersic_params(rng, r_range=(0.3, 2.0), n_range=(1.0, 6.0), e_max=0.3,
                              center=centre)
        light = LightModel(['SERSIC_ELLIPSE']).surface_brightness(x, y, [lens])
        ratio = float(np.exp(rng.uniform(np.log(0.1), np.log(10.0))))
        image = image + ratio * light / max(float(light.max()), 1e-12)
    image = image.reshape(n, n)
    image = image.reshape(num_pix, supersample, num_pix, supersample).mean(axis=(1, 3))
    return image / max(float(image.max()), 1e-12)


def draw_star_field(rng, *, shape=(128, 128)):
    """Point sources (power-law fluxes, sub-pixel positions) and maybe a faint galaxy.

    Stars are narrow Gaussians (sigma 0.4 pixel); the degradation model gives
    them their PSF.
    """
    image = np.zeros(shape)
    n = int(rng.integers(1, 30))
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    for _ in range(n):
        y0, x0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        flux = float(rng.pareto(1.5) + 1.0)
        y_lo, y_hi = max(0, int(y0) - 3), min(shape[0], int(y0) + 4)
        x_lo, x_hi = max(0, int(x0) - 3), min(shape[1], int(x0) + 4)
        sub_y, sub_x = yy[y_lo:y_hi, x_lo:x_hi], xx[y_lo:y_hi, x_lo:x_hi]
        blob = np.exp(-0.5 * ((sub_y - y0) ** 2 + (sub_x - x0) ** 2) / 0.4 ** 2)
        image[y_lo:y_hi, x_lo:x_hi] += flux * blob / blob.sum() if blob.sum() > 0 else 0
    return image


# --------------------------------------------------------------------------- pool

#: Share of each kind of source per preset.
SOURCE_WEIGHTS = {
    'survey-x2': {'hst': 0.45, 'hdf': 0.2, 'lens': 0.15, 'stars': 0.1, 'sky': 0.1},
    'deeplense-x2': {'hst': 0.1, 'hdf': 0.05, 'lens': 0.75, 'stars': 0.05, 'sky': 0.05},
    'hsc-hst-x3': {'hst': 0.5, 'hdf': 0.1, 'lens': 0.25, 'stars': 0.05, 'sky': 0.1},
}


class SourcePool:
    """Training sources of one preset; `crop` cuts a random HR crop.

    Parameters
    ----------
    preset : str
        A key of `SOURCE_WEIGHTS`.
    seed : int, optional
        Seeds the lens scenes pre-drawn at construction.
    n_lenses : int, optional
        Drawn lens scenes kept in the pool (lenstronomy is slow; crops of
        them are re-oriented and re-scaled).
    root : str or `~pathlib.Path`, optional
        The ``shared/real`` folder.
    """

    def __init__(self, preset='survey-x2', *, seed=0, n_lenses=64, root=None):
        if preset not in SOURCE_WEIGHTS:
            msg = f'unknown preset {preset!r}; use one of {sorted(SOURCE_WEIGHTS)}'
            raise ValueError(msg)
        self.preset = preset
        self.hst = load_hst_images('train', root=root)
        self.hdf = hdf_half('left')
        rng = np.random.default_rng([seed, 7])
        self.lenses = [draw_lens_scene(rng, num_pix=160) for _ in range(n_lenses)]
        weights = dict(SOURCE_WEIGHTS[preset])
        if not self.hst:
            weights['hst'] = 0.0
        self.kinds = list(weights)
        total = sum(weights.values())
        self.p = np.array([weights[k] for k in self.kinds]) / total

    def describe(self):
        """What the pool holds (for the model configuration)."""
        return {'hst_files': [im.name for im in self.hst],
                'hdf': f'scikit-image hubble_deep_field, columns < {HDF_SPLIT_COLUMN}',
                'n_lens_scenes': len(self.lenses), 'weights': dict(zip(self.kinds,
                                                                       self.p.tolist(),
                                                                       strict=True))}

    def crop(self, rng, size):
        """A random ``(size, size)`` crop: ``(image, native_fwhm_pixels, kind, pixel_scale)``.

        Images smaller than ``size`` are padded with their median. The crop
        is in a random D4 orientation, flux per pixel.
        """
        kind = str(rng.choice(self.kinds, p=self.p))
        scale = None
        if kind == 'hst':
            im = self.hst[int(rng.integers(0, len(self.hst)))]
            image, fwhm, scale = im.data, im.fwhm_pixels, im.pixel_scale
        elif kind == 'hdf':
            image, fwhm = self.hdf, 2.0
        elif kind == 'lens':
            image, fwhm, scale = self.lenses[int(rng.integers(0, len(self.lenses)))], 1.0, 0.05
        elif kind == 'stars':
            return draw_star_field(rng, shape=(size, size)), 1.0, kind, None
        else:
            sky = np.zeros((size, size))
            return sky, 1.0, kind, None
        pad = max(0, size - min(image.shape))
        if pad:
            image = np.pad(image, pad, mode='constant', constant_values=float(np.median(image)))
        r = int(rng.integers(0, image.shape[0] - size + 1))
        c = int(rng.integers(0, image.shape[1] - size + 1))
        out = image[r:r + size, c:c + size]
        k = int(rng.integers(0, 8))
        out = np.rot90(out.T if k >= 4 else out, k % 4)
        return np.ascontiguousarray(out), float(fwhm), kind, scale
