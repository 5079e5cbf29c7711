"""Where the book's data comes from: public sources, or a local copy.

The public files are listed once, in :data:`REGISTRY` (URL and SHA-256 of
each), and downloaded, checked and cached by pooch. Setting
``$GC_TUTORIAL_DATA`` (:data:`DATA_ENV`) to a folder laid out like the book's
shared data folder makes the loaders read that local copy instead::

    nyc_taxis/taxis.csv, nyc_taxis/SHA256SUMS
    horses_or_humans/{train,test}/{horses,humans}/*.png, horses_or_humans/SHA256SUMS

:func:`verify_sha256sums` checks such a copy; :func:`write_local_copy` (the
command ``bash scripts/fetch_data DEST``, i.e. ``python -m
gc_tutorial.book.data.fetch DEST``) builds one from the public files.

This module needs only pooch: ``scripts/fetch_data`` runs on a Python
without the package's other dependencies.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import re
import sys
import tempfile
import zipfile
from typing import NamedTuple

__all__ = [
    "DATA_ENV",
    "Remote",
    "REGISTRY",
    "local_data_dir",
    "download",
    "nyc_taxis_csv",
    "horses_or_humans_dir",
    "verify_sha256sums",
    "write_local_copy",
    "main",
]

DATA_ENV = "GC_TUTORIAL_DATA"


class Remote(NamedTuple):
    """A public file: where to download it and the SHA-256 it must have."""

    url: str
    sha256: str


_TFDS_DATA = "https://storage.googleapis.com/download.tensorflow.org/data"

# Every file downloaded from a public source, by the name it is cached under.
# The archives are those TFDS's `horses_or_humans` downloads, with TFDS's
# checksums; taxis.csv is seaborn's `taxis` data set.
REGISTRY = {
    "taxis.csv": Remote(
        "https://raw.githubusercontent.com/mwaskom/seaborn-data/master/taxis.csv",
        "08d6d71784dbaa2651fee37fc03389754194c05d72d2d19cbc2c799dea6ac09d",
    ),
    "horse-or-human.zip": Remote(
        f"{_TFDS_DATA}/horse-or-human.zip",
        "e2e6f70d3d549c5dd10a57165e55af253ee66ad750403f95c0fb76bb943633a9",
    ),
    "validation-horse-or-human.zip": Remote(
        f"{_TFDS_DATA}/validation-horse-or-human.zip",
        "ae5fff2f4f5554791f05358108e2e05d9801b191f1896ea101402f0e7f6c32c0",
    ),
}

# Where downloads are kept between runs; None: pooch's cache folder for
# "gc_tutorial" (~/.cache/gc_tutorial on Linux).
_CACHE: pathlib.Path | None = None

_NYC_TAXIS = "nyc_taxis"
_HORSES_OR_HUMANS = "horses_or_humans"
# The archive of each split of Horses or Humans, and its number of images.
_SPLIT_ARCHIVES = {"train": "horse-or-human.zip", "test": "validation-horse-or-human.zip"}
_HORSES_OR_HUMANS_IMAGES = 1283
_SHA256SUMS = "SHA256SUMS"
# One line of `sha256sum` output: digest, space, space or "*" (binary), name.
_SHA256SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def local_data_dir() -> pathlib.Path | None:
    """Return the local data folder named by ``$GC_TUTORIAL_DATA``.

    Returns:
        The folder as a ``pathlib.Path``, or ``None`` when the variable is
        unset or empty (the loaders then download the data).

    Raises:
        FileNotFoundError: The variable names a folder that does not exist.
    """
    value = os.environ.get(DATA_ENV, "")
    if not value:
        return None
    folder = pathlib.Path(value).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"${DATA_ENV} is set to {value!r}, but {folder} is not a folder. "
            f"Point it at the folder holding {_NYC_TAXIS}/ and {_HORSES_OR_HUMANS}/, "
            f"or unset it to download the data."
        )
    return folder


def _sha256(path: pathlib.Path) -> str:
    """The SHA-256 of a file, as ``sha256sum`` prints it."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(name: str, folder: str | os.PathLike[str] | None = None) -> pathlib.Path:
    """Download a file of :data:`REGISTRY` once, check its SHA-256, and cache it.

    Args:
        name: The file's name in :data:`REGISTRY`.
        folder: Where to keep it; by default the user's cache folder
            (``~/.cache/gc_tutorial`` on Linux). A file already there with
            the registered SHA-256 is not downloaded again.

    Returns:
        The path of the checked file.

    Raises:
        ValueError: ``name`` is not in :data:`REGISTRY`, or the download's
            SHA-256 differs from the registered one (pooch's message names
            the file and both digests; the download is deleted).
        requests.exceptions.RequestException: The download failed.
    """
    if name not in REGISTRY:
        raise ValueError(f"{name!r} is not a registered data file; they are {sorted(REGISTRY)}.")
    # Imported here: pooch imports tqdm.auto, which warns on a notebook page
    # without ipywidgets, and reading a local copy needs no pooch.
    import pooch

    files = pooch.create(
        path=folder or _CACHE or pooch.os_cache("gc_tutorial"),
        base_url="",
        registry={file: f"sha256:{remote.sha256}" for file, remote in REGISTRY.items()},
        urls={file: remote.url for file, remote in REGISTRY.items()},
    )
    return pathlib.Path(files.fetch(name))


