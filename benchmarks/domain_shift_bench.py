"""The proxy for real scans: the shipped engine on phantoms drawn unlike its training data, and on the
fields of view and inputs real archives hold.

    .venv/bin/python benchmarks/domain_shift_bench.py                       # every part, ~25 min on 2 cores
    .venv/bin/python benchmarks/domain_shift_bench.py --scale 0.2 --out /tmp/bench   # a quick look

Every part is drawn from seeds that no training, model selection, output curve or threshold has used
(700000-899999), and all but the reference part from the *shifted* family
(``L3SpotterLib/phantom/shifted.py``: other bone and tissue HU, rib, vertebra and pelvis proportions,
noise texture and kernels, slice thicknesses, body sizes, positioning, scoliosis and kyphosis, PET/CT):

==========================  ==================================================================
part                        what
==========================  ==================================================================
reference                   standard phantoms, L3 in view (the in-distribution family), for a
                            side-by-side comparison in the same run
shifted_in_view             the shifted family, L3 wholly in the scan
shifted_l3_outside          the shifted family, L3 outside or cut by the scan's edge
no_l3_<kind>                head, head and neck, head to upper chest, neck and chest, chest,
                            pelvis and legs, legs (shifted family): no L3 anywhere
narrow_spine                lumbar-spine CTs reconstructed 100-200 mm wide on the spine
upside_down                 shifted phantoms, L3 in view, the array read feet-first under the
                            same header
front_back_swapped          shifted phantoms, L3 in view, front and back swapped under the same
                            header
lps_read_as_ras             shifted phantoms, L3 in view, front and back and left and right
                            swapped under the same header (an LPS volume with a RAS header)
non_anatomical              objects that are not a patient (every kind of
                            ``phantom/non_anatomical.py``)
==========================  ==================================================================

Phantoms are acquired as real scans are (drawn slice thickness, noise, kernels, HU caps), with in-plane
pixels of 1.25 mm (0.6 mm for the narrow reconstructions) to keep generation fast. Per part it prints the
statuses and, where L3 is in view: mean error, right vertebra (error <= 15 mm, among all in view),
coverage (``found`` among in view), and the share of ``found`` answers on the wrong vertebra: the
confidently wrong answers. Writes one CSV per part and ``summary.txt`` into ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO)]

from L3SpotterLib.atomic_files import atomic_write_text  # noqa: E402
from training.annotations import read_data_spec  # noqa: E402
from training.calibration import parse_variants  # noqa: E402
from training.evaluate import evaluate_models, read_outcomes_csv, write_outcomes_csv  # noqa: E402
from training.metrics import WRONG_VERTEBRA_MM, share_upper_bound  # noqa: E402

PIXELS = "coarse_pixel_mm=1.25"
NO_L3_KINDS = ("head", "head_neck", "head_to_upper_chest", "neck_chest", "chest", "pelvis_legs", "legs")

# part -> (data spec, number of cases at scale 1)
PARTS: dict[str, tuple[str, int]] = {
    "reference": (f"phantoms:{{n}}:740000:l3_in_view=true,{PIXELS}", 60),
    "shifted_in_view": (f"phantoms:{{n}}:700000:distribution=shifted,l3_in_view=true,{PIXELS}", 160),
    "shifted_l3_outside": (f"phantoms:{{n}}:705000:distribution=shifted,l3_in_view=false,{PIXELS}", 40),
    **{
        f"no_l3_{kind}": (f"phantoms:{{n}}:{710000 + 1000 * index}:distribution=shifted,fov={kind},{PIXELS}", 15)
        for index, kind in enumerate(NO_L3_KINDS)
    },
    "narrow_spine": ("phantoms:{n}:720000:distribution=shifted,fov=lumbar_spine,recon=narrow_spine,coarse_pixel_mm=0.6", 40),
    "upside_down": (f"phantoms:{{n}}:730000:distribution=shifted,l3_in_view=true,header_flipped=true,{PIXELS}", 20),
    "front_back_swapped": (f"phantoms:{{n}}:735000:distribution=shifted,l3_in_view=true,header_front_back_swapped=true,{PIXELS}", 20),
    "lps_read_as_ras": (f"phantoms:{{n}}:736000:distribution=shifted,l3_in_view=true,header_front_back_swapped=true,"
                        f"header_left_right_swapped=true,{PIXELS}", 20),
    "non_anatomical": ("non_anatomical_all:{n}:800000", 40),
}

SWAPPED_PARTS = ("front_back_swapped", "lps_read_as_ras")


def scans_of(spec: str):
    if spec.startswith("non_anatomical_all:"):
        # Every kind, the held-out ones included (the training spec cycles through the training kinds only).
        from L3SpotterLib.phantom.non_anatomical import KINDS
        from training.annotations import AnnotatedScan

        _, count, first = spec.split(":")
        return [
            AnnotatedScan(case_id=f"non_anatomical_{KINDS[seed % len(KINDS)]}_{seed}", l3_z_ras_mm=None, origin="non_anatomical",
                          phantom_seed=seed, phantom_overrides=(("kind", KINDS[seed % len(KINDS)]),))
            for seed in range(int(first), int(first) + int(count))
        ]
    return read_data_spec(spec, keep_out_of_view=True)


def part_figures(name: str, outcomes) -> dict:
    """The part's figures, as they go into the summary and the model card."""
    figures = {"n": len(outcomes), "statuses": {}}
    for outcome in outcomes:
        figures["statuses"][outcome.status] = figures["statuses"].get(outcome.status, 0) + 1
    in_view = [o for o in outcomes if o.in_view]
    if in_view:
        answered = [o for o in in_view if o.error_mm is not None]
        found = [o for o in in_view if o.status == "found"]
        wrong_found = [o for o in found if o.error_mm is not None and o.error_mm > WRONG_VERTEBRA_MM]
        errors = [o.error_mm for o in answered]
        figures.update({
            "n_in_view": len(in_view),
            "right_vertebra": round(sum(e <= WRONG_VERTEBRA_MM for e in errors) / len(in_view), 4),
            "coverage_found": round(len(found) / len(in_view), 4),
            "n_found": len(found),
            "n_found_wrong_vertebra": len(wrong_found),
            "found_wrong_vertebra": round(len(wrong_found) / max(1, len(found)), 4),
            # How far the true share may lie above what this many scans show (one-sided 95 %).
            "found_wrong_vertebra_upper95": round(share_upper_bound(len(wrong_found), len(found)), 4),
            "mean_error_mm": round(float(np.mean(errors)), 2) if errors else None,
            "median_error_mm": round(float(np.median(errors)), 2) if errors else None,
            "p95_error_mm": round(float(np.percentile(errors, 95)), 1) if errors else None,
            "mean_error_found_mm": round(float(np.mean([o.error_mm for o in found])), 2) if found else None,
            "confidently_wrong": [f"{o.case_id}: {o.error_mm:.1f} mm off, confidence {o.confidence}" for o in wrong_found],
        })
    out_of_view = [o for o in outcomes if not o.in_view]
    if out_of_view:
        figures.update({
            "n_without_whole_l3": len(out_of_view),
            "not_in_view": round(sum(o.status == "not_in_view" for o in out_of_view) / len(out_of_view), 4),
            "found_without_l3": [f"{o.case_id} ({o.l3_visibility}), confidence {o.confidence}" for o in out_of_view if o.status == "found"],
        })
    if name == "upside_down":
        figures["reported_upside_down"] = sum("upside down" in o.message for o in outcomes)
    # Reported on the parts swapped on purpose, and on any other part where it is said (wrongly there).
    reported_swapped = sum("front and back are swapped" in o.message for o in outcomes)
    if name in SWAPPED_PARTS or reported_swapped:
        figures["reported_front_back_swapped"] = reported_swapped
    return figures


