"""Specification of gc_tutorial.book.experiments.inference: Wilcoxon, Holm and the one decision."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gc_tutorial.book.experiments.inference import (
    DECISION_RULE,
    VERDICTS,
    decide,
    holm,
    wilcoxon_p,
)

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


# --- The decision: one rule over one family ------------------------------------------


def family(*rows: tuple[int, float, float]) -> pd.DataFrame:
    """Rows of (n, mean difference, Wilcoxon p)."""
    return pd.DataFrame(rows, columns=["n", "mean_difference", "wilcoxon_p"])


def test_a_difference_is_real_when_its_holm_adjusted_p_is_below_alpha():
    decided = decide(family((12, -0.2, 0.001), (12, 0.3, 0.004), (12, 0.01, 0.03)))
    assert list(decided["p_holm"]) == pytest.approx([0.003, 0.008, 0.03])
    assert list(decided["verdict"]) == ["lower", "higher", "higher"]


def test_a_p_below_alpha_alone_is_within_noise_when_the_family_is_large():
    rows = [(12, -0.1, 0.02)] + [(12, 0.0, 0.9)] * 4
    decided = decide(family(*rows))
    assert decided["verdict"].iloc[0] == "within noise", "0.02 x 5 tests is above 0.05"


def test_too_few_seeds_or_a_diverged_run_is_undetermined_and_leaves_the_family():
    decided = decide(family((1, -0.5, math.nan), (12, math.nan, math.nan), (12, -0.1, 0.04)))
    assert list(decided["verdict"]) == ["undetermined", "undetermined", "lower"]
    assert decided["p_holm"].iloc[2] == pytest.approx(0.04), "a family of one test"


def test_the_verdicts_are_the_named_ones_and_the_rule_is_stated_once():
    decided = decide(family((12, -0.2, 0.001), (12, 0.0, 0.9), (1, 0.1, math.nan)))
    assert set(decided["verdict"]) <= set(VERDICTS)
    assert "Wilcoxon" in DECISION_RULE and "Holm" in DECISION_RULE
