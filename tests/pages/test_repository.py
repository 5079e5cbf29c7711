"""The repository's address lives in one place, and everything that names it agrees.

``_config.yml``'s ``repository.url`` is the address: Jupyter Book builds the
repository, issue and launch buttons from it. Every Colab cell, and every
install line in the README and CONTRIBUTING, installs the package from that
address at the release tag of ``pyproject.toml``'s version (a pinned
release, never a moving branch), and without dependencies, so that it keeps
Colab's own TensorFlow and Keras.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]

# A GitHub repository address, not one of GitHub's own actions.
REPOSITORY = re.compile(r"https://github\.com/(?!actions/)[\w.-]+/[\w.-]+")


def configured_address() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/")


def release_requirement() -> str:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (version,) = re.findall(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)
    return f'"gc_tutorial @ git+{configured_address()}@v{version}"'


def colab_cell(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    (cell,) = [c for c in notebook["cells"] if "google.colab" in "".join(c["source"])]
    return "".join(cell["source"])


def test_the_address_is_a_github_repository():
    assert REPOSITORY.fullmatch(configured_address())


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_colab_cell_installs_the_pinned_release_without_dependencies(path):
    install = [line for line in colab_cell(path).splitlines() if "pip install" in line]
    assert install == [f"    %pip install -q --no-deps {release_requirement()}"]


@pytest.mark.parametrize("path", DOCUMENTS, ids=[path.name for path in DOCUMENTS])
def test_documents_name_only_the_configured_address(path):
    text = path.read_text(encoding="utf-8")
    named = {match.rstrip(".") for match in REPOSITORY.findall(text)}
    assert named <= {configured_address()}, named
    for line in text.splitlines():
        if "pip install" in line and "gc_tutorial @" in line:
            assert release_requirement() in line, line
