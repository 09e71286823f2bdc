"""Two test-time probes of the shipped model's answers on four- and six-lumbar spines (issue 13).

    .venv/bin/python benchmarks/answer_probes.py        # about 15 min on 2 cores with the stacks cached

The confidently wrong answers left on the domain-shift family are transitional spines answered half a
vertebra off, where the windows and the count agree. This script asks whether the answer itself shows it,
on the 600 shifted development scans with L3 in view (the stacks of ``benchmarks/decision_study.py``,
computed there if missing; never the bench's seeds):

* **Hidden anchors.** Rerun the windows that hold the answer (L3 at 20-80 % of their height) with the
  projection blanked (set to air, as beyond a scan's edge) above the answer minus 50 mm (the last ribs
  hidden: the answer must come from below) or below the answer plus 20, 35 or 50 mm (the pelvis and
  sacrum hidden). An answer pulled between the count from the ribs and the count from the sacrum should
  move when one of them is hidden; a sound answer should not.
* **Vertebra phase** (:mod:`L3SpotterLib.vertebra_phase`): where the answer falls between the discs found
  near it in the projection: 0 on a disc, 0.5 mid-body. An answer half a vertebra off lies near a disc.

For each, the script prints the reading by lumbar count, its value on the ``found`` answers on the wrong
vertebra, and what an "``uncertain`` beyond X" rule would cost in coverage. The hidden anchors were not
shipped (README, "Tried and not shipped"); the phase became the engine's disc rule (README, "How an answer
becomes ``found``"). The engine is measured here without that rule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO), str(REPO / "benchmarks")]

import decision_study  # noqa: E402
from junction_study import DEVELOPMENT_DATA, lumbar_count  # noqa: E402
from L3SpotterLib.vertebra_phase import vertebra_phase  # noqa: E402
from training.metrics import WRONG_VERTEBRA_MM  # noqa: E402

# The probes are measured against the engine as it was before the disc rule (the phase) joined it.
WITHOUT_DISC_RULE = decision_study.Variant(min_vertebra_phase=0.0)
HOLDING_FRACTIONS = np.linspace(0.2, 0.8, 7)  # where the answer sits in the probed windows
RIBS_HIDDEN_ABOVE_MM = 50.0
PELVIS_HIDDEN_BELOW_MM = (20.0, 35.0, 50.0)


def implied_row(stacked: np.ndarray, answer_row: float, model) -> float:
    """Median row at which the windows holding ``answer_row`` place L3."""
    from L3SpotterLib.inference import predict_windows
    from L3SpotterLib.output_curve import correct_predictions

    height = model.card.window_height_px
    tops = np.round(answer_row - HOLDING_FRACTIONS * height).astype(np.int64)
    predictions = correct_predictions(predictions=predict_windows(model.network, stacked, tops, height, model.device), curve=model.output_curve)
    return float(np.median(tops + predictions * height))


def blanked(stacked: np.ndarray, first_row: int, last_row: int) -> np.ndarray:
    """A copy with rows outside ``[first_row, last_row)`` set to air (0), as beyond a scan's edge."""
    copy = np.zeros_like(stacked)
    copy[:, max(0, first_row):max(0, last_row)] = stacked[:, max(0, first_row):max(0, last_row)]
    return copy


def rule_table(name: str, rows: list[dict], key: str, limits, keep) -> None:
    found = [row for row in rows if row["status"] == "found"]
    for limit in limits:
        kept = [row for row in found if keep(row[key], limit)]
        wrong = sum(row["error_mm"] > WRONG_VERTEBRA_MM for row in kept)
        print(f"    {name} {limit:g}: coverage {len(kept) / len(rows):.1%}; found on the wrong vertebra {wrong} of {len(kept)}")


