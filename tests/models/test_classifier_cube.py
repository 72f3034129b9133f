"""A cube (band, y, x) with a celestial 3-D WCS is classified plane by plane, each plane
resampled from the cube's celestial axes to the model's pixel scale."""

import warnings

import numpy as np
from astropy.nddata import NDData
from astropy.wcs import WCS

from astrolens.models import LensClassifier
from astrolens.simulation import LensSimulator
from astrolens.wcs_utils import make_wcs


def test_cube_planes_are_classified_like_the_same_planes_alone():
    clf = LensClassifier.from_pretrained('deeplense-model-iii')
    planes = LensSimulator('model_iii', 'cdm', seed=5).simulate(2)
    # two planes declared at 1.25x the model's pixel scale, as a 2-band cube
    scale = 1.25 * 0.08
    coarse = planes
    celestial = make_wcs(coarse.shape[1:], scale)
    cube_wcs = WCS(naxis=3)
    cube_wcs.wcs.ctype = [*celestial.wcs.ctype, 'BAND']
    cube_wcs.wcs.crval = [*celestial.wcs.crval, 1.0]
    cube_wcs.wcs.crpix = [*celestial.wcs.crpix, 1.0]
    cube_wcs.wcs.cdelt = [*celestial.wcs.get_cdelt(), 1.0]
    cube_wcs.wcs.pc = np.eye(3)
    cube_wcs.wcs.pc[:2, :2] = celestial.wcs.get_pc()
    cube_wcs.wcs.set()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        from_cube = clf.predict_proba(NDData(coarse, wcs=cube_wcs))
        alone = np.concatenate([clf.predict_proba(NDData(p, wcs=celestial)) for p in coarse])
        unresampled = clf.predict_proba(coarse)
    assert from_cube.shape == (2, 3)
    np.testing.assert_allclose(from_cube, alone, atol=1e-5)
    # and the cube really went through the WCS: taken as a plain array it differs
    assert np.abs(from_cube - unresampled).max() > 1e-3
