"""One repository and one release, named the same everywhere.

``pyproject.toml`` is the source: ``[project.urls]``'s ``Repository`` is the
address and ``v`` + ``version`` the release tag. Everything else agrees with it:

- ``_config.yml``'s ``repository.url`` (Jupyter Book's repository, issue and
  launch buttons) and ``repository.branch``, the release tag, so that a launch
  button opens the notebook of the release whose package its Colab cell
  installs;
- every chapter's Colab cell, which ``scripts/colab_cell.py`` writes from one
  template: the package from that address at that tag, without dependencies,
  so that it keeps Colab's own TensorFlow and Keras;
- the install lines of the README and CONTRIBUTING, and the book's address in
  the README ([project.urls]'s ``Homepage``, GitHub Pages);
- ``.github/workflows/book.yml``, which publishes the site from a release tag
  that must be ``v`` + the version.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
DOCUMENTS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))

# A GitHub repository address, not one of GitHub's own actions.
REPOSITORY = re.compile(r"https://github\.com/(?!actions/)[\w.-]+/[\w.-]+")
COLAB = "https://colab.research.google.com"

sys.path.insert(0, str(ROOT / "scripts"))
import colab_cell  # noqa: E402 - scripts/ is no package

sys.path.remove(str(ROOT / "scripts"))


def address() -> str:
    return PROJECT["urls"]["Repository"].rstrip("/")


def tag() -> str:
    return f"v{PROJECT['version']}"


def release_requirement() -> str:
    return f'"gc_tutorial @ git+{address()}@{tag()}"'


def owner_and_name() -> tuple[str, str]:
    owner, name = address().removeprefix("https://github.com/").split("/")
    return owner, name


def test_the_address_is_a_github_repository():
    assert REPOSITORY.fullmatch(address())


def test_the_project_urls_are_the_repository_its_issues_and_its_pages_site():
    owner, name = owner_and_name()
    urls = PROJECT["urls"]
    assert urls["Issues"] == f"{address()}/issues"
    assert urls["Homepage"] == f"https://{owner}.github.io/{name}/"


def test_jupyter_book_has_the_address_and_the_release_tag():
    repository = CONFIG["repository"]
    assert repository["url"].rstrip("/") == address()
    assert repository["branch"] == tag(), (
        "the launch buttons must open the release's notebooks: set _config.yml's "
        f"repository.branch to {tag()}"
    )
    assert CONFIG["launch_buttons"]["colab_url"] == COLAB


def test_a_launch_button_opens_the_release_whose_package_its_colab_cell_installs():
    """The Colab address Jupyter Book builds, from the settings it reads."""
    from jupyter_book.config import get_final_config

    config, _ = get_final_config(
        user_yaml=ROOT / "_config.yml",
        cli_config={"latex_individualpages": False},
        sourcedir=ROOT,
    )
    theme = config["html_theme_options"]
    owner, name = owner_and_name()
    colab_url = theme["launch_buttons"]["colab_url"].strip("/")
    # sphinx-book-theme's launch button: {colab_url}/github/{org}/{repo}/blob/{branch}/{path}
    launched = (
        f"{colab_url}/github/{owner}/{name}/blob/{theme['repository_branch']}/"
        "chapters/quickstart.ipynb"
    )
    assert launched == f"{COLAB}/github/{owner}/{name}/blob/{tag()}/chapters/quickstart.ipynb"
    assert f"git+{address()}@{tag()}" in colab_cell.cell_source()


def colab_cell_of(path: Path) -> dict:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    (cell,) = [
        c
        for c in notebook["cells"]
        if c["cell_type"] == "code" and "google.colab" in "".join(c["source"])
    ]
    return cell


@pytest.mark.parametrize("path", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_every_colab_cell_is_the_template_for_this_release(path):
    cell = colab_cell_of(path)
    assert "".join(cell["source"]) == colab_cell.cell_source(), (
        "run `python scripts/colab_cell.py` to write every chapter's Colab cell"
    )
    assert {"remove-cell", "nbval-skip"} <= set(cell["metadata"].get("tags", []))


def test_the_colab_cell_installs_the_release_without_dependencies_or_a_given_wheel():
    source = colab_cell.cell_source()
    assert f"RELEASE = {release_requirement()}" in source
    assert 'package = os.environ.get("GC_TUTORIAL_INSTALL", RELEASE)' in source
    assert '%pip install -q --no-deps "{package}"' in source


def test_contributing_shows_the_colab_cell_as_the_template_writes_it():
    shown = "\n".join(
        f"   {line}" if line else "" for line in colab_cell.cell_source().splitlines()
    )
    assert shown in (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", DOCUMENTS, ids=[path.name for path in DOCUMENTS])
def test_documents_name_only_the_configured_address(path):
    text = path.read_text(encoding="utf-8")
    named = {match.rstrip(".") for match in REPOSITORY.findall(text)}
    assert named <= {address()}, named
    for line in text.splitlines():
        if "pip install" in line and "gc_tutorial @" in line:
            assert release_requirement() in line, line


def test_the_readme_names_the_book_the_release_and_how_to_cut_one():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert PROJECT["urls"]["Homepage"] in readme
    assert f"pip install {release_requirement()}" in readme
    assert f"git tag {tag()}" in readme
    assert "scripts/colab_cell.py" in readme


def test_the_site_is_published_from_the_release_tag():
    workflow = yaml.safe_load(
        (ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8")
    )
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert triggers["push"] == {"tags": ["v*"]}, "book.yml publishes release tags only"
    steps = "\n".join(str(step.get("run", "")) for step in workflow["jobs"]["build"]["steps"])
    assert "pyproject.toml" in steps and "GITHUB_REF_NAME" in steps, (
        "book.yml checks that the tag is v + pyproject.toml's version"
    )
