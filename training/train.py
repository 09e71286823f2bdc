"""Train a window regressor and export it as an L3Spotter model (weights + model card).

    python -m training.train --data my_cases/ --out my_model.json
    python -m training.train --data phantoms:1000:100000 --val-data phantoms:60:900000 --out model.json  # see the README

``--data`` may be repeated and takes a ``.csv`` (``path,l3_slice``), a folder of annotated cases, or
``phantoms:COUNT[:FIRST_SEED]`` (see :mod:`training.annotations`). Without ``--val-data``, a share of the
cases (``--val-fraction``) is held out for validation, which drives early stopping.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from L3SpotterLib.inference import choose_device
from L3SpotterLib.model_card import ModelCard, save_model
from L3SpotterLib.networks import BACKBONES, WindowRegressor
from L3SpotterLib.pipeline import LoadedModel

from .annotations import AnnotatedScan, add_labels_argument, read_data_spec
from .validation import row_errors_mm
from .pretrained import initialise
from .fit_output_curve import curve_field, fit_output_curve, window_predictions_and_targets
from .projection_cache import ProjectionSpec, load_projections
from .fit_loop import FitConfig, fit
from .window_sampler import Augmentation, TrainingProjection, WindowSampler


def draft_card(backbone: str = "mobilenet_v2", views=("frontal",), row_mm: float = 2.0, col_mm: float = 2.0,
               window_height_px: int = 160, window_width_px: int = 160, hu_window=(-100.0, 1000.0), name: str = "draft") -> ModelCard:
    """The card of a model being trained: what the network sees (its preprocessing fields), no weights yet.

    Training validates with it through the engine's pipeline, and exports it once the weights exist.
    """
    return ModelCard(name=name, backbone=backbone, views=list(views), row_mm=row_mm, col_mm=col_mm, window_height_px=window_height_px,
                     window_width_px=window_width_px, hu_window=tuple(hu_window), weights_file="")


@dataclass
class TrainingSettings:
    shape: ModelCard = field(default_factory=draft_card)
    pretrained: str = "imagenet"
    fit: FitConfig = field(default_factory=lambda: FitConfig(steps=6000, learning_rate=5e-4, validate_every=250, patience=8))
    validation_stride_px: int = 4
    head_dropout: float = 0.0  # 0.2 bent the outputs and cost accuracy (README, "The shipped model")
    seed: int = 0
    augmentation: Augmentation = field(default_factory=Augmentation)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help="training data (repeatable): a .csv, a folder of cases, or phantoms:COUNT[:FIRST_SEED]")
    parser.add_argument("--val-data", action="append", default=[], help="validation data (same forms); default: hold out --val-fraction")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    add_labels_argument(parser)
    parser.add_argument("--out", required=True, help="model card path to write (.json; the weights go beside it as .pt)")
    parser.add_argument("--name", default=None, help="model name in the card (default: the file name)")
    add_shape_arguments(parser)
    parser.add_argument("--pretrained", default="imagenet", help="imagenet, none, or a weights file / L3Spotter model card")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--validate-every", type=int, default=250)
    parser.add_argument("--patience", type=int, default=8, help="validations without improvement before stopping")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop training after this long (then export the best)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--narrow-field-probability", type=float, default=0.0,
                        help="share of training windows cut to a 100-200 mm field on the skeleton's centre (default 0: none)")
    parser.add_argument("--head-dropout", type=float, default=0.0, help="dropout before the head's last layer, in training (default 0: none)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for torch (default: every core)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes that compute projections")
    parser.add_argument("--cache-dir", default="cache/projections", help="where projections are cached")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file; an existing one is resumed")
    parser.add_argument("--phantom-voxel-mm", type=float, default=2.0, help="voxel size of phantoms made on the fly")
    parser.add_argument("--intensity-randomization", type=float, default=0.0,
                        help="domain randomisation of phantom tissue HU: each phantom draws a level in [0, this] (0..1)")
    return parser


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default="mobilenet_v2", choices=BACKBONES)
    parser.add_argument("--views", default="frontal", help="frontal, lateral, or frontal,lateral")
    parser.add_argument("--row-mm", type=float, default=2.0)
    parser.add_argument("--col-mm", type=float, default=2.0)
    parser.add_argument("--window-height", type=int, default=160, help="window height in pixels")
    parser.add_argument("--window-width", type=int, default=160, help="window (and projection) width in pixels")
    parser.add_argument("--hu-window", type=float, nargs=2, default=(-100.0, 1000.0), metavar=("LOW", "HIGH"))


def shape_from_args(args) -> ModelCard:
    return draft_card(
        backbone=args.backbone, views=tuple(view.strip() for view in args.views.split(",")), row_mm=args.row_mm,
        col_mm=args.col_mm, window_height_px=args.window_height, window_width_px=args.window_width, hu_window=tuple(args.hu_window),
    )


def split_validation(scans: list[AnnotatedScan], fraction: float, seed: int) -> tuple[list[AnnotatedScan], list[AnnotatedScan]]:
    order = np.random.default_rng(seed).permutation(len(scans))
    n_validation = max(1, int(round(fraction * len(scans)))) if len(scans) > 1 else 0
    validation = [scans[i] for i in sorted(order[:n_validation])]
    training = [scans[i] for i in sorted(order[n_validation:])]
    return training, validation


def train_model(
    train_projections: list[TrainingProjection],
    val_projections: list[TrainingProjection],
    settings: TrainingSettings,
    device: torch.device,
    checkpoint: Path | None = None,
    progress: bool = True,
):
    """Initialise, fit with early stopping on the validation error, and return ``(network, record)``."""
    torch.manual_seed(settings.seed)
    shape = settings.shape
    network = WindowRegressor(shape.backbone, n_views=len(shape.views), head_dropout=settings.head_dropout)
    initialisation = initialise(network, settings.pretrained)
    frontal_channel = shape.views.index("frontal") if "frontal" in shape.views else None
    sampler = WindowSampler(train_projections, shape.window_height_px, seed=settings.seed, augmentation=settings.augmentation, frontal_channel=frontal_channel)
    in_view = [projection for projection in val_projections if projection.in_view]

    def validate(model) -> float:
        if not in_view:
            return 0.0
        errors = row_errors_mm(LoadedModel(shape, model, device), in_view, settings.validation_stride_px, miss_penalty_mm=100.0)
        return float(np.mean(errors))

    started = time.perf_counter()
    history = fit(network, sampler, settings.fit, device, validate=validate if val_projections else None, checkpoint_path=checkpoint, progress=progress)
    record = {
        "initialisation": initialisation,
        "history": history,
        "train_seconds": round(time.perf_counter() - started, 1),
        "best_validation_error_mm": min((h["validation_score"] for h in history if "validation_score" in h), default=None),
    }
    return network, record


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)
    shape = shape_from_args(args)
    scans = [scan for spec in args.data for scan in read_data_spec(spec, args.labels)]
    if args.val_data:
        validation = [scan for spec in args.val_data for scan in read_data_spec(spec, args.labels)]
        training = scans
    else:
        training, validation = split_validation(scans, args.val_fraction, args.seed)
    print(f"{len(training)} training and {len(validation)} validation cases", file=sys.stderr)
    spec = ProjectionSpec(views=tuple(shape.views), grid=shape.grid, phantom_voxel_mm=args.phantom_voxel_mm, phantom_intensity_randomization=args.intensity_randomization)
    validation_spec = ProjectionSpec(views=tuple(shape.views), grid=shape.grid, phantom_voxel_mm=args.phantom_voxel_mm)
    train_projections = load_projections(training, spec, Path(args.cache_dir), workers=args.workers)
    # Validation phantoms keep realistic intensities: they stand for the scans the model will meet.
    val_projections = load_projections(validation, validation_spec, Path(args.cache_dir), workers=args.workers)

    settings = TrainingSettings(
        shape=shape,
        pretrained=args.pretrained,
        fit=FitConfig(
            steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, validate_every=args.validate_every,
            patience=args.patience, seed=args.seed, max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes,
        ),
        seed=args.seed,
        head_dropout=args.head_dropout,
        augmentation=Augmentation(narrow_field_probability=args.narrow_field_probability),
    )
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    network, record = train_model(train_projections, val_projections, settings, device, checkpoint)

    out = Path(args.out)
    card = shape
    card.name = args.name or out.stem
    card.training_data = {
        "sources": args.data,
        "validation": args.val_data or f"{args.val_fraction:.0%} of the training cases held out",
        "n_training_cases": len(training),
        "n_validation_cases": len(validation),
        "command": "python -m training.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "initialisation": record["initialisation"],
        "train_seconds": record["train_seconds"],
        "fit": asdict(settings.fit),
        "head_dropout": settings.head_dropout,
        "narrow_field_probability": settings.augmentation.narrow_field_probability,
    }
    card.accuracy = {"validation_mean_error_mm": record["best_validation_error_mm"]}
    if any(projection.in_view for projection in val_projections):
        # The curve is part of the model: fitted on the validation set, as training.fit_output_curve does.
        predictions, targets = window_predictions_and_targets(LoadedModel(card, network, device), val_projections, card.default_stride_px)
        fitted_on = args.val_data or [f"{len(validation)} held-out training cases"]
        try:
            card.output_curve = curve_field(fit_output_curve(predictions, targets), fitted_on, len(predictions))
        except ValueError as error:  # a network trained for a few steps may predict one value everywhere
            print(f"no output curve: {error}", file=sys.stderr)
    save_model(network.cpu(), card, out)
    print(f"wrote {out} and {out.with_suffix('.pt')} (best validation error {record['best_validation_error_mm']} mm)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
