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


def test_the_evaluation_report_separates_absent_and_cut_l3():
    from training.evaluate import CaseOutcome, phantom_l3_visibility, summarise

    assert phantom_l3_visibility({"l3_slice": 40, "vertebrae": {"L3": {}}}) == "whole"
    assert phantom_l3_visibility({"l3_slice": None, "vertebrae": {"L2": {}, "L3": {}}}) == "cut"
    assert phantom_l3_visibility({"l3_slice": None, "vertebrae": {"T12": {}}}) == "absent"
    outcomes = [
        CaseOutcome("a", False, None, None, "not_in_view", None, None, 0.1, "below_scan", None, 3.0, None, None, l3_visibility="absent"),
        CaseOutcome("b", False, None, None, "uncertain", 9, 5.0, 0.1, "at_inferior_edge", 10.0, 3.0, None, None, l3_visibility="absent"),
        CaseOutcome("c", False, None, None, "uncertain", 9, 5.0, 0.1, "at_inferior_edge", 10.0, 3.0, None, None, l3_visibility="cut"),
    ]
    text = "\n".join(summarise(outcomes).lines())
    assert "L3 absent from the scan (2 cases): called not_in_view 50.0 %" in text
    assert "L3 cut by the scan's edge (1 cases): uncertain 1" in text


def test_record_accuracy_writes_the_card_but_not_the_weights(tmp_path):
    import csv
    import json

    from L3SpotterLib.model_card import ModelCard, load_model, save_model
    from L3SpotterLib.networks import WindowRegressor
    from training.evaluate import CaseOutcome
    from training.record_accuracy import main

    card = ModelCard(name="m", backbone="cnn4", views=["frontal"], row_mm=4, col_mm=4, window_height_px=32,
                     window_width_px=32, hu_window=(-100.0, 1000.0), weights_file="")
    save_model(WindowRegressor("cnn4"), card, tmp_path / "m.json")
    sha_before = json.loads((tmp_path / "m.json").read_text())["weights_sha256"]
    rows = [
        CaseOutcome("a", True, 10.0, 3, "found", 3, 12.0, 0.9, "inside", 60.0, 3.0, 2.0, 0.67),
        CaseOutcome("b", True, 10.0, 3, "uncertain", 13, 40.0, 0.3, "inside", 70.0, 3.0, 30.0, 10.0),
        CaseOutcome("c", False, None, None, "not_in_view", None, None, 0.1, "below_scan", None, 3.0, None, None, l3_visibility="absent"),
        # L3 cut by the edge: one answered near the edge (uncertain), one answered far from it and confidently.
        CaseOutcome("e", False, 10.0, None, "uncertain", 4, 14.0, 0.2, "at_inferior_edge", 12.0, 3.0, None, None, l3_visibility="cut"),
        CaseOutcome("f", False, 10.0, None, "uncertain", 40, 110.0, 0.92, "inside", 80.0, 3.0, None, None, l3_visibility="cut"),
        # Most confident of all, but within one vertebral level of the edge: uncertain whatever its confidence.
        CaseOutcome("d", True, 10.0, 3, "uncertain", 4, 14.0, 0.95, "inside", 30.0, 3.0, 4.0, 1.0),
    ]
    with open(tmp_path / "test.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(CaseOutcome.__dataclass_fields__))
        writer.writeheader()
        for row in rows:
            writer.writerow(row.__dict__)
    # Calibrated on the test CSV itself here, for brevity; the real run uses a disjoint calibration set.
    assert main([str(tmp_path / "m.json"), "--csv", str(tmp_path / "test.csv"), "--calibration-csv", str(tmp_path / "test.csv")]) == 0
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["weights_sha256"] == sha_before
    assert written["confidence_threshold"] == 0.9
    accuracy = written["accuracy"]["synthetic_test"]
    assert accuracy["mean_error_mm"] == 12.0 and accuracy["wrong_vertebra_over_15mm"] == pytest.approx(1 / 3, abs=1e-4)
    assert accuracy["out_of_view_called_not_in_view"] == pytest.approx(1 / 3, abs=1e-4)
    assert accuracy["n_l3_absent"] == 1 and accuracy["l3_absent_called_not_in_view"] == 1.0
    # The figures are the statuses the evaluation reported (its card's threshold and count): "f" was uncertain.
    assert accuracy["n_l3_cut"] == 2 and accuracy["l3_cut_reported_found"] == 0.0
    assert accuracy["coverage_above_threshold"] == pytest.approx(1 / 3, abs=1e-4)  # only "a" is reported found
    load_model(tmp_path / "m.json")  # still a valid model


def test_evaluation_csvs_read_back_as_the_outcomes_written(tmp_path):
    """A long bench's CSVs can be scored again (the domain-shift bench's --record-card-from) without loss."""
    from training.evaluate import CaseOutcome, read_outcomes_csv, write_outcomes_csv

    outcomes = [
        CaseOutcome("phantom_1", True, 12.5, 40, "found", 41, 14.0, 0.99, "inside", 120.0, 1.0, 1.5, 1.0, "a=1;b=2", ""),
        CaseOutcome("phantom_2", False, -300.0, None, "not_in_view", None, None, 0.97, "below_scan", None, 5.0, None, None,
                    "", "", "absent"),
        CaseOutcome("phantom_3", True, 0.0, 10, "uncertain", 12, 6.0, 0.5, "inside", 30.0, 3.0, 6.0, 2.0, "",
                    "the count makes this L4 (level +0.6 from L3); confidence 0.50 is below 0.96", "whole"),
    ]
    write_outcomes_csv(tmp_path / "part.csv", outcomes)
    assert read_outcomes_csv(tmp_path / "part.csv") == outcomes
