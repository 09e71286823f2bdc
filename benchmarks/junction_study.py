"""Measure the experimental lumbar-junction network on the domain-shift family's development draws.

    .venv/bin/python benchmarks/junction_study.py --junctions runs/junctions/junctions.pt

(after ``python -m training.train_junctions ... --out runs/junctions``; see the README, "Tried and not
shipped"). For each of the 600 shifted development scans with L3 in view (the stacks of
``benchmarks/decision_study.py``; computed there if missing) it prints nothing per scan, but:

* how many vertebrae the network counts between its two junctions, against the phantom's lumbar count;
* how many levels the engine's own vertebra count puts between the same two junctions (it should be the
  lumbar count; it is about 5 whatever the spine, because its levels stretch between the two ends);
* how far the third vertebra below the thoracolumbar junction (L3 counted from the last rib) lies from
  the shipped model's answer, and from the truth;
* what a rule "``uncertain`` when the answer is more than X mm from the L3 counted from the last rib"
  would do to the shipped engine's coverage and to its ``found`` answers on the wrong vertebra.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO), str(REPO / "benchmarks")]

import decision_study  # noqa: E402
from training.metrics import WRONG_VERTEBRA_MM  # noqa: E402

DEVELOPMENT_DATA = decision_study.SHIFTED_IN_VIEW_DATA
RULE_LIMITS_MM = (8.0, 10.0, 12.0, 15.0)


def lumbar_count(stack) -> int:
    """The phantom's lumbar count, from a stack's recorded variants."""
    variants = dict(item.split("=", 1) for item in str(stack["variants"]).split(";") if "=" in item)
    return int(variants["spine.lumbar_count"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--junctions", required=True, help="junctions.pt written by python -m training.train_junctions")
    decision_study.add_single_model_arguments(parser)
    args = parser.parse_args(argv)

    import torch

    from training.junction_network import JunctionNetwork, junction_map, junction_rows, vertebra_centre_rows

    paths, model = decision_study.stacks_and_model(args, DEVELOPMENT_DATA)
    junctions = JunctionNetwork(n_views=len(model.card.views))
    junctions.load_state_dict(torch.load(args.junctions, map_location="cpu", weights_only=True))
    junctions.eval()
    row_mm = model.card.row_mm

    rows = []
    for path, case in zip(paths, decision_study.gather_evidence(paths, model)):
        if not case.in_view:
            continue
        localisation = decision_study.decide_variant(case, model, decision_study.Variant())
        stack = np.load(path)
        above, below, centre = junction_map(junctions, stack["stacked"], torch.device("cpu"))
        found = junction_rows(above, below)
        top, bottom = found["thoracolumbar"], found["lumbosacral"]
        counted = None if top is None or bottom is None else len(vertebra_centre_rows(centre, top, bottom, row_mm))
        below_top = [] if top is None else vertebra_centre_rows(centre, top, len(centre) - 1, row_mm)
        rib_l3 = below_top[2] if len(below_top) >= 3 else None
        answer = localisation.l3_row
        levels = case.counts["both"].levels
        level_at = lambda row: float(np.interp(row, np.arange(len(levels)), levels))  # noqa: E731
        rows.append({
            "count_levels_between": None if top is None or bottom is None else level_at(bottom) - level_at(top),
            "case": case.case_id, "status": localisation.status, "lumbar": lumbar_count(stack), "counted": counted,
            "error_mm": abs(answer - case.true_row) * row_mm,
            "answer_to_rib_l3_mm": None if rib_l3 is None else (answer - rib_l3) * row_mm,
            "rib_l3_error_mm": None if rib_l3 is None else abs(rib_l3 - case.true_row) * row_mm,
        })
    report(rows)
    return 0


def report(rows: list[dict]) -> None:
    print(f"{len(rows)} development scans with L3 in view ({' and '.join(DEVELOPMENT_DATA)})")
    table = collections.Counter((row["lumbar"], row["counted"]) for row in rows)
    for lumbar in sorted({row["lumbar"] for row in rows}):
        total = sum(count for (truth, _), count in table.items() if truth == lumbar)
        right = table.get((lumbar, lumbar), 0)
        spread = {counted: count for (truth, counted), count in sorted(table.items(), key=lambda item: str(item[0][1])) if truth == lumbar}
        print(f"  {lumbar} lumbar vertebrae ({total} scans): counted {lumbar} in {right} ({right / total:.0%}); counted -> scans {spread}")
    for lumbar in sorted({row["lumbar"] for row in rows}):
        between = [row["count_levels_between"] for row in rows if row["lumbar"] == lumbar and row["count_levels_between"] is not None]
        print(f"  {lumbar} lumbar vertebrae: the engine's count puts {np.median(between):.2f} levels between the two junctions "
              f"(median; 5-95 %: {np.percentile(between, 5):.2f}-{np.percentile(between, 95):.2f}; {lumbar} if it counted them)")
    rib_errors = np.array([row["rib_l3_error_mm"] for row in rows if row["rib_l3_error_mm"] is not None])
    print(f"  L3 counted from the last rib, distance from the truth: median {np.median(rib_errors):.1f} mm, "
          f"more than {WRONG_VERTEBRA_MM:g} mm in {np.mean(rib_errors > WRONG_VERTEBRA_MM):.1%} of {len(rib_errors)} scans")
    found = [row for row in rows if row["status"] == "found"]
    wrong = sum(row["error_mm"] > WRONG_VERTEBRA_MM for row in found)
    print(f"the shipped engine: coverage {len(found) / len(rows):.1%}; found on the wrong vertebra {wrong} of {len(found)}")
    for row in found:
        if row["error_mm"] > WRONG_VERTEBRA_MM:
            distance = "no L3 counted from the last rib" if row["answer_to_rib_l3_mm"] is None else f"{row['answer_to_rib_l3_mm']:+.1f} mm from L3 counted from the last rib"
            print(f"    {row['case']}: {row['error_mm']:.1f} mm off, {row['lumbar']} lumbar vertebrae, counted {row['counted']}, answer {distance}")
    for limit in RULE_LIMITS_MM:
        kept = [row for row in found if row["answer_to_rib_l3_mm"] is None or abs(row["answer_to_rib_l3_mm"]) <= limit]
        wrong = sum(row["error_mm"] > WRONG_VERTEBRA_MM for row in kept)
        print(f"with 'uncertain' beyond {limit:g} mm of L3 counted from the last rib: coverage {len(kept) / len(rows):.1%}; "
              f"found on the wrong vertebra {wrong} of {len(kept)}")


if __name__ == "__main__":
    raise SystemExit(main())
