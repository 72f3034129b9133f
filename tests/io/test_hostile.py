"""Hostile inputs: pickled .npy files, images that declare a huge size, outputs over inputs."""

import os

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import NDData

from astrolens.io import load_deeplense_classification, read_deeplense_npy, read_fits, write_fits
from astrolens.utils import ImageTooLargeError, check_not_inputs


class _Payload:
    """Unpickling this calls os.system: what a hostile .npy can do with np.load(allow_pickle)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def _object_npy(path, first, second):
    array = np.empty(2, dtype=object)
    array[0], array[1] = first, second
    np.save(path, array, allow_pickle=True)
    return path


def test_pickled_code_in_a_deeplense_file_is_never_run(tmp_path):
    marker = tmp_path / 'pwned'
    path = _object_npy(tmp_path / '0.npy', np.ones((4, 4)), _Payload(marker))
    with pytest.raises(ValueError, match='not loaded.*never unpickles.*allow_pickle=True'):
        read_deeplense_npy(path)
    assert not marker.exists()
    (tmp_path / 'vort').mkdir()
    os.replace(path, tmp_path / 'vort' / '0.npy')
    with pytest.raises(ValueError, match='refused to load posix.system|refused to load'):
        load_deeplense_classification(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize('mass', [3.2e-23, np.float64(1e-24), np.float32(2e-23), 7])
def test_deeplense_image_mass_pairs_are_read_without_unpickling(tmp_path, mass):
    image = np.random.default_rng(0).random((1, 6, 6))
    path = _object_npy(tmp_path / 'axion.npy', image, mass)
    got, got_mass = read_deeplense_npy(path)
    np.testing.assert_allclose(got, image[0], rtol=1e-6)
    assert got_mass == pytest.approx(float(mass))


@pytest.mark.parametrize(('first', 'second', 'reason'), [
    (np.ones((3, 3)), 'a string', 'second element is not a number'),
    (np.array(['a', 'b']), 1.0, 'first element is not a numeric array'),
    ({'image': 1}, 1.0, 'first element is not a numeric array'),
])
def test_object_arrays_of_other_things_are_refused(tmp_path, first, second, reason):
    path = _object_npy(tmp_path / 'odd.npy', first, second)
    with pytest.raises(ValueError, match=reason):
        read_deeplense_npy(path)


def test_numeric_npy_declaring_too_many_pixels_is_refused_before_reading(tmp_path):
    path = tmp_path / 'big.npy'
    np.save(path, np.zeros((64, 64), np.float32))
    with pytest.raises(ImageTooLargeError, match='64 x 64 = 4,096 pixels.*max_pixels=4096'):
        read_deeplense_npy(path, max_pixels=1000)
    assert read_deeplense_npy(path)[0].shape == (64, 64)


def _huge_header_file(path, nx, ny):
    """A FITS file whose header declares nx x ny float32 pixels but holds none."""
    header = fits.Header([('SIMPLE', True), ('BITPIX', -32), ('NAXIS', 2), ('NAXIS1', nx),
                          ('NAXIS2', ny)])
    path.write_bytes(header.tostring().encode('ascii') + b'\0' * 2880)
    return path


@pytest.mark.filterwarnings('ignore:File may have been truncated')
def test_fits_declaring_400_megapixels_is_refused_in_one_line_before_reading(tmp_path):
    path = _huge_header_file(tmp_path / 'bomb.fits', 20000, 20000)
    with pytest.raises(ImageTooLargeError) as info:
        read_fits(path)
    text = str(info.value)
    assert '\n' not in text
    assert '20000 x 20000 = 400,000,000 pixels' in text and '1.6 GB' in text
    assert 'max_pixels=' in text


def test_tile_compressed_fits_is_checked_on_its_decompressed_size(tmp_path):
    path = tmp_path / 'small.fits.fz'
    data = np.arange(40 * 30, dtype=np.float32).reshape(40, 30)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, name='SCI')]).writeto(path)
    with pytest.raises(ImageTooLargeError, match='40 x 30 = 1,200 pixels'):
        read_fits(path, max_pixels=1000)
    np.testing.assert_allclose(read_fits(path).data, data)


def test_gzipped_fits_is_read(tmp_path):
    import gzip

    path = tmp_path / 'image.fits'
    fits.PrimaryHDU(np.ones((5, 4), np.int16)).writeto(path)
    gz = tmp_path / 'image.fits.gz'
    gz.write_bytes(gzip.compress(path.read_bytes()))
    nd = read_fits(gz)
    assert nd.data.shape == (5, 4) and nd.data.dtype == np.float32


def test_an_output_that_is_an_input_is_refused(tmp_path):
    source = tmp_path / 'in.fits'
    source.write_bytes(b'x')
    link = tmp_path / 'link.fits'
    link.symlink_to(source)
    for out in (source, link, tmp_path / 'sub' / '..' / 'in.fits'):
        with pytest.raises(ValueError, match='one of the inputs.*choose another output'):
            check_not_inputs([out], [source], option='--overwrite')
    check_not_inputs([tmp_path / 'out.fits'], [source])


@pytest.mark.parametrize('umask', [0o022, 0o027])
def test_written_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_fits(NDData(np.ones((3, 3))), tmp_path / 'x.fits')
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_many_takes_fz_and_gz_files_and_writes_plain_fits_for_fz(tmp_path):
    from astrolens.batch._inputs import expand_inputs, output_paths

    data = np.ones((6, 5), np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data)]).writeto(tmp_path / 'a.fits.fz')
    fits.PrimaryHDU(data).writeto(tmp_path / 'b.fits.gz')
    files = expand_inputs(tmp_path)
    assert [f.name for f in files] == ['a.fits.fz', 'b.fits.gz']
    outputs = output_paths(files, tmp_path / 'out')
    assert [p.name for p in outputs] == ['a.fits', 'b.fits.gz']
    for path in files:
        np.testing.assert_array_equal(read_fits(path).data, data)
