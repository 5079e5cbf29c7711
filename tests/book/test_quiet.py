"""Specification of gc_tutorial.book.quiet: Keras imported without TensorFlow's start-up log.

That log is written by C++ straight to file descriptor 2 when TensorFlow is
first imported, so it is checked in a fresh Python process; this process
imported Keras long ago (conftest.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import keras
import pytest

from gc_tutorial.book.quiet import import_keras_quietly

FIRST_IMPORT = """
from gc_tutorial.book.quiet import import_keras_quietly
import_keras_quietly()
import os, sys, logging
print(os.environ["TF_CPP_MIN_LOG_LEVEL"], logging.getLogger("tensorflow").level)
print("after the import", file=sys.stderr)
"""


def test_the_first_import_leaves_stderr_to_what_comes_after_it():
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORT],
        capture_output=True,
        text=True,
        env={**env, "KERAS_BACKEND": "tensorflow"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "after the import\n"  # stderr works again, and held nothing before
    assert done.stdout.split() == ["3", str(logging.ERROR)]


def test_once_keras_is_imported_it_only_keeps_tensorflows_logger_to_errors(monkeypatch):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the logger is TensorFlow's")
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "level", logging.WARNING)
    import_keras_quietly()
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert logger.level == logging.ERROR
