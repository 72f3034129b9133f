import numpy as np
import pytest

from astrolens._demo import run_demo
from astrolens.cli import main
from astrolens.io import read_fits
from astrolens.wcs_utils import pixel_scale


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    return out, run_demo(out, n_per_class=2, seed=3, progress=False)


def test_demo_writes_fits_and_report(demo):
    out, summary = demo
    lr, sr = read_fits(out / 'hsc_cutout.fits'), read_fits(out / 'hsc_cutout_sr.fits')
    assert sr.data.shape == (3 * lr.data.shape[0], 3 * lr.data.shape[1])
    assert pixel_scale(sr.wcs) == pytest.approx(pixel_scale(lr.wcs) / 3, rel=1e-9)
    assert abs(sr.data.sum() / lr.data.sum() - 1) < 1e-3
    png = (out / 'demo_report.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 50_000


def test_demo_summary_holds_what_it_measured(demo):
    _, summary = demo
    proba = summary['probabilities']
    assert proba.shape == (6, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert summary['classes'] == ('no', 'cdm', 'vortex')
    assert summary['flux_error'] < 1e-3
    # the shipped enhancer must beat bicubic against the registered HST image
    assert summary['enhance']['psnr'] > summary['bicubic']['psnr']


def test_demo_refuses_to_overwrite(demo, capsys):
    out, _ = demo
    assert main(['demo', '--out', str(out), '--no-progress']) == 1
    assert '--overwrite' in capsys.readouterr().err
