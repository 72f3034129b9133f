# Licensed under a 3-clause BSD style license - see LICENSE
"""Library messages in the words of the command line.

The library's errors tell a Python caller what to pass (``pass lr_psf=``,
``overwrite=True``); on the command line the same advice must name the
option (``--lr-psf-fwhm``, ``--overwrite``). `in_cli_words` rewrites every
``name=`` of a message whose ``name`` is an option of the command that ran
(directly, or through `PYTHON_NAMES` where the two differ) and leaves the
rest of the message alone.
"""

import argparse
import re

__all__ = ['PYTHON_NAMES', 'command_options', 'in_cli_words', 'mark_command_parsers']

# Python argument -> ``dest`` of the option that sets it, where the names differ.
PYTHON_NAMES = {
    'lr_psf': 'lr_psf_fwhm',
    'hr_psf': 'hr_psf_fwhm',
    'psf': 'psf_fwhm',
    'output': 'out',
    'out': 'output',
    'n': 'n_per_class',
}

_ASSIGNMENT = re.compile(r'\b([a-z][a-z0-9_]*)=(True\b|False\b)?')
_REPEATED = re.compile(r'(--[a-z][a-z0-9-]*) \(\1\)')


def mark_command_parsers(parser):
    """Record on every (sub-)command the parser that defines its options.

    The innermost sub-command's default wins, so ``args.cli_parser`` is the
    parser of the command that runs (``simulate classification``, say).
    """
    parser.set_defaults(cli_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                mark_command_parsers(sub)


def command_options(parser):
    """The options of ``parser`` by what they set.

    Returns
    -------
    options : dict
        ``{dest: option}`` for options that take a value and
        ``{'dest=True': option}`` (or ``False``) for switches.
    """
    options = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith('--')]
        if not longs or action.dest in ('help', 'version'):
            continue
        if action.nargs == 0:
            if isinstance(action.const, bool):
                options.setdefault(f'{action.dest}={action.const}', longs[0])
        else:
            options.setdefault(action.dest, longs[0])
    return options


def in_cli_words(message, parser):
    """``message`` with the Python arguments it names replaced by the options of ``parser``.

    ``name=`` followed by a value becomes ``--name VALUE``; ``name=True`` (or
    ``False``) becomes the switch that sets it (``--overwrite``,
    ``--no-progress``); names without an option are left as they are.
    """
    if parser is None:
        return message
    options = command_options(parser)

    def replace(match):
        name, boolean = match.group(1), match.group(2)
        for dest in (name, PYTHON_NAMES.get(name)):
            if dest is None:
                continue
            if boolean is not None:
                if f'{dest}={boolean}' in options:
                    return options[f'{dest}={boolean}']
            elif dest in options:
                after = message[match.end():match.end() + 1]
                return options[dest] + ('' if after in ('', ' ', ')', ',', ';') else ' ')
        return match.group(0)

    return _REPEATED.sub(r'\1', _ASSIGNMENT.sub(replace, message))
