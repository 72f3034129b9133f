# Licensed under a 3-clause BSD style license - see LICENSE
"""The ``astrolens`` command.

Each subpackage that offers commands has a private ``_cli`` module with an
``add_commands(subparsers)`` function; it registers its sub-commands and sets
``func`` on them, the function that runs the command with the parsed
arguments and returns an exit status.
"""

import argparse
import importlib
import importlib.util
import platform
import sys

from astrolens.version import __version__

__all__ = ['build_parser', 'main']

_COMMAND_MODULES = ('astrolens.simulation._cli', 'astrolens.preprocessing._cli',
                    'astrolens.models._cli', 'astrolens.models._sr_cli', 'astrolens._demo')


def _run_info(args):
    import astropy
    import numpy
    import torch

    print(f'astrolens {__version__}')
    print(f'python    {platform.python_version()}')
    print(f'numpy     {numpy.__version__}')
    print(f'astropy   {astropy.__version__}')
    print(f'torch     {torch.__version__}')
    for name in ('timm', 'lenstronomy', 'photutils', 'reproject', 'skimage'):
        try:
            module = importlib.import_module(name)
            print(f'{name:<9} {getattr(module, "__version__", "?")}')
        except ImportError:
            print(f'{name:<9} not installed')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    print(f'device    {device} ({torch.get_num_threads()} threads)')
    from astrolens.models.pretrained import available_models

    models = available_models()
    print('models    ' + (', '.join(models) if models else '(none shipped yet)'))
    return 0


def build_parser():
    """Build the argument parser of the ``astrolens`` command."""
    parser = argparse.ArgumentParser(
        prog='astrolens',
        description='Simulate, classify and super-resolve strong-lensing images.')
    parser.add_argument('--version', action='version', version=f'astrolens {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    info = subparsers.add_parser('info', help='versions, compute device and shipped models')
    info.set_defaults(func=_run_info)
    for module_name in _COMMAND_MODULES:
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).add_commands(subparsers)
    return parser


def main(argv=None):
    """Run the ``astrolens`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, 'func', None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as exc:
        print(f'astrolens {args.command}: error: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
