"""Specification of where the data comes from, `gc_tutorial.book.data.fetch`.

Downloads are served from the real local copy by a stand-in for pooch's HTTP
downloader, so that pooch's own checks (SHA-256, cache) run without network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pooch
import pytest
from real_data import REPOSITORY, real_data_dir

from gc_tutorial.book.data import fetch


@dataclass
class StandIn:
    """Serves ``files`` (by URL) in place of the network; records the URLs asked for."""

    monkeypatch: pytest.MonkeyPatch
    files: dict[str, Path] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def serve(self, name: str, path: Path) -> None:
        """Serve ``path`` as the registry's file ``name``, registered with its SHA-256."""
        url = fetch.REGISTRY[name].url
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self.monkeypatch.setitem(fetch.REGISTRY, name, fetch.Remote(url, sha256))
        self.files[url] = path


@pytest.fixture
def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """No network: pooch's HTTP downloads come from a StandIn; the cache is empty."""
    stand_in = StandIn(monkeypatch)

    def download(self, url, output_file, pooch_instance, check_only=False):
        stand_in.asked.append(url)
        shutil.copyfile(stand_in.files[url], output_file)

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", download)
    monkeypatch.setattr(fetch, "_CACHE", tmp_path / "cache")
    monkeypatch.delenv(fetch.DATA_ENV, raising=False)
    return stand_in


# --- The local copy ----------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_no_local_folder_when_variable_unset_or_empty(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(fetch.DATA_ENV, raising=False)
    else:
        monkeypatch.setenv(fetch.DATA_ENV, value)
    assert fetch.local_data_dir() is None
    assert fetch.horses_or_humans_dir() is None  # TFDS's then


def test_variable_naming_a_missing_folder_is_an_error(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(fetch.DATA_ENV, str(missing))
    for source in (fetch.local_data_dir, fetch.nyc_taxis_csv, fetch.horses_or_humans_dir):
        with pytest.raises(FileNotFoundError) as error:
            source()
        assert fetch.DATA_ENV in str(error.value)
        assert str(missing) in str(error.value)


def test_local_copy_without_a_data_set_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch.DATA_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="nyc_taxis/taxis.csv"):
        fetch.nyc_taxis_csv()
    with pytest.raises(FileNotFoundError, match="horses_or_humans"):
        fetch.horses_or_humans_dir()


# --- Downloads -----------------------------------------------------------------


def test_without_the_variable_the_taxi_csv_is_downloaded_once_and_cached(network):
    real = real_data_dir() / "nyc_taxis" / "taxis.csv"
    network.serve("taxis.csv", real)
    first = fetch.nyc_taxis_csv()
    again = fetch.nyc_taxis_csv()
    assert network.asked == [fetch.REGISTRY["taxis.csv"].url]  # once
    assert first == again and first.parent == fetch._CACHE
    assert first.read_bytes() == real.read_bytes()


def test_the_registered_taxi_csv_is_the_local_copys():
    folder = real_data_dir() / "nyc_taxis"
    (line,) = (folder / "SHA256SUMS").read_text().splitlines()
    assert line == f"{fetch.REGISTRY['taxis.csv'].sha256}  taxis.csv"


