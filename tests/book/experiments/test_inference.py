"""Specification of gc_tutorial.book.experiments.inference: the Wilcoxon test and Holm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gc_tutorial.book.experiments.inference import holm, wilcoxon_p

# --- Wilcoxon signed-rank ---------------------------------------------------------


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_differences_all_of_one_sign_get_the_exact_two_sided_p(sign):
    # Every one of n = 8 signs alike: the exact p is 2 / 2**8, either way.
    assert wilcoxon_p(sign * np.arange(1.0, 9.0)) == pytest.approx(2 / 2**8)


def test_differences_that_balance_out_give_no_evidence():
    assert wilcoxon_p(np.array([-3.0, -1.0, 1.0, 3.0])) == pytest.approx(1.0)


def test_all_zero_differences_give_p_one():
    assert wilcoxon_p(np.zeros(5)) == 1.0


# --- Holm -------------------------------------------------------------------


def test_holm_multiplies_the_kth_smallest_p_by_the_tests_left_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_holm_leaves_a_missing_test_out_of_the_family():
    adjusted = holm([0.5, math.nan, 0.02])
    assert adjusted[0] == 0.5 and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)


def test_holm_caps_at_one():
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_holm_of_one_test_is_that_test():
    assert holm([0.2]) == pytest.approx([0.2])
