"""Every import arrow between astrolens's subpackages runs one way.

The imports are read from the source with `ast` (module level and inside
functions alike, since a lazy import is a dependency all the same), so a
forbidden arrow fails here even where no test happens to execute it.
"""

import ast
from pathlib import Path

import pytest

import astrolens

PACKAGE = Path(astrolens.__file__).parent

#: The bottom layer: these import only each other, in this order (each may use
#: those before it), and nothing else of astrolens.
BOTTOM = ('version', 'utils', 'wcs_utils', 'io')

#: Subpackage -> subpackages it must never import. `astrolens.training` wires
#: datasets to networks (staged classifier training, super-resolution presets), so
#: models and datasets stay independent of each other.
FORBIDDEN = {
    'simulation': {'batch', 'models', 'datasets', 'training', 'cli'},
    'preprocessing': {'simulation', 'datasets', 'models', 'training', 'batch', 'cli'},
    'datasets': {'models', 'training', 'batch', 'cli'},
    'models': {'datasets', 'training', 'batch', 'cli'},
}

#: Known arrows that break `FORBIDDEN` while they are being removed: ``(file
#: relative to the package, target)``. Empty now (the last ones, models ->
#: datasets in the classifier stages and the SR presets, went with their move to
#: `astrolens.training`); do not add to it.
ALLOWED_EXCEPTIONS = set()


def _node(module):
    """The subpackage (or top-level module) an ``astrolens.x.y`` name belongs to."""
    parts = module.split('.')
    if parts[0] != 'astrolens':
        return None
    return parts[1] if len(parts) > 1 else ''


def _module_name(path, root):
    rel = path.relative_to(root.parent).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def imported_modules(path, root=PACKAGE):
    """Every astrolens module ``path`` imports: ``[(module, line)]``."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    here = _module_name(path, root)
    package = here if path.name == '__init__.py' else here.rpartition('.')[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - (node.level - 1)]
                module = '.'.join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ''
            if module == 'astrolens':
                # ``from astrolens import models`` names the subpackage
                found += [(f'astrolens.{alias.name}', node.lineno) for alias in node.names]
            else:
                found.append((module, node.lineno))
    return [(m, line) for m, line in found if _node(m) is not None]


def import_edges(root=PACKAGE):
    """``[(source node, target node, file relative to the package, line)]``.

    A node is a subpackage (``'models'``), a top-level module (``'wcs_utils'``,
    ``'_demo'``) or ``''`` for ``astrolens/__init__.py``; imports within a node
    are left out.
    """
    edges = []
    for path in sorted(root.rglob('*.py')):
        rel = path.relative_to(root)
        source = rel.parts[0].removesuffix('.py') if len(rel.parts) > 1 or \
            rel.name != '__init__.py' else ''
        for module, line in imported_modules(path, root):
            target = _node(module)
            if target != source:
                edges.append((source, target, rel.as_posix(), line))
    return edges


def layout_violations(root=PACKAGE):
    """Messages for every import arrow that runs the wrong way."""
    problems = []
    for source, target, file, line in import_edges(root):
        where = f'astrolens/{file}:{line} ({source} -> {target})'
        if target == 'cli' and source != 'cli':
            problems.append(f'{where}: only astrolens.cli imports astrolens.cli')
        if source in BOTTOM:
            allowed = BOTTOM[:BOTTOM.index(source)]
            if target not in allowed:
                problems.append(f'{where}: {source} may import only {list(allowed) or "nothing"} '
                                'of astrolens')
        if target in FORBIDDEN.get(source, ()) and (file, target) not in ALLOWED_EXCEPTIONS:
            problems.append(f'{where}: {source} must not import {target}')
    return problems


def _cycle(edges):
    """One cycle of the graph of ``edges`` as a list of nodes, or None."""
    graph = {}
    for source, target, *_ in edges:
        graph.setdefault(source, set()).add(target)
    done = set()

    def visit(trail):
        for nxt in sorted(graph.get(trail[-1], ())):
            if nxt in trail:
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in done:
                found = visit(trail + [nxt])
                if found:
                    return found
        done.add(trail[-1])
        return None

    for node in sorted(graph):
        found = None if node in done else visit([node])
        if found:
            return found
    return None


def test_imports_are_found_at_module_and_function_level(tmp_path):
    pkg = tmp_path / 'astrolens'
    (pkg / 'simulation').mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'simulation' / '__init__.py').write_text('from . import _a\n')
    (pkg / 'simulation' / '_a.py').write_text(
        'import astrolens.io\n'
        'from astrolens import models\n'
        'def f():\n'
        '    from astrolens.batch._dask import open_client\n'
        '    from ..datasets import x\n')
    edges = {(s, t) for s, t, *_ in import_edges(pkg)}
    assert edges == {('simulation', 'io'), ('simulation', 'models'), ('simulation', 'batch'),
                     ('simulation', 'datasets')}
    assert len(layout_violations(pkg)) == 3


def test_every_import_arrow_runs_the_allowed_way():
    problems = layout_violations()
    assert not problems, '\n'.join(problems)


def test_subpackages_import_each_other_without_cycles():
    # the exceptions above still count: a cycle through them would be a new problem
    assert _cycle(import_edges()) is None


@pytest.mark.parametrize('name', ['datasets', 'simulation'])
def test_datasets_and_simulation_import_without_torch(name):
    # what moved to astrolens.utils must not bring the networks along with it
    import subprocess
    import sys

    code = (f'import sys, astrolens.{name}; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "torch"))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == '[]'
