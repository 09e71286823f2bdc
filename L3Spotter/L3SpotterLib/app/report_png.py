"""A picture of one detection: the MIP with the L3 line, and the window trace beside it on the same z axis.

Each window's prediction is drawn at the z of the window's centre, so the ramp of the windows that hold
L3 crosses 0.5 exactly on the L3 line. People check a detector by looking: a wrong answer shows up as a
ramp in the wrong place, a broken ramp, or no ramp at all. The vertebrae the count labels (T11 ... S1) are
marked along each MIP's edge, so a reviewer can check the count at a glance.

Drawn with Pillow, not a plotting library: a batch draws one picture per case, and this costs a few
tens of milliseconds where a matplotlib figure cost half a second to a second and a half (the "QC
picture" column of ``benchmarks/bench_speed.py``).
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import numpy as np

from ..result import DetectionResult
from ..windows import window_target

# The whole scan fits in about this many pixels of height, whatever its length (within these scales).
TARGET_SCAN_HEIGHT_PX = 600
PX_PER_MM_RANGE = (0.5, 1.5)
TRACE_WIDTH_PX = 220
MARGIN_LEFT_PX, MARGIN_RIGHT_PX, GAP_PX = 64, 16, 14
HEADER_LINE_PX, AXIS_LABELS_PX = 16, 84
CAPTION_CHARACTERS = 110
Z_TICK_MM = 50.0

BACKGROUND, INK, GRID = (255, 255, 255), (20, 20, 20), (180, 180, 180)
DETECTED, REFERENCE, LABELS = (220, 30, 30), (40, 200, 40), (255, 220, 0)
TRACE_POINTS, IDEAL_RAMP = (31, 119, 180), (255, 127, 14)


@dataclass(frozen=True)
class PictureLayout:
    """Where things go: z (RAS mm) to picture rows, and each panel's left edge and width in pixels."""

    z_top_mm: float
    z_bottom_mm: float
    px_per_mm: float
    top_px: int
    panels: tuple[tuple[int, int], ...]  # (left, width) per MIP, then the trace

    def y_of(self, z_mm: float) -> int:
        return int(round(self.top_px + (self.z_top_mm - z_mm) * self.px_per_mm))

    @property
    def bottom_px(self) -> int:
        return self.y_of(self.z_bottom_mm)


def layout_for(result: DetectionResult, header_lines: int) -> PictureLayout:
    projections = result.projection or []
    if projections:
        reference = projections[0]
        z_top, z_bottom = reference.z_top_ras_mm, float(reference.row_to_z_ras_mm(reference.n_rows - 1))
    elif result.trace is not None and result.trace.window_top_z_ras_mm:
        z_top, z_bottom = max(result.trace.window_top_z_ras_mm), min(result.trace.window_top_z_ras_mm)
    else:
        z_top, z_bottom = 0.0, -1.0
    px_per_mm = float(np.clip(TARGET_SCAN_HEIGHT_PX / max(z_top - z_bottom, 1.0), *PX_PER_MM_RANGE))
    panels, left = [], MARGIN_LEFT_PX
    for projection in projections:
        width = int(round(projection.pixels.shape[1] * projection.row_mm * px_per_mm))
        panels.append((left, width))
        left += width + GAP_PX
    panels.append((left, TRACE_WIDTH_PX))
    return PictureLayout(z_top, z_bottom, px_per_mm, header_lines * HEADER_LINE_PX + 24, tuple(panels))


def render_result_png(result: DetectionResult, reference_z_ras_mm: float | None = None) -> bytes:
    """PNG bytes: each view's MIP with the detected (and reference) L3 line, and the window trace."""
    from PIL import Image, ImageDraw, ImageFont

    caption = caption_lines(result)
    layout = layout_for(result, len(caption))
    trace_left, trace_width = layout.panels[-1]
    size = (trace_left + trace_width + MARGIN_RIGHT_PX, layout.bottom_px + AXIS_LABELS_PX)
    picture = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(picture)
    font, small = ImageFont.load_default(size=12), ImageFont.load_default(size=10)

    for index, line in enumerate(caption):
        draw.text((MARGIN_LEFT_PX, 4 + index * HEADER_LINE_PX), line, fill=INK, font=font)
    for projection, (left, width) in zip(result.projection or [], layout.panels):
        _draw_mip(picture, draw, projection, left, width, layout)
        draw.text((left, layout.top_px - 16), f"{projection.view} MIP", fill=INK, font=font)
    _draw_z_axis(draw, layout, small)
    _draw_trace(draw, result, trace_left, trace_width, layout, small, font)
    _draw_legend(draw, result, reference_z_ras_mm, trace_left, layout.bottom_px + 34, small)
    for left, width in layout.panels:
        _draw_levels(draw, result, reference_z_ras_mm, left, width, layout)
    for left, width in layout.panels[:-1]:  # over the lines, so that the label at L3 stays readable
        _draw_vertebra_labels(draw, result, left + width, layout, small)

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False, compress_level=3)
    return buffer.getvalue()