def describe(rows: list[dict], key: str, what: str) -> None:
    print(f"  {what}")
    for lumbar in sorted({row["lumbar"] for row in rows}):
        values = [row[key] for row in rows if row["lumbar"] == lumbar and row[key] is not None]
        print(f"    {lumbar} lumbar vertebrae ({len(values)}): 10/50/90 %: " + " / ".join(f"{v:+.1f}" for v in np.percentile(values, [10, 50, 90])))
    right = [row[key] for row in rows if row["status"] == "found" and row["error_mm"] <= WRONG_VERTEBRA_MM and row[key] is not None]
    print("    found on the right vertebra: 5/50/95 %: " + " / ".join(f"{v:+.2f}" for v in np.percentile(right, [5, 50, 95])))
    for row in rows:
        if row["status"] == "found" and row["error_mm"] > WRONG_VERTEBRA_MM:
            value = "none read" if row[key] is None else f"{row[key]:+.2f}"
            print(f"    found, wrong: {row['case']} ({row['lumbar']} lumbar, {row['signed_error_mm']:+.1f} mm): {value}")
    missing = sum(row[key] is None for row in rows)
    if missing:
        print(f"    not read (too little projection around the answer): {missing} answers")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    decision_study.add_single_model_arguments(parser)
    args = parser.parse_args(argv)
    paths, model = decision_study.stacks_and_model(args, DEVELOPMENT_DATA)
    row_mm = model.card.row_mm

    rows = []
    for path, case in zip(paths, decision_study.gather_evidence(paths, model)):
        localisation = decision_study.decide_variant(case, model, WITHOUT_DISC_RULE)
        if not case.in_view or localisation.l3_row is None:
            continue
        stack = np.load(path)
        stacked, answer = stack["stacked"], localisation.l3_row
        row = {"case": case.case_id, "status": localisation.status, "lumbar": lumbar_count(stack),
               "signed_error_mm": (answer - case.true_row) * row_mm, "error_mm": abs(answer - case.true_row) * row_mm}
        hidden_above = int(round(answer - RIBS_HIDDEN_ABOVE_MM / row_mm))
        row["ribs_hidden_mm"] = (implied_row(blanked(stacked, hidden_above, stacked.shape[1]), answer, model) - answer) * row_mm
        for below_mm in PELVIS_HIDDEN_BELOW_MM:
            hidden_below = int(round(answer + below_mm / row_mm))
            row[f"pelvis_hidden_{below_mm:g}_mm"] = (implied_row(blanked(stacked, 0, hidden_below), answer, model) - answer) * row_mm
        row["phase"] = vertebra_phase(stacked, answer, row_mm)
        rows.append(row)

    found = [row for row in rows if row["status"] == "found"]
    wrong = sum(row["error_mm"] > WRONG_VERTEBRA_MM for row in found)
    print(f"{len(rows)} development scans with L3 in view and an answer ({' and '.join(DEVELOPMENT_DATA)})")
    print(f"the shipped engine without its disc rule: coverage {len(found) / len(rows):.1%}; found on the wrong vertebra {wrong} of {len(found)}")
    print("Hidden anchors: where the windows holding the answer place L3 once part of the projection is air (mm, + = lower)")
    describe(rows, "ribs_hidden_mm", f"everything above the answer - {RIBS_HIDDEN_ABOVE_MM:g} mm hidden (the last ribs)")
    rule_table("'uncertain' when it moves more than (mm)", rows, "ribs_hidden_mm", (8, 12, 15, 20), lambda value, limit: abs(value) <= limit)
    for below_mm in PELVIS_HIDDEN_BELOW_MM:
        key = f"pelvis_hidden_{below_mm:g}_mm"
        describe(rows, key, f"everything below the answer + {below_mm:g} mm hidden (the pelvis and sacrum)")
        rule_table("'uncertain' when it moves more than (mm)", rows, key, (4, 6, 8), lambda value, limit: abs(value) <= limit)
    print("Vertebra phase: where the answer lies between the discs found near it (0 on a disc, 0.5 mid-body)")
    describe(rows, "phase", "phase of the answer")
    # As in the engine, an answer whose discs cannot be read is not held back by the rule.
    rule_table("'uncertain' when the phase is below", rows, "phase", (0.1, 0.15, 0.2, 0.25), lambda value, limit: value is None or value >= limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
