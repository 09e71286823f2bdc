"""Train the experimental lumbar-junction network (:mod:`training.junction_network`; not part of the engine).

    python -m training.train_junctions L3Spotter/Resources/Models/l3spotter_mobilenet_v2.json --out runs/junctions \
        --data phantoms:1000:100000 --data phantoms:200:410000:distribution=randomized,lumbar_count=4 \
        --val-data phantoms:60:900000

It starts from the card's vertebra count (trunk and GRU) and learns, for every 4 rows of a projection,
whether the row lies above the thoracolumbar junction, below the lumbosacral junction, and at a vertebra's
centre. The phantoms' lumbar counts come from their drawn parameters. It writes ``junctions.pt`` and
``junctions.json`` (the command, the data and the validation figures, among them how often the vertebrae
counted between the two junctions are the phantom's lumbar count) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from L3SpotterLib.inference import choose_device
from L3SpotterLib.atomic_files import atomic_write_text
from L3SpotterLib.model_card import load_vertebra_count, read_card, resolve_card_path, write_weights
from L3SpotterLib.vertebra_count import first_crossing
from L3SpotterLib.vertebral_levels import LEVEL_MAX, LEVEL_MIN, row_levels

from .count_sampler import STRIP_ROWS, CountSampler
from .fit_loop import FitConfig, fit
from .junction_network import THORACOLUMBAR_JUNCTION_LEVEL, JunctionNetwork, junction_map, lumbosacral_junction_level
from .train_count import add_whole_projection_arguments, load_whole_projections


def lumbar_count_of(scan) -> int | None:
    """A phantom's drawn number of lumbar vertebrae (None for a scan that is not a phantom)."""
    if scan.phantom_seed is None:
        return None
    from L3SpotterLib.phantom.sampling import draw_parameters

    params, _ = draw_parameters(scan.phantom_seed, 2.0, dict(scan.phantom_overrides))
    return int(params["spine"]["lumbar_count"])


class JunctionSampler:
    """The count's strips, with the two junction targets per output step and their mask."""

    def __init__(self, projections, lumbar_counts, seed: int, frontal_channel: int | None):
        self.strips = CountSampler(projections, seed=seed, frontal_channel=frontal_channel, output_stride=JunctionNetwork.OUTPUT_STRIDE)
        self.lumbar_counts = lumbar_counts

    @property
    def rng(self) -> np.random.Generator:  # the fit loop checkpoints the sampler's random state
        return self.strips.rng

    def batch(self, size: int):
        sampler = self.strips
        n_views, width = sampler.projections[0].pixels.shape[0], sampler.projections[0].pixels.shape[2]
        steps = STRIP_ROWS // JunctionNetwork.OUTPUT_STRIDE
        strips = np.zeros((size, n_views, STRIP_ROWS, width), dtype=np.float32)
        targets = np.zeros((size, JunctionNetwork.OUTPUTS, steps), dtype=np.float32)
        valid = np.zeros((size, JunctionNetwork.OUTPUTS, steps), dtype=np.float32)
        for index in range(size):
            which = int(sampler.rng.integers(len(sampler.projections)))
            strips[index], levels, _, _, level_valid = sampler.strip(sampler.projections[which])
            lumbar = self.lumbar_counts[which]
            if lumbar is None:
                continue  # not a patient: no junction anywhere, and nothing to learn about one
            targets[index, 0] = levels < THORACOLUMBAR_JUNCTION_LEVEL
            targets[index, 1] = levels > lumbosacral_junction_level(lumbar)
            targets[index, 2] = centre_target(levels)
            valid[index, :2] = level_valid
            # Levels are clamped beyond T7 and S2: no vertebra to find there.
            valid[index, 2] = level_valid * ((levels > LEVEL_MIN + 0.5) & (levels < LEVEL_MAX - 0.5))
        return strips, targets, valid


# A vertebra's centre target: a bump about 0.15 of a vertebra (5 mm) wide either side of its centre.
CENTRE_SIGMA_LEVELS = 0.15


def centre_target(levels: np.ndarray) -> np.ndarray:
    offset = levels - np.round(levels)
    return np.exp(-0.5 * (offset / CENTRE_SIGMA_LEVELS) ** 2).astype(np.float32)


def junction_loss(network: nn.Module, batch, device: torch.device) -> torch.Tensor:
    strips, targets, valid = (torch.from_numpy(array).to(device) for array in batch)
    logits = network(strips)
    error = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return ((error * valid).sum(dim=(0, 2)) / valid.sum(dim=(0, 2)).clamp(min=1.0)).sum()


