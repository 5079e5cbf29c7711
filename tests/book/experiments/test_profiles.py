"""Specification of gc_tutorial.book.experiments.profiles: how much the chapters run.

The values of the ``full`` profile are the book's settings; the committed
results (tests/pages/test_book_results.py) pin them. Here only the relations
between the profiles are checked.
"""

from __future__ import annotations

import dataclasses

import pytest

from gc_tutorial.book.experiments import PROFILE_ENV, PROFILES, current_profile

SEED_FIELDS = ("sweep_seeds",)
COUNT_FIELDS = ("sweep_epochs",)


def test_profile_defaults_to_full(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert current_profile() is PROFILES["full"]


@pytest.mark.parametrize("name", ["full", "smoke"])
def test_the_variable_chooses_the_profile(monkeypatch, name):
    monkeypatch.setenv(PROFILE_ENV, name)
    assert current_profile().name == name


def test_every_field_is_checked_below():
    fields = {field.name for field in dataclasses.fields(PROFILES["full"])}
    assert fields == {"name", "lr_grid", *SEED_FIELDS, *COUNT_FIELDS}


def test_smoke_is_smaller_than_full_in_every_dimension():
    full, smoke = PROFILES["full"], PROFILES["smoke"]
    for field in SEED_FIELDS + ("lr_grid",):
        small, large = getattr(smoke, field), getattr(full, field)
        assert 0 < len(small) < len(large), field
        assert set(small) <= set(large), field
    for field in COUNT_FIELDS:
        assert 1 <= getattr(smoke, field) < getattr(full, field), field


def test_full_runs_several_seeds_of_every_comparison():
    full = PROFILES["full"]
    for field in SEED_FIELDS:
        assert len(getattr(full, field)) >= 3, field
    assert min(full.lr_grid) < 1e-3 < max(full.lr_grid)


def test_profiles_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["full"].sweep_epochs = 1


def test_unknown_profile_names_the_variable_and_choices(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")
    with pytest.raises(ValueError, match="GC_TUTORIAL_PROFILE") as error:
        current_profile()
    assert "'full'" in str(error.value) and "'smoke'" in str(error.value)
