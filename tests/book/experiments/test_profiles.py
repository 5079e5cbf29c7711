"""Specification of gc_tutorial.book.experiments.profiles: how much the chapters run.

A profile is a name the chapters run their studies at; the studies'
scales per profile are specified in test_studies.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from gc_tutorial.book.experiments import PROFILE_ENV, PROFILES, Profile, current_profile


def test_profile_defaults_to_full(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert current_profile() is PROFILES["full"]


@pytest.mark.parametrize("name", ["full", "gpu", "smoke"])
def test_the_variable_chooses_the_profile(monkeypatch, name):
    monkeypatch.setenv(PROFILE_ENV, name)
    assert current_profile().name == name


def test_a_profile_is_only_its_name():
    # What a profile runs is in each study's Scale, one per profile name.
    assert {field.name for field in dataclasses.fields(Profile)} == {"name"}
    assert {name: profile.name for name, profile in PROFILES.items()} == {
        "full": "full",
        "gpu": "gpu",
        "smoke": "smoke",
    }


def test_profiles_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILES["full"].name = "smoke"


def test_unknown_profile_names_the_variable_and_choices(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "quick")
    with pytest.raises(ValueError, match="GC_TUTORIAL_PROFILE") as error:
        current_profile()
    assert "'full'" in str(error.value) and "'smoke'" in str(error.value)
