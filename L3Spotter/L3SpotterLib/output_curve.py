"""Undo the network's measured distortion of its window predictions before the ramp is matched.

A trained network's prediction is monotone in the true target but need not be linear: a model trained
with dropout in its head (commit ac4cb91) over-predicted windows whose L3 sits near their top and
under-predicted those whose L3 sits near their bottom, by up to 0.026 of a window (8 mm), unevenly. The
ramp correlation then sees a bent ramp, and its best row shifts by a few mm; as the shift is the same on
every scan, it is a bias (README, "Where the bias came from").

The card's ``output_curve`` records, on validation phantoms, the mean prediction at each true target:
knots ``raw`` (mean prediction) -> ``target`` (true fraction), both increasing. Inference maps every
prediction through the curve's inverse, piecewise-linearly, which straightens the ramp on average. A card
without a curve leaves the predictions as they are. ``training.fit_output_curve`` fits the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OutputCurve:
    """Monotone knots mapping a raw window prediction to the target it stands for."""

    raw: tuple[float, ...]
    target: tuple[float, ...]

    def __post_init__(self):
        problems = curve_problems(self.raw, self.target)
        if problems:
            raise ValueError("invalid output curve: " + "; ".join(problems))

    def apply(self, predictions: np.ndarray) -> np.ndarray:
        """Corrected predictions; beyond the end knots they take the end targets (0 and 1)."""
        return np.interp(np.asarray(predictions, dtype=float), self.raw, self.target).astype(np.float32)

    def to_dict(self) -> dict:
        return {"raw": [round(v, 5) for v in self.raw], "target": [round(v, 5) for v in self.target]}


def curve_problems(raw, target) -> list[str]:
    """What is wrong with these knots (empty when they make a valid curve)."""
    raw, target = np.asarray(raw, dtype=float), np.asarray(target, dtype=float)
    if raw.ndim != 1 or raw.shape != target.shape or len(raw) < 2:
        return ["raw and target must be lists of the same length, at least 2"]
    problems = []
    if not np.all(np.isfinite(raw)) or not np.all(np.isfinite(target)):
        problems.append("knots must be finite")
    if np.any(np.diff(raw) <= 0):
        problems.append("raw knots must be strictly increasing")
    if np.any(np.diff(target) < 0):
        problems.append("target knots must not decrease")
    if target.min() < 0 or target.max() > 1:
        problems.append("target knots must lie in [0, 1]")
    return problems


def curve_from_card_field(field: dict | None) -> OutputCurve | None:
    """The curve stored in a card's ``output_curve`` field; None when the card has none."""
    if not field:
        return None
    return OutputCurve(raw=tuple(float(v) for v in field["raw"]), target=tuple(float(v) for v in field["target"]))


def correct_predictions(predictions: np.ndarray, curve: OutputCurve | None) -> np.ndarray:
    return predictions if curve is None else curve.apply(predictions)
