import subprocess
import sys

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
    assert capsys.readouterr().out.split() == ['deeplense-x2', 'hsc-hst-x3', 'survey-x2']