def part_lines(name: str, figures: dict) -> list[str]:
    status_text = ", ".join(f"{status} {count}" for status, count in sorted(figures["statuses"].items()))
    lines = [f"{name} ({figures['n']} cases): {status_text}"]
    if "n_in_view" in figures:
        lines.append(
            f"  L3 in view {figures['n_in_view']}: right vertebra {100 * figures['right_vertebra']:.1f} %, "
            f"coverage (found) {100 * figures['coverage_found']:.1f} %, found on the wrong vertebra "
            f"{figures['n_found_wrong_vertebra']} of {figures['n_found']} ({100 * figures['found_wrong_vertebra']:.1f} %"
            + (f", at most {100 * figures['found_wrong_vertebra_upper95']:.1f} % at 95 % confidence)"
               if "found_wrong_vertebra_upper95" in figures else ")")
        )
        lines.append(
            f"  error of every answer: mean {figures['mean_error_mm']} mm, median {figures['median_error_mm']} mm, "
            f"p95 {figures['p95_error_mm']} mm; of found answers: mean {figures['mean_error_found_mm']} mm"
        )
        lines += [f"    confidently wrong: {text}" for text in figures["confidently_wrong"]]
    if "n_without_whole_l3" in figures:
        lines.append(
            f"  L3 not wholly in view {figures['n_without_whole_l3']}: not_in_view {100 * figures['not_in_view']:.1f} %, "
            f"found {len(figures['found_without_l3'])}"
        )
        lines += [f"    found without L3: {text}" for text in figures["found_without_l3"]]
    if "reported_upside_down" in figures:
        lines.append(f"  reported upside down: {figures['reported_upside_down']} of {figures['n']}")
    if "reported_front_back_swapped" in figures:
        lines.append(f"  reported with front and back swapped: {figures['reported_front_back_swapped']} of {figures['n']}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="[LABEL=]CARD",
                        help="model card, repeatable: every model runs on the same scans, side by side (default: the shipped model)")
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "domain_shift"))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every part's size")
    parser.add_argument("--parts", nargs="*", default=list(PARTS), help="parts to run (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--record-card", action="store_true",
                        help="write the first model's figures into its card (accuracy.domain_shift)")
    parser.add_argument("--record-card-from", metavar="RESULTS", default=None,
                        help="no run: write the figures of an earlier run's CSVs (RESULTS/<part>.csv, e.g. --out/LABEL) "
                             "into the first model's card, with the command line found in RESULTS/../summary.txt")
    parser.add_argument("--summary-from", metavar="RESULTS", default=None,
                        help="no run: print the summary of an earlier run's CSVs (RESULTS/<part>.csv) with today's figures")
    parser.add_argument("--group-by", metavar="KEY", default=None,
                        help="with --summary-from: one summary per value of a drawn parameter (e.g. spine.lumbar_count)")
    args = parser.parse_args(argv)
    if args.summary_from:
        return print_summary_from(Path(args.summary_from), args.parts, args.group_by)
    if args.record_card_from:
        return record_from_results(Path(args.record_card_from), model_labels(args.model)[1][0], args.parts)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    labels, cards = model_labels(args.model)
    recorded = {}
    described = ", ".join(f"{label} = {card or 'shipped'}" for label, card in zip(labels, cards))
    summary = [f"models: {described}; scale {args.scale}",
               f"command: python benchmarks/domain_shift_bench.py {' '.join(argv if argv is not None else sys.argv[1:])}"]
    for name in args.parts:
        spec, count = PARTS[name]
        scans = scans_of(spec.format(n=max(1, int(round(count * args.scale)))))
        per_model = evaluate_models(scans, cards, None, args.workers)
        for index, (label, outcomes) in enumerate(zip(labels, per_model)):
            (out / label).mkdir(exist_ok=True)
            write_outcomes_csv(out / label / f"{name}.csv", outcomes)
            figures = part_figures(name, outcomes)
            if index == 0:
                recorded[name] = figures
            lines = [f"[{label}] {line}" if number == 0 else line for number, line in enumerate(part_lines(name, figures))]
            print("\n".join(lines), flush=True)
            summary += lines
        atomic_write_text(out / "summary.txt", "\n".join(summary) + "\n")
    if args.record_card:
        record_in_card(cards[0], recorded, summary[1])
    return 0


