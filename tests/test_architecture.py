"""ARCHITECTURE.md stays true, and the tests mirror the modules.

- every module ARCHITECTURE.md names exists;
- the library (``gc_tutorial/*.py``) imports nothing from the book support;
- every test file under ``tests/library`` and ``tests/book`` is named after a
  module in the same place (``test_<module>.py`` or
  ``test_<module>_<aspect>.py``), and every module has one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gc_tutorial"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

# Modules that need no test file of their own, and why.
UNTESTED = {
    "gc_tutorial/book/experiments/__main__.py": "the command line; tests/book/experiments/"
    "test_runner.py and test_plan.py run it",
}


def named_paths() -> list[str]:
    """The repository paths ARCHITECTURE.md names in code spans."""
    return sorted(
        set(
            re.findall(
                r"`((?:gc_tutorial|tests|chapters|benchmarks|scripts)/[^`]*)`",
                ARCHITECTURE.read_text(encoding="utf-8"),
            )
        )
    )


def modules() -> list[Path]:
    """Every module of the package: a file, or a package whose tests are one file."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" or "backend_check" in path.parts:
            continue
        found.append(path)
    found.append(PACKAGE / "book" / "backend_check")
    return found


def test_every_path_the_architecture_page_names_exists():
    paths = named_paths()
    assert len(paths) > 20, paths
    missing = [path for path in paths if not (ROOT / path.split(" ")[0]).exists()]
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_every_module_of_the_package_is_on_the_architecture_page():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    unnamed = [
        str(path.relative_to(ROOT))
        for path in modules()
        if path.name != "__main__.py" and f"`{path.relative_to(ROOT)}" not in text
    ]
    assert not unnamed, f"ARCHITECTURE.md does not say what these hold: {unnamed}"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_the_library_imports_nothing_from_the_book(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert not [name for name in imported if name.startswith("gc_tutorial.book")]


def test_every_test_file_is_named_after_a_module_in_the_same_place():
    strays = []
    for test in sorted(
        [*ROOT.glob("tests/library/**/test_*.py"), *ROOT.glob("tests/book/**/test_*.py")]
    ):
        folder = test.parent.relative_to(ROOT / "tests")
        home = PACKAGE if folder.parts[0] == "library" else PACKAGE.joinpath(*folder.parts)
        stem = test.stem.removeprefix("test_")
        candidates = [stem[: match.start()] for match in re.finditer(r"_|$", stem)]
        if not any((home / f"{name}.py").exists() or (home / name).is_dir() for name in candidates):
            strays.append(str(test.relative_to(ROOT)))
    assert not strays, f"test files named after no module beside them: {strays}"


def test_every_module_has_a_test_file_of_its_own():
    untested = []
    for module in modules():
        relative = module.relative_to(PACKAGE)
        if str(module.relative_to(ROOT)) in UNTESTED:
            continue
        if len(relative.parts) == 1:
            folder = ROOT / "tests" / "library"
        else:
            folder = ROOT / "tests" / "book" / Path(*relative.parts[1:-1])
        name = module.stem
        if not [*folder.glob(f"test_{name}.py"), *folder.glob(f"test_{name}_*.py")]:
            untested.append(str(module.relative_to(ROOT)))
    assert not untested, f"modules with no test file of their own: {untested}"
