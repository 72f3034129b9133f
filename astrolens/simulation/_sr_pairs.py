# Licensed under a 3-clause BSD style license - see LICENSE
"""Low/high-resolution training pairs: "deeplense-x2" and "hsc-hst"."""

import functools
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.nddata import NDData, StdDevUncertainty

from astrolens.io import save_npy, write_fits
from astrolens.simulation._instruments import MODEL_I_BACKGROUND_RMS, MODEL_I_LOG10_EXPOSURE
from astrolens.simulation._parallel import check_workers, run_tasks
from astrolens.simulation._render import (
    SceneRenderer,
    gaussian_kernel,
    main_lens_kwargs,
    source_kwargs,
)
from astrolens.simulation._simulator import SOURCE_CENTER_RANGE, check_count, image_seed
from astrolens.wcs_utils import make_wcs

__all__ = ['HSC_HST', 'PRESETS', 'simulate_sr_pairs']

PRESETS = ('deeplense-x2', 'hsc-hst')
_CHUNK = 8

# deeplense-x2: the Model I scene on a 0.05"/px (HR) and a 0.10"/px (LR) grid
X2_HR = {'num_pix': 150, 'pixel_scale': 0.05, 'psf_fwhm': 0.087}
X2_LR = {'num_pix': 75, 'pixel_scale': 0.10, 'psf_fwhm': 0.15}

#: hsc-hst settings. Fluxes are counts at AB zero point 27 (the HSC coadd
#: convention) in both images; ``sky_sigma`` is the Gaussian sky noise per
#: pixel and ``gain`` the electrons per count of the object's photon noise.
#: HSC-Wide i band: 5 sigma point-source depth ~26.2 with 0.6" seeing gives
#: ~0.08 counts per 0.168" pixel; the HST image is a deep ACS F814W-like stack.
HSC_HST = {
    'lr': {'num_pix': 32, 'pixel_scale': 0.168, 'seeing': (0.55, 0.70), 'sky_sigma': 0.08,
           'gain': 1800.0, 'instrument': 'HSC-Wide i-band-like (simulated)'},
    'hr': {'num_pix': 160, 'pixel_scale': 0.05, 'seeing': (0.095, 0.105), 'sky_sigma': 0.005,
           'gain': 7500.0, 'instrument': 'HST ACS F814W-like deep (simulated)'},
    'zero_point': 27.0,
    'max_offset': 0.1,
    'lens_mag': (19.5, 21.0),
    'source_mag': (21.5, 23.0),
    'ra': 150.0,
    'dec': 2.0,
}


def _check_preset(preset):
    key = str(preset).strip().lower()
    if key not in PRESETS:
        msg = f'unknown preset {preset!r}; choose one of {list(PRESETS)}'
        raise ValueError(msg)
    return key


# ---------------------------------------------------------------- deeplense-x2

@functools.lru_cache(maxsize=1)
def _x2_renderers():
    hr = SceneRenderer(X2_HR['num_pix'], X2_HR['pixel_scale'], X2_HR['psf_fwhm'])
    lr_kernel = gaussian_kernel(X2_LR['psf_fwhm'], X2_LR['pixel_scale'])
    return hr, lr_kernel


def deeplense_x2_pair(rng):
    """One "deeplense-x2" pair: ``(lr (75, 75), hr (150, 150), meta)``, flux per pixel.

    The HR image is the Model I model image (no substructure, no noise). The
    LR pixels are exactly 2x2 HR pixels, so the LR image integrates the same
    surface brightness (sampled at the HR pixel centres) before its own PSF
    and noise: both images hold the same total flux.
    """
    from scipy import ndimage

    renderer, lr_kernel = _x2_renderers()
    center = rng.uniform(*SOURCE_CENTER_RANGE, size=2)
    flux = renderer.surface_brightness(source_kwargs(20.0, *center)) * renderer.pixel_area
    hr = renderer.convolve(flux)
    n = X2_LR['num_pix']
    lr_model = flux.reshape(n, 2, n, 2).sum(axis=(1, 3))
    lr_model = ndimage.convolve(lr_model, lr_kernel, mode='constant', cval=0.0)
    exp_time = 10.0 ** rng.uniform(*MODEL_I_LOG10_EXPOSURE)
    lr = (rng.poisson(exp_time * np.clip(lr_model, 0, None)) / exp_time
          + rng.standard_normal(lr_model.shape) * MODEL_I_BACKGROUND_RMS)
    meta = {'source_x': float(center[0]), 'source_y': float(center[1]),
            'exposure_time': float(exp_time)}
    return lr.astype(np.float32), hr.astype(np.float32), meta


# --------------------------------------------------------------------- hsc-hst

