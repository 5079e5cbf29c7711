"""Specification of the Study and Scale types: what a study must say, checked."""

from __future__ import annotations

import dataclasses

import pytest
from tiny_study import TINY

from gc_tutorial.book.experiments import Scale


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"seeds": ()}, "at least one seed"),
        ({"seeds": (0, 0)}, "repeat"),
        ({"epochs": 0}, "epochs"),
        ({"test_subset": 0}, "test_subset"),
        ({"arms": ()}, "arms must be distinct, and at least one"),
        ({"arms": ("SGD", "SGD")}, "arms must be distinct, and at least one"),
    ],
)
def test_scales_reject_nonsense(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Scale(**{"seeds": (0,), "epochs": 1, "batch_size": 8, **kwargs})


def test_a_study_refuses_pairs_of_arms_it_lacks():
    with pytest.raises(ValueError, match=r"pairs arms it does not have: \['Adam', 'Adam \+ GC'\]"):
        dataclasses.replace(TINY, pairs={"Adam + GC": "Adam"})


def test_a_study_refuses_a_profile_that_runs_arms_it_lacks():
    few = Scale(seeds=(0,), epochs=1, batch_size=8, arms=("SGD", "Adam"))
    with pytest.raises(ValueError, match=r"profile 'few' runs arms it does not have: \['Adam'\]"):
        dataclasses.replace(TINY, profiles={**TINY.profiles, "few": few})


def test_unknown_profile_lists_the_profiles():
    with pytest.raises(ValueError, match=r"no profile 'quick'; use one of \['smoke', 'short'\]"):
        TINY.scale("quick")


def test_a_profile_plans_all_arms_or_its_own_in_the_studys_order():
    few = Scale(seeds=(0,), epochs=1, batch_size=8, arms=("SGD + GC", "SGD"))
    study = dataclasses.replace(TINY, profiles={**TINY.profiles, "few": few})
    assert study.planned_arms("smoke") == ("SGD", "SGD again", "SGD + GC")
    assert study.planned_arms("few") == ("SGD", "SGD + GC")


def test_the_gpu_profile_runs_a_studys_full_scale_unless_it_has_its_own():
    full = Scale(seeds=(0, 1), epochs=3, batch_size=8)
    gpu = Scale(seeds=(0, 1), epochs=3, batch_size=8, image_size=300)
    plain = dataclasses.replace(TINY, profiles={**TINY.profiles, "full": full})
    assert plain.scale("gpu") is full
    scaled = dataclasses.replace(plain, profiles={**plain.profiles, "gpu": gpu})
    assert scaled.scale("gpu") is gpu
    with pytest.raises(ValueError, match="no profile 'gpu'"):
        TINY.scale("gpu")
