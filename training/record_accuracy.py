"""Write a model's measured accuracy, and its calibrated confidence threshold, into its model card.

    python -m training.record_accuracy L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json \\
        --csv docs/results/synthetic_test.csv --calibration-csv docs/results/calibration_set.csv

The figures come from a ``training.evaluate`` CSV; the card's weights (and their SHA-256) are untouched.
With ``--calibration-csv`` the card's ``confidence_threshold`` is first chosen on that CSV (see
``training.calibration``): a calibration set disjoint from the test set, so that the test figures above
the threshold are not flattered by having chosen it there. The figures are computed with the card's
threshold, since it moves answers from ``found`` to ``uncertain``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from L3SpotterLib.model_card import read_card, write_card

from .calibration import choose_threshold, in_view_answers, read_outcomes
from .metrics import WRONG_VERTEBRA_MM, summarise_errors


def accuracy_from_rows(rows: list[dict], threshold: float) -> dict:
    answers = in_view_answers(rows)
    error_mm, n_in_view = answers.error_mm, answers.n_in_view
    summary = summarise_errors(error_mm, answers.error_slices)  # slices as training.evaluate counted them
    out_of_view = [row for row in rows if row["in_view"] == "False" and row["status"] != "error"]
    # What the engine reported as found: the CSV must come from the card being recorded (its threshold and,
    # where it has one, its vertebra count, which can veto a confident ramp).
    confident = answers.found
    return {
        "n_in_view": n_in_view,
        "n_answered": int(len(error_mm)),
        "mean_error_mm": round(summary.mean_mm, 2),
        "sd_error_mm": round(summary.sd_mm, 2),
        "median_error_mm": round(summary.median_mm, 2),
        "p95_error_mm": round(summary.p95_mm, 2),
        "mean_error_slices": round(summary.mean_slices, 2),
        "within_1_slice": round(summary.within_1_slice, 4),
        f"wrong_vertebra_over_{WRONG_VERTEBRA_MM:.0f}mm": round(summary.wrong_vertebra, 4),
        "missed_in_view": n_in_view - int(len(error_mm)),
        "n_out_of_view": len(out_of_view),
        "out_of_view_called_not_in_view": round(sum(row["status"] == "not_in_view" for row in out_of_view) / max(1, len(out_of_view)), 4),
        **_partial_view_figures(out_of_view),
        "confidence_threshold": threshold,
        "coverage_above_threshold": round(float(confident.sum()) / max(1, n_in_view), 4),
        "right_vertebra_above_threshold": round(float((error_mm[confident] <= WRONG_VERTEBRA_MM).mean()) if confident.any() else 0.0, 4),
    }


def _partial_view_figures(out_of_view: list[dict]) -> dict:
    """Scans with none of L3 (should be not_in_view) and with L3 cut by the edge (must never be found)."""
    absent = [row for row in out_of_view if row.get("l3_visibility") == "absent"]
    cut = [row for row in out_of_view if row.get("l3_visibility") == "cut"]
    if not absent and not cut:
        return {}  # a CSV from before the split

    return {
        "n_l3_absent": len(absent),
        "l3_absent_called_not_in_view": round(sum(row["status"] == "not_in_view" for row in absent) / max(1, len(absent)), 4),
        "n_l3_cut": len(cut),
        "l3_cut_called_not_in_view": round(sum(row["status"] == "not_in_view" for row in cut) / max(1, len(cut)), 4),
        "l3_cut_reported_found": round(sum(row["status"] == "found" for row in cut) / max(1, len(cut)), 4),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.record_accuracy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card")
    parser.add_argument("--csv", required=True, help="per-case CSV of training.evaluate")
    parser.add_argument("--label", default="synthetic_test", help="name of this measurement in the card")
    parser.add_argument("--calibration-csv", default=None,
                        help="choose the confidence threshold on this training.evaluate CSV (disjoint from --csv) and store it")
    parser.add_argument("--description", default="", help="what the test set is and the command that made the CSV")
    args = parser.parse_args(argv)
    card_path = Path(args.card)
    card = read_card(card_path)
    rows = read_outcomes(Path(args.csv))
    if args.calibration_csv:
        answers = in_view_answers(read_outcomes(Path(args.calibration_csv)))
        card.confidence_threshold = round(choose_threshold(answers.confidence[answers.countable], answers.error_mm[answers.countable])[0], 3)
    accuracy = accuracy_from_rows(rows, card.confidence_threshold)
    accuracy["description"] = args.description
    if args.calibration_csv:
        accuracy["threshold_chosen_on"] = args.calibration_csv
    card.accuracy = {**card.accuracy, args.label: accuracy}
    write_card(card, card_path)
    print(json.dumps(accuracy, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
