"""The one detection pipeline: views -> windows -> window regressor -> output curve -> ramp match, and the
vertebra count beside it -> one answer with its status and reasons.

Every caller goes through :func:`locate`: the detector (files, arrays, Slicer), training validation, the
output-curve fit, the calibration and every benchmark. So a model is chosen and measured by the rules
users get.

The answer is ``found`` only when the evidence agrees:

1. the windows' ramp is clear (confidence at or above the card's threshold) and lies at least one
   vertebral level from the scan's edges (:func:`ramp_correlation.count_checkable`);
2. the windows that hold L3 agree on its row: their median distance from the answer is at most
   ``MAX_WINDOW_SPREAD_MM`` (:func:`ramp_correlation.window_spread_mm`);
3. the answer lies on a vertebral body, not on a disc: its phase between the discs found near it in the
   projection is at least ``MIN_VERTEBRA_PHASE`` (:func:`vertebra_phase.vertebra_phase`);
4. where the card has a vertebra count, the count is sound (a spine counted at a plausible rate, head up),
   and at the ramp's answer its three readings (both views, the frontal view alone and the lateral view
   alone) give L3: their mean level within half a vertebra, and none of them more than three quarters of
   a vertebra away.

Otherwise the answer is ``uncertain`` with the reasons, or ``not_in_view`` when neither reading finds L3
in the scan. A file whose anatomy runs feet-to-head along its superior axis is read the other way up and
reported ``uncertain``, saying so. An answer that is not ``found`` is read once more with front and back
the other way round (the lateral view mirrored; the frontal view does not change): a volume written in LPS
under a RAS header shows its anatomy so. When that reading is ``found``, it is the answer, reported
``uncertain`` with the header named as the cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .output_curve import OutputCurve, correct_predictions, curve_from_card_field
from .ramp_correlation import EDGE_FULL_CONFIDENCE_MM, RampMatch, count_checkable, match_ramp
from .result import STATUS_FOUND, STATUS_NOT_IN_VIEW, STATUS_UNCERTAIN
from .vertebra_count import VIEW_VARIANTS, CountReading, blank_view, level_map, read_count
from .vertebra_phase import vertebra_phase
from .windows import window_tops

# The ramp's answer agrees with the count when the mean of the count's three readings there is L3 within
# half a vertebra and no single reading is this far off. A mean, because each reading alone scatters by
# about 0.4 levels where the answer is right; a bound on each, so that one view reading the next vertebra
# still blocks. Chosen on the shifted family's development draws (benchmarks/decision_study.py).
AGREEMENT_LEVELS = 0.5
SINGLE_READING_LEVELS = 0.75
# Above this median scatter of the windows about the answer, the answer is imprecise enough to be half a
# vertebra off although its ramp looks clean: on the shifted family's development draws, five of the seven
# answers found 15 mm or more off had a scatter of 3-4.4 mm, and 93 % of all answers had less
# (benchmarks/decision_study.py); on the in-distribution calibration set, 157 of 159 answers have 3 mm or less
# (docs/results/calibration_set.csv).
MAX_WINDOW_SPREAD_MM = 3.0
# An answer closer to a disc than this share of a vertebra (the spacing of the discs found near it) lies on
# the disc or an endplate, not on L3's body: half a vertebra off, or at best on no slice to measure. The
# confidently wrong answers left on the shifted family's development draws (four-lumbar spines, where the
# windows and the count agree on an answer half a vertebra high) have 0.11-0.12; 95 % of the answers on
# the right vertebra have more than 0.16 (benchmarks/answer_probes.py).
MIN_VERTEBRA_PHASE = 0.15
# L3 is the third lumbar vertebra counted from the thoracolumbar junction: the count can only apply that
# rule when the scan shows the last thoracic vertebra (level -3, T12 in a usual spine). A scan that starts
# lower is counted from the sacrum alone, which a sixth lumbar vertebra (6 % of people) fools.
JUNCTION_LEVEL = -3.0
# The ramp match needs at least two windows per vertebra (34 mm from centre to centre in the lumbar spine).
VERTEBRA_SPACING_MM = 34.0
MIN_WINDOWS_PER_VERTEBRA = 2


def window_stride_problem(stride_px: int, card) -> str | None:
    """Why a window stride cannot be used with ``card``, or None."""
    largest = int(VERTEBRA_SPACING_MM / (MIN_WINDOWS_PER_VERTEBRA * card.row_mm))
    if stride_px < 1:
        return f"the window stride must be at least 1 pixel, got {stride_px}"
    if stride_px > largest:
        return (
            f"a window stride of {stride_px} pixels ({stride_px * card.row_mm:g} mm) leaves fewer than {MIN_WINDOWS_PER_VERTEBRA} "
            f"windows per vertebra; the largest this model allows is {largest} pixels"
        )
    return None


def input_range_problems(card, slice_thickness_mm: float, pixel_mm: float, in_plane_field_mm: float) -> list[str]:
    """Where a scan lies outside what the model was measured on (the card's ``valid_input``).

    Each range is ``[low, high]``; a ``high`` of None sets no upper limit.
    """
    problems = []
    ranges = getattr(card, "valid_input", None) or {}
    for name, value, words in (("slice_thickness_mm", slice_thickness_mm, "slice thickness"), ("pixel_mm", pixel_mm, "in-plane pixel size")):
        if name in ranges and _outside(value, ranges[name]):
            low, high = ranges[name]
            problems.append(f"the {words} {value:g} mm lies outside the {low:g}-{high:g} mm this model was measured on")
    if "in_plane_field_mm" in ranges and _outside(in_plane_field_mm, ranges["in_plane_field_mm"]):
        low, _ = ranges["in_plane_field_mm"]
        # A narrow reconstruction on the spine (lumbar-spine CT) cuts the ribs and the iliac wings; on the real
        # abdominal scan cut to 100-126 mm the windows missed L3 by 23-86 mm (benchmarks/real_scan_variants.py).
        problems.append(
            f"the in-plane field of view is {in_plane_field_mm:.0f} mm, narrower than {low:g} mm: the ribs and iliac wings "
            "are cut at its edges, and this model has not been shown to find L3 on real scans this narrow"
        )
    return problems


def apply_input_limits(localisation: "Localisation", problems: list[str]) -> None:
    """Outside what the model was measured on, neither ``found`` nor ``not_in_view`` is trusted: both become
    ``uncertain`` with ``problems`` as reasons. An L3 the engine did not locate gets no fiducial."""
    if not problems:
        return
    if localisation.status == STATUS_NOT_IN_VIEW:
        localisation.status = STATUS_UNCERTAIN
        localisation.l3_row = None
        localisation.l3_position = "unknown"
        # The not_in_view reason ("L3 lies below the scan") would read as a fact; here it is not one.
        localisation.reasons[:] = [
            "L3 was not located (the windows place it beyond the scan's edge), which is no evidence that it lies "
            "outside a scan like this one"
        ]
    elif localisation.status == STATUS_FOUND:
        localisation.status = STATUS_UNCERTAIN
    localisation.reasons.extend(problems)


def _outside(value: float, limits) -> bool:
    low, high = limits
    return value < low or (high is not None and value > high)


@dataclass
class LoadedModel:
    """What :func:`locate` needs of a model: its card, networks on a device, and the output curve."""

    card: object  # model_card.ModelCard (duck-typed: training validates with a card of its own)
    network: object  # the window regressor
    device: object
    output_curve: OutputCurve | None = None
    count_network: object | None = None
    batch_size: int = 8

    @classmethod
    def load(cls, model: str | Path | None, device: str = "auto", batch_size: int | None = None) -> "LoadedModel":
        from .inference import DEFAULT_BATCH_SIZE, choose_device, prepare_for_inference
        from .model_card import load_model, load_vertebra_count, resolve_card_path

        torch_device = choose_device(device)
        network, card = load_model(model, map_location=torch_device)
        count_network = load_vertebra_count(resolve_card_path(model), card, map_location=torch_device)
        return cls(
            card=card,
            network=prepare_for_inference(network).to(torch_device),
            device=torch_device,
            output_curve=curve_from_card_field(card.output_curve),
            count_network=None if count_network is None else count_network.to(torch_device),
            batch_size=batch_size or DEFAULT_BATCH_SIZE,
        )


@dataclass
class Localisation:
    """Where L3 lies on the projection (rows, 0 = most superior) and how sure the engine is."""

    status: str
    l3_row: float | None
    l3_position: str  # inside | at_superior_edge | at_inferior_edge | above_scan | below_scan | unknown
    confidence: float
    edge_distance_mm: float | None
    ramp: RampMatch
    tops: np.ndarray
    predictions: np.ndarray  # through the output curve
    reasons: list[str] = field(default_factory=list)
    count: CountReading | None = None  # both views
    view_levels_at_answer: dict = field(default_factory=dict)  # reading -> level at l3_row
    upside_down: bool = False
    front_back_swapped: bool = False
    vertebra_phase: float | None = None  # the answer between two discs: 0 on a disc, 0.5 mid-body

    @property
    def message(self) -> str:
        return "; ".join(self.reasons)

    @classmethod
    def from_ramp(cls, ramp: RampMatch, tops: np.ndarray, predictions: np.ndarray, counts: dict | None,
                  vertebra_phase: float | None = None) -> "Localisation":
        """The ramp's answer, ``found`` until :func:`decide` weighs the rest of the evidence."""
        return cls(
            status=STATUS_FOUND, l3_row=ramp.l3_row, l3_position=ramp.l3_position, confidence=ramp.confidence,
            edge_distance_mm=ramp.edge_distance_mm, ramp=ramp, tops=tops, predictions=predictions,
            count=None if counts is None else counts["both"], vertebra_phase=vertebra_phase,
        )


def window_predictions(stacked_views: np.ndarray, model: LoadedModel, stride_px: int, apply_curve: bool = True,
                       progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(tops, predictions)`` of every window of a ``[views, rows, width]`` projection."""
    from .inference import predict_windows

    height_px = model.card.window_height_px
    tops = window_tops(stacked_views.shape[1], height_px, stride_px)
    predictions = predict_windows(model.network, stacked_views, tops, height_px, model.device, model.batch_size, progress)
    return tops, correct_predictions(predictions, model.output_curve) if apply_curve else predictions


def locate(stacked_views: np.ndarray, model: LoadedModel, stride_px: int | None = None,
           progress: Callable[[float], None] | None = None, may_flip: bool = True, may_swap_front_back: bool = True) -> Localisation:
    """Find L3 on a ``[views, rows, width]`` projection stack (the card's views, on its grid)."""
    stride_px = int(stride_px or model.card.default_stride_px)
    counts = _count_readings(stacked_views, model)
    if may_flip and counts is not None and counts["both"].orientation == "head_down" and _is_spine_but_for_orientation(counts["both"]):
        flipped = locate(np.ascontiguousarray(stacked_views[:, ::-1]), model, stride_px, progress, False, may_swap_front_back)
        return _mirrored_rows(flipped, stacked_views.shape[1], model.card.window_height_px)
    tops, predictions = window_predictions(stacked_views, model, stride_px, progress=progress)
    card = model.card
    ramp = match_ramp(tops, predictions, card.window_height_px, stacked_views.shape[1], card.row_mm, card.confidence_threshold)
    localisation = Localisation.from_ramp(ramp, tops, predictions, counts, phase_at(stacked_views, ramp, card.row_mm))
    decide(localisation, counts, card.row_mm, card.confidence_threshold, stacked_views.shape[1])
    if may_swap_front_back and localisation.status != STATUS_FOUND and "lateral" in card.views:
        swapped = locate(front_back_swapped(stacked_views, list(card.views)), model, stride_px, None, may_flip, False)
        if swapped.status == STATUS_FOUND:
            return _read_front_back_swapped(swapped)
    return localisation


def front_back_swapped(stacked_views: np.ndarray, views: list[str]) -> np.ndarray:
    """The projection of the volume with front and back the other way round: the lateral view's columns
    (anterior to posterior) reversed; the frontal view, a max along front-back, is the same."""
    swapped = stacked_views.copy()
    lateral = views.index("lateral")
    swapped[lateral] = stacked_views[lateral][:, ::-1]
    return np.ascontiguousarray(swapped)


def _read_front_back_swapped(localisation: Localisation) -> Localisation:
    """A ``found`` answer of the front-back swapped reading, as the answer for the file as it is."""
    localisation.front_back_swapped = True
    localisation.status = STATUS_UNCERTAIN
    localisation.reasons.insert(0, (
        "front and back are swapped relative to the file's header (its anterior axis points to the patient's "
        "back; left and right are often swapped with them): read with front and back the other way round, "
        "every check passes, and as the header says they do not"
    ))
    return localisation


def phase_at(stacked_views: np.ndarray, ramp: RampMatch, row_mm: float) -> float | None:
    """The ramp's answer's phase between the discs (None when the answer is outside the scan)."""
    if ramp.l3_row is None or ramp.l3_position in ("above_scan", "below_scan"):
        return None
    return vertebra_phase(stacked_views, ramp.l3_row, row_mm)


def _count_readings(stacked_views: np.ndarray, model: LoadedModel) -> dict[str, CountReading] | None:
    if model.count_network is None:
        return None
    views = list(model.card.views)
    inputs = {"both": stacked_views}
    if len(views) > 1:
        inputs["frontal_only"] = blank_view(stacked_views, "frontal", views)
        inputs["lateral_only"] = blank_view(stacked_views, "lateral", views)
    return {name: read_count(*level_map(model.count_network, pixels, model.device), model.card.row_mm) for name, pixels in inputs.items()}


def _is_spine_but_for_orientation(reading: CountReading) -> bool:
    """A count whose only problem is that the anatomy runs feet to head."""
    return reading.region_rows is not None and len(reading.problems) == 1


def decide(localisation: Localisation, counts: dict[str, CountReading] | None, row_mm: float, threshold: float, n_rows: int) -> None:
    ramp, reasons = localisation.ramp, localisation.reasons
    ramp_out_of_view = ramp.l3_position in ("above_scan", "below_scan")
    if counts is None:
        decide_from_ramp_alone(localisation, threshold)
        return
    both = counts["both"]
    count_l3_inside = both.sound and both.l3_row is not None and -0.5 <= both.l3_row <= n_rows - 0.5
    if ramp_out_of_view:
        if not count_l3_inside:
            localisation.status = STATUS_NOT_IN_VIEW
            reasons.append("L3 lies above the scan" if ramp.l3_position == "above_scan" else "L3 lies below the scan")
            return
        # The windows miss an L3 that the count finds: report the count's, for a check by eye.
        localisation.status = STATUS_UNCERTAIN
        localisation.l3_row = both.l3_row
        localisation.edge_distance_mm = max(0.0, min(both.l3_row, n_rows - 1 - both.l3_row)) * row_mm
        localisation.l3_position = _position(both.l3_row, n_rows, localisation.edge_distance_mm)
        localisation.confidence = 0.0
        reasons.append("the windows see no L3, but the vertebra count places it here")
        localisation.view_levels_at_answer = _levels_at(counts, both.l3_row)
        return
    localisation.view_levels_at_answer = _levels_at(counts, ramp.l3_row)
    if not both.sound:
        reasons.extend(both.problems)
    else:
        reasons.extend(_count_disagreements(localisation.view_levels_at_answer))
        if float(both.levels[0]) > JUNCTION_LEVEL:
            reasons.append(
                "the scan starts below the last thoracic vertebra (T12): L3 can only be counted up from the sacrum, "
                "which a sixth lumbar vertebra would fool"
            )
    if not count_checkable(ramp.edge_distance_mm):
        reasons.append(_edge_reason(ramp.edge_distance_mm))
    if ramp.confidence < threshold:
        reasons.append(f"confidence {ramp.confidence:.2f} is below the model's threshold {threshold:.2f}")
    if _windows_scatter(ramp):
        reasons.append(_scatter_reason(ramp.window_spread_mm))
    if _on_a_disc(localisation):
        reasons.append(_disc_reason(localisation.vertebra_phase))
    if reasons:
        localisation.status = STATUS_UNCERTAIN


def decide_from_ramp_alone(localisation: Localisation, threshold: float) -> None:
    """A card without a vertebra count: the ramp's rules only."""
    ramp, reasons = localisation.ramp, localisation.reasons
    if ramp.l3_position in ("above_scan", "below_scan"):
        localisation.status = STATUS_NOT_IN_VIEW
        reasons.append("L3 lies above the scan" if ramp.l3_position == "above_scan" else "L3 lies below the scan")
    elif not count_checkable(ramp.edge_distance_mm):
        localisation.status = STATUS_UNCERTAIN
        reasons.append(_edge_reason(ramp.edge_distance_mm))
    elif ramp.confidence < threshold:
        localisation.status = STATUS_UNCERTAIN
        reasons.append(f"confidence {ramp.confidence:.2f} is below the model's threshold {threshold:.2f}")
    elif _windows_scatter(ramp):
        localisation.status = STATUS_UNCERTAIN
        reasons.append(_scatter_reason(ramp.window_spread_mm))
    elif _on_a_disc(localisation):
        localisation.status = STATUS_UNCERTAIN
        reasons.append(_disc_reason(localisation.vertebra_phase))


def _on_a_disc(localisation: Localisation) -> bool:
    return localisation.vertebra_phase is not None and localisation.vertebra_phase < MIN_VERTEBRA_PHASE


def _disc_reason(phase: float) -> str:
    return (
        f"the answer lies on a disc or an endplate, not on a vertebral body ({phase:.2f} of a vertebra from the nearest "
        f"disc in the projection, less than {MIN_VERTEBRA_PHASE:.2f}): it may be half a vertebra off"
    )


def _windows_scatter(ramp: RampMatch) -> bool:
    return ramp.window_spread_mm is not None and ramp.window_spread_mm > MAX_WINDOW_SPREAD_MM


def _scatter_reason(spread_mm: float) -> str:
    return (
        f"the windows holding L3 disagree on its row by {spread_mm:.1f} mm (median), more than "
        f"{MAX_WINDOW_SPREAD_MM:.1f} mm: the answer may be half a vertebra off"
    )


def _edge_reason(edge_distance_mm: float) -> str:
    # Whatever the confidence: the vertebra beyond this one is not wholly in the scan, so a cut L3 with its
    # neighbour taken for it cannot be ruled out (the chest CT that ends in the lumbar spine).
    return (
        f"L3's centre lies {edge_distance_mm:.0f} mm from the scan's edge, less than one vertebral level "
        f"({EDGE_FULL_CONFIDENCE_MM:.0f} mm): the count cannot be checked beyond it"
    )


def _count_disagreements(levels: dict[str, float | None]) -> list[str]:
    """Why the count's readings at the answer do not call it L3 (none when they do)."""
    apart = [_disagreement(name, level) for name, level in levels.items() if level is None or abs(level) > SINGLE_READING_LEVELS]
    if apart:
        return apart
    mean_level = float(np.mean(list(levels.values())))
    if abs(mean_level) > AGREEMENT_LEVELS:
        return [f"the vertebra count's readings make this {_level_words(mean_level)} on average"]
    return []


_READING_WORDS = {"both": "the vertebra count", "frontal_only": "the frontal view's count", "lateral_only": "the lateral view's count"}


def _disagreement(reading_name: str, level: float | None) -> str:
    who = _READING_WORDS[reading_name]
    if level is None:
        return f"{who} does not reach this level"
    return f"{who} makes this {_level_words(level)}"


def _level_words(level: float) -> str:
    from .vertebral_levels import usual_level_name

    return f"{usual_level_name(int(np.round(level)))} (level {level:+.1f} from L3)"


def _levels_at(counts: dict[str, CountReading], row: float) -> dict[str, float | None]:
    """Each reading's level at ``row``, where that reading found a sound spine covering it."""
    levels = {}
    for name in VIEW_VARIANTS:
        reading = counts.get(name)
        if reading is None:
            continue
        if not reading.sound or reading.region_rows is None:
            levels[name] = None
            continue
        levels[name] = round(float(np.interp(row, np.arange(len(reading.levels)), reading.levels)), 3)
    return levels


def _position(row: float, n_rows: int, edge_distance_mm: float) -> str:
    from .ramp_correlation import EDGE_SURELY_WHOLE_MM

    if edge_distance_mm >= EDGE_SURELY_WHOLE_MM:
        return "inside"
    return "at_superior_edge" if row < (n_rows - 1) / 2 else "at_inferior_edge"


def _mirrored_rows(localisation: Localisation, n_rows: int, height_px: int) -> Localisation:
    """A localisation found on the projection read upside down, in the original rows."""
    flip = lambda row: None if row is None else float(n_rows - 1 - row)  # noqa: E731
    swapped = {"above_scan": "below_scan", "below_scan": "above_scan", "at_superior_edge": "at_inferior_edge", "at_inferior_edge": "at_superior_edge"}
    localisation.l3_row = flip(localisation.l3_row)
    localisation.l3_position = swapped.get(localisation.l3_position, localisation.l3_position)
    # A window at flipped top t covers original rows n - t - H .. n - 1 - t, and says 1 - p from that top.
    localisation.tops = (n_rows - height_px - localisation.tops)[::-1].copy()
    localisation.predictions = 1.0 - localisation.predictions[::-1]
    localisation.upside_down = True
    localisation.reasons.insert(0, "the anatomy is upside down relative to the file's header (its superior axis points to the feet); it was read the other way up")
    if localisation.status == STATUS_FOUND:
        localisation.status = STATUS_UNCERTAIN
    return localisation
