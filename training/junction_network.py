"""An experiment, not part of the engine: the lumbar spine's vertebrae counted one by one.

The engine's vertebra count (:class:`L3SpotterLib.networks.LevelMapNetwork`) regresses a smooth level per
row. In a spine of four or six lumbar vertebrae those levels stretch or squeeze five levels over the
vertebrae there are, anchored at the last rib and at the sacrum, so they cannot tell such a spine from a
usual one (README, "Tried and not shipped": counting the lumbar vertebrae one by one). This network is
the other kind of reading the README asks for: it finds the thoracolumbar junction, the lumbosacral
junction and each vertebra's centre where they are, so the vertebrae between the junctions can be counted,
and L3 found as the third below the last rib-bearing vertebra.

``python -m training.train_junctions`` trains it; ``benchmarks/junction_study.py`` measures it on the
domain-shift family's development draws.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from L3SpotterLib.mobilenet import mobilenet_v2_features
from L3SpotterLib.networks import ImageNetInput, width_pooled
from L3SpotterLib.vertebra_count import padded_projection, per_row

# The thoracolumbar junction (the disc below the last rib-bearing vertebra) lies half-way between the last
# thoracic vertebra (level -3) and L1 (-2), whatever the number of vertebrae below it.
THORACOLUMBAR_JUNCTION_LEVEL = -2.5
# A vertebra's centre is a peak of the centre map at least this high, and this far from the next (the
# smallest lumbar vertebra with its disc is about 25 mm).
CENTRE_PEAK_PROBABILITY = 0.4
MIN_VERTEBRA_SPACING_MM = 20.0


def lumbosacral_junction_level(lumbar_count: int) -> float:
    """The level of the disc between the last lumbar vertebra (L3 + ``lumbar_count`` - 3) and S1."""
    return lumbar_count - 2.5


class JunctionNetwork(nn.Module):
    """The lumbar spine's vertebrae, one by one: a network of its own, beside the vertebra count.

    Input as :class:`LevelMapNetwork`. Output ``[batch, 3, rows / 4]``, one value per 4 rows (fine enough
    to resolve vertebrae 25-45 mm apart): channel 0 the logit that a row lies above the thoracolumbar
    junction (in the last rib-bearing vertebra or higher), channel 1 that it lies below the lumbosacral
    junction (in the sacrum or lower), channel 2 that it lies at a vertebra's centre (a peak per vertebra).

    The count's levels are smooth between the spine's two ends, so in a spine of four or six lumbar
    vertebrae they stretch five levels over the vertebrae there are; the vertebrae counted one by one
    between the two junctions are not fooled that way.

    The trunk and the along-body GRU are those of :class:`LevelMapNetwork` (so a count's weights can start
    it); the stride-4 features join the GRU's output for the fine outputs.
    """

    OUTPUT_STRIDE = 4
    INPUT_MULTIPLE = 32
    OUTPUTS = 3

    def __init__(self, n_views: int = 2, hidden: int = 96, fine: int = 64):
        super().__init__()
        features = mobilenet_v2_features()
        self.input_adapter = ImageNetInput(n_views)
        self.stride4 = features[:4]  # 24 channels
        self.stride8 = features[4:7]  # 32 channels
        self.stride16 = features[7:14]  # 96 channels
        self.stride32 = features[14:18]  # 320 channels
        self.reduce = nn.Sequential(nn.Conv1d(2 * (32 + 96 + 320), hidden, 1), nn.ReLU(inplace=True))
        self.along_body = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
        self.fine = nn.Sequential(nn.Conv1d(2 * hidden + 2 * 24, fine, 3, padding=1), nn.ReLU(inplace=True), nn.Conv1d(fine, self.OUTPUTS, 1))

    def load_count_weights(self, count_state: dict) -> None:
        """Start from a vertebra count's trunk and GRU (its stride-8 block split in two here)."""
        renamed = {}
        for key, value in count_state.items():
            part, _, rest = key.partition(".")
            if part == "stride8" and int(rest.partition(".")[0]) < 4:
                part = "stride4"
            if part != "out":
                renamed[f"{part}.{rest}"] = value
        own = self.state_dict()
        unexpected = sorted(set(renamed) - set(own))
        missing = sorted(key for key in set(own) - set(renamed) if not key.startswith("fine."))
        misshapen = sorted(key for key in set(renamed) & set(own) if renamed[key].shape != own[key].shape)
        if unexpected or missing or misshapen:
            raise ValueError(f"count weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}, other shapes {misshapen[:3]}")
        self.load_state_dict(renamed, strict=False)

    def forward(self, projection: torch.Tensor) -> torch.Tensor:
        x4 = self.stride4(self.input_adapter(projection))
        x8 = self.stride8(x4)
        x16 = self.stride16(x8)
        x32 = self.stride32(x16)
        n_steps = x8.shape[2]
        sequence = self.reduce(torch.cat([width_pooled(x, n_steps) for x in (x8, x16, x32)], dim=1))
        along, _ = self.along_body(sequence.transpose(1, 2))
        fine_steps = x4.shape[2]
        along_fine = nn.functional.interpolate(along.transpose(1, 2), size=fine_steps, mode="linear", align_corners=False)
        return self.fine(torch.cat([along_fine, x4.mean(dim=3), x4.amax(dim=3)], dim=1))


def junction_map(junction_network: torch.nn.Module, stacked_views: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(above, below, centre)`` per row: the probability that a row lies above the thoracolumbar junction,
    below the lumbosacral junction, and at a vertebra's centre (see :class:`JunctionNetwork`)."""
    with torch.inference_mode():
        output = junction_network(torch.from_numpy(padded_projection(junction_network, stacked_views)).to(device)).float().cpu().numpy()[0]
    probability = 1.0 / (1.0 + np.exp(-output))
    return tuple(per_row(channel, junction_network.OUTPUT_STRIDE, stacked_views.shape[1]) for channel in probability)


def vertebra_centre_rows(centre: np.ndarray, first_row: float, last_row: float, row_mm: float) -> list[float]:
    """The rows of the vertebral centres (peaks of ``centre``) between two rows."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(centre, height=CENTRE_PEAK_PROBABILITY, distance=max(1, int(MIN_VERTEBRA_SPACING_MM / row_mm)))
    return [float(row) for row in peaks if first_row <= row <= last_row]


def junction_rows(above: np.ndarray, below: np.ndarray) -> dict[str, float | None]:
    """The rows of the two junctions: where ``above`` falls through 0.5 for the last time, and where
    ``below`` first rises through it; None where the junction lies outside the scan (or nowhere)."""
    rows: dict[str, float | None] = {"thoracolumbar": None, "lumbosacral": None}
    inside = np.nonzero(above >= 0.5)[0]
    if len(inside) and inside[-1] < len(above) - 1:
        last = int(inside[-1])
        rows["thoracolumbar"] = last + float((above[last] - 0.5) / max(above[last] - above[last + 1], 1e-9))
    inside = np.nonzero(below >= 0.5)[0]
    if len(inside) and inside[0] > 0:
        first = int(inside[0])
        rows["lumbosacral"] = first - float((below[first] - 0.5) / max(below[first] - below[first - 1], 1e-9))
    return rows

