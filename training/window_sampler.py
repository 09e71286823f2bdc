"""Training windows drawn from cached projections, with augmentation that mimics real variation.

Each window is cut from a projection made by the engine's own :func:`L3SpotterLib.mip.project_views`, so
training and inference see identical pixels. Sampling is balanced: half the windows hold L3, half do
not. Augmentations, each drawn per window:

* scale along z (patient height and vertebra size vary by about 10 %), and a smooth local stretch
  (vertebra and disc heights vary along one spine),
* crop of the field of view (scans start and stop anywhere; the rest is padding, as at inference),
* left-right flip of the frontal view,
* blur along z (thick slices: a 5 mm slice smears the MIP over more than two 2 mm rows),
* width scale and sideways shift (body build, centring of the skeleton),
* bright spots (calcifications, clips, contrast in bowel or vessels) the model must learn to ignore,
* intensity gain, gamma and offset (scanner, contrast phase, bone density), and Gaussian noise,
* optionally, a narrow field: every column further from the skeleton's centre than a drawn half width set
  to air in each view, as a reconstruction of 100-200 mm on the spine leaves it (ribs and iliac wings
  cut). Off by default; the real abdominal scan cut to 100-126 mm is missed by a model trained without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from L3SpotterLib.windows import window_target


@dataclass
class TrainingProjection:
    """A case ready for training: ``pixels[view, row, col]`` in [0, 1] and L3's row (may lie outside the
    scan: phantoms know where L3 is even when the field of view misses it)."""

    pixels: np.ndarray
    l3_row: float
    case_id: str = ""
    slice_thickness_mm: float = 0.0
    in_view: bool = True
    # (row, vertebral level) of the vertebral centres the generator knows (see L3SpotterLib.vertebral_levels);
    # empty for scans without them.
    level_rows: tuple = ()


@dataclass(frozen=True)
class Augmentation:
    z_scale_range: tuple[float, float] = (0.9, 1.1)
    local_stretch_sd: float = 0.08  # sd of the log local stretch along z (smooth over a sixth of a window)
    crop_probability: float = 0.35
    flip_probability: float = 0.5
    gain_range: tuple[float, float] = (0.8, 1.2)
    gamma_range: tuple[float, float] = (0.7, 1.4)
    offset_range: tuple[float, float] = (-0.08, 0.08)
    noise_sd_range: tuple[float, float] = (0.0, 0.04)
    z_blur_probability: float = 0.5
    z_blur_sigma_rows_range: tuple[float, float] = (0.3, 1.2)
    width_scale_range: tuple[float, float] = (0.85, 1.15)
    shift_px_range: tuple[float, float] = (-8.0, 8.0)
    max_bright_spots: int = 3
    narrow_field_probability: float = 0.0
    # Half the field's width in projection columns (2 mm each on the shipped grid: fields of 100-200 mm),
    # and how far each view's field centre may lie from the projection's centre column (the skeleton's).
    narrow_field_half_width_px_range: tuple[float, float] = (25.0, 50.0)
    narrow_field_centre_shift_px: float = 5.0


NO_AUGMENTATION = Augmentation(
    z_scale_range=(1.0, 1.0), local_stretch_sd=0.0, crop_probability=0.0, flip_probability=0.0, gain_range=(1.0, 1.0),
    gamma_range=(1.0, 1.0), offset_range=(0.0, 0.0), noise_sd_range=(0.0, 0.0), z_blur_probability=0.0,
    width_scale_range=(1.0, 1.0), shift_px_range=(0.0, 0.0), max_bright_spots=0,
)


class PixelAugmenter:
    """The per-image augmentations shared by the window sampler and the vertebra-count sampler."""

    def __init__(self, rng: np.random.Generator, augmentation: Augmentation):
        self.rng = rng
        self.augmentation = augmentation

    def scale_and_shift_columns(self, pixels: np.ndarray) -> np.ndarray:
        rng, aug = self.rng, self.augmentation
        scale = rng.uniform(*aug.width_scale_range)
        shift = rng.uniform(*aug.shift_px_range)
        if scale == 1.0 and shift == 0.0:
            return pixels
        width = pixels.shape[2]
        centre = (width - 1) / 2.0
        source = (np.arange(width) - centre - shift) / scale + centre
        inside = (source >= 0) & (source <= width - 1)
        clamped = np.clip(source, 0, width - 1)
        low = np.floor(clamped).astype(int)
        high = np.minimum(low + 1, width - 1)
        weight = (clamped - low).astype(np.float32)
        out = pixels[:, :, low] * (1 - weight) + pixels[:, :, high] * weight
        out[:, :, ~inside] = 0.0
        return out

    def add_bright_spots(self, pixels: np.ndarray) -> np.ndarray:
        rng = self.rng
        n_spots = int(rng.integers(0, self.augmentation.max_bright_spots + 1))
        if n_spots == 0:
            return pixels
        out = pixels.copy()
        rows = np.arange(pixels.shape[1])[:, None]
        cols = np.arange(pixels.shape[2])[None, :]
        for _ in range(n_spots):
            row, col = rng.uniform(0, pixels.shape[1]), rng.uniform(0, pixels.shape[2])
            radius = rng.uniform(1.0, 5.0)
            spot = rng.uniform(0.4, 1.0) * np.exp(-((rows - row) ** 2 + (cols - col) ** 2) / (2 * radius**2))
            out = np.maximum(out, spot[None].astype(np.float32))
        return out

    def augment_intensity(self, pixels: np.ndarray) -> np.ndarray:
        rng, aug = self.rng, self.augmentation
        gamma = rng.uniform(*aug.gamma_range)
        gain = rng.uniform(*aug.gain_range)
        offset = rng.uniform(*aug.offset_range)
        noise_sd = rng.uniform(*aug.noise_sd_range)
        out = gain * np.power(pixels, gamma) + offset
        if noise_sd > 0:
            out = out + rng.normal(0.0, noise_sd, size=pixels.shape).astype(np.float32)
        return np.clip(out, 0.0, 1.0)


class WindowSampler:
    """Draws ``(windows [batch, views, H, W], targets [batch])`` from a list of projections."""

    def __init__(
        self,
        projections: list[TrainingProjection],
        height_px: int,
        seed: int,
        augmentation: Augmentation = Augmentation(),
        share_with_l3: float = 0.5,
        frontal_channel: int | None = 0,
    ):
        if not projections:
            raise ValueError("no training projections")
        self.projections = projections
        self.height_px = height_px
        self.rng = np.random.default_rng(seed)
        self.augmentation = augmentation
        self.pixel_augmenter = PixelAugmenter(self.rng, augmentation)
        self.share_with_l3 = share_with_l3
        # Only the frontal view has a meaningful left-right flip (the lateral view's columns are A -> P).
        self.frontal_channel = frontal_channel

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        first = self.projections[0].pixels
        windows = np.zeros((size, first.shape[0], self.height_px, first.shape[2]), dtype=np.float32)
        targets = np.zeros(size, dtype=np.float32)
        for index in range(size):
            projection = self.projections[self.rng.integers(len(self.projections))]
            windows[index], targets[index] = self.window(projection)
        return windows, targets

    def window(self, projection: TrainingProjection) -> tuple[np.ndarray, float]:
        """One augmented window of ``projection`` and its target.

        The window's rows map to source rows through a smooth, monotone warp: a global z scale times a
        slowly varying local stretch. Vertebrae keep their look while the distances between landmarks
        (last rib, crest, scan edges) change, so the model has to count rather than measure.
        """
        rng, aug, height = self.rng, self.augmentation, self.height_px
        n_rows = projection.pixels.shape[1]
        source_per_row = self._warp(height)  # source rows advanced by each window row
        offsets = np.concatenate([[0.0], np.cumsum(source_per_row[:-1])])  # window row -> source offset
        crop_start, crop_end = -0.5, n_rows - 0.5
        if rng.random() < aug.crop_probability:
            # Keep at least half the scan (and 3/8 of a window): shorter scans come from the FOV draws.
            keep = rng.uniform(min(n_rows, max(0.5 * n_rows, 0.375 * height)), n_rows)
            crop_start = np.floor(rng.uniform(0.0, n_rows - keep)) - 0.5
            crop_end = crop_start + np.floor(keep)

        if rng.random() < self.share_with_l3:
            l3_window_row = rng.uniform(0.0, height)
            window_top_source = projection.l3_row - np.interp(l3_window_row, np.arange(height), offsets)
        else:
            span = offsets[-1] + source_per_row[-1]
            window_top_source = rng.uniform(crop_start - span, crop_end)
        source_rows = window_top_source + offsets
        # Where L3 falls in window rows (extrapolated linearly outside the window).
        l3_window_row = _inverse_monotone(projection.l3_row, source_rows)
        target = float(window_target(l3_window_row, 0.0, height))

        inside = (source_rows >= crop_start) & (source_rows < crop_end)
        window = np.zeros((projection.pixels.shape[0], height, projection.pixels.shape[2]), dtype=np.float32)
        if inside.any():
            rows_inside = _interpolate_rows(projection.pixels, source_rows[inside])
            if rng.random() < aug.z_blur_probability:
                sigma = rng.uniform(*aug.z_blur_sigma_rows_range)
                rows_inside = ndimage.gaussian_filter1d(rows_inside, sigma, axis=1, mode="nearest")
            rows_inside = self.pixel_augmenter.scale_and_shift_columns(rows_inside)
            rows_inside = self.pixel_augmenter.add_bright_spots(rows_inside)
            window[:, inside, :] = self.pixel_augmenter.augment_intensity(rows_inside)
        if self.frontal_channel is not None and rng.random() < aug.flip_probability:
            window[self.frontal_channel] = window[self.frontal_channel, :, ::-1]
        # Drawn only when enabled, so that the default keeps the random stream (and trained models) as before.
        if aug.narrow_field_probability > 0 and rng.random() < aug.narrow_field_probability:
            narrow_field(window, rng, aug)
        return window, target

    def _warp(self, height: int) -> np.ndarray:
        """Source rows per window row: 1 / (global scale x local stretch), the stretch smooth over rows."""
        rng, aug = self.rng, self.augmentation
        scale = rng.uniform(*aug.z_scale_range)
        if aug.local_stretch_sd > 0:
            noise = ndimage.gaussian_filter1d(rng.normal(size=height), height / 6.0, mode="wrap")
            noise /= max(noise.std(), 1e-6)
            stretch = np.exp(aug.local_stretch_sd * noise)
        else:
            stretch = np.ones(height)
        return 1.0 / (scale * stretch)


def narrow_field(window: np.ndarray, rng: np.random.Generator, augmentation: Augmentation) -> None:
    """Set to air, in place, every column of each view beyond one drawn half width of that view's centre."""
    half_width = rng.uniform(*augmentation.narrow_field_half_width_px_range)
    columns = np.arange(window.shape[2]) - (window.shape[2] - 1) / 2.0
    for view in range(window.shape[0]):
        centre = rng.uniform(-augmentation.narrow_field_centre_shift_px, augmentation.narrow_field_centre_shift_px)
        window[view][:, np.abs(columns - centre) > half_width] = 0.0


def _inverse_monotone(value: float, increasing: np.ndarray) -> float:
    """The (fractional) index at which the increasing sequence reaches ``value``, extrapolated linearly."""
    index = np.arange(len(increasing), dtype=float)
    if value < increasing[0]:
        return float((value - increasing[0]) / (increasing[1] - increasing[0]))
    if value > increasing[-1]:
        return float(index[-1] + (value - increasing[-1]) / (increasing[-1] - increasing[-2]))
    return float(np.interp(value, increasing, index))


def _interpolate_rows(pixels: np.ndarray, source_rows: np.ndarray) -> np.ndarray:
    clamped = np.clip(source_rows, 0, pixels.shape[1] - 1)
    low = np.floor(clamped).astype(int)
    high = np.minimum(low + 1, pixels.shape[1] - 1)
    weight = (clamped - low).astype(np.float32)[None, :, None]
    return pixels[:, low, :] * (1 - weight) + pixels[:, high, :] * weight