def _render_on_wcs(wcs, shape, fwhm, kwargs_lens, kwargs_source, kwargs_lens_light,
                   supersampling):
    """Render the sky scene onto the pixel grid that ``wcs`` describes truly.

    lenstronomy coordinates are taken as tangent-plane offsets (east, north)
    in arcsec from the scene centre, which is the WCS reference point; the
    CD matrix (in arcsec) is then lenstronomy's ``transform_pix2angle``.
    """
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel

    pix2angle = wcs.wcs.cd * 3600.0
    centre = np.array([(shape[1] - 1) / 2.0, (shape[0] - 1) / 2.0])
    ra0, dec0 = -pix2angle @ centre
    data = ImageData(image_data=np.zeros(shape), ra_at_xy_0=ra0, dec_at_xy_0=dec0,
                     transform_pix2angle=pix2angle)
    pixel_scale = float(np.sqrt(abs(np.linalg.det(pix2angle))))
    psf = PSF(psf_type='GAUSSIAN', fwhm=fwhm, pixel_size=pixel_scale, truncation=4)
    model = ImageModel(data, psf, lens_model_class=LensModel(['SIE', 'SHEAR']),
                       source_model_class=LightModel(['SERSIC_ELLIPSE']),
                       lens_light_model_class=LightModel(['SERSIC_ELLIPSE']),
                       kwargs_numerics={'supersampling_factor': supersampling,
                                        'supersampling_convolution': False})
    image = model.image(kwargs_lens, kwargs_source, kwargs_lens_light=kwargs_lens_light)
    kernel = np.asarray(psf.kernel_point_source, dtype=float)
    return image, kernel / kernel.sum()


def _amplitude_for_magnitude(kwargs, magnitude, zero_point):
    from lenstronomy.LightModel.light_model import LightModel

    unit_flux = LightModel(['SERSIC_ELLIPSE']).total_flux([{**kwargs, 'amp': 1.0}])[0]
    return 10.0 ** (-0.4 * (magnitude - zero_point)) / unit_flux


def hsc_hst_pair(rng, *, index=0, seed=None):
    """One "hsc-hst" pair ``(lr, hr)`` of `~astropy.nddata.NDData`.

    Both images see the same sky scene (Model-I-like lens with a de Vaucouleurs
    lens galaxy and a Sersic source), each rendered by lenstronomy straight
    onto its own rotated pixel grid. The LR header carries a true astrometric
    error: a source at sky position ``p`` is found by the LR WCS at
    ``p + (dra, ddec)``, recorded in ``meta`` as ``offset_dra_arcsec`` and
    ``offset_ddec_arcsec`` (east and north, arcsec).
    """
    cfg = HSC_HST
    zp = cfg['zero_point']
    pa_lr, pa_hr = rng.uniform(0.0, 360.0, size=2)
    fwhm_lr = rng.uniform(*cfg['lr']['seeing'])
    fwhm_hr = rng.uniform(*cfg['hr']['seeing'])
    radius, angle = cfg['max_offset'] * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
    dra, ddec = radius * np.cos(angle), radius * np.sin(angle)
    center = rng.uniform(*SOURCE_CENTER_RANGE, size=2)
    lens_mag = rng.uniform(*cfg['lens_mag'])
    source_mag = rng.uniform(*cfg['source_mag'])

    _, kwargs_lens = main_lens_kwargs()
    src = source_kwargs(1.0, *center)
    src['amp'] = _amplitude_for_magnitude(src, source_mag, zp)
    light = {'R_sersic': 0.8, 'n_sersic': 4.0, 'e1': 0.1, 'e2': 0.0, 'center_x': 0.0,
             'center_y': 0.0}
    light['amp'] = _amplitude_for_magnitude(light, lens_mag, zp)

    ra, dec = cfg['ra'], cfg['dec']
    pair_meta = {'pair_index': int(index), 'seed': -1 if seed is None else int(seed),
                 'offset_dra_arcsec': float(dra), 'offset_ddec_arcsec': float(ddec),
                 'pa_lr': float(pa_lr), 'pa_hr': float(pa_hr), 'psf_fwhm_lr': float(fwhm_lr),
                 'psf_fwhm_hr': float(fwhm_hr), 'source_x': float(center[0]),
                 'source_y': float(center[1]), 'lens_mag': float(lens_mag),
                 'source_mag': float(source_mag), 'zero_point': zp,
                 'true_ra': ra, 'true_dec': dec}
    out = []
    for role, pa, fwhm, supersampling in (('lr', pa_lr, fwhm_lr, 3), ('hr', pa_hr, fwhm_hr, 2)):
        inst = cfg[role]
        shape = (inst['num_pix'], inst['num_pix'])
        true_wcs = make_wcs(shape, inst['pixel_scale'], ra=ra, dec=dec, rotation=pa)
        model, kernel = _render_on_wcs(true_wcs, shape, fwhm, kwargs_lens, [src], [light],
                                       supersampling)
        sigma = np.sqrt(inst['sky_sigma'] ** 2 + np.clip(model, 0, None) / inst['gain'])
        image = model + rng.standard_normal(shape) * sigma
        if role == 'lr':
            header_wcs = make_wcs(shape, inst['pixel_scale'],
                                  ra=ra + dra / 3600.0 / np.cos(np.deg2rad(dec)),
                                  dec=dec + ddec / 3600.0, rotation=pa)
        else:
            header_wcs = true_wcs
        meta = {**pair_meta, 'role': role.upper(), 'instrument': inst['instrument'],
                'pixel_scale': inst['pixel_scale'], 'psf_fwhm': float(fwhm),
                'position_angle': float(pa), 'sky_sigma': inst['sky_sigma']}
        out.append(NDData(image.astype(np.float32), wcs=header_wcs, unit=u.ct,
                          uncertainty=StdDevUncertainty(sigma.astype(np.float32)),
                          psf=kernel, meta=meta))
    return out[0], out[1]