def caption_lines(result: DetectionResult) -> list[str]:
    name = result.input if len(result.input) < 90 else "..." + result.input[-87:]
    return [name, *textwrap.wrap(result.summary(), CAPTION_CHARACTERS)]


def _draw_mip(picture, draw, projection, left: int, width: int, layout: PictureLayout) -> None:
    from PIL import Image

    height = layout.bottom_px - layout.top_px + 1
    gray = Image.fromarray(np.clip(projection.pixels * 255.0, 0, 255).astype(np.uint8), mode="L")
    picture.paste(gray.resize((width, height), Image.Resampling.BILINEAR).convert("RGB"), (left, layout.top_px))
    draw.rectangle((left - 1, layout.top_px - 1, left + width, layout.bottom_px + 1), outline=GRID)
    draw.text((left, layout.bottom_px + 6), f"{projection.pixels.shape[1] * projection.row_mm:.0f} mm wide", fill=INK)


def _draw_z_axis(draw, layout: PictureLayout, font) -> None:
    first = np.ceil(layout.z_bottom_mm / Z_TICK_MM) * Z_TICK_MM
    for z in np.arange(first, layout.z_top_mm + 1e-6, Z_TICK_MM):
        y = layout.y_of(z)
        draw.line((MARGIN_LEFT_PX - 6, y, MARGIN_LEFT_PX - 2, y), fill=INK)
        draw.text((MARGIN_LEFT_PX - 8, y), f"{z:.0f}", fill=INK, font=font, anchor="rm")
    draw.text((4, layout.top_px - 16), "z (RAS, mm)", fill=INK, font=font)


def _draw_levels(draw, result: DetectionResult, reference_z_ras_mm, left: int, width: int, layout: PictureLayout) -> None:
    if result.l3_z_ras_mm is not None:
        y = layout.y_of(result.l3_z_ras_mm)
        draw.line((left, y, left + width, y), fill=DETECTED, width=2)
    if reference_z_ras_mm is not None:
        y = layout.y_of(reference_z_ras_mm)
        for start in range(left, left + width, 10):  # dashed
            draw.line((start, y, min(start + 6, left + width), y), fill=REFERENCE, width=2)


def _draw_vertebra_labels(draw, result: DetectionResult, right: int, layout: PictureLayout, font) -> None:
    """A tick and the name of each vertebra the count labels, at its centre, along the image's right edge."""
    for name, vertebra in (result.vertebrae or {}).items():
        y = layout.y_of(vertebra["z_ras_mm"])
        draw.line((right - 16, y, right - 3, y), fill=LABELS, width=2)
        draw.text((right - 19, y), name, fill=LABELS, font=font, anchor="rm")


def _draw_trace(draw, result: DetectionResult, left: int, width: int, layout: PictureLayout, font, title_font) -> None:
    top, bottom = layout.top_px, layout.bottom_px
    draw.rectangle((left, top, left + width, bottom), outline=GRID)
    draw.text((left, top - 16), "window trace", fill=INK, font=title_font)
    x_of = lambda fraction: left + int(round(float(np.clip(fraction, -0.05, 1.05) + 0.05) / 1.1 * width))  # noqa: E731
    draw.line((x_of(0.5), top, x_of(0.5), bottom), fill=GRID)
    for fraction in (0.0, 0.5, 1.0):
        draw.text((x_of(fraction), bottom + 4), f"{fraction:g}", fill=INK, font=font, anchor="mt")
    draw.text((left, bottom + 18), "L3 in the window: 0 top, 1 bottom", fill=INK, font=font)
    if result.trace is None:
        return
    tops_z = np.asarray(result.trace.window_top_z_ras_mm, dtype=float)
    centres_z = tops_z - result.trace.window_height_mm / 2.0
    visible = (centres_z <= layout.z_top_mm) & (centres_z >= layout.z_bottom_mm)
    if result.l3_z_ras_mm is not None:
        ideal = window_target(-result.l3_z_ras_mm, -tops_z, result.trace.window_height_mm)
        points = [(x_of(p), layout.y_of(z)) for p, z in zip(ideal[visible], centres_z[visible])]
        if len(points) > 1:
            draw.line(points, fill=IDEAL_RAMP, width=2)
    for fraction, z in zip(np.asarray(result.trace.predicted_fraction)[visible], centres_z[visible]):
        x, y = x_of(fraction), layout.y_of(z)
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=TRACE_POINTS)



def _draw_legend(draw, result: DetectionResult, reference_z_ras_mm, left: int, top: int, font) -> None:
    entries = [("CNN, per window (dots)", TRACE_POINTS)]
    if result.l3_z_ras_mm is not None:
        entries += [("ideal ramp at the answer", IDEAL_RAMP), ("L3, detected", DETECTED)]
    if reference_z_ras_mm is not None:
        entries.append(("L3, reference (dashed)", REFERENCE))
    for index, (words, colour) in enumerate(entries):
        y = top + index * 13
        draw.line((left, y + 6, left + 14, y + 6), fill=colour, width=2)
        draw.text((left + 20, y), words, fill=INK, font=font)
