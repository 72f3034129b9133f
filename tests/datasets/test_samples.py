import gzip
import hashlib
import re
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import tomllib
from astropy.io import fits
from astropy.wcs.utils import proj_plane_pixel_scales

from astrolens.cli import main
from astrolens.datasets import list_samples, sample_path
from astrolens.io import read_fits, to_nddata

NAMES = ('hsc-cosmos', 'hst-cosmos', 'hsc-cosmos-psf', 'hst-cosmos-psf', 'hst-lens',
         'hst-drizzled')
# name -> (HDU to read, shape, celestial pixel scale in arcsec or None where there is no sky WCS)
EXPECTED = {
    'hsc-cosmos': (None, (5, 50, 50), 0.168),
    'hst-cosmos': (None, (250, 250), 0.03),
    'hsc-cosmos-psf': (None, (5, 31, 31), None),
    'hst-cosmos-psf': (None, (179, 179), None),
    'hst-lens': (None, (120, 120), None),
    'hst-drizzled': ('F814W_SCI', (400, 400), 0.05),
}
ROOT = Path(__file__).resolve().parents[2]


def _original_bytes(path):
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.name.endswith('.gz') else raw


def test_the_names_are_the_documented_ones():
    assert tuple(list_samples()) == NAMES
    for description in list_samples().values():
        assert '"/px' in description
        assert re.search(r'MIT|BSD-3-Clause', description)


@pytest.mark.parametrize('name', NAMES)
def test_every_sample_reads_with_its_shape_and_wcs(name):
    hdu, shape, scale = EXPECTED[name]
    path = sample_path(name)
    assert isinstance(path, Path) and path.is_file()
    nd = read_fits(path, hdu=hdu)
    assert nd.data.shape == shape
    assert np.isfinite(nd.data).mean() > 0.99
    assert to_nddata(path, hdu=hdu).data.shape == shape
    if scale is None:
        assert nd.wcs is None or not nd.wcs.has_celestial
    else:
        pixel = proj_plane_pixel_scales(nd.wcs.celestial) * 3600.0
        np.testing.assert_allclose(pixel, scale, rtol=1e-3)


def test_the_lens_has_its_pixel_scale_in_the_header():
    assert fits.getheader(sample_path('hst-lens'))['PIXSCALE'] == pytest.approx(0.04, rel=1e-4)


def test_files_are_the_originals_listed_in_the_readme():
    folder = sample_path('hst-cosmos').parent
    readme = (folder / 'README.rst').read_text()
    licences = (folder / 'LICENSES').read_text()
    total = 0
    for name in NAMES:
        path = sample_path(name)
        total += path.stat().st_size
        entry = readme.split(f'{name} -- ``{path.name}``', 1)[1].split('\n\n', 1)[0]
        digest = re.search(r'SHA-256[^:]*:\s*([0-9a-f]{64})', entry).group(1)
        assert hashlib.sha256(_original_bytes(path)).hexdigest() == digest, name
        assert re.search(r'@ [0-9a-f]{40}', entry), name
        assert 'Licence: ' in entry, name
        assert path.name in licences, name
    assert total < 2_000_000
    assert licences.count('MIT License') == 1 and licences.count('BSD 3-Clause') == 2


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown sample 'hsc'.*hsc-cosmos, hst-cosmos"):
        sample_path('hsc')


def test_package_data_ships_every_sample_file():
    config = tomllib.loads((ROOT / 'pyproject.toml').read_text())
    patterns = config['tool']['setuptools']['package-data']['astrolens.datasets']
    folder = sample_path('hst-cosmos').parent
    for path in [sample_path(name) for name in NAMES] + [folder / 'README.rst',
                                                           folder / 'LICENSES']:
        relative = path.relative_to(folder.parent).as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative


def test_real_pair_needs_only_the_samples(monkeypatch):
    from astrolens.datasets import _evaluation, _sources, hsc_hst_real_pair

    monkeypatch.setattr(_sources, 'shared_real', lambda: None)
    monkeypatch.setattr(_evaluation, 'shared_real', lambda: None)
    pair = hsc_hst_real_pair()
    assert pair['lr'].shape == (50, 50) and pair['hr'].shape == (150, 150)


def test_cli_copies_keeping_the_extension_and_bytes(tmp_path, capsys):
    assert main(['sample', 'hsc-cosmos', 'hst-lens', '-o', str(tmp_path / 'data')]) == 0
    copied = tmp_path / 'data' / 'hsc-cosmos.fits.gz'
    assert copied.read_bytes() == sample_path('hsc-cosmos').read_bytes()
    assert (tmp_path / 'data' / 'hst-lens.fits').read_bytes() \
        == sample_path('hst-lens').read_bytes()
    assert sorted(p.name for p in (tmp_path / 'data').iterdir()) \
        == ['hsc-cosmos.fits.gz', 'hst-lens.fits']
    assert 'wrote' in capsys.readouterr().out


def test_cli_refuses_to_overwrite_unless_asked(tmp_path, capsys):
    target = tmp_path / 'hst-cosmos.fits'
    target.write_bytes(b'mine')
    assert main(['sample', 'hst-lens', 'hst-cosmos', '-o', str(tmp_path)]) == 1
    assert '--overwrite' in capsys.readouterr().err
    assert target.read_bytes() == b'mine'
    # nothing copied at all: the check comes before the first copy
    assert not (tmp_path / 'hst-lens.fits').exists()
    assert main(['sample', 'hst-cosmos', '-o', str(tmp_path), '--overwrite']) == 0
    assert target.read_bytes() == sample_path('hst-cosmos').read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ['hst-cosmos.fits']  # no temporaries


def test_cli_list_prints_every_name(capsys):
    assert main(['sample', '--list']) == 0
    out = capsys.readouterr().out
    for name, description in list_samples().items():
        assert re.search(rf'^{name} +{re.escape(description)}$', out, re.MULTILINE)


def test_cli_unknown_name_and_no_name_are_errors(tmp_path, capsys):
    assert main(['sample', 'nope', '-o', str(tmp_path)]) == 1
    assert 'hst-lens' in capsys.readouterr().err
    assert main(['sample', '-o', str(tmp_path)]) == 1
    assert '--list' in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