def nyc_taxis_csv() -> pathlib.Path:
    """The taxi CSV: the local copy's, or else the download from seaborn's data.

    Returns:
        ``$GC_TUTORIAL_DATA/nyc_taxis/taxis.csv`` when the variable is set
        (not checked against its SHA-256: see :func:`verify_sha256sums`),
        else the cached download of ``taxis.csv`` (:func:`download`).

    Raises:
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is set but the folder or the
            CSV in it does not exist.
        ValueError: As for :func:`download`.
    """
    folder = local_data_dir()
    if folder is None:
        return download("taxis.csv")
    path = folder / _NYC_TAXIS / "taxis.csv"
    if not path.is_file():
        raise FileNotFoundError(f"NYC taxi data not found: {path} does not exist.")
    return path


def horses_or_humans_dir() -> pathlib.Path | None:
    """The local copy's Horses or Humans folder, if there is a local copy.

    Returns:
        ``$GC_TUTORIAL_DATA/horses_or_humans``, or ``None`` when the variable
        is unset (the images then come from TensorFlow Datasets).

    Raises:
        FileNotFoundError: ``$GC_TUTORIAL_DATA`` is set but the folder or the
            ``horses_or_humans`` folder in it does not exist.
    """
    folder = local_data_dir()
    if folder is None:
        return None
    folder = folder / _HORSES_OR_HUMANS
    if not folder.is_dir():
        raise FileNotFoundError(f"Horses or Humans folder not found: {folder}")
    return folder


def verify_sha256sums(folder: str | os.PathLike[str]) -> int:
    """Check the files of a local copy against the folder's ``SHA256SUMS``.

    ``SHA256SUMS`` is ``sha256sum`` output: one ``<hex digest>  <path>`` line
    per file, paths relative to ``folder`` (``sha256sum -c SHA256SUMS`` run in
    ``folder`` does the same check). Use it after copying the data to another
    machine, e.g. ``verify_sha256sums(local_data_dir() / "horses_or_humans")``.
    Files that the list does not name are not checked.

    Args:
        folder: The folder holding ``SHA256SUMS``, such as
            ``$GC_TUTORIAL_DATA/horses_or_humans`` or
            ``$GC_TUTORIAL_DATA/nyc_taxis``.

    Returns:
        The number of files checked, all of which match.

    Raises:
        FileNotFoundError: ``folder/SHA256SUMS`` or a file it lists does not
            exist (the first such file is named).
        ValueError: A file's SHA-256 differs from the listed one (the first
            such file is named), or ``SHA256SUMS`` has a malformed line or
            lists no files.
    """
    folder = pathlib.Path(folder)
    sums = folder / _SHA256SUMS
    if not sums.is_file():
        raise FileNotFoundError(f"Checksum list not found: {sums} does not exist.")
    checked = 0
    for number, line in enumerate(sums.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = _SHA256SUMS_LINE.fullmatch(line)
        if match is None:
            raise ValueError(
                f"{sums}, line {number}, is not '<sha256 hex digest>  <path>': "
                f"{line!r}. Regenerate the list with `sha256sum`."
            )
        expected, name = match.group(1).lower(), match.group(2)
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}, listed in {sums}, does not exist: the local copy is "
                f"incomplete. Copy the data again."
            )
        digest = _sha256(path)
        if digest != expected:
            raise ValueError(
                f"{path} does not match {sums}: its SHA-256 is {digest}, the "
                f"list says {expected}. The file is damaged or different; copy "
                f"it again."
            )
        checked += 1
    if checked == 0:
        raise ValueError(f"{sums} lists no files.")
    return checked


