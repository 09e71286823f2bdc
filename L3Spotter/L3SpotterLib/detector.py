"""The engine's front door: a loaded model that turns a CT volume into a :class:`DetectionResult`.

    detector = L3Detector()                       # the shipped model, CUDA when available
    result = detector.detect_path("ct.nii.gz")    # or detect_array(voxels, ijk_to_ras)
    print(result.summary())

Nothing here knows about Slicer; :mod:`mrml` adapts volume nodes to :meth:`L3Detector.detect_array`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from .checksums import sha256_of_file
from .input_checks import check_volume
from .errors import InputError, L3SpotterError
from .geometry import VolumeGeometry
from .inference import DEFAULT_BATCH_SIZE
from .mip import Projection, project_views
from .model_card import resolve_card_path
from .pipeline import LoadedModel, Localisation, apply_input_limits, input_range_problems, locate, window_predictions, window_stride_problem
from .spine_point import vertebra_point_ras
from .result import STATUS_NOT_IN_VIEW, DetectionResult, WindowTrace, error_result
from .volume_io import load_ct


class L3Detector:
    """A model loaded once, ready to detect L3 in any number of volumes."""

    def __init__(self, model: str | Path | None = None, device: str = "auto", batch_size: int = DEFAULT_BATCH_SIZE):
        self.model = LoadedModel.load(model, device, batch_size)
        self.card = self.model.card
        self.device = self.model.device
        self.model_path = resolve_card_path(model)
        self.card_sha256 = sha256_of_file(self.model_path)

    @property
    def network(self):
        """The window regressor the pipeline runs (replaceable, e.g. by a test's stand-in)."""
        return self.model.network

    @network.setter
    def network(self, network) -> None:
        self.model.network = network

    @property
    def model_info(self) -> dict:
        # The card's own hash too: its output curve and threshold change answers without touching the weights.
        return {
            "name": self.card.name,
            "card": str(self.model_path),
            "card_sha256": self.card_sha256,
            "weights_sha256": self.card.weights_sha256,
            "device": str(self.device),
        }

    def projections(self, voxels: np.ndarray, geometry: VolumeGeometry) -> list[Projection]:
        """The model's views of the volume, on the model's grid (one per entry of the card's views)."""
        return project_views(voxels, geometry, self.card.views, self.card.grid)

    def window_predictions(
        self, stacked_views: np.ndarray, stride_px: int, progress: Callable[[float], None] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(tops, predictions)`` of the windows over ``[views, rows, width]``, through the card's output curve."""
        return window_predictions(stacked_views, self.model, stride_px, progress=progress)

    def detect_path(self, path, stride_px: int | None = None, progress: Callable[[float], None] | None = None) -> DetectionResult:
        """Load a file or DICOM folder and detect; any problem becomes a result with status ``error``."""
        started = time.perf_counter()
        try:
            volume = load_ct(path)
        except L3SpotterError as error:
            return error_result(str(path), str(error))
        return self.detect_volume(volume, time.perf_counter() - started, stride_px, progress)

    def detect_volume(self, volume, read_s: float, stride_px: int | None = None, progress: Callable[[float], None] | None = None) -> DetectionResult:
        """Detect in a volume already read by :func:`volume_io.load_ct` (in ``read_s`` seconds)."""
        result = self.detect_array(volume.voxels, volume.geometry, source=volume.source, series=volume.series, stride_px=stride_px, progress=progress)
        result.timings_s = {"read": read_s, **result.timings_s}
        return result

    def detect_array(
        self,
        voxels: np.ndarray,
        geometry_or_ijk_to_ras,
        source: str = "array",
        series: dict | None = None,
        stride_px: int | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> DetectionResult:
        """Detect L3 in a ``[k, j, i]`` array with its geometry (a VolumeGeometry or a 4x4 IJK->RAS).

        ``progress(fraction)`` is called as the windows go through the CNN (the long part), from 0 to 1.
        """
        try:
            return self._detect(voxels, geometry_or_ijk_to_ras, source, series, stride_px, progress)
        except L3SpotterError as error:
            return error_result(source, _strip_source(str(error), source))

    def _detect(self, voxels, geometry_or_ijk_to_ras, source, series, stride_px, progress) -> DetectionResult:
        timings = {}
        card = self.card
        stride_px = int(stride_px or card.default_stride_px)
        stride_problem = window_stride_problem(stride_px, card)
        if stride_problem:
            raise InputError(stride_problem)
        geometry = check_volume(voxels, geometry_or_ijk_to_ras)
        started = time.perf_counter()
        projections = self.projections(voxels, geometry)
        timings["mip"] = time.perf_counter() - started

        started = time.perf_counter()
        stacked = np.stack([projection.pixels for projection in projections])
        localisation = locate(stacked, self.model, stride_px, progress)
        timings["locate"] = time.perf_counter() - started
        pixel_mm = float(max(geometry.spacing_mm[geometry.lr_axis], geometry.spacing_mm[geometry.ap_axis]))
        apply_input_limits(localisation, input_range_problems(card, geometry.slice_thickness_mm, pixel_mm, geometry.in_plane_field_mm))
        return self._result(localisation, voxels, geometry, projections, source, series, stride_px, timings)

    def _result(self, localisation: Localisation, voxels, geometry: VolumeGeometry, projections: list[Projection],
                source: str, series, stride_px: int, timings: dict) -> DetectionResult:
        """The localisation on the projection rows, turned into slices, RAS mm and a point in L3."""
        card = self.card
        reference = projections[0]
        result = DetectionResult(
            input=source,
            status=localisation.status,
            message=localisation.message,
            confidence=round(localisation.confidence, 4),
            window_spread_mm=None if localisation.ramp.window_spread_mm is None else round(localisation.ramp.window_spread_mm, 2),
            vertebra_phase=None if localisation.vertebra_phase is None else round(localisation.vertebra_phase, 3),
            l3_position=localisation.l3_position,
            edge_distance_mm=None if localisation.edge_distance_mm is None else round(localisation.edge_distance_mm, 2),
            slice_axis=geometry.describe_slice_axis(),
            n_slices=geometry.n_slices,
            series=series,
            model=self.model_info,
            trace=WindowTrace(
                window_top_z_ras_mm=[round(float(z), 3) for z in reference.row_to_z_ras_mm(localisation.tops)],
                predicted_fraction=[round(float(p), 4) for p in localisation.predictions],
                window_height_mm=card.window_height_px * card.row_mm,
                stride_px=stride_px,
                row_mm=card.row_mm,
            ),
            timings_s=timings,
            projection=projections,
        )
        if localisation.count is not None:
            result.vertebrae = {
                name: {"z_ras_mm": round(float(reference.row_to_z_ras_mm(row)), 2), "slice": _slice_of(geometry, float(reference.row_to_z_ras_mm(row)))}
                for name, row in localisation.count.vertebra_rows().items()
            }
            result.count = _count_record(localisation, reference)
        if localisation.status == STATUS_NOT_IN_VIEW or localisation.l3_row is None:
            return result
        z_ras_mm = float(reference.row_to_z_ras_mm(localisation.l3_row))
        result.l3_z_ras_mm = round(z_ras_mm, 2)
        result.l3_slice = _slice_of(geometry, z_ras_mm)
        r, a, _ = vertebra_point_ras(voxels, geometry, z_ras_mm)
        result.l3_point_ras_mm = [round(r, 2), round(a, 2), result.l3_z_ras_mm]
        return result


def _slice_of(geometry: VolumeGeometry, z_ras_mm: float) -> int:
    return int(np.clip(np.floor(geometry.z_ras_mm_to_slice(z_ras_mm) + 0.5), 0, geometry.n_slices - 1))


def _count_record(localisation: Localisation, reference: Projection) -> dict:
    """What the vertebra count said, for the result JSON."""
    count = localisation.count
    return {
        "l3_z_ras_mm": None if count.l3_row is None else round(float(reference.row_to_z_ras_mm(count.l3_row)), 2),
        "mm_per_vertebra": None if count.mm_per_level is None else round(count.mm_per_level, 1),
        "orientation": "upside_down" if localisation.upside_down else count.orientation,
        "front_back_swapped": localisation.front_back_swapped,
        "level_at_answer": localisation.view_levels_at_answer,
        "problems": list(count.problems),
    }


def _strip_source(message: str, source: str) -> str:
    return message if message.startswith(source) else f"{source}: {message}"
