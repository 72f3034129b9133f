"""Bad-input fuzzing of the input parser and normalisation: every input either
works or raises a documented exception (TypeError / ValueError) with a message."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from astrolens.io import to_nddata
from astrolens.preprocessing import denormalize, normalize
from astrolens.wcs_utils import make_wcs

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

dtypes = st.sampled_from(['<f4', '>f4', '<f8', '>f8', '<i2', '>i4', 'u1', '<u2', '>u8', '?',
                          'c8', 'U3', 'O'])
shapes = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6)
elements = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from(
    [0.0, 1e-38, -1e38, 3e38, np.nan, np.inf])


def _array(dtype, shape, values):
    with np.errstate(all='ignore'):
        array = np.resize(np.asarray(values, dtype=float), shape)
        try:
            return array.astype(dtype)
        except (ValueError, TypeError, OverflowError):
            return np.zeros(shape, dtype=dtype)


def _check_message(exc):
    assert str(exc).strip(), f'{type(exc).__name__} without a message'


@FUZZ
@given(dtype=dtypes, shape=shapes, values=st.lists(elements, min_size=1, max_size=40),
       transpose=st.booleans())
def test_to_nddata_works_or_says_why(dtype, shape, values, transpose):
    array = _array(dtype, shape, values)
    if transpose and array.ndim >= 2:
        array = array.T  # non-contiguous
    try:
        nd = to_nddata(array)
    except (TypeError, ValueError) as exc:
        _check_message(exc)
        return
    assert nd.data.dtype.kind == 'f' and nd.data.dtype.isnative
    assert nd.data.ndim in (2, 3)


@FUZZ
@given(values=st.lists(elements, min_size=4, max_size=64),
       method=st.sampled_from(['flux', 'asinh', 'minmax']))
def test_normalize_round_trip_or_clear_error(values, method):
    array = _array('<f8', (8, 8), values)
    try:
        norm = normalize(array, method=method)
    except (TypeError, ValueError) as exc:
        _check_message(exc)
        return
    finite = np.isfinite(array)
    back = denormalize(norm).data
    # every finite input comes back finite and close to where it started; a NaN or inf
    # out of denormalize is a failure, not something to leave out of the comparison
    assert np.isfinite(back[finite]).all(), 'denormalize turned finite values non-finite'
    assert not np.isfinite(back[~finite]).any(), 'denormalize invented values for NaN/inf'
    scale = np.max(np.abs(array[finite])) if finite.any() else 0.0
    np.testing.assert_allclose(back[finite], array[finite], rtol=1e-5, atol=1e-9 * scale)


@FUZZ
@given(naxis=st.integers(1, 4), ctype=st.sampled_from(['RA---TAN', 'GLON-CAR', 'FREQ', '']),
       cdelt=st.floats(-1, 1, allow_nan=False), crpix=st.floats(-1e6, 1e6))
def test_odd_wcs_headers(naxis, ctype, cdelt, crpix):
    header = fits.Header()
    header['NAXIS'] = naxis
    for i in range(1, naxis + 1):
        header[f'CTYPE{i}'] = ctype
        header[f'CDELT{i}'] = cdelt
        header[f'CRPIX{i}'] = crpix
    try:
        nd = to_nddata((np.ones((6, 5)), header))
    except (TypeError, ValueError) as exc:
        _check_message(exc)
        return
    assert nd.wcs is None or nd.wcs.naxis == 2


def test_wcs_object_in_wrong_slot():
    with pytest.raises(TypeError, match='WCS or Header'):
        to_nddata((WCS(naxis=2), np.ones((3, 3))))
    with pytest.raises(TypeError, match='wcs must be'):
        to_nddata(np.ones((3, 3)), wcs=make_wcs((3, 3), 0.1).to_header_string())
