"""The method pages (chapters 1 to 5) teach by writing each form of GC themselves.

Each page writes its form of GC in the reader's own code, as keras.io and
the Keras guides do (the operator, an optimizer's ``apply``, a wrapper, a
``train_step``, the conv-only rule), then proves it equal to the package on
the page and uses the package as the finished version, whose source the
book's API reference (``api.md``: autodoc and viewcode) links instead of
printing. These tests hold every method page to that:

- a keras.io-sized page: at most :data:`CODE_BUDGET` lines that a reader
  sees without clicking, counting every line (blank ones too) of the code
  cells not hidden or collapsed (tags ``remove-cell``, ``remove-input``,
  ``hide-input``, ``hide-cell``) plus every printed line of the package's
  source;
- at most :data:`SOURCE_BUDGET` printed lines of the package's source (a
  line of output counts when it is, stripped, a line of a ``gc_tutorial``
  source file at least :data:`MIN_SOURCE_LINE` characters long), and no
  private (underscore) name of the package in any cell or output;
- the page's own implementation: a visible function that subtracts a mean
  (``... - ops.mean(...)``: GC itself, on the page), and the page's own
  construct (:data:`FORMS`: a class defining ``apply`` or ``train_step``);
- a cell tagged :data:`CHECK_TAG` that uses that implementation and
  ``gc_tutorial``, asserts, is compared by nbval, and prints
  ``max |difference| = X <= 1e-6: True`` with ``X <= 1e-6``;
- plumbing off the page: the setup (``import_keras_quietly``,
  ``KERAS_BACKEND``) only in ``remove-cell`` cells, ``page_provenance()``
  in a collapsed (``hide-input``) cell;
- the visible cells alone make a program: no name they use is left
  undefined (``ruff``'s F821 on the visible cells, concatenated);
- code lines fit a phone: at most :data:`MAX_CODE_WIDTH` characters;
- the API reference (``api.md``) documents every name ``gc_tutorial``
  exports (but the few in :data:`NOT_DOCUMENTED`) and no other, so that each
  link to it resolves and autodoc never fails on a name that is gone.

Run ``python tests/pages/test_method_pages.py`` to print each page's counts.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = ROOT / "chapters"
PACKAGE = ROOT / "gc_tutorial"

CODE_BUDGET = 150
SOURCE_BUDGET = 40
MIN_SOURCE_LINE = 10
MAX_CODE_WIDTH = 90
CHECK_TAG = "equals-package"
HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
OUTPUT_HIDDEN = {"remove-cell", "remove-output"}
CHECK_LINE = re.compile(r"max \|difference\| = (\S+) <= 1e-6: (True|False)")

FORMS: dict[str, str | None] = {
    "01_theory": None,  # the operator: the mean-subtracting function is the form
    "02_optimizer_subclass": "apply",
    "03_wrapper": "apply",
    "04_train_step": "train_step",
    "05_conv_variant": None,  # the conv-only rule, on top of the operator
}
"""Per method page: the method a class of its own must define (None: a function suffices)."""

PAGES = [CHAPTERS / f"{stem}.ipynb" for stem in FORMS]
IDS = list(FORMS)


@cache
def notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def tags(cell: dict) -> set[str]:
    return set(cell["metadata"].get("tags", []))


def code_cells(path: Path) -> list[dict]:
    return [cell for cell in notebook(path)["cells"] if cell["cell_type"] == "code"]


def visible_code_cells(path: Path) -> list[dict]:
    """The code cells whose code a reader sees without clicking."""
    return [cell for cell in code_cells(path) if not tags(cell) & HIDDEN]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def output_lines(cell: dict) -> list[str]:
    """The lines a cell prints or displays as text (stdout, text/plain)."""
    lines = []
    for output in cell.get("outputs", []):
        text = "".join(output.get("text", "")) or "".join(
            output.get("data", {}).get("text/plain", "")
        )
        lines += text.splitlines()
    return lines


@cache
def package_source_lines() -> frozenset[str]:
    lines = set()
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if len(line.strip()) >= MIN_SOURCE_LINE:
                lines.add(line.strip())
    return frozenset(lines)


@cache
def private_package_names() -> frozenset[str]:
    """The underscore names the package's modules define at their top level."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                found = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found = [t.id for t in targets if isinstance(t, ast.Name)]
            else:
                found = []
            names |= {name for name in found if name.startswith("_") and not name.startswith("__")}
    return frozenset(names)


