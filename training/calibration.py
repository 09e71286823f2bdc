"""Calibrate the confidence and break the errors down by anatomical variant, from an evaluation CSV.

    python -m training.evaluate --data phantoms:500:0 --phantom-pixel-mm 2 --csv docs/results/synthetic_test.csv
    python -m training.calibration docs/results/synthetic_test.csv --png docs/images/confidence_calibration.png

* The threshold: the lowest confidence above which at least 99 % of the answers (on scans whose L3 is in
  view) lie on the right vertebra (error <= 15 mm). Answers below it are reported as ``uncertain``, and so
  are answers within one vertebral level of the scan's edge (the engine's rule, whatever the confidence),
  which therefore take no part in the choice. The coverage is the share of in-view scans reported ``found``.
* The variants: error and wrong-vertebra rate for the scans with each transitional anatomy.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from L3SpotterLib.atomic_files import atomic_write_bytes
from L3SpotterLib.ramp_correlation import EDGE_FULL_CONFIDENCE_MM, count_checkable

from .metrics import WRONG_VERTEBRA_MM, summarise_errors

# Each variant: its name in the table and the test on the flattened ``variants`` of a phantom.
VARIANT_GROUPS = {
    "4 lumbar vertebrae": lambda v: v.get("spine.lumbar_count") == "4",
    "6 lumbar vertebrae": lambda v: v.get("spine.lumbar_count") == "6",
    "11 rib pairs": lambda v: v.get("spine.rib_pairs") == "11",
    "13 rib pairs": lambda v: v.get("spine.rib_pairs") == "13",
    "rudimentary rib on L1": lambda v: v.get("variants.l1_rudimentary_rib") == "True",
    "sacralised L5": lambda v: v.get("variants.sacralized_l5") == "True",
    "no transitional anatomy": lambda v: v.get("spine.lumbar_count") == "5" and v.get("spine.rib_pairs") == "12"
    and v.get("variants.l1_rudimentary_rib") != "True" and v.get("variants.sacralized_l5") != "True",
}


def read_outcomes(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def parse_variants(text: str) -> dict:
    return dict(item.split("=", 1) for item in text.split(";") if "=" in item)


@dataclass(frozen=True)
class InViewAnswers:
    """The in-view scans of an evaluation CSV that got a level, one array entry per answer."""

    confidence: np.ndarray
    error_mm: np.ndarray
    error_slices: np.ndarray
    countable: np.ndarray  # far enough from the scan's edge to be reported ``found`` at all
    n_in_view: int  # in-view scans, answered or not
    found: np.ndarray  # reported ``found`` in the evaluation (its card's threshold, count and input limits)


def in_view_answers(rows: list[dict]) -> InViewAnswers:
    in_view = [row for row in rows if row["in_view"] == "True" and row["status"] != "error"]
    answered = [row for row in in_view if row["error_mm"] not in ("", "None")]
    return InViewAnswers(
        confidence=np.array([float(row["confidence"]) for row in answered]),
        error_mm=np.array([float(row["error_mm"]) for row in answered]),
        error_slices=np.array([float(row["error_slices"]) for row in answered]),
        countable=np.array([count_checkable(float(row.get("edge_distance_mm") or "inf")) for row in answered], dtype=bool),
        n_in_view=len(in_view),
        found=np.array([row["status"] == "found" for row in answered], dtype=bool),
    )


def choose_threshold(confidence: np.ndarray, error_mm: np.ndarray, target: float = 0.99) -> tuple[float, float, float]:
    """(threshold, share right above it, coverage of the answered scans)."""
    right = error_mm <= WRONG_VERTEBRA_MM
    order = np.argsort(-confidence)
    right_sorted = right[order]
    share_right = np.cumsum(right_sorted) / np.arange(1, len(right_sorted) + 1)
    # The largest prefix (most confident first) whose share of right answers stays >= target.
    ok = np.nonzero(share_right >= target)[0]
    if len(ok) == 0:
        return 1.0, float("nan"), 0.0
    last = int(ok[-1])
    threshold = float(confidence[order][last])
    above = confidence >= threshold
    return threshold, float(right[above].mean()), float(above.mean())


def plot_calibration(confidence, error_mm, countable, threshold, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=110, layout="constrained")
    axis = figure.subplots()
    wrong = error_mm > WRONG_VERTEBRA_MM
    axis.scatter(confidence[~wrong & countable], error_mm[~wrong & countable], s=8, alpha=0.6, label="right vertebra")
    axis.scatter(confidence[wrong & countable], error_mm[wrong & countable], s=14, color="red", label="wrong vertebra (> 15 mm)")
    axis.scatter(confidence[~countable], error_mm[~countable], s=14, marker="x", color="0.5",
                 label=f"L3 within {EDGE_FULL_CONFIDENCE_MM:.0f} mm of the edge (always uncertain)")
    axis.axhline(WRONG_VERTEBRA_MM, color="0.6", linestyle=":", linewidth=1)
    axis.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.2f}")
    axis.set_yscale("symlog", linthresh=5)
    axis.set_xlabel("confidence")
    axis.set_ylabel("|error| (mm)")
    axis.set_title("Error against confidence, synthetic test set (L3 in view)")
    axis.legend(fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    atomic_write_bytes(png, buffer.getvalue())


def variant_table(rows: list[dict]) -> list[str]:
    lines = ["| anatomy | scans (L3 in view) | mean error (mm) | right vertebra | missed |", "|---|---|---|---|---|"]
    for name, test in VARIANT_GROUPS.items():
        group = [row for row in rows if row["in_view"] == "True" and row["status"] != "error" and test(parse_variants(row["variants"]))]
        if not group:
            lines.append(f"| {name} | 0 | - | - | - |")
            continue
        answered = [row for row in group if row["error_mm"] not in ("", "None")]
        errors = np.array([float(row["error_mm"]) for row in answered])
        right = int(np.sum(errors <= WRONG_VERTEBRA_MM))
        mean = f"{errors.mean():.1f}" if len(errors) else "-"
        lines.append(f"| {name} | {len(group)} | {mean} | {100 * right / len(group):.1f} % ({right}/{len(group)}) | {len(group) - len(answered)} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibration", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", help="the per-case CSV of training.evaluate")
    parser.add_argument("--png", default=None, help="write the error-against-confidence plot here")
    parser.add_argument("--target", type=float, default=0.99, help="share of right-vertebra answers wanted above the threshold")
    parser.add_argument("--threshold", type=float, default=None,
                        help="report this threshold (e.g. the card's, chosen on a calibration set) instead of choosing one here")
    args = parser.parse_args(argv)
    rows = read_outcomes(Path(args.csv))
    answers = in_view_answers(rows)
    confidence, error_mm, n_in_view, countable = answers.confidence, answers.error_mm, answers.n_in_view, answers.countable
    if args.threshold is None:
        threshold = choose_threshold(confidence[countable], error_mm[countable], args.target)[0]
        how = "chosen on this set"
    else:
        threshold, how = args.threshold, "given"
    found = countable & (confidence >= threshold)
    share_right = float((error_mm[found] <= WRONG_VERTEBRA_MM).mean()) if found.any() else 0.0
    summary = summarise_errors(error_mm, error_mm)  # slices are not needed here
    print(f"{len(error_mm)} of {n_in_view} in-view scans answered; wrong vertebra overall {100 * summary.wrong_vertebra:.1f} %")
    print(f"{int((~countable).sum())} answers within {EDGE_FULL_CONFIDENCE_MM:.0f} mm of the scan's edge: uncertain whatever their confidence")
    print(f"threshold {threshold:.3f} ({how}): {100 * share_right:.2f} % right above it, coverage {100 * found.sum() / max(n_in_view, 1):.1f} % of in-view scans reported found")
    if args.png:
        plot_calibration(confidence, error_mm, countable, threshold, Path(args.png))
    print("\n".join(variant_table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
