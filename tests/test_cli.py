import subprocess
import sys

import pytest

from astrolens import __version__
from astrolens.cli import main


def test_version(capsys):
    try:
        main(['--version'])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_info_lists_versions_and_device(capsys):
    assert main(['info']) == 0
    out = capsys.readouterr().out
    assert 'astropy' in out and 'torch' in out and 'device' in out and 'models' in out


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert 'usage: astrolens' in capsys.readouterr().out


def test_console_script_runs():
    result = subprocess.run([sys.executable, '-m', 'astrolens.cli', '--version'],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and __version__ in result.stdout


def test_help_imports_no_heavy_library():
    # `astrolens --help` and `--version` build every sub-command's parser: none of the
    # command modules may import torch, astropy or lenstronomy to do so.
    code = ('import sys; from astrolens.cli import build_parser; build_parser(); '
            "print(sorted(m for m in ('torch', 'astropy', 'lenstronomy', 'timm') "
            'if m in sys.modules))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == '[]'


def test_simulate_choices_match_the_library():
    from astrolens.cli import _simulate
    from astrolens.simulation._instruments import MODELS
    from astrolens.simulation._sr_pairs import PRESETS

    assert _simulate.MODELS == tuple(MODELS)
    assert _simulate.PRESETS == tuple(PRESETS)
    from astrolens.cli import _train
    from astrolens.datasets import SR_PRESETS

    assert sorted(_train.SR_PRESETS) == sorted(SR_PRESETS)


def test_library_does_not_import_the_command_layer_and_models_stay_standalone():
    import ast
    from pathlib import Path

    import astrolens

    root = Path(astrolens.__file__).parent
    offenders = []
    for path in root.rglob('*.py'):
        rel = path.relative_to(root)
        if rel.parts[0] == 'cli':
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith('astrolens.cli'):
                    offenders.append(f'{rel}: {name}')
                if rel.parts[0] == 'models' and name.startswith(
                        ('astrolens.batch', 'astrolens.simulation')):
                    offenders.append(f'{rel}: {name}')
    assert offenders == []


def test_library_advice_is_worded_with_the_command_options():
    from astrolens.cli import build_parser
    from astrolens.cli._wording import in_cli_words

    parser = build_parser()
    register = parser.parse_args(['register', '-o', 'x']).cli_parser
    text = in_cli_words('no PSF for the LR image: pass lr_psf= (a FWHM) or hr_psf=0.1; '
                        'pass assume_aligned=True; max_shift=1.50 too small; '
                        'pass overwrite=True (--overwrite); progress=False; '
                        'allow_pickle=True', register)
    assert text == ('no PSF for the LR image: pass --lr-psf-fwhm (a FWHM) or --hr-psf-fwhm 0.1; '
                    'pass --assume-aligned; --max-shift 1.50 too small; pass --overwrite; '
                    '--no-progress; allow_pickle=True')
    classify = parser.parse_args(['classify']).cli_parser
    assert in_cli_words('pass output= elsewhere', classify) == 'pass --out elsewhere'


def test_errors_name_options_not_python_arguments(tmp_path, capsys, monkeypatch):
    from astrolens.cli import _models

    def refuse(args):
        msg = f'{tmp_path} already exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)

    monkeypatch.setattr(_models, '_run_models', refuse)
    assert main(['models']) == 1
    err = capsys.readouterr().err
    assert err == f'astrolens models: error: {tmp_path} already exists; pass overwrite=True ' \
                  'to replace it\n'   # models has no --overwrite: left as it is
    from astrolens.cli import _register

    monkeypatch.setattr(_register, '_run_register', refuse)
    assert main(['register', 'a.fits', 'b.fits', '-o', str(tmp_path)]) == 1
    assert 'pass --overwrite to replace it' in capsys.readouterr().err


def test_models_lists_every_shipped_model_with_what_it_is_for(capsys):
    from astrolens.models.pretrained import available_models

    assert main(['models']) == 0
    out = capsys.readouterr().out
    for name in available_models():
        assert f'\n{name}\n' in f'\n{out}'
    for label in ('kind:', 'band:', 'pixels:', 'trained on:', 'use:', 'metrics:'):
        assert out.count(label) >= len(available_models())
    assert 'super-resolution x3' in out and 'classifier (no / cdm / vortex)' in out
    assert main(['models', '--kind', 'sr', '--names-only']) == 0
    assert capsys.readouterr().out.split() == ['deeplense-iiia-x2', 'deeplense-x2', 'hsc-hst-x3',
                                               'survey-x2']


def test_every_command_and_option_has_a_help_text():
    import argparse

    from astrolens.cli import build_parser

    missing = []

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for sub, subparser in action.choices.items():
                    if not helps.get(sub) or not subparser.description:
                        missing.append(f'{name} {sub}')
                    walk(subparser, f'{name} {sub}')
            elif not action.help:
                missing.append(f'{name} {"/".join(action.option_strings) or action.dest}')

    walk(build_parser(), 'astrolens')
    assert missing == []


# -- classify --------------------------------------------------------------------------------

def _npy_images(folder, n, *, seed=0, size=48):
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        paths.append(folder / f'img{i}.npy')
        np.save(paths[-1], rng.gamma(2.0, 1.0, (size, size)).astype(np.float32))
    return paths


def test_classify_reports_an_unreadable_file_in_its_row_and_goes_on(tmp_path, capsys):
    paths = _npy_images(tmp_path, 2)
    (tmp_path / 'broken.npy').write_bytes(b'not a numpy file')
    assert main(['classify', *map(str, paths), str(tmp_path / 'broken.npy'), '-q']) == 1
    out, err = capsys.readouterr()
    rows = {line.split()[0]: line for line in out.splitlines() if '.npy' in line}
    assert set(rows) == {str(p) for p in (*paths, tmp_path / 'broken.npy')}
    assert 'error' in out.splitlines()[0]
    assert all('0.' in rows[str(p)] for p in paths)
    assert '1 of 3 files could not be classified' in err


def test_classify_runs_the_network_once_for_many_files(tmp_path, monkeypatch, capsys):
    from astrolens.models import LensClassifier

    calls = []
    original = LensClassifier.predict_proba

    def counting(self, X, **kwargs):
        calls.append(len(X))
        return original(self, X, **kwargs)

    monkeypatch.setattr(LensClassifier, 'predict_proba', counting)
    paths = _npy_images(tmp_path, 6, seed=1)
    assert main(['classify', str(tmp_path), '-q']) == 0
    assert calls == [6]
    out = capsys.readouterr().out
    assert all(str(p) in out for p in paths)


def test_classify_says_outlier_in_the_class_column_and_keeps_probabilities(tmp_path, capsys):
    import numpy as np
    from astropy.table import Table

    _npy_images(tmp_path / 'in', 3, seed=2)   # noise: unlike any lens the model saw
    assert main(['classify', str(tmp_path / 'in'), '-q', '--out', str(tmp_path / 't.ecsv')]) == 0
    table = Table.read(tmp_path / 't.ecsv', format='ascii.ecsv')
    assert list(table['outlier']) == [True] * 3
    assert list(table['class']) == ['outlier'] * 3
    np.testing.assert_allclose(table['p_no'] + table['p_cdm'] + table['p_vortex'], 1,
                               atol=1e-3)
    assert list(table['error']) == [''] * 3 or table['error'].mask.all()


def test_classify_reads_the_hdu_it_is_given(tmp_path, capsys):
    import numpy as np
    from astropy.io import fits

    rng = np.random.default_rng(3)
    images = [fits.ImageHDU(rng.gamma(2, 1, (48, 48)).astype(np.float32), name=name)
              for name in ('A', 'B')]
    fits.HDUList([fits.PrimaryHDU(), *images]).writeto(tmp_path / 'two.fits')
    assert main(['classify', str(tmp_path / 'two.fits'), '-q']) == 1
    out = capsys.readouterr().out
    assert '--hdu' in out and 'hdu=' not in out      # the row says which option to use
    assert main(['classify', str(tmp_path / 'two.fits'), '--hdu', 'B', '-q']) == 0


def test_classify_shows_a_progress_bar_unless_quiet(tmp_path, capsys):
    paths = _npy_images(tmp_path, 2, seed=4)
    assert main(['classify', *map(str, paths)]) == 0
    assert '2/2' in capsys.readouterr().err
    assert main(['classify', *map(str, paths), '-q']) == 0
    assert '2/2' not in capsys.readouterr().err


# -- models of the wrong kind, output names -----------------------------------------------------

@pytest.mark.parametrize(('argv', 'listed', 'not_listed'), [
    (['enhance', 'in.fits', '-o', 'out.fits', '--model', 'deeplense-model-i'],
     'super-resolution models are deeplense-iiia-x2, deeplense-x2, hsc-hst-x3, survey-x2',
     'deeplense-model-ii'),
    (['enhance', 'in.fits', '-o', 'out.fits', '--model', 'survey-x4'],
     'super-resolution models are deeplense-iiia-x2, deeplense-x2, hsc-hst-x3, survey-x2',
     'deeplense-model-i'),
    (['classify', 'in.npy', '--model', 'survey-x2'],
     'classifiers are deeplense-model-i, deeplense-model-ii, deeplense-model-iii', 'format='),
])
def test_model_of_the_wrong_kind_lists_those_of_the_right_kind(argv, listed, not_listed,
                                                               tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and listed in err and not_listed not in err


def test_enhance_refuses_an_output_name_that_is_not_fits(tmp_path, capsys):
    import numpy as np

    from astrolens.io import write_fits

    write_fits(np.random.default_rng(5).gamma(2, 1, (16, 16)), tmp_path / 'in.fits')
    assert main(['enhance', str(tmp_path / 'in.fits'), '-o', str(tmp_path / 'out.png'),
                 '-q']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and '.fits' in err
    assert not (tmp_path / 'out.png').exists()


# -- without dask.distributed ------------------------------------------------------------------

@pytest.fixture
def no_dask(monkeypatch):
    """dask and distributed cannot be imported, as without the [all] extra."""
    for name in ('dask', 'distributed'):
        monkeypatch.setitem(sys.modules, name, None)


def test_simulate_workers_without_dask_refuses_before_making_anything(no_dask, tmp_path,
                                                                     capsys):
    out = tmp_path / 'lenses'
    assert main(['simulate', 'classification', '--n-per-class', '1', '--out', str(out),
                 '--workers', '2', '-q']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'astrolens[all]' in err and '--workers' in err
    assert not out.exists()


def test_enhance_and_classify_many_run_without_dask(no_dask, tmp_path, capsys):
    import numpy as np

    from astrolens.io import write_fits

    rng = np.random.default_rng(6)
    for i in range(2):
        write_fits(rng.gamma(2, 1, (16, 16)), tmp_path / 'in' / f'c{i}.fits')
    assert main(['enhance', '--many', str(tmp_path / 'in'), '-o', str(tmp_path / 'out'),
                 '--workers', '1', '-q']) == 0
    assert sorted(p.name for p in (tmp_path / 'out').glob('*.fits')) == ['c0.fits', 'c1.fits']
    _npy_images(tmp_path / 'npy', 2, seed=7)
    assert main(['classify', '--many', str(tmp_path / 'npy'), '--workers', '1', '-q']) == 0
    capsys.readouterr()
    # a scheduler needs dask: one line, before any output exists
    assert main(['enhance', '--many', str(tmp_path / 'in'), '-o', str(tmp_path / 'out2'),
                 '--scheduler', 'tcp://127.0.0.1:1']) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'astrolens[all]' in err
    assert not (tmp_path / 'out2').exists()
