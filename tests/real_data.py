"""Where the tests find the real data: ``$GC_TUTORIAL_DATA``, else ``shared/data``.

``shared/data`` is the folder beside the repository clone. Tests that need
the real data fail, saying where they looked, when it is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gc_tutorial.book.data.fetch import DATA_ENV

REPOSITORY = Path(__file__).resolve().parents[1]
SHARED_DATA = REPOSITORY.parent / "shared" / "data"


def real_data_dir() -> Path:
    """The folder holding the real data, or fail the test with directions."""
    folder = Path(os.environ.get(DATA_ENV) or SHARED_DATA)
    if not folder.is_dir():
        pytest.fail(
            f"Real data not found at {folder}. Set ${DATA_ENV} to the folder "
            f"holding nyc_taxis/ and horses_or_humans/, or put it at {SHARED_DATA}."
        )
    return folder
