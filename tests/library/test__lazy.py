"""Specification of `gc_tutorial._lazy`: public names loaded from their modules on first use.

The standard library's ``json`` package stands in for a package here: its
module ``json.decoder`` defines ``JSONDecoder`` and ``JSONDecodeError``.
"""

from __future__ import annotations

import json.decoder

import pytest

from gc_tutorial._lazy import lazy_exports


def test_the_first_use_of_a_public_name_loads_the_public_names_of_its_home():
    namespace = {"__name__": "json", "__all__": ["JSONDecoder"]}
    load, _ = lazy_exports(namespace, homes=("decoder",))
    assert load("JSONDecoder") is json.decoder.JSONDecoder
    assert namespace["JSONDecoder"] is json.decoder.JSONDecoder
    assert "JSONDecodeError" not in namespace  # in the module's __all__, not the package's


def test_a_name_the_package_does_not_list_is_an_attribute_error_naming_the_package():
    load, _ = lazy_exports({"__name__": "json", "__all__": ["JSONDecoder"]}, homes=("decoder",))
    with pytest.raises(AttributeError, match="module 'json' has no attribute 'JSONDecodeError'"):
        load("JSONDecodeError")


def test_dir_lists_the_public_names_before_they_are_loaded():
    namespace = {"__name__": "json", "__all__": ["JSONDecoder"]}
    _, names = lazy_exports(namespace, homes=("decoder",))
    assert names() == ["JSONDecoder", "__all__", "__name__"]
    assert "JSONDecoder" not in namespace
