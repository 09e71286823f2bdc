"""Training strips for the vertebra count: a stretch of a whole projection and its per-row targets.

Each sample is ``STRIP_ROWS`` rows of a projection (or of an object that is not a patient) on a canvas of
air, with targets every ``LevelMapNetwork.OUTPUT_STRIDE`` rows: the vertebral level
(:mod:`L3SpotterLib.vertebral_levels`), whether the row lies in the counted region (T11 to S1), and a mask
of the rows the scan covers. Augmentations, drawn per sample:

* a crop of the scan anywhere along z, from 120 mm to the whole strip (fields of view of every size),
* scale along z (0.85-1.15: stature and vertebra size),
* upside down (15 %): the rows and their levels are reversed together, so the network learns where the
  head is from the anatomy, which lets the engine see a file whose header has head and feet swapped,
* one view blanked (10 % each): the count must work from either view alone, so that the engine can
  compare the frontal and the lateral counts,
* the window sampler's pixel augmentations (width, bright spots, intensity, noise) and z blur,
* left-right flip of the frontal view.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from L3SpotterLib.networks import LevelMapNetwork
from L3SpotterLib.vertebral_levels import COUNTED_REGION, row_levels

from .window_sampler import Augmentation, PixelAugmenter, TrainingProjection, _interpolate_rows

STRIP_ROWS = 512
MIN_CROP_ROWS = 60


class CountSampler:
    """Draws ``(strips [batch, views, rows, width], levels, in_region, covered, level_valid)``; the four
    targets are ``[batch, rows / 8]``: ``covered`` marks the rows the scan covers, ``level_valid`` those
    whose level is known (covered rows of a patient)."""

    def __init__(self, projections: list[TrainingProjection], seed: int, frontal_channel: int | None = 0,
                 augmentation: Augmentation = Augmentation(), flip_rows_probability: float = 0.15, view_blank_probability: float = 0.1,
                 output_stride: int = LevelMapNetwork.OUTPUT_STRIDE):
        if not projections:
            raise ValueError("no training projections")
        self.projections = projections
        self.rng = np.random.default_rng(seed)
        self.pixel_augmenter = PixelAugmenter(self.rng, augmentation)
        self.augmentation = augmentation
        self.frontal_channel = frontal_channel
        self.flip_rows_probability = flip_rows_probability
        self.view_blank_probability = view_blank_probability
        self.output_stride = output_stride  # targets every this many rows (the network's output stride)

    def batch(self, size: int):
        n_views, width = self.projections[0].pixels.shape[0], self.projections[0].pixels.shape[2]
        steps = STRIP_ROWS // self.output_stride
        strips = np.zeros((size, n_views, STRIP_ROWS, width), dtype=np.float32)
        levels, in_region, covered, level_valid = (np.zeros((size, steps), dtype=np.float32) for _ in range(4))
        for index in range(size):
            projection = self.projections[self.rng.integers(len(self.projections))]
            strips[index], levels[index], in_region[index], covered[index], level_valid[index] = self.strip(projection)
        return strips, levels, in_region, covered, level_valid

    def strip(self, projection: TrainingProjection):
        rng, aug = self.rng, self.augmentation
        n_views, n_rows, width = projection.pixels.shape
        scale = rng.uniform(0.85, 1.15)  # output rows per source row
        max_source_rows = min(n_rows, STRIP_ROWS / scale)
        source_rows = rng.uniform(min(MIN_CROP_ROWS, max_source_rows), max_source_rows)
        source_start = rng.uniform(0.0, max(0.0, n_rows - source_rows))
        out_rows = int(source_rows * scale)
        out_start = int(rng.integers(0, STRIP_ROWS - out_rows + 1))
        sampled = source_start + np.arange(out_rows) / scale

        pixels = _interpolate_rows(projection.pixels, sampled)
        if rng.random() < aug.z_blur_probability:
            pixels = ndimage.gaussian_filter1d(pixels, rng.uniform(*aug.z_blur_sigma_rows_range), axis=1, mode="nearest")
        pixels = self.pixel_augmenter.scale_and_shift_columns(pixels)
        pixels = self.pixel_augmenter.add_bright_spots(pixels)
        pixels = self.pixel_augmenter.augment_intensity(pixels)
        if self.frontal_channel is not None and rng.random() < aug.flip_probability:
            pixels[self.frontal_channel] = pixels[self.frontal_channel, :, ::-1]
        blank = rng.random()
        if n_views > 1 and blank < 2 * self.view_blank_probability:
            pixels[0 if blank < self.view_blank_probability else 1] = 0.0

        strip = np.zeros((n_views, STRIP_ROWS, width), dtype=np.float32)
        strip[:, out_start : out_start + out_rows] = pixels
        row_level = np.zeros(STRIP_ROWS, dtype=np.float32)
        row_mask = np.zeros(STRIP_ROWS, dtype=bool)
        row_mask[out_start : out_start + out_rows] = True
        anatomical = len(projection.level_rows) >= 2
        if anatomical:
            source_levels = row_levels(projection.level_rows, n_rows)
            row_level[out_start : out_start + out_rows] = np.interp(sampled, np.arange(n_rows), source_levels)
        if rng.random() < self.flip_rows_probability:
            strip, row_level, row_mask = strip[:, ::-1].copy(), row_level[::-1].copy(), row_mask[::-1].copy()
        row_region = anatomical & (row_level >= COUNTED_REGION[0]) & (row_level <= COUNTED_REGION[1])
        centres = np.arange(self.output_stride // 2, STRIP_ROWS, self.output_stride)
        covered = row_mask[centres].astype(np.float32)
        # The level is a target on a patient only; the region (none there) holds on any scan.
        level_valid = covered if anatomical else np.zeros_like(covered)
        return strip, row_level[centres], row_region[centres].astype(np.float32), covered, level_valid
