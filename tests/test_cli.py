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
