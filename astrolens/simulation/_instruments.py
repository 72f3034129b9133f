# Licensed under a 3-clause BSD style license - see LICENSE
"""Instrument settings of the DeepLense Models I-III, as lenstronomy objects."""

from dataclasses import dataclass

import numpy as np
from astropy import units as u

__all__ = ['MODELS', 'Instrument', 'get_instrument']

MODELS = ('model_i', 'model_ii', 'model_iii')


@dataclass(frozen=True)
class Instrument:
    """Pixel grid, PSF and noise of one DeepLense model.

    Attributes
    ----------
    name : str
    num_pix : int
    pixel_scale : float
        Arcseconds per pixel.
    psf_fwhm : float
        Gaussian PSF FWHM in arcseconds.
    noise : str
        ``'deeplense'`` (Model I: counts, Poisson draw after exposure scaling)
        or ``'simapi'`` (lenstronomy's ``SimAPI`` noise, electrons per second).
    source_amp : float
        Sersic amplitude of the source (Model I: 20; otherwise from magnitude 20).
    unit : `~astropy.units.UnitBase`
    exposure_time : float or None
        Fixed total exposure in seconds; None where it is drawn per image.
    background_noise : float
        Gaussian sky/read noise per pixel in the image unit (exposure-scaled for Model I).
    kwargs_single_band : dict or None
        lenstronomy observation settings (Models II and III).
    instrument : str
        Human-readable description, for ``meta``.
    """

    name: str
    num_pix: int
    pixel_scale: float
    psf_fwhm: float
    noise: str
    source_amp: float
    unit: u.UnitBase
    exposure_time: float | None
    background_noise: float
    kwargs_single_band: dict | None
    instrument: str

    @property
    def shape(self):
        """``(ny, nx)`` of the images."""
        return (self.num_pix, self.num_pix)

    def flux_noise(self, image):
        """Gaussian sigma of the photon noise of ``image`` (Models II/III), as SimAPI has it."""
        return np.sqrt(np.clip(image, 0, None) * self.exposure_time) / self.exposure_time


SOURCE_KWARGS = {'R_sersic': 0.25, 'n_sersic': 1, 'e1': -0.1, 'e2': 0.1}
MODEL_I_BACKGROUND_RMS = 1e-2
MODEL_I_LOG10_EXPOSURE = (3.0, 3.5)


def _simapi_instrument(name, kwargs_single_band, instrument):
    from lenstronomy.SimulationAPI.sim_api import SimAPI

    num_pix = 64
    sim = SimAPI(num_pix, kwargs_single_band, {'lens_model_list': ['SIE', 'SHEAR'],
                                               'source_light_model_list': ['SERSIC_ELLIPSE']})
    _, kwargs_source, _ = sim.magnitude2amplitude(
        None, [{'magnitude': 20.0, **SOURCE_KWARGS, 'center_x': 0.0, 'center_y': 0.0}])
    return Instrument(name=name, num_pix=num_pix, pixel_scale=float(sim.pixel_scale),
                      psf_fwhm=float(kwargs_single_band['seeing']), noise='simapi',
                      source_amp=float(kwargs_source[0]['amp']), unit=u.electron / u.s,
                      exposure_time=float(sim.exposure_time),
                      background_noise=float(sim.background_noise),
                      kwargs_single_band=dict(kwargs_single_band), instrument=instrument)


_CACHE = {}


def get_instrument(model):
    """The `Instrument` of ``'model_i'``, ``'model_ii'`` or ``'model_iii'``."""
    key = str(model).lower().replace('-', '_').replace(' ', '_')
    if key not in MODELS:
        msg = f'unknown model {model!r}; choose one of {list(MODELS)}'
        raise ValueError(msg)
    if key in _CACHE:
        return _CACHE[key]
    if key == 'model_i':
        inst = Instrument(name=key, num_pix=150, pixel_scale=0.05, psf_fwhm=0.087,
                          noise='deeplense', source_amp=20.0, unit=u.ct, exposure_time=None,
                          background_noise=MODEL_I_BACKGROUND_RMS, kwargs_single_band=None,
                          instrument='DeepLense Model I (0.05"/px, Gaussian PSF 0.087")')
    elif key == 'model_ii':
        from lenstronomy.SimulationAPI.ObservationConfig.Euclid import Euclid

        kwargs = Euclid(band='VIS', psf_type='GAUSSIAN', coadd_years=6).kwargs_single_band()
        inst = _simapi_instrument(key, kwargs, 'DeepLense Model II (Euclid VIS, 6-year coadd)')
    else:
        from lenstronomy.SimulationAPI.ObservationConfig.HST import HST

        kwargs = HST(band='WFC3_F160W', psf_type='GAUSSIAN').kwargs_single_band()
        inst = _simapi_instrument(key, kwargs, 'DeepLense Model III (HST WFC3 F160W)')
    _CACHE[key] = inst
    return inst