def validation_errors(junctions, projections, lumbar_counts, row_mm: float, device) -> dict:
    """Median distance (mm) of each junction from the truth, that distance in spines of four or six lumbar
    vertebrae alone, and the share of rows called wrongly."""
    from .junction_network import junction_rows, vertebra_centre_rows

    junctions.eval()
    distances = {"thoracolumbar": [], "lumbosacral": [], "lumbosacral_transitional": []}
    wrong, lumbar_right, lumbar_right_transitional = [], [], []
    for projection, lumbar in zip(projections, lumbar_counts):
        if lumbar is None or len(projection.level_rows) < 2:
            continue
        truth = row_levels(projection.level_rows, projection.pixels.shape[1])
        above, below, centre = junction_map(junctions, projection.pixels, device)
        wrong.append(np.concatenate([(above >= 0.5) != (truth < THORACOLUMBAR_JUNCTION_LEVEL),
                                     (below >= 0.5) != (truth > lumbosacral_junction_level(lumbar))]))
        found = junction_rows(above, below)
        if found["thoracolumbar"] is not None and found["lumbosacral"] is not None:
            counted = len(vertebra_centre_rows(centre, found["thoracolumbar"], found["lumbosacral"], row_mm))
            lumbar_right.append(counted == lumbar)
            if lumbar != 5:
                lumbar_right_transitional.append(counted == lumbar)
        for name, level in (("thoracolumbar", THORACOLUMBAR_JUNCTION_LEVEL), ("lumbosacral", lumbosacral_junction_level(lumbar))):
            true_row = first_crossing(np.arange(len(truth), dtype=float), truth, level)
            if true_row is not None and found[name] is not None:
                distances[name].append(abs(found[name] - true_row) * row_mm)
                if name == "lumbosacral" and lumbar != 5:
                    distances["lumbosacral_transitional"].append(abs(found[name] - true_row) * row_mm)
    result = {f"{name}_median_mm": float(np.median(values)) if values else float("nan") for name, values in distances.items()}
    result["row_error"] = float(np.mean(np.concatenate(wrong))) if wrong else 0.0
    result["lumbar_count_right"] = float(np.mean(lumbar_right)) if lumbar_right else float("nan")
    result["lumbar_count_right_transitional"] = float(np.mean(lumbar_right_transitional)) if lumbar_right_transitional else float("nan")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_junctions", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("card", help="the model card whose vertebra count the network starts from")
    parser.add_argument("--out", required=True, help="folder for junctions.pt and junctions.json")
    add_whole_projection_arguments(parser, steps=800, lr=1e-3, validate_every=200, patience=4)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = choose_device(args.device)

    card_path = resolve_card_path(args.card)
    card = read_card(card_path)
    count = load_vertebra_count(card_path, card)
    if count is None:
        parser.error(f"{card_path} has no vertebra count to read the junctions from")
    training, validation, train_projections, val_projections = load_whole_projections(args, card)
    train_lumbar = [lumbar_count_of(scan) for scan in training]
    val_lumbar = [lumbar_count_of(scan) for scan in validation]

    torch.manual_seed(args.seed)
    # Start from the count's weights: its trunk already sees the spine; the outputs are learnt anew.
    network = JunctionNetwork(n_views=len(card.views))
    network.load_count_weights(count.state_dict())
    network.to(device)
    frontal = card.views.index("frontal") if "frontal" in card.views else None
    sampler = JunctionSampler(train_projections, train_lumbar, seed=args.seed, frontal_channel=frontal)
    config = FitConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, validate_every=args.validate_every,
                       patience=args.patience, seed=args.seed)

    def score(model) -> float:
        figures = validation_errors(model, val_projections, val_lumbar, card.row_mm, device)
        print(f"validation: {figures}", file=sys.stderr, flush=True)
        # mm of junction error, and a vertebra's worth (30 mm) for every lumbar count missed
        return (figures["thoracolumbar_median_mm"] + figures["lumbosacral_median_mm"]
                + 30.0 * (2.0 - figures["lumbar_count_right"] - figures["lumbar_count_right_transitional"]))

    started = time.perf_counter()
    history = fit(network, sampler, config, device, validate=score,
                  checkpoint_path=Path(args.checkpoint) if args.checkpoint else None, compute_loss=junction_loss)
    final = validation_errors(network, val_projections, val_lumbar, card.row_mm, device)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "network": "junction_network (training/junction_network.py)",
        "weights_file": "junctions.pt",
        "weights_sha256": write_weights(network.cpu(), out / "junctions.pt"),
        "sources": args.data,
        "validation_data": args.val_data,
        "command": "python -m training.train_junctions " + " ".join(argv if argv is not None else sys.argv[1:]),
        "initialisation": f"the vertebra count of {card_path.name} ({card.vertebra_count['weights_sha256'][:12]}...), outputs learnt anew",
        "train_seconds": round(time.perf_counter() - started, 1),
        "fit": asdict(config),
        "steps_run": history[-1]["step"] if history else 0,
        "validation": {key: round(value, 4) for key, value in final.items()},
    }
    atomic_write_text(out / "junctions.json", json.dumps(record, indent=2) + "\n")
    print(f"wrote {out / 'junctions.pt'} and {out / 'junctions.json'}: {final}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
