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
