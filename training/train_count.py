"""Train the vertebra count of a model (``LevelMapNetwork``) and attach it to the model's card.

    python -m training.train_count L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json \\
        --data phantoms:1000:100000 --data phantoms:600:200000:fov_profile=archive --data non_anatomical:300:0 \\
        --val-data phantoms:60:900000 --val-data phantoms:60:910000:fov_profile=archive

The count learns, for every row of a whole projection (the card's views and grid), its vertebral level and
whether it lies between T11 and S1 (:mod:`L3SpotterLib.vertebral_levels`), from phantoms whose every
vertebra the generator knows, and learns to find no spine in objects that are not a patient. Its weights
go beside the card (``<card>_count.pt``); the card's ``vertebra_count`` records them, the command and
the validation figures. Validation drives early stopping; its score is the mean level error (in
vertebrae) over the rows T12-S1 plus the share of rows whose region call is wrong.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from L3SpotterLib.inference import choose_device
from L3SpotterLib.model_card import read_card, resolve_card_path, write_card, write_weights
from L3SpotterLib.networks import LevelMapNetwork
from L3SpotterLib.vertebra_count import level_map
from L3SpotterLib.vertebral_levels import COUNTED_REGION, row_levels

from .annotations import read_data_spec
from .count_sampler import CountSampler
from .pretrained import initialise_count
from .projection_cache import ProjectionSpec, load_projections
from .fit_loop import FitConfig, fit
from .window_sampler import TrainingProjection

LEVEL_LOSS_BETA = 0.25  # vertebrae: quadratic within a quarter of a vertebra, linear beyond
REGION_LOSS_WEIGHT = 0.5


def count_loss(network: nn.Module, batch, device: torch.device) -> torch.Tensor:
    strips, levels, in_region, covered, level_valid = (torch.from_numpy(array).to(device) for array in batch)
    output = network(strips)
    level_error = nn.functional.smooth_l1_loss(output[:, 0], levels, beta=LEVEL_LOSS_BETA, reduction="none")
    level_loss = (level_error * level_valid).sum() / level_valid.sum().clamp(min=1.0)
    region_error = nn.functional.binary_cross_entropy_with_logits(output[:, 1], in_region, reduction="none")
    region_loss = (region_error * covered).sum() / covered.sum().clamp(min=1.0)
    return level_loss + REGION_LOSS_WEIGHT * region_loss


def validation_errors(network: nn.Module, projections: list[TrainingProjection], device: torch.device) -> dict:
    """Mean level error over rows from T12 to S1, and the share of rows whose region call is wrong."""
    network.eval()
    level_errors, region_wrong = [], []
    for projection in projections:
        levels, region = level_map(network, projection.pixels, device)
        n_rows = projection.pixels.shape[1]
        if len(projection.level_rows) >= 2:
            truth = row_levels(projection.level_rows, n_rows)
            scored = (truth >= COUNTED_REGION[0] + 1.0) & (truth <= COUNTED_REGION[1])
            if scored.any():
                level_errors.append(np.abs(levels[scored] - truth[scored]))
            true_region = (truth >= COUNTED_REGION[0]) & (truth <= COUNTED_REGION[1])
        else:
            true_region = np.zeros(n_rows, dtype=bool)
        region_wrong.append((region >= 0.5) != true_region)
    level_error = float(np.mean(np.concatenate(level_errors))) if level_errors else 0.0
    region_error = float(np.mean(np.concatenate(region_wrong))) if region_wrong else 0.0
    return {"level_error_vertebrae": level_error, "region_error": region_error, "score": level_error + region_error}


def add_whole_projection_arguments(parser: argparse.ArgumentParser, steps: int, lr: float, validate_every: int, patience: int) -> None:
    """The data, fit and machine options shared by the networks that read a whole projection (the count,
    and the junction experiment's network)."""
    parser.add_argument("--data", action="append", required=True, help="training data (repeatable): phantoms:..., non_anatomical:COUNT[:SEED], folders")
    parser.add_argument("--val-data", action="append", required=True, help="validation data (same forms)")
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--validate-every", type=int, default=validate_every)
    parser.add_argument("--patience", type=int, default=patience)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads for torch (default: every core)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache-dir", default="cache/projections")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--intensity-randomization", type=float, default=0.5)


def load_whole_projections(args, card) -> tuple[list, list, list[TrainingProjection], list[TrainingProjection]]:
    """``(training scans, validation scans, their projections...)`` on ``card``'s views and grid. Training
    phantoms get the randomised intensities; validation phantoms keep realistic ones."""
    spec = ProjectionSpec(views=tuple(card.views), grid=card.grid, phantom_voxel_mm=2.0, phantom_intensity_randomization=args.intensity_randomization)
    validation_spec = ProjectionSpec(views=tuple(card.views), grid=card.grid, phantom_voxel_mm=2.0)
    training = [scan for data in args.data for scan in read_data_spec(data, keep_out_of_view=True)]
    validation = [scan for data in args.val_data for scan in read_data_spec(data, keep_out_of_view=True)]
    print(f"{len(training)} training and {len(validation)} validation scans", file=sys.stderr)
    train_projections = load_projections(training, spec, Path(args.cache_dir), workers=args.workers)
    val_projections = load_projections(validation, validation_spec, Path(args.cache_dir), workers=args.workers)
    return training, validation, train_projections, val_projections


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_count", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card", help="the model card to attach the count to (its views and grid are used)")
    add_whole_projection_arguments(parser, steps=2500, lr=5e-4, validate_every=250, patience=6)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--pretrained", default="imagenet",
                        help="imagenet, none, or a model card whose vertebra count to start from (fine-tuning)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)

    card_path = resolve_card_path(args.card)
    card = read_card(card_path)
    training, validation, train_projections, val_projections = load_whole_projections(args, card)

    torch.manual_seed(args.seed)
    network = LevelMapNetwork(n_views=len(card.views))
    initialisation = initialise_count(network, args.pretrained)
    frontal = card.views.index("frontal") if "frontal" in card.views else None
    sampler = CountSampler(train_projections, seed=args.seed, frontal_channel=frontal)
    config = FitConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, validate_every=args.validate_every,
                       patience=args.patience, seed=args.seed, max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes)
    started = time.perf_counter()
    history = fit(
        network, sampler, config, device,
        validate=lambda model: validation_errors(model, val_projections, device)["score"],
        checkpoint_path=Path(args.checkpoint) if args.checkpoint else None, compute_loss=count_loss,
    )
    final = validation_errors(network, val_projections, device)

    weights_path = card_path.with_name(card_path.stem + "_count.pt")
    card.vertebra_count = {
        "network": "level_map_mobilenet_v2",
        "weights_file": weights_path.name,
        "weights_sha256": write_weights(network.cpu(), weights_path),
        "training_data": {
            "sources": args.data,
            "validation": args.val_data,
            "command": "python -m training.train_count " + " ".join(argv if argv is not None else sys.argv[1:]),
            "initialisation": initialisation,
            "train_seconds": round(time.perf_counter() - started, 1),
            "fit": asdict(config),
            "steps_run": history[-1]["step"] if history else 0,
        },
        "validation": {key: round(value, 4) for key, value in final.items()},
    }
    write_card(card, card_path)
    print(f"wrote {weights_path} and updated {card_path}: {final}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
