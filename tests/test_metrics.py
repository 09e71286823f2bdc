"""How the benchmarks state a share: its one-sided upper confidence bound."""

from __future__ import annotations

import pytest

from training.metrics import share_upper_bound


def test_none_seen_in_n_bounds_the_share_at_one_minus_alpha_to_the_one_over_n():
    # With k = 0 the Clopper-Pearson bound has a closed form: 1 - 0.05 ** (1 / n).
    for n in (20, 123, 600):
        assert share_upper_bound(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)


def test_a_target_of_half_a_percent_needs_about_six_hundred_clean_answers_to_be_shown():
    assert share_upper_bound(0, 597) > 0.005
    assert share_upper_bound(0, 598) < 0.005
    assert share_upper_bound(1, 123) == pytest.approx(0.0380, abs=1e-4)


def test_the_bound_is_one_when_nothing_or_everything_was_seen():
    assert share_upper_bound(0, 0) == 1.0
    assert share_upper_bound(5, 5) == 1.0