def printed_source_lines(path: Path) -> int:
    """Output lines of the page's shown outputs that are lines of the package's source."""
    known = package_source_lines()
    return sum(
        1
        for cell in code_cells(path)
        if not tags(cell) & OUTPUT_HIDDEN
        for line in output_lines(cell)
        if line.strip() in known
    )


def visible_code_lines(path: Path) -> int:
    """Every line, blank ones included, of the code a reader sees without clicking."""
    return sum(len(source(cell).splitlines()) for cell in visible_code_cells(path))


def python_of(cell: dict) -> str:
    """A cell's code without IPython's magics and shell escapes."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source(cell).splitlines()
    )


def visible_tree(path: Path) -> ast.Module:
    return ast.parse("\n\n".join(python_of(cell) for cell in visible_code_cells(path)))


def subtracts_a_mean(function: ast.AST) -> bool:
    """Whether ``function`` computes ``something - ...mean(...)``: GC written out."""
    for node in ast.walk(function):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
            right = node.right
            if isinstance(right, ast.Call):
                called = right.func
                name = (
                    called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
                )
                if name == "mean":
                    return True
    return False


def own_definitions(path: Path) -> dict[str, ast.AST]:
    """The functions and classes the page's visible cells define, by name."""
    return {
        node.name: node
        for node in visible_tree(path).body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }


def counts(path: Path) -> dict[str, int]:
    code, printed = visible_code_lines(path), printed_source_lines(path)
    return {"visible code": code, "printed source": printed, "total": code + printed}


# --- The budget -----------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_a_method_page_shows_at_most_150_lines_of_code(path):
    found = counts(path)
    print(f"{path.stem}: {found}")
    assert found["total"] <= CODE_BUDGET, (
        f"{path.name}: {found['visible code']} visible code lines + {found['printed source']} "
        f"printed package source = {found['total']} > {CODE_BUDGET}: collapse a cell "
        "(hide-input) or link the package (api.md) instead of printing it"
    )


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_a_method_page_prints_at_most_40_lines_of_package_source(path):
    printed = printed_source_lines(path)
    print(f"{path.stem}: {printed} printed lines of package source")
    assert printed <= SOURCE_BUDGET, (
        f"{path.name} prints {printed} lines of gc_tutorial's source; link its API "
        "reference entry (api.md, with viewcode's [source]) instead"
    )


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_a_method_page_names_no_private_part_of_the_package(path):
    private = private_package_names()
    word = re.compile(r"\b_\w+")
    found = set()
    for cell in code_cells(path):
        for text in [source(cell), *output_lines(cell)]:
            found |= {name for name in word.findall(text) if name in private}
        for line in source(cell).splitlines():
            if re.search(r"gc_tutorial(\.\w+)*\._[a-z]", line):
                found.add(line.strip())
    assert not found, f"{path.name} uses or prints private names of gc_tutorial: {sorted(found)}"


# --- The page's own form and its check ------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_a_method_page_writes_gc_itself_in_a_visible_cell(path):
    definitions = own_definitions(path)
    assert any(
        isinstance(node, ast.FunctionDef) and subtracts_a_mean(node)
        for node in definitions.values()
    ), f"{path.name}: no visible function subtracts a mean (GC written on the page)"
    method = FORMS[path.stem]
    if method is not None:
        classes = [
            node
            for node in definitions.values()
            if isinstance(node, ast.ClassDef)
            and any(isinstance(item, ast.FunctionDef) and item.name == method for item in node.body)
        ]
        assert classes, f"{path.name}: no visible class of its own defines {method}()"


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_a_method_page_checks_its_own_code_against_the_package(path):
    checks = [cell for cell in code_cells(path) if CHECK_TAG in tags(cell)]
    assert checks, f"{path.name}: no cell tagged {CHECK_TAG!r}"
    own = set(own_definitions(path))
    for cell in checks:
        text = source(cell)
        assert not tags(cell) & (HIDDEN | {"nbval-ignore-output", "nbval-skip"}), (
            f"{path.name}: the {CHECK_TAG} cell must be shown and compared by nbval"
        )
        used = {
            node.id for node in ast.walk(ast.parse(python_of(cell))) if isinstance(node, ast.Name)
        }
        assert used & own, f"{path.name}: the {CHECK_TAG} cell uses none of {sorted(own)}"
        assert "gc_tutorial" in text, f"{path.name}: the {CHECK_TAG} cell does not use the package"
        assert re.search(r"^\s*assert\b", text, re.MULTILINE), f"{path.name}: no assert"
        results = [CHECK_LINE.search(line) for line in output_lines(cell)]
        results = [match for match in results if match]
        assert results, f"{path.name}: the {CHECK_TAG} cell prints no 'max |difference| = ...'"
        for match in results:
            assert match.group(2) == "True" and float(match.group(1)) <= 1e-6, match.group(0)


