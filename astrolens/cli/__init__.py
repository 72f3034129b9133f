# Licensed under a 3-clause BSD style license - see LICENSE
"""The ``astrolens`` command.

One private module per command family (``_simulate``, ``_classify``, ``_models``,
``_enhance``, ``_register``, ``_train``, ``_demo``), each with an
``add_commands(subparsers)`` function that registers its sub-commands and sets
``func`` on them: the function that runs the command with the parsed
arguments and returns an exit status. The modules only parse arguments and
call library functions; they import the heavy libraries (torch, astropy,
lenstronomy) inside those functions, so ``astrolens --version`` and
``astrolens --help`` stay fast. Nothing in the library imports this package.
Errors are printed on one line, with the Python arguments the library's advice
names replaced by the command's options (``_wording``).
"""

import argparse
import importlib
import platform
import sys

from astrolens.cli._wording import in_cli_words, mark_command_parsers
from astrolens.version import __version__

__all__ = ['build_parser', 'main']

_COMMAND_MODULES = ('astrolens.cli._simulate', 'astrolens.cli._register',
                    'astrolens.cli._train', 'astrolens.cli._classify', 'astrolens.cli._enhance',
                    'astrolens.cli._demo', 'astrolens.cli._sample',
                    'astrolens.cli._models')


def _run_info(args):
    from importlib import metadata

    print(f'astrolens    {__version__}')
    print(f'python       {platform.python_version()}')
    # versions from the installed metadata: importing torch, timm and lenstronomy only to
    # read their version took ~15 s
    for name in ('numpy', 'astropy', 'torch', 'timm', 'lenstronomy', 'photutils', 'reproject',
                 'scikit-image', 'dask'):
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = 'not installed'
        print(f'{name:<12} {version}')
    import torch

    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    print(f'device       {device} ({torch.get_num_threads()} threads)')
    from astrolens.models.pretrained import available_models

    models = available_models()
    print('models       ' + (', '.join(models) if models else '(none shipped yet)'))
    return 0


def build_parser():
    """Build the argument parser of the ``astrolens`` command."""
    parser = argparse.ArgumentParser(
        prog='astrolens',
        description='Simulate, classify and super-resolve strong-lensing images.')
    parser.add_argument('--version', action='version', version=f'astrolens {__version__}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    info = subparsers.add_parser(
        'info', help='versions, compute device and shipped models',
        description='Print the versions of astrolens and of the libraries it runs on, the '
                    'compute device torch would use, and the names of the shipped models '
                    '(astrolens models describes them).')
    info.set_defaults(func=_run_info)
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_commands(subparsers)
    mark_command_parsers(parser)
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
        # the library's advice names Python arguments; here it names the options
        text = in_cli_words(str(exc), getattr(args, 'cli_parser', None))
        print(f'astrolens {args.command}: error: {text}', file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        _release_interrupted_frames(exc)
        return _interrupted(args)


def _release_interrupted_frames(exc):
    """Free what the interrupted frames held, without the noise of half-built progress bars.

    Ctrl-C inside ``tqdm.__init__`` leaves a bar without its ``pos``; its ``__del__`` then
    fails and Python prints that traceback after our one-line message. The frames are
    cleared here, with those finalizer errors dropped and every other one reported.
    """
    import traceback

    previous = sys.unraisablehook

    def hook(unraisable):
        if not getattr(unraisable.object, '__module__', '').startswith('tqdm'):
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        traceback.clear_frames(exc.__traceback__)
    finally:
        sys.unraisablehook = previous


def _interrupted(args):
    """Ctrl-C: one line (from one process under ``torchrun``) and exit status 130."""
    import os

    if os.environ.get('RANK', '0') == '0':
        checkpoint = getattr(args, 'checkpoint_dir', None)
        hint = ('' if checkpoint is None else
                f'; {checkpoint} holds the last finished epoch: rerun the same command to '
                'resume from it')
        # on a new line: a progress bar may hold the current one
        print(f'\nastrolens {args.command}: interrupted{hint}', file=sys.stderr)
    dist = sys.modules.get('torch.distributed')
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 130


if __name__ == '__main__':
    sys.exit(main())