def _write_sha256sums(folder: pathlib.Path, names: list[str]) -> None:
    """Write ``folder/SHA256SUMS`` for ``names`` (relative to it), as ``sha256sum`` does."""
    lines = [f"{_sha256(folder / name)}  {name}\n" for name in names]
    (folder / _SHA256SUMS).write_text("".join(lines))


def _unpack_images(archive: pathlib.Path, target: pathlib.Path) -> None:
    """Extract an archive's ``<class>/<name>.png`` members into ``target``."""
    with zipfile.ZipFile(archive) as members:
        for member in members.namelist():
            parts = pathlib.PurePosixPath(member).parts
            if len(parts) == 2 and member.lower().endswith(".png"):
                members.extract(member, target)


def write_local_copy(dest: str | os.PathLike[str]) -> None:
    """Download both data sets into ``dest``, laid out as ``$GC_TUTORIAL_DATA`` expects.

    Writes ``dest/horses_or_humans/{train,test}/{horses,humans}/*.png`` (the
    PNG images of TFDS's two archives), ``dest/nyc_taxis/taxis.csv``, and in
    each of the two folders a ``SHA256SUMS``: ``sha256sum`` lines, the
    images' as ``./<split>/<class>/<file>.png`` sorted byte-wise, as in the
    book's shared data folder. Every download is checked against
    :data:`REGISTRY`, the copy then with :func:`verify_sha256sums`. The
    archives are downloaded to a temporary folder, removed afterwards.

    Args:
        dest: The folder to fill (created if needed); files already there
            are overwritten.

    Raises:
        ValueError: A download's SHA-256 is not the registered one, or the
            images are not the 1,283 of Horses or Humans (1,027 train, 256
            test).
    """
    dest = pathlib.Path(dest)
    images = dest / _HORSES_OR_HUMANS
    with tempfile.TemporaryDirectory() as downloads:
        for split, archive in _SPLIT_ARCHIVES.items():
            _unpack_images(download(archive, downloads), images / split)
    names = sorted(f"./{path.relative_to(images).as_posix()}" for path in images.rglob("*.png"))
    if len(names) != _HORSES_OR_HUMANS_IMAGES:
        raise ValueError(
            f"{images} holds {len(names)} images, not the {_HORSES_OR_HUMANS_IMAGES} "
            f"of Horses or Humans: remove the folder and fetch the data again."
        )
    _write_sha256sums(images, names)

    taxis = download("taxis.csv", dest / _NYC_TAXIS).parent
    _write_sha256sums(taxis, ["taxis.csv"])

    for folder in (images, taxis):
        verify_sha256sums(folder)


def main(argv: list[str] | None = None) -> int:
    """The command line of ``bash scripts/fetch_data DEST``: :func:`write_local_copy`.

    Args:
        argv: The arguments; by default ``sys.argv[1:]``.

    Returns:
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(
        prog="bash scripts/fetch_data",
        description="Download the book's two data sets into DEST, laid out as "
        f"${DATA_ENV} expects, with their SHA256SUMS.",
    )
    parser.add_argument("dest", metavar="DEST", type=pathlib.Path)
    dest = parser.parse_args(argv).dest
    write_local_copy(dest)
    print(f"fetch_data: {dest} holds both data sets and their SHA256SUMS", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
