"""Adapt a model to a site's own scans: fine-tune its window regressor on the site's labelled cases.

    python -m training.adapt --data LABEL_FOLDER --from MODEL_CARD --out site_model.json

``--data`` is what the Slicer panel's *Save as training case* writes (or any form ``training.train``
reads; it may be repeated). The run:

* starts from the parent model (``--from``; the shipped model by default);
* mixes phantoms the parent was trained on into every batch (half the windows), so that what the parent
  knows is rehearsed rather than forgotten;
* picks its steps from the number of cases (:func:`adaptation_schedule`) and a learning rate well below
  the parent's fine-tuning, sized for 5-50 cases and about 10 minutes on 2 CPU cores for 20;
* scores parent and child on the parent's own validation phantoms, and refuses to write a child that does
  worse there (:func:`judge_against_parent`), with exit status 3 and the figures;
* writes a model card that records the parent, the site's cases, the schedule and both scores. The child
  keeps its parent's vertebra count, output curve and confidence threshold (the site's cases give an L3
  level only, not every vertebra's level, which the count needs).

Exit status: 0 written, 2 unusable input (too few cases, unreadable model), 3 refused (worse than the parent).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from L3SpotterLib.app.training_cases import current_user
from L3SpotterLib.atomic_files import atomic_write_via
from L3SpotterLib.checksums import sha256_of_file
from L3SpotterLib.errors import L3SpotterError
from L3SpotterLib.model_card import load_model, resolve_card_path, save_model
from L3SpotterLib.pipeline import LoadedModel
from L3SpotterLib.output_curve import curve_from_card_field

from .annotations import AnnotatedScan, AnnotationError, add_labels_argument, read_data_spec
from .fit_loop import FitConfig, fit
from .metrics import WRONG_VERTEBRA_MM
from .projection_cache import ProjectionSpec, load_projections
from .validation import locate_l3, row_errors_mm
from .window_sampler import TrainingProjection, WindowSampler

MIN_SITE_CASES = 3
EXIT_UNUSABLE = 2
EXIT_REFUSED = 3
# A child may be this much worse than its parent on the parent's validation phantoms before it is
# refused: below a tenth of a 2 mm MIP row, a difference is noise of the windows' sampling.
TOLERANCE_MM = 0.2
SITE_SHARE_OF_WINDOWS = 0.5
VALIDATION_STRIDE_PX = 4
MISS_PENALTY_MM = 100.0


@dataclass(frozen=True)
class Schedule:
    steps: int
    learning_rate: float


def adaptation_schedule(n_cases: int) -> Schedule:
    """Steps grow with the cases (each is seen about as often), within 150-500 steps. The learning rate is
    a twentieth of the rate the shipped model was fine-tuned with: the parent is already good, and a few
    cases must nudge it, not rewrite it. Chosen on the parent's validation phantoms (README, Teach it your
    scans): with 20 shifted phantoms, 3e-5 cost 0.34 mm there (refused), 3e-5 with a quarter of the windows
    from the site 0.23 mm (refused), 1e-5 0.08 mm, while fitting the cases from 3.9 to 2.3 mm."""
    return Schedule(steps=int(np.clip(100 + 10 * n_cases, 150, 500)), learning_rate=1e-5)


@dataclass(frozen=True)
class Score:
    """A window regressor's accuracy on a set of projections (through the engine's ``locate``)."""

    mean_error_mm: float
    wrong_vertebra_share: float  # errors beyond WRONG_VERTEBRA_MM, misses included
    n_cases: int  # with L3 in view
    # Of the projections whose L3 is outside the scan: the share where the windows place L3 inside it.
    l3_placed_in_scan_without_it_share: float = 0.0
    n_without_l3: int = 0
    errors_mm: tuple = ()  # per in-view case, in order: parent and child are compared case by case

    def as_dict(self) -> dict:
        return {"mean_error_mm": round(self.mean_error_mm, 3), "wrong_vertebra_share": round(self.wrong_vertebra_share, 4), "n_cases": self.n_cases,
                "l3_placed_in_scan_without_it_share": round(self.l3_placed_in_scan_without_it_share, 4), "n_without_l3": self.n_without_l3}


def score_model(model: LoadedModel, projections: list[TrainingProjection]) -> Score:
    in_view = [projection for projection in projections if projection.in_view]
    without_l3 = [projection for projection in projections if not projection.in_view]
    errors = row_errors_mm(model, in_view, VALIDATION_STRIDE_PX, MISS_PENALTY_MM) if in_view else np.zeros(0)
    placed = [locate_l3(model, projection, VALIDATION_STRIDE_PX).l3_position not in ("above_scan", "below_scan") for projection in without_l3]
    return Score(float(np.mean(errors)) if in_view else 0.0, float(np.mean(errors > WRONG_VERTEBRA_MM)) if in_view else 0.0, len(in_view),
                 float(np.mean(placed)) if without_l3 else 0.0, len(without_l3), tuple(float(e) for e in errors))


def judge_against_parent(parent: Score, child: Score, tolerance_mm: float = TOLERANCE_MM) -> list[str]:
    """Why the child must not be written (empty: it may). It may not be worse than its parent on the
    parent's validation phantoms: more wrong vertebrae at all, L3 placed inside more scans that do not
    hold it, or a mean error worse by more than ``tolerance_mm`` and by more than twice the standard error
    of the case-by-case change. That last clause because one case that moves a few mm moves a mean over
    25 cases by tenths of a mm: runs that differed only in their learning rate moved it by +0.08 to +0.36
    mm, without a trend (README, Teach it your scans)."""
    reasons = []
    if child.l3_placed_in_scan_without_it_share > parent.l3_placed_in_scan_without_it_share:
        reasons.append(f"L3 placed inside more of the parent's validation phantoms that do not hold it "
                       f"({child.l3_placed_in_scan_without_it_share:.1%} against {parent.l3_placed_in_scan_without_it_share:.1%})")
    if child.wrong_vertebra_share > parent.wrong_vertebra_share:
        reasons.append(f"more wrong vertebrae than its parent on the parent's validation phantoms "
                       f"({child.wrong_vertebra_share:.1%} against {parent.wrong_vertebra_share:.1%})")
    increase_mm, standard_error_mm = _paired_increase(parent, child)
    if child.mean_error_mm > parent.mean_error_mm + tolerance_mm and increase_mm > 2.0 * standard_error_mm:
        reasons.append(f"a mean error of {child.mean_error_mm:.2f} mm on the parent's validation phantoms, more than "
                       f"{tolerance_mm} mm above the parent's {parent.mean_error_mm:.2f} mm, beyond the noise "
                       f"(+{increase_mm:.2f} mm, twice its standard error {2.0 * standard_error_mm:.2f} mm)")
    return reasons


def _paired_increase(parent: Score, child: Score) -> tuple[float, float]:
    """The child's mean error minus the parent's, and its standard error from the case-by-case changes
    (0 when the scores carry no per-case errors)."""
    increase = child.mean_error_mm - parent.mean_error_mm
    if len(parent.errors_mm) != len(child.errors_mm) or len(child.errors_mm) < 2:
        return increase, 0.0
    changes = np.asarray(child.errors_mm) - np.asarray(parent.errors_mm)
    return increase, float(np.std(changes, ddof=1) / np.sqrt(len(changes)))


class AdaptationRefused(Exception):
    """The run finished but its model is worse than its parent; nothing was written."""


class MixtureSampler:
    """Batches of which a fixed share of windows come from the site's cases and the rest from phantoms."""

    def __init__(self, site: WindowSampler, phantoms: WindowSampler | None, site_share: float):
        self.site, self.phantoms, self.site_share = site, phantoms, site_share

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        n_site = size if self.phantoms is None else int(round(size * self.site_share))
        parts = [sampler.batch(n) for sampler, n in ((self.site, n_site), (self.phantoms, size - n_site)) if n > 0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def phantom_specs(sources: list, total: int) -> list[str]:
    """``total`` phantoms spread over the ``phantoms:`` specs among ``sources`` (a card's training or
    validation data), each spec's first seeds: the very phantoms the parent saw."""
    specs = [spec for spec in sources if isinstance(spec, str) and spec.startswith("phantoms:")]
    if not specs or total <= 0:
        return []
    shares = [total // len(specs) + (1 if index < total % len(specs) else 0) for index in range(len(specs))]
    out = []
    for spec, share in zip(specs, shares):
        parts = spec.split(":", 3)
        if share > 0:
            parts[1] = str(min(share, int(parts[1])))
            out.append(":".join(parts))
    return out


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class ProgressReporter:
    """Stage and share of steps done, as JSON lines on stdout (``--progress-json``: what the Slicer panel
    reads) or as text on stderr."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def __call__(self, stage: str, fraction: float | None = None) -> None:
        if self.as_json:
            print(json.dumps({"stage": stage, "fraction": fraction}), flush=True)
        elif fraction is None:
            print(stage, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.adapt", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="the site's labelled cases (repeatable): a label folder, a .csv, or phantoms:...")
    parser.add_argument("--from", dest="parent", default=None, help="the model card to adapt (default: the shipped model)")
    parser.add_argument("--out", required=True, help="the new model card (.json; its weights go beside it)")
    parser.add_argument("--name", default=None, help="model name in the card (default: the file name)")
    add_labels_argument(parser)
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: from the number of cases)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: see adaptation_schedule)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--phantoms", type=int, default=40, help="phantoms of the parent's training data mixed in")
    parser.add_argument("--site-share", type=float, default=SITE_SHARE_OF_WINDOWS, help="share of each batch's windows from the site's cases")
    parser.add_argument("--val-phantoms", type=int, default=40, help="phantoms of the parent's validation data to judge on")
    parser.add_argument("--tolerance-mm", type=float, default=TOLERANCE_MM, help="how much worse than the parent the mean error may be")
    parser.add_argument("--max-minutes", type=float, default=8.0, help="stop training after this long (default 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes that compute projections")
    parser.add_argument("--cache-dir", default="cache/projections", help="where projections are cached")
    parser.add_argument("--progress-json", action="store_true", help="report progress as JSON lines on stdout")
    parser.add_argument("--write-even-if-worse", action="store_true",
                        help="for studies: write a model the rules refuse, with the reasons in its card (never for use)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    report = ProgressReporter(args.progress_json)
    command = "python -m training.adapt " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        summary = adapt(args, report, command)
    except AdaptationRefused as refusal:
        print(f"refused: {refusal}", file=sys.stderr)
        report(f"Refused: {refusal}")
        return EXIT_REFUSED
    except (AnnotationError, L3SpotterError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        report(f"Error: {error}")
        return EXIT_UNUSABLE
    report(f"Wrote {args.out}", 1.0)
    print(json.dumps(summary, indent=1), file=sys.stderr)
    return 0


def adapt(args, report, command: str) -> dict:
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    parent_path = resolve_card_path(args.parent)
    out = Path(args.out)
    if out.suffix != ".json":
        raise ValueError(f"--out {out}: a model card ends in .json")
    if out.resolve() == parent_path.resolve():
        raise ValueError(f"--out {out}: would overwrite the parent model")
    parent_network, parent_card = load_model(parent_path)

    report("Reading the site's cases")
    site_scans = [scan for spec in args.data for scan in read_data_spec(spec, args.labels)]
    if len(site_scans) < MIN_SITE_CASES:
        raise ValueError(f"{len(site_scans)} labelled case(s) with L3 in view in {', '.join(args.data)}; adapting needs at least {MIN_SITE_CASES}")
    schedule = adaptation_schedule(len(site_scans))
    steps = args.steps or schedule.steps
    learning_rate = args.lr or schedule.learning_rate

    training_data = parent_card.training_data or {}
    rehearsal_specs = phantom_specs(_as_list(training_data.get("sources")), args.phantoms)
    validation_specs = phantom_specs(_as_list(training_data.get("validation")), args.val_phantoms)
    if not validation_specs:
        raise ValueError(f"{parent_path.name} records no validation phantoms to judge the adapted model on")
    spec = ProjectionSpec(views=tuple(parent_card.views), grid=parent_card.grid)
    cache = Path(args.cache_dir)
    report(f"Projecting {len(site_scans)} site cases")
    site_projections = load_projections(site_scans, spec, cache, workers=args.workers, progress=False)
    report(f"Projecting {args.phantoms} rehearsal and {args.val_phantoms} validation phantoms")
    rehearsal_projections = load_projections(_scans(rehearsal_specs), spec, cache, workers=args.workers, progress=False)
    validation_projections = load_projections(_scans(validation_specs), spec, cache, workers=args.workers, progress=False)

    device = torch.device("cpu")
    curve = curve_from_card_field(parent_card.output_curve)
    report("Scoring the parent model")
    parent_model = LoadedModel(parent_card, parent_network, device, output_curve=curve)
    parent_score = score_model(parent_model, validation_projections)
    parent_site_score = score_model(parent_model, site_projections)

    child_network = copy.deepcopy(parent_network)
    frontal_channel = parent_card.views.index("frontal") if "frontal" in parent_card.views else None
    site_sampler = WindowSampler(site_projections, parent_card.window_height_px, seed=args.seed, frontal_channel=frontal_channel)
    rehearsal_sampler = (WindowSampler(rehearsal_projections, parent_card.window_height_px, seed=args.seed + 1, frontal_channel=frontal_channel)
                         if rehearsal_projections else None)
    config = FitConfig(steps=steps, batch_size=args.batch_size, learning_rate=learning_rate, warmup_steps=min(20, steps // 5),
                       validate_every=steps + 1, patience=1, seed=args.seed, max_seconds=60.0 * args.max_minutes, freeze_batch_norm=True)
    report("Training", 0.0)
    fit(child_network, MixtureSampler(site_sampler, rehearsal_sampler, args.site_share), config, device, progress=False,
        on_step=lambda step: report("Training", step / steps), log=lambda message: print(message, file=sys.stderr))

    report("Scoring the adapted model")
    child_card = copy.deepcopy(parent_card)
    child_card.name = args.name or out.stem
    child_model = LoadedModel(child_card, child_network, device, output_curve=curve)
    child_score = score_model(child_model, validation_projections)
    child_site_score = score_model(child_model, site_projections)
    reasons = judge_against_parent(parent_score, child_score, args.tolerance_mm)
    if reasons and not args.write_even_if_worse:
        raise AdaptationRefused("; ".join(reasons) + f". Nothing was written to {out}.")

    child_card.training_data = {
        "adapted_from": {"card": str(parent_path), "name": parent_card.name, "weights_sha256": parent_card.weights_sha256},
        "site_cases": [_case_record(scan) for scan in site_scans],
        "rehearsal_phantoms": rehearsal_specs,
        "validation": validation_specs,
        "steps": steps,
        "learning_rate": learning_rate,
        "site_share_of_windows": args.site_share,
        "adapted_by": current_user(),
        "adapted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "command": command,
        "parent_training_data": training_data,
    }
    child_card.accuracy = {
        "parent_validation_phantoms": {"parent": parent_score.as_dict(), "adapted": child_score.as_dict()},
        "site_cases_trained_on": {"parent": parent_site_score.as_dict(), "adapted": child_site_score.as_dict()},
        "parent_accuracy": parent_card.accuracy,
        "refused_for": reasons,  # non-empty only with --write-even-if-worse: a model for studies, not for use
    }
    child_card.notes = (("REFUSED, written for a study by --write-even-if-worse; not for use: " + "; ".join(reasons) + ". ") if reasons else "") + (
        f"Adapted from {parent_card.name} on {len(site_scans)} site case(s) by training.adapt. The vertebra count, output "
                        "curve and confidence threshold are the parent's. The site figures are on the cases trained on, not a test.")
    write_child(child_network, child_card, parent_path, parent_card, out)
    return {"out": str(out), "parent": parent_score.as_dict(), "adapted": child_score.as_dict(),
            "site_parent": parent_site_score.as_dict(), "site_adapted": child_site_score.as_dict(), "seconds": child_card.training_data["seconds"]}


def write_child(network, card, parent_path: Path, parent_card, out: Path) -> None:
    """Weights, the parent's vertebra count copied beside them, then the card (last, so that a card never
    names files that are not there yet)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if parent_card.vertebra_count:
        count = dict(parent_card.vertebra_count)
        source = parent_path.parent / count["weights_file"]
        if sha256_of_file(source) != count["weights_sha256"]:
            raise ValueError(f"{source}: does not match its card's SHA-256")
        count_path = out.with_name(out.stem + "_count.pt")
        atomic_write_via(count_path, lambda temporary: shutil.copyfile(source, temporary), suffix=".pt")
        count["weights_file"] = count_path.name
        card.vertebra_count = count
    save_model(network.cpu(), card, out)


def _scans(specs: list[str]) -> list[AnnotatedScan]:
    return [scan for spec in specs for scan in read_data_spec(spec)]


def _case_record(scan: AnnotatedScan) -> dict:
    record = {"case_id": scan.case_id, "origin": scan.origin}
    if scan.ct_path:
        record["ct_path"] = scan.ct_path
    if scan.phantom_seed is not None:
        record["phantom_seed"] = scan.phantom_seed
    if scan.l3_z_ras_mm is not None:
        record["l3_z_ras_mm"] = round(scan.l3_z_ras_mm, 2)
    return record


if __name__ == "__main__":
    sys.exit(main())