# --- Plumbing off the page; a program on it -----------------------------------


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_setup_is_hidden_and_provenance_collapsed(path):
    for cell in code_cells(path):
        text = source(cell)
        if "import_keras_quietly" in text or "KERAS_BACKEND" in text:
            assert "remove-cell" in tags(cell), f"{path.name}: setup shown: {text[:60]!r}"
    last = code_cells(path)[-1]
    assert "page_provenance()" in source(last)
    assert "hide-input" in tags(last), f"{path.name}: the provenance cell is not collapsed"


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_the_visible_cells_alone_are_a_program(path):
    program = "\n\n".join(python_of(cell) for cell in visible_code_cells(path))
    result = subprocess.run(
        [
            *("ruff", "check", "--isolated", "--select", "F821,F822,F823"),
            *("--stdin-filename", f"{path.stem}.py", "-"),
        ],
        input=program,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"{path.name}: the visible cells use undefined names:\n{result.stdout}"
    )


@pytest.mark.parametrize("path", PAGES, ids=IDS)
def test_code_lines_fit_a_phone(path):
    wide = [
        line
        for cell in visible_code_cells(path)
        for line in source(cell).splitlines()
        if len(line) > MAX_CODE_WIDTH
    ]
    assert not wide, f"{path.name}: code lines over {MAX_CODE_WIDTH} characters: {wide}"


# --- The API reference the pages link to ----------------------------------------

API_PAGE = ROOT / "api.md"
NOT_DOCUMENTED = {
    "centralizes": "a deprecated alias of gc_applies_to",
    "kernel_layouts": "one layer's layouts; mark_kernels records them for a whole model",
}
"""Exported names api.md leaves out -> why."""


def test_the_api_reference_documents_every_public_name_and_no_other():
    import gc_tutorial

    documented = set(
        re.findall(r"^\.\. auto(?:function|class):: (\w+)", API_PAGE.read_text(), re.MULTILINE)
    )
    exported = set(gc_tutorial.__all__)
    assert documented <= exported, (
        f"api.md documents names the package does not export: {sorted(documented - exported)}"
    )
    missing = exported - documented - set(NOT_DOCUMENTED)
    assert not missing, f"api.md does not document {sorted(missing)}"


# --- The checkers themselves ---------------------------------------------------


def test_the_counters_count_what_a_reader_sees():
    cells = [
        {
            "cell_type": "code",
            "metadata": {"tags": ["remove-cell"]},
            "source": "a\nb",
            "outputs": [],
        },
        {
            "cell_type": "code",
            "metadata": {"tags": ["hide-input"]},
            "source": "c\nd",
            "outputs": [],
        },
        {"cell_type": "code", "metadata": {}, "source": "e\n\nf", "outputs": []},
    ]
    assert sum(len(source(cell).splitlines()) for cell in cells if not tags(cell) & HIDDEN) == 3
    def_line = next(line for line in package_source_lines() if line.startswith("def centralized("))
    printed = {"cell_type": "code", "metadata": {}, "source": "", "outputs": [{"text": def_line}]}
    assert sum(1 for line in output_lines(printed) if line.strip() in package_source_lines()) == 1
    assert subtracts_a_mean(ast.parse("def f(g):\n    return g - ops.mean(g, axis=0)"))
    assert not subtracts_a_mean(
        ast.parse("def f(g):\n    return gc_tutorial.centralize_gradient(g)")
    )
    assert CHECK_LINE.search("max |difference| = 0.0e+00 <= 1e-6: True")


if __name__ == "__main__":
    print(f"{'page':24s} {'visible code':>12s} {'printed source':>14s} {'total':>6s}")
    for page in PAGES:
        found = counts(page)
        print(
            f"{page.stem:24s} {found['visible code']:12d} {found['printed source']:14d} "
            f"{found['total']:6d}"
        )
    sys.exit(0)
