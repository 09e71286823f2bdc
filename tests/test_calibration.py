"""Choosing the confidence threshold under which an answer is reported as uncertain."""

from __future__ import annotations

import numpy as np
import pytest

from training.calibration import choose_threshold, variant_table


def test_threshold_keeps_99_percent_right_above_it():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 1000)
    # Wrong answers only at low confidence.
    error = np.where(confidence < 0.3, rng.choice([2.0, 40.0], size=1000), 2.0)
    threshold, share_right, coverage = choose_threshold(confidence, error)
    assert share_right >= 0.99
    assert 0.2 < threshold < 0.35
    assert coverage == pytest.approx(np.mean(confidence >= threshold))


def test_no_threshold_reaches_the_target_when_the_most_confident_answer_is_wrong():
    threshold, _, coverage = choose_threshold(np.array([0.9, 0.5]), np.array([40.0, 40.0]))
    assert threshold == 1.0 and coverage == 0.0


def test_variant_table_counts_each_group():
    rows = [
        {"in_view": "True", "status": "found", "error_mm": "3.0", "variants": "spine.lumbar_count=6;spine.rib_pairs=12"},
        {"in_view": "True", "status": "found", "error_mm": "35.0", "variants": "spine.lumbar_count=6;spine.rib_pairs=12"},
        {"in_view": "True", "status": "not_in_view", "error_mm": "", "variants": "spine.lumbar_count=5;spine.rib_pairs=11"},
    ]
    table = "\n".join(variant_table(rows))
    assert "| 6 lumbar vertebrae | 2 | 19.0 | 50.0 % (1/2) | 0 |" in table
    assert "| 11 rib pairs | 1 | - | 0.0 % (0/1) | 1 |" in table
