"""Shared fixtures: determinism and small real-shaped models.

The tests mirror the code: ``tests/library/test_<module>.py`` for each module
of the GC library, ``tests/book/.../test_<module>.py`` for the book's support
code (``test_<module>_<aspect>.py`` where one module has several), and
``tests/pages`` for the book's pages (the chapters, the committed results, the
built site). Every test under ``tests/pages`` is marked ``pages``:
``python -m pytest -m "not pages"`` runs the unit tests alone,
``python -m pytest tests/pages`` the pages' checks.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# The imports follow the line above on purpose (noqa: E402): Keras reads
# KERAS_BACKEND once, when it is first imported.
from gc_tutorial.book.quiet import import_keras_quietly  # noqa: E402

import_keras_quietly()  # before anything else imports Keras

import keras  # noqa: E402
import pytest  # noqa: E402

# The small Conv2D + Dense model and its data are chapter 8's, shared by the tests.
from gc_tutorial.book.backend_check.problem import build_model as small_cnn  # noqa: E402,F401
from gc_tutorial.book.backend_check.problem import data as cnn_data  # noqa: E402,F401

PAGE_TESTS = Path(__file__).parent / "pages"

try:  # the property tests' settings (requirements-dev.txt installs hypothesis)
    from hypothesis import HealthCheck, settings
except ImportError:  # tests/library/test_layouts.py then skips its property tests
    pass
else:
    # HYPOTHESIS_PROFILE=dev runs more examples; "ci", the default, keeps each
    # property test to a few seconds. No deadline: Keras's first call on a new
    # shape builds and traces, which takes far longer than the next call.
    _QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
    settings.register_profile(
        "ci", max_examples=10, deadline=None, suppress_health_check=_QUIET, derandomize=True
    )
    settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=_QUIET)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test collected from ``tests/pages`` as ``pages``."""
    for item in items:
        if PAGE_TESTS in Path(item.path).parents:
            item.add_marker(pytest.mark.pages)


@pytest.fixture
def real_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the loaders at the real local copy of the data, or fail with directions."""
    from real_data import real_data_dir

    from gc_tutorial.book.data.fetch import DATA_ENV

    folder = real_data_dir()
    monkeypatch.setenv(DATA_ENV, str(folder))
    return folder


@pytest.fixture(autouse=True)
def _seeded() -> None:
    """Every test starts from the same Python, NumPy and Keras seeds."""
    keras.utils.set_random_seed(0)
