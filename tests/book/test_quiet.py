"""Specification of gc_tutorial.book.quiet: Keras imported without TensorFlow's start-up log.

That log is written by C++ straight to file descriptor 2 when TensorFlow is
first imported, so it is checked in a fresh Python process; this process
imported Keras long ago (conftest.py).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keras
import pytest
from helpers import run_python

from gc_tutorial.book.quiet import import_keras_quietly

ROOT = Path(__file__).resolve().parents[2]

FIRST_IMPORT = """
from gc_tutorial.book.quiet import import_keras_quietly
import_keras_quietly()
import os, sys, logging
print(os.environ["TF_CPP_MIN_LOG_LEVEL"], logging.getLogger("tensorflow").level)
print("after the import", file=sys.stderr)
"""


def test_the_first_import_leaves_stderr_to_what_comes_after_it():
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = run_python(
        "-c", FIRST_IMPORT, cwd=ROOT, env={**env, "KERAS_BACKEND": "tensorflow"}, timeout=300
    )
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
