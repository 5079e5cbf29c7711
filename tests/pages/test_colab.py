"""Open in Colab: every page runs alone on Colab's packages and reads the committed results.

Colab's packages are pinned in ``colab/pip-freeze.txt`` (Google's list of
Colab's preinstalled packages, with its date; Colab's live image may differ).
The Colab cell installs this package without its dependencies, so:

- the packages of that list must meet every requirement of the package and
  its ``book`` extra, and its Python the package's ``requires-python``;
- the wheel must carry the committed results that the pages read.

Then the simulation (``GC_TUTORIAL_COLAB=1``; ``bash scripts/test`` sets it):
a virtual environment holds Colab's versions of the packages the book
touches, and every dependency of theirs at Colab's version too (the whole
list is the install's constraints), on Colab's Python where one is found
(``GC_TUTORIAL_COLAB_PYTHON``, else ``pythonX.Y`` on the PATH, else this
Python, said in the output). A page is copied alone into an empty folder and
executed there by nbclient, on that environment's kernel, in the default
profile; its Colab cell installs the wheel of this checkout, named by
``GC_TUTORIAL_INSTALL``, instead of the release; ``GC_TUTORIAL_DATA`` stands
in for the download. A page must run without an error and train no study (it
leaves no ``results/`` folder behind), and the answer page must show both data
sets. ``GC_TUTORIAL_COLAB_PAGES`` names other pages to run (comma-separated
stems, or ``all``); by default, :data:`PAGES`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PINNED = ROOT / "colab" / "pip-freeze.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CHAPTERS = ROOT / "chapters"

# The pages the simulation runs by default: every page that reads committed
# results, the quickstart and one method chapter, about 4.5 minutes on a 2-core
# machine (the answer page 1.2, chapter 7's keras.io reproduction 2.2). The
# other method chapters and "Your own model" add 10 to 30 s each
# (GC_TUTORIAL_COLAB_PAGES=all); chapter 8 needs PyTorch, which Colab has and
# this environment has not (PyPI's Linux build is CUDA's, several GB).
PAGES = (
    "00_when_does_gc_help",
    "06_nyc_taxi",
    "07_horses_or_humans",
    "09_cost",
    "quickstart",
    "02_optimizer_subclass",
)
# The packages the book touches, at Colab's versions: the package's requirements
# and its book extra's (read from pyproject.toml), JAX (chapter 8) and the kernel's.
BOOK_PACKAGES = (
    *sorted(
        {
            canonicalize_name(Requirement(requirement).name)
            for requirement in [
                *PYPROJECT["project"]["dependencies"],
                *PYPROJECT["project"]["optional-dependencies"]["book"],
            ]
        }
    ),
    "jax",
    "jaxlib",
    "ipykernel",
    "ipython",
)
# What the wheel carries: the committed results, at their repository paths.
PACKAGE_DATA = "gc_tutorial/book/_committed/"
COMMITTED = {
    "chapters/results/studies": ("*.csv", "*.provenance.jsonl"),
    "benchmarks/results": ("*.json", "*.md"),
}
# The files a wheel is built from.
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "gc_tutorial", *COMMITTED)


# The pinned list ------------------------------------------------------------------------


def pinned_header() -> str:
    return "".join(
        line for line in PINNED.read_text(encoding="utf-8").splitlines(True) if line.startswith("#")
    )


def pinned_versions() -> dict[str, str]:
    """Canonical name -> version, of every ``name==version`` or wheel URL line."""
    versions = {}
    for line in PINNED.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            versions[canonicalize_name(name)] = version.strip()
        elif " @ " in line:  # e.g. torch @ https://.../torch-2.11.0%2Bcpu-cp313-...whl
            name, url = line.split(" @ ", 1)
            found = re.search(r"/[^/]+?-([0-9][^-]*)-[^/]*\.whl$", url.replace("%2B", "+"))
            versions[canonicalize_name(name)] = found.group(1) if found else url
    return versions


def pinned_python() -> str:
    """Colab's Python, as the list's header says it (``Colab's Python is X.Y.Z``)."""
    found = re.search(r"Colab's Python is (\d+\.\d+\.\d+)", pinned_header())
    assert found, f"{PINNED}'s header must say \"Colab's Python is X.Y.Z\""
    return found.group(1)


def pinned_date() -> str:
    found = re.search(r"\b(20\d\d-\d\d-\d\d)\b", pinned_header())
    assert found, f"{PINNED}'s header must give the list's date (YYYY-MM-DD)"
    return found.group(1)


def test_the_pinned_list_says_where_and_when_it_comes_from():
    header = pinned_header()
    assert "googlecolab/backend-info" in header
    assert re.search(r"\bcommit [0-9a-f]{40}\b", header), "the commit of backend-info"
    pinned_date()
    pinned_python()


def test_the_readme_gives_the_pinned_lists_date_and_says_colab_may_differ():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "colab/pip-freeze.txt" in readme
    assert pinned_date() in readme
    assert "Colab's live image may differ" in readme


def book_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    return [
        Requirement(r)
        for r in [*project["dependencies"], *project["optional-dependencies"]["book"]]
    ]


@pytest.mark.parametrize("requirement", book_requirements(), ids=str)
def test_colab_meets_each_requirement_the_colab_cell_leaves_to_it(requirement):
    """The Colab cell installs with --no-deps: Colab's own packages must do."""
    version = pinned_versions().get(canonicalize_name(requirement.name))
    assert version is not None, f"Colab has no {requirement.name} (pinned list {PINNED})"
    assert requirement.specifier.contains(Version(version), prereleases=True), (
        f"Colab's {requirement.name} {version} is outside {requirement}"
    )


def test_colab_python_meets_requires_python():
    specifier = SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert specifier.contains(pinned_python())


def test_colab_has_every_keras_backend_chapter_8_runs():
    versions = pinned_versions()
    assert {"keras", "tensorflow", "jax", "jaxlib", "torch"} <= set(versions)


def test_the_colab_cell_installs_no_dependencies():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import colab_cell
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    install = [line for line in colab_cell.cell_source().splitlines() if "%pip install" in line]
    assert install == ['    %pip install -q --no-deps "{package}"']


# The wheel ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout, built from a copy of what a build reads."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("gc_tutorial-*.whl")
    return built


def committed_files() -> set[str]:
    """The committed results on disk (the tests' smoke runs left out, as by the build)."""
    return {
        path.relative_to(ROOT).as_posix()
        for folder, patterns in COMMITTED.items()
        for pattern in patterns
        for path in (ROOT / folder).glob(pattern)
        if "_smoke." not in path.name
    }


def test_the_wheel_carries_the_committed_results_at_their_repository_paths(wheel):
    with zipfile.ZipFile(wheel) as archive:
        carried = {
            name.removeprefix(PACKAGE_DATA)
            for name in archive.namelist()
            if name.startswith(PACKAGE_DATA)
        }
    files = committed_files()
    assert {"chapters/results/studies/nyc_taxi_full.csv"} <= files
    assert {"chapters/results/studies/horses_or_humans_tuned_full.csv"} <= files
    assert carried == files


# The simulation ----------------------------------------------------------------------------

colab = pytest.mark.skipif(
    os.environ.get("GC_TUTORIAL_COLAB", "") in ("", "0"),
    reason="the Colab simulation runs with GC_TUTORIAL_COLAB=1 (bash scripts/test sets it)",
)


def colab_interpreter() -> tuple[str, str]:
    """The Python of the simulated Colab, and a note on it."""
    given = os.environ.get("GC_TUTORIAL_COLAB_PYTHON")
    if given:
        return given, f"GC_TUTORIAL_COLAB_PYTHON={given}"
    major_minor = ".".join(pinned_python().split(".")[:2])
    found = shutil.which(f"python{major_minor}")
    if found and subprocess.run([found, "--version"], capture_output=True).returncode == 0:
        return found, f"Colab's Python {major_minor}: {found}"
    return sys.executable, (
        f"no python{major_minor} found (Colab's); the simulation runs on this Python, "
        f"{sys.version.split()[0]}"
    )


def colab_environment() -> Path:
    """A virtual environment with Colab's packages; returns its Python.

    Made once, in ``GC_TUTORIAL_COLAB_VENV`` (default ``.venv/colab``); pip
    runs again only when the pinned list, the packages or the Python change.
    ``python tests/pages/test_colab.py --prepare`` makes it ahead of the tests
    (``bash scripts/test`` does so in the background while the other tests run).
    """
    venv = Path(os.environ.get("GC_TUTORIAL_COLAB_VENV", ROOT / ".venv" / "colab"))
    interpreter, note = colab_interpreter()
    print(f"Colab simulation: {note}; environment {venv}", flush=True)
    # The pinned list as pip's constraints: every package Colab has, at its version.
    pins = [
        line
        for line in PINNED.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#") and "==" in line
    ]
    wanted = json.dumps([pins, BOOK_PACKAGES, interpreter], sort_keys=True)
    digest = hashlib.sha256(wanted.encode()).hexdigest()
    stamp = venv / "colab-simulation.stamp"
    python = venv / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python
    if not python.exists():
        subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, timeout=300)
    constraints = venv / "colab-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
    started = time.perf_counter()
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *BOOK_PACKAGES],
        check=True,
        timeout=1800,
    )
    print(f"Colab simulation: installed in {time.perf_counter() - started:.0f} s", flush=True)
    stamp.write_text(digest)
    return python


