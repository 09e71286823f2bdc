"""The outcome of one detection, as every entry point reports it (JSON, CSV row, Slicer panel)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

STATUS_FOUND = "found"
STATUS_UNCERTAIN = "uncertain"
STATUS_NOT_IN_VIEW = "not_in_view"
STATUS_ERROR = "error"

STATUS_WORDS = {
    STATUS_FOUND: "L3 found",
    STATUS_UNCERTAIN: "L3 uncertain: check by eye",
    STATUS_NOT_IN_VIEW: "L3 is not in the field of view",
    STATUS_ERROR: "error",
}

POSITION_WORDS = {
    "inside": "",
    "at_superior_edge": "L3 lies at the upper edge of the scan and may be cut",
    "at_inferior_edge": "L3 lies at the lower edge of the scan and may be cut",
    "above_scan": "L3 lies above the scan",
    "below_scan": "L3 lies below the scan",
    "unknown": "",
}


@dataclass
class WindowTrace:
    """What the CNN said about each window: the z of the window's top row and the predicted L3 fraction."""

    window_top_z_ras_mm: list[float]
    predicted_fraction: list[float]
    window_height_mm: float
    stride_px: int
    row_mm: float


@dataclass
class DetectionResult:
    input: str
    status: str
    message: str = ""
    l3_slice: int | None = None
    l3_z_ras_mm: float | None = None
    # A point in the L3 vertebra (RAS mm, S = l3_z_ras_mm): where a fiducial belongs.
    l3_point_ras_mm: list[float] | None = None
    confidence: float | None = None
    # How far (median, mm) the rows implied by the windows holding L3 lie from the answer: its precision.
    window_spread_mm: float | None = None
    # Where the answer lies between the discs found near it in the projection: 0 on a disc, 0.5 mid-body.
    vertebra_phase: float | None = None
    l3_position: str = "unknown"
    edge_distance_mm: float | None = None
    slice_axis: dict | None = None
    n_slices: int | None = None
    series: dict | None = None
    model: dict | None = None
    # The input's size, modification time and header hash when the result was made (see input_fingerprint).
    input_fingerprint: dict | None = None
    trace: WindowTrace | None = None
    # The vertebrae the count labels (T11 ... S1 in a usual spine): name -> {z_ras_mm, slice}.
    vertebrae: dict | None = None
    # What the vertebra count said: its own L3, mm per vertebra, orientation, and the level each of its
    # readings (both views, frontal alone, lateral alone) gives the answer.
    count: dict | None = None
    timings_s: dict = field(default_factory=dict)
    # Not serialised: the projection(s) used, kept for the picture.
    projection: object = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status != STATUS_ERROR

    def summary(self) -> str:
        """One line in words, for the console and the Slicer panel."""
        if self.status == STATUS_ERROR:
            return f"error: {self.message}"
        parts = [STATUS_WORDS[self.status]]
        if self.l3_slice is not None and self.status != STATUS_NOT_IN_VIEW:
            parts.append(f"slice {self.l3_slice} (z = {self.l3_z_ras_mm:.1f} mm)")
        if self.confidence is not None:
            parts.append(f"confidence {self.confidence:.2f}")
        where = POSITION_WORDS.get(self.l3_position, "")
        if where:
            parts.append(where)
        if self.status == STATUS_UNCERTAIN and self.message:
            parts.append(f"why: {self.message}")  # below the threshold, or too near the edge
        return ", ".join(parts)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("projection", None)
        return _plain(data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict) -> "DetectionResult":
        data = dict(data)
        trace = data.pop("trace", None)
        known = set(cls.__dataclass_fields__) - {"projection"}
        result = cls(**{key: value for key, value in data.items() if key in known})
        result.trace = WindowTrace(**trace) if trace else None
        return result


def error_result(input_text: str, message: str) -> DetectionResult:
    return DetectionResult(input=input_text, status=STATUS_ERROR, message=message)


def _plain(value):
    """numpy scalars and arrays to JSON-ready Python values."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