# ----------------------------------------------------------------------- driver

def pair_files(root, index, preset):
    """``(lr_path, hr_path)`` of pair ``index`` in ``root``."""
    suffix = '.npy' if preset == 'deeplense-x2' else '.fits'
    root = Path(root)
    return root / 'LR' / f'sample{index}{suffix}', root / 'HR' / f'sample{index}{suffix}'


def _pair(preset, seed, index):
    rng = np.random.default_rng(image_seed(seed, index))
    if preset == 'deeplense-x2':
        return deeplense_x2_pair(rng)
    return (*hsc_hst_pair(rng, index=index, seed=seed), None)


def _sr_task(task):
    preset, seed, root, indices = task
    results = []
    for index in indices:
        lr, hr, _ = _pair(preset, seed, index)
        if root is None:
            results.append((lr, hr))
            continue
        lr_path, hr_path = pair_files(root, index, preset)
        if preset == 'deeplense-x2':
            save_npy(lr_path, lr, overwrite=True)
            save_npy(hr_path, hr, overwrite=True)
        else:
            write_fits(lr, lr_path, overwrite=True)
            write_fits(hr, hr_path, overwrite=True)
    return results


def simulate_sr_pairs(n, *, preset='deeplense-x2', seed=0, out=None, workers=1, progress=False):
    """Simulate low/high-resolution pairs for super-resolution training.

    Parameters
    ----------
    n : int
    preset : {'deeplense-x2', 'hsc-hst'}, optional
    seed : int, optional
        Pair ``i`` depends only on ``(seed, i)``.
    out : str or `~pathlib.Path`, optional
        Write ``out/LR/sample{i}`` and ``out/HR/sample{i}`` (``.npy`` for
        deeplense-x2, FITS with WCS and PSF for hsc-hst) instead of returning
        them; complete pairs already there are kept.
    workers : int, optional
        Processes to use (``None`` or 0: all CPUs).
    progress : bool, optional
        Show a tqdm progress bar.

    Returns
    -------
    lr, hr : `~numpy.ndarray` or list of `~astropy.nddata.NDData`
        ``(n, 75, 75)`` and ``(n, 150, 150)`` float32 for deeplense-x2, lists
        of NDData for hsc-hst; or the folder when ``out`` is given.

    Notes
    -----
    The presets:

    ``'deeplense-x2'``
        The Model I lens without substructure over the same 7.5" footprint:
        HR 150x150 at 0.05"/px, PSF FWHM 0.087", noise-free; LR 75x75 at
        0.10"/px, PSF FWHM 0.15", Poisson noise with exposure 10**U(3, 3.5)
        plus Gaussian background rms 0.01. Both in flux per pixel, so the LR
        and HR totals agree.
    ``'hsc-hst'``
        HSC-like LR (32x32 at 0.168"/px, seeing 0.55-0.70", HSC-Wide sky
        noise) and HST-like HR (160x160 at 0.05"/px, PSF FWHM ~0.1", deep),
        each with its own WCS and position angle; the HR footprint (8") covers
        the LR one (5.4") at any rotation. The LR WCS is off by a recorded
        astrometric error of up to 0.1", so pairs must be registered first.
        PSF kernels are in ``NDData.psf``.
    """
    n = check_count(n)
    preset = _check_preset(preset)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        msg = f'seed must be a non-negative integer, got {seed!r}'
        raise ValueError(msg)
    workers = check_workers(workers)
    indices = list(range(n))
    root = None
    done = 0
    if out is not None:
        root = Path(out)
        indices = [i for i in indices if not all(p.exists() for p in pair_files(root, i, preset))]
        done = n - len(indices)
        (root / 'LR').mkdir(parents=True, exist_ok=True)
        (root / 'HR').mkdir(parents=True, exist_ok=True)
    tasks = [(preset, int(seed), root, indices[k:k + _CHUNK])
             for k in range(0, len(indices), _CHUNK)]
    pairs = []
    for chunk in run_tasks(_sr_task, tasks, workers=workers, progress=progress,
                           desc=f'simulate {preset}', total=n, initial=done,
                           weight=lambda task: len(task[-1])):
        pairs.extend(chunk)
    if root is not None:
        return root
    lrs = [p[0] for p in pairs]
    hrs = [p[1] for p in pairs]
    if preset == 'deeplense-x2':
        if not pairs:
            return (np.empty((0, 75, 75), np.float32), np.empty((0, 150, 150), np.float32))
        return np.stack(lrs), np.stack(hrs)
    return lrs, hrs
