"""A picture of one detection: the MIP with the L3 line, and the window trace beside it on the same z axis.

Each window's prediction is drawn at the z of the window's centre, so the ramp of the windows that hold
L3 crosses 0.5 exactly on the L3 line. People check a detector by looking: a wrong answer shows up as a
ramp in the wrong place, a broken ramp, or no ramp at all. The vertebrae the count labels (T11 ... S1) are
marked along each MIP's edge, so a reviewer can check the count at a glance.
"""

from __future__ import annotations

import io

import numpy as np

from ..atomic_files import atomic_write_bytes
from ..result import DetectionResult
from ..windows import window_target


def render_result_png(result: DetectionResult, reference_z_ras_mm: float | None = None, dpi: int = 100) -> bytes:
    """PNG bytes: each view's MIP with the detected (and reference) L3 line, and the window trace."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    projections = result.projection or []
    n_images = len(projections)
    # The MIP keeps its true proportions through the figure's shape (aspect "auto" lets the trace share
    # the MIP's z axis exactly).
    height_in = 6.4
    if projections:
        reference = projections[0]
        extent_ratio = reference.n_rows / reference.pixels.shape[1]
        height_in = float(np.clip(3.0 * extent_ratio, 3.5, 9.0)) + 1.4
    figure = Figure(figsize=(3.2 * n_images + 3.2, height_in), dpi=dpi, layout="constrained")
    axes = figure.subplots(1, n_images + 1, sharey=True, width_ratios=[1.0] * n_images + [0.8]) if n_images else [figure.subplots()]
    axes = np.atleast_1d(axes)

    for axis, projection in zip(axes, projections):
        z_top = projection.z_top_ras_mm
        z_bottom = float(projection.row_to_z_ras_mm(projection.n_rows - 1))
        width_mm = projection.pixels.shape[1] * projection.row_mm
        axis.imshow(projection.pixels, cmap="gray", vmin=0, vmax=1, aspect="auto", extent=(0, width_mm, z_bottom, z_top))
        axis.set_title(f"{projection.view} MIP")
        axis.set_xlabel("mm")
        _draw_levels(axis, result, reference_z_ras_mm)
        _draw_vertebra_labels(axis, result, width_mm)
    axes[0].set_ylabel("z (RAS, mm)")
    if projections:
        z_low = float(projections[0].row_to_z_ras_mm(projections[0].n_rows - 1))
        axes[0].set_ylim(z_low, projections[0].z_top_ras_mm)  # the scan, not the padded windows

    trace_axis = axes[-1]
    if result.trace is not None:
        tops_z = np.asarray(result.trace.window_top_z_ras_mm)
        centres_z = tops_z - result.trace.window_height_mm / 2.0
        predicted = np.asarray(result.trace.predicted_fraction)
        trace_axis.plot(predicted, centres_z, ".", markersize=3, color="tab:blue", label="CNN, per window")
        if result.l3_z_ras_mm is not None:
            ideal = window_target(-result.l3_z_ras_mm, -tops_z, result.trace.window_height_mm)
            trace_axis.plot(ideal, centres_z, "-", color="tab:orange", linewidth=1.2, label="ideal ramp at L3")
        trace_axis.axvline(0.5, color="0.7", linewidth=0.8)
        trace_axis.set_xlim(-0.05, 1.05)
        trace_axis.set_xlabel("L3 position in the window\n(0 = top, 1 = bottom), at window centre")
        trace_axis.set_title("window trace")
        _draw_levels(trace_axis, result, reference_z_ras_mm)
        trace_axis.legend(loc="lower right", fontsize=7)
    figure.suptitle(_title(result), fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_result_png(path, result: DetectionResult, reference_z_ras_mm: float | None = None) -> None:
    atomic_write_bytes(path, render_result_png(result, reference_z_ras_mm))


def _draw_levels(axis, result: DetectionResult, reference_z_ras_mm: float | None) -> None:
    if result.l3_z_ras_mm is not None:
        axis.axhline(result.l3_z_ras_mm, color="red", linewidth=1.2, label="L3 (detected)")
    if reference_z_ras_mm is not None:
        axis.axhline(reference_z_ras_mm, color="lime", linewidth=1.2, linestyle="--", label="L3 (reference)")


def _draw_vertebra_labels(axis, result: DetectionResult, width_mm: float) -> None:
    """A tick and the name of each vertebra the count labels, at its centre, along the image's right edge."""
    for name, vertebra in (result.vertebrae or {}).items():
        z = vertebra["z_ras_mm"]
        axis.plot([width_mm - 22.0, width_mm - 4.0], [z, z], color="yellow", linewidth=1.0)
        axis.text(width_mm - 24.0, z, name, color="yellow", fontsize=7, ha="right", va="center")


def _title(result: DetectionResult) -> str:
    name = result.input if len(result.input) < 70 else "..." + result.input[-67:]
    return f"{name}\n{result.summary()}"