@pytest.fixture(scope="session")
def colab_python() -> Path:
    """The Python of the environment of Colab's packages."""
    return colab_environment()


def kernel_env(wheel: Path, python: Path) -> dict[str, str]:
    """The kernel's environment: Colab's, the default profile, the wheel to install."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GC_TUTORIAL_", "KERAS_", "PYTHON", "VIRTUAL_ENV", "JUPYTER"))
    }
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["GC_TUTORIAL_INSTALL"] = str(wheel)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # ipykernel's debugger on Python 3.13: a notice
    data = os.environ.get("GC_TUTORIAL_DATA")
    if data:
        env["GC_TUTORIAL_DATA"] = data
    return env


def run_alone(page: str, python: Path, wheel: Path, folder: Path) -> nbformat.NotebookNode:
    """Execute one page copied alone into ``folder``, on Colab's kernel."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    kernels = folder.parent / f"{page}-kernels"
    spec = kernels / "colab"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Colab (simulated)",
                "language": "python",
            }
        )
    )
    notebook = shutil.copy2(CHAPTERS / f"{page}.ipynb", folder / f"{page}.ipynb")
    nb = nbformat.read(notebook, as_version=4)
    km = KernelManager(
        kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    client = NotebookClient(nb, km=km, timeout=1200, resources={"metadata": {"path": str(folder)}})
    client.execute(env=kernel_env(wheel, python))
    return nb


def pages() -> list[str]:
    asked = os.environ.get("GC_TUTORIAL_COLAB_PAGES", "")
    if asked == "all":
        return sorted(path.stem for path in CHAPTERS.glob("*.ipynb"))
    return [name.strip() for name in asked.split(",") if name.strip()] or list(PAGES)


def slowest(nb: nbformat.NotebookNode, count: int = 3) -> str:
    """The cells that took longest, from nbclient's timing of each."""
    import datetime

    times = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (
                datetime.datetime.fromisoformat(timing[key].replace("Z", "+00:00"))
                for key in ("iopub.execute_input", "shell.execute_reply")
            )
            times.append(((end - start).total_seconds(), index))
    return ", ".join(f"cell {index} {seconds:.0f} s" for seconds, index in sorted(times)[-count:])


def shown(nb: nbformat.NotebookNode) -> str:
    """Everything the executed page shows: streams, HTML and plain text."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            data = output.get("data", {})
            parts.extend(str(data.get(kind, "")) for kind in ("text/html", "text/plain"))
    return "\n".join(parts)


@colab
@pytest.mark.parametrize("page", pages())
def test_the_page_runs_alone_on_colab_and_reads_the_committed_results(
    page, colab_python, wheel, tmp_path
):
    subprocess.run(
        [str(colab_python), "-m", "pip", "uninstall", "-q", "-y", "gc_tutorial"],
        check=True,
        timeout=300,
    )
    folder = tmp_path / "content"  # Colab's working folder: only the page in it
    folder.mkdir()
    started = time.perf_counter()
    nb = run_alone(page, colab_python, wheel, folder)
    seconds = time.perf_counter() - started
    print(f"\nColab simulation: {page} ran alone in {seconds:.0f} s; slowest cells:", slowest(nb))

    installed = subprocess.run(
        [str(colab_python), "-c", "import gc_tutorial; print(gc_tutorial.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=kernel_env(wheel, colab_python),
    ).stdout
    assert str(colab_python.parents[1]) in installed, "the Colab cell installed the wheel"
    left = sorted(path.name for path in folder.iterdir())
    assert "results" not in left, f"{page} ran a study: {left}"
    if page == "00_when_does_gc_help":
        text = shown(nb)
        for data_set in ("NYC taxi fares", "Horses or Humans"):
            assert data_set in text, f"the answer page does not show {data_set}"


if __name__ == "__main__":  # python tests/pages/test_colab.py --prepare
    if sys.argv[1:] != ["--prepare"]:
        sys.exit("usage: python tests/pages/test_colab.py --prepare")
    print(colab_environment())