def print_summary_from(results: Path, parts: list[str], group_by: str | None = None) -> int:
    """The summary lines of the parts whose CSVs an earlier run wrote into ``results``; with ``group_by``
    (a drawn parameter, e.g. ``spine.lumbar_count``), one summary per value of it."""
    present = [name for name in parts if (results / f"{name}.csv").is_file()]
    if not present:
        print(f"{results}: no part's CSV", file=sys.stderr)
        return 1
    for name in present:
        outcomes = read_outcomes_csv(results / f"{name}.csv")
        groups = {"": outcomes}
        if group_by:
            groups = {}
            for outcome in outcomes:
                drawn = parse_variants(outcome.variants)
                groups.setdefault(f" [{group_by}={drawn.get(group_by, 'not drawn')}]", []).append(outcome)
        for label, members in sorted(groups.items()):
            print("\n".join(part_lines(name + label, part_figures(name, members))))
    return 0


def record_from_results(results: Path, card_argument: str | None, parts: list[str]) -> int:
    """The card's figures from the CSVs an earlier run wrote, so a long run need not be repeated to record it."""
    missing = [name for name in parts if not (results / f"{name}.csv").is_file()]
    if missing:
        print(f"{results}: no CSV for {', '.join(missing)}", file=sys.stderr)
        return 1
    figures = {name: part_figures(name, read_outcomes_csv(results / f"{name}.csv")) for name in parts}
    summary = (results.parent / "summary.txt").read_text(encoding="utf-8").splitlines()
    command = next((line for line in summary if line.startswith("command: ")), "command: unknown")
    record_in_card(card_argument, figures, command)
    return 0


def record_in_card(card_argument: str | None, figures: dict, command: str) -> None:
    from L3SpotterLib.model_card import read_card, resolve_card_path, write_card

    card_path = resolve_card_path(card_argument)
    card = read_card(card_path)
    card.accuracy["domain_shift"] = {"description": "benchmarks/domain_shift_bench.py (shifted phantom family, archive fields of view, "
                                                    "narrow reconstructions, upside-down, front-back swapped and non-anatomical inputs)", "command": command, **figures}
    write_card(card, card_path)


def model_labels(arguments: list[str]) -> tuple[list[str], list[str | None]]:
    """``[LABEL=]CARD`` arguments as labels and card paths; no argument means the shipped model."""
    if not arguments:
        return ["shipped"], [None]
    labels, cards = [], []
    for argument in arguments:
        label, _, card = argument.rpartition("=")
        labels.append(label or Path(card).stem)
        cards.append(card)
    return labels, cards


if __name__ == "__main__":
    sys.exit(main())
