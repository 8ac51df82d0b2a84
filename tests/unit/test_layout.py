"""The tests' own layout: no module imports a test module.

A helper that one test module imports from another ties the two
together (collecting one runs the other's module code, a fixture
imported by name shadows or is shadowed), and hides the helper from
whoever looks for it in ``tests/fixtures/``. Shared helpers live there;
a conftest's fixtures reach its directory by pytest, never by import.
"""

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
# What may import test helpers: the tests, the benchmarks, tools/demo.py.
SCANNED = ('tests', 'benchmarks', 'tools')


def is_test_module(path):
    return path.name == 'conftest.py' or (
        path.name.startswith('test_') and path.suffix == '.py')


def module_path(dotted):
    """The file of a module of this repository, or None."""
    base = REPO.joinpath(*dotted.split('.'))
    for candidate in (base.with_suffix('.py'), base / '__init__.py'):
        if candidate.is_file():
            return candidate
    return None


def package_of(path):
    return '.'.join(path.relative_to(REPO).parent.parts)


def imported(path, tree):
    """(line, the file) of each module of this repository that ``tree``
    imports, ``from package import module`` included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = package_of(path).split('.')
                parts = parts[:len(parts) - node.level + 1]
                base = '.'.join(parts + ([base] if base else []))
            names = [base] + ['%s.%s' % (base, alias.name)
                              for alias in node.names]
        else:
            continue
        for name in names:
            target = module_path(name)
            if target is not None:
                yield node.lineno, target


def python_files():
    for top in SCANNED:
        yield from sorted((REPO / top).rglob('*.py'))


def test_imports_of_test_modules_are_found():
    # The check itself: both forms of importing a test module are seen.
    here = REPO / 'tests' / 'unit' / 'x.py'
    tree = ast.parse('from tests.unit import test_layout\n'
                     'from tests.unit.conftest import fake_engine\n'
                     'import tests.functional.test_images\n'
                     'from .registry import test_archive\n')
    found = {t.relative_to(REPO).as_posix() for _, t in imported(here, tree)}
    assert found >= {'tests/unit/test_layout.py', 'tests/unit/conftest.py',
                     'tests/functional/test_images.py',
                     'tests/unit/registry/test_archive.py'}


def test_no_module_imports_a_test_module():
    offences = []
    for path in python_files():
        tree = ast.parse(path.read_text(), str(path))
        for line, target in sorted(set(imported(path, tree))):
            if is_test_module(target):
                offences.append('%s:%d imports %s' % (
                    path.relative_to(REPO), line,
                    target.relative_to(REPO)))
    assert offences == [], (
        'move the shared helpers to tests/fixtures/ (a conftest keeps its '
        'fixtures and may import from there):\n' + '\n'.join(offences))


def test_the_cloud_tier_imports_no_eventlet_at_collection():
    """pytest collects tests/cloud before tests/e2e, whose package runs
    nova's monkey patching: nova refuses (and the whole collection
    stops) if eventlet was imported before it. The cloud tier is a
    client of the cloud and needs none of the driver's modules."""
    import subprocess
    import sys
    code = ('import sys, pathlib\n'
            'import tests.cloud.conftest\n'
            'for p in sorted(pathlib.Path("tests/cloud").glob("test_*.py")):\n'
            '    __import__("tests.cloud." + p.stem)\n'
            'assert "eventlet" not in sys.modules, "eventlet imported"\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
