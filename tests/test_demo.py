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


def test_demo_refuses_before_any_work(demo, capsys, monkeypatch):
    import astrolens._demo

    def must_not_run(*args, **kwargs):
        raise AssertionError('the demo started although its products exist')

    monkeypatch.setattr(astrolens._demo, 'run_demo', must_not_run)
    out, _ = demo
    assert main(['demo', '--out', str(out), '--no-progress']) == 1
    assert 'fresh folder' in capsys.readouterr().err


def test_demo_default_folder_is_fresh(tmp_path, monkeypatch):
    from astrolens.cli._demo import _fresh_folder

    monkeypatch.chdir(tmp_path)
    assert str(_fresh_folder()) == 'astrolens-demo'
    (tmp_path / 'astrolens-demo').mkdir()
    assert str(_fresh_folder()) == 'astrolens-demo'  # empty: reused
    (tmp_path / 'astrolens-demo' / 'demo_report.png').write_bytes(b'x')
    (tmp_path / 'astrolens-demo-2').mkdir()
    (tmp_path / 'astrolens-demo-2' / 'other').write_bytes(b'x')
    assert str(_fresh_folder()) == 'astrolens-demo-3'


def test_demo_summary_names_the_truth_of_every_image(demo):
    _, summary = demo
    assert summary['truth'] == ['no', 'no', 'cdm', 'cdm', 'vortex', 'vortex']
    assert 0 < summary['registration_chi2'] < 10
    assert summary['sr_scale'] == pytest.approx(summary['lr_scale'] / 3)


def test_demo_words_match_what_it_measures():
    from astrolens.cli import build_parser
    from astrolens.cli._demo import _flux_line

    # equal float32 sums: not "kept to 0.0e+00", which claims a measurement of zero
    assert _flux_line(0.0) == ('Total flux kept: the sums of the output and the input agree '
                               'to better than 1e-06 (relative).')
    assert '2.3e-04 relative' in _flux_line(2.3e-4)
    demo = build_parser().parse_args(['demo']).cli_parser
    assert 'minute' not in demo.format_help()
