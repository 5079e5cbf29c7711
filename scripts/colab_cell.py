"""Write every chapter's Colab cell from one template.

    python scripts/colab_cell.py [--check] [NOTEBOOK ...]

Each chapter's first code cell that names ``google.colab`` (the hidden Colab
cell, tagged ``remove-cell`` and ``nbval-skip``) gets the source of
:data:`TEMPLATE`, filled in from ``pyproject.toml``: the repository of
``[project.urls]`` and the release tag ``v`` + ``version``. A notebook without
one gets it as its first code cell. Nothing else in a notebook changes, its
outputs included. Run it after changing the version or the address, or after
merging notebooks written elsewhere; ``--check`` changes nothing and exits 1
if a notebook's cell differs (``tests/pages/test_repository.py`` checks the
same). NOTEBOOK defaults to every ``chapters/*.ipynb``.

On Colab the cell installs the release without dependencies: the packages of
Colab's image serve it (``tests/pages/test_colab.py`` checks that against the
pinned list ``colab/pip-freeze.txt``). ``GC_TUTORIAL_INSTALL`` (set by that
test's simulation of Colab) names what to install instead, e.g. a wheel, and
makes the cell run outside Colab too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import tomllib  # Python 3.11+, as the tests need (ruff's py310 target lists it apart)

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"
TAGS = ("remove-cell", "nbval-skip")
INSTALL_ENV = "GC_TUTORIAL_INSTALL"

TEMPLATE = """\
# Colab only: install this book's package, the release this page belongs to, without
# dependencies: Colab's own Keras, TensorFlow, pandas and the rest serve it (see the
# repository's colab/pip-freeze.txt). GC_TUTORIAL_INSTALL (the tests) names a wheel.
import os
import sys

RELEASE = "gc_tutorial @ git+@REPOSITORY@@@TAG@"
if "google.colab" in sys.modules or "@INSTALL_ENV@" in os.environ:
    package = os.environ.get("@INSTALL_ENV@", RELEASE)
    %pip install -q --no-deps "{package}"
"""


def project() -> dict:
    """``pyproject.toml``'s ``[project]`` table."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def release_tag() -> str:
    """The git tag of this version's release: ``v`` + ``pyproject.toml``'s version."""
    return f"v{project()['version']}"


def repository() -> str:
    """The repository's address: ``[project.urls]``'s ``Repository``."""
    return project()["urls"]["Repository"].rstrip("/")


def release_requirement() -> str:
    """What the cell installs on Colab: the package from the repository at the tag."""
    return f"gc_tutorial @ git+{repository()}@{release_tag()}"


def cell_source() -> str:
    """The Colab cell's source, for this version and address."""
    return (
        TEMPLATE.replace("@REPOSITORY@", repository())
        .replace("@TAG@", release_tag())
        .replace("@INSTALL_ENV@", INSTALL_ENV)
        .rstrip("\n")
    )


def _lines(source: str) -> list[str]:
    """A cell's source as a notebook stores it: lines, each but the last ending in a newline."""
    return source.splitlines(keepends=True)


def _new_cell() -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": list(TAGS)},
        "outputs": [],
        "source": [],
    }


def colab_cell_index(notebook: dict) -> int | None:
    """The index of the notebook's first code cell that names ``google.colab``."""
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code" and "google.colab" in "".join(cell["source"]):
            return index
    return None


def rewrite(path: Path, check: bool = False) -> bool:
    """Give ``path``'s Colab cell the template's source; return whether it changed.

    Args:
        path: A chapter notebook.
        check: Only say whether it would change; write nothing.
    """
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    index = colab_cell_index(notebook)
    if index is None:
        first_code = next(
            (i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code"),
            len(notebook["cells"]),
        )
        notebook["cells"].insert(first_code, _new_cell())
        index = first_code
    cell = notebook["cells"][index]
    cell["source"] = _lines(cell_source())
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    tags.extend(tag for tag in TAGS if tag not in tags)
    new = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    changed = new != text
    if changed and not check:
        path.write_text(new, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on a diff")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(CHAPTERS.glob("*.ipynb"))
    changed = [path for path in notebooks if rewrite(path, check=args.check)]
    for path in changed:
        print(f"{'differs' if args.check else 'rewrote'}: {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