def test_a_download_with_another_sha256_is_an_error_and_is_not_kept(network, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("pickup,dropoff\n")
    network.files[fetch.REGISTRY["taxis.csv"].url] = other
    with pytest.raises(ValueError, match="taxis.csv.*does not match the known hash"):
        fetch.download("taxis.csv")
    assert not (fetch._CACHE / "taxis.csv").exists()


def test_only_registered_files_are_downloaded(network):
    with pytest.raises(ValueError, match="'data.zip' is not a registered data file"):
        fetch.download("data.zip")
    assert network.asked == []


# --- Writing a local copy (scripts/fetch_data) -------------------------------


def stand_in_archive(path: Path, split: Path, limit: int | None = None) -> Path:
    """A split's images zipped as TFDS's archives hold them, plus files to skip."""
    with zipfile.ZipFile(path, "w") as archive:
        for class_dir in sorted(split.iterdir()):
            for image in sorted(class_dir.glob("*.png"))[:limit]:
                archive.write(image, f"{class_dir.name}/{image.name}")
        archive.writestr("__MACOSX/horses/._horse01-0.png", b"resource fork")
        archive.writestr("notes.txt", b"not an image")
    return path


def serve_archives(network: StandIn, tmp_path: Path, limit: int | None = None) -> None:
    real = real_data_dir()
    for split, name in (("train", "horse-or-human.zip"), ("test", "validation-horse-or-human.zip")):
        archive = stand_in_archive(tmp_path / name, real / "horses_or_humans" / split, limit)
        network.serve(name, archive)
    network.serve("taxis.csv", real / "nyc_taxis" / "taxis.csv")


def test_write_local_copy_lays_out_the_shared_data_folder(network, tmp_path):
    serve_archives(network, tmp_path)
    dest = tmp_path / "data"
    fetch.write_local_copy(dest)
    real = real_data_dir()
    for folder in ("horses_or_humans", "nyc_taxis"):
        # The same files, listed the same way, byte for byte.
        written = (dest / folder / "SHA256SUMS").read_text()
        assert written == (real / folder / "SHA256SUMS").read_text(), folder
    assert sorted(p.name for p in dest.iterdir()) == ["horses_or_humans", "nyc_taxis"]
    assert not (dest / "horses_or_humans" / "train" / "__MACOSX").exists()
    assert fetch.verify_sha256sums(dest / "horses_or_humans") == 1283
    assert not list(fetch._CACHE.glob("*.zip"))  # the archives were temporary


def test_write_local_copy_refuses_archives_without_the_1283_images(network, tmp_path):
    serve_archives(network, tmp_path, limit=2)
    with pytest.raises(ValueError, match="holds 8 images, not the 1283"):
        fetch.write_local_copy(tmp_path / "data")


def test_fetch_data_needs_only_pooch_and_a_destination():
    """scripts/fetch_data runs without Keras, NumPy, pandas or Pillow, and asks for DEST."""
    blocked = ("keras", "numpy", "pandas", "PIL", "tensorflow")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.modules.update(dict.fromkeys({blocked!r}));"
            "import runpy; runpy.run_module('gc_tutorial.book.data.fetch', run_name='__main__')",
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "usage: bash scripts/fetch_data" in run.stderr and "DEST" in run.stderr


# --- Checksums -------------------------------------------------------------


def test_real_copy_matches_its_checksums():
    folder = real_data_dir()
    assert fetch.verify_sha256sums(folder / "horses_or_humans") == 1283
    assert fetch.verify_sha256sums(folder / "nyc_taxis") == 1


@pytest.fixture
def checksummed(tmp_path: Path) -> Path:
    """Three real test images with their lines of the real SHA256SUMS."""
    real = real_data_dir() / "horses_or_humans"
    lines = (real / "SHA256SUMS").read_text().splitlines()
    kept = [line for line in lines if "/test/humans/" in line][:3]
    for line in kept:
        name = line.split(maxsplit=1)[1]
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real / name, tmp_path / name)
    (tmp_path / "SHA256SUMS").write_text("\n".join(kept) + "\n")
    return tmp_path


def checksummed_files(folder: Path) -> list[Path]:
    return sorted((folder / "test" / "humans").glob("*.png"))


def test_checksums_catch_a_changed_byte(checksummed):
    assert fetch.verify_sha256sums(checksummed) == 3
    changed = checksummed_files(checksummed)[1]
    content = bytearray(changed.read_bytes())
    content[len(content) // 2] ^= 1
    changed.write_bytes(content)
    with pytest.raises(ValueError, match=changed.name) as error:
        fetch.verify_sha256sums(checksummed)
    assert str(changed) in str(error.value)


def test_checksums_catch_a_missing_file(checksummed):
    missing = checksummed_files(checksummed)[2]
    missing.unlink()
    with pytest.raises(FileNotFoundError) as error:
        fetch.verify_sha256sums(checksummed)
    assert str(missing) in str(error.value)


def test_malformed_or_missing_checksum_list_is_an_error(checksummed):
    sums = checksummed / "SHA256SUMS"
    sums.write_text(sums.read_text() + "not a checksum line\n")
    with pytest.raises(ValueError, match="line 4"):
        fetch.verify_sha256sums(checksummed)
    sums.unlink()
    with pytest.raises(FileNotFoundError, match="SHA256SUMS"):
        fetch.verify_sha256sums(checksummed)
