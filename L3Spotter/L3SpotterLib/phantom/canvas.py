"""The volume being drawn: a float32 HU array, a uint8 label array and where their voxels lie.

Shapes are painted with soft edges: a voxel whose centre lies at signed distance ``d`` from a surface
gets the fraction ``clip(0.5 - d / edge_mm, 0, 1)`` of the new tissue, where ``edge_mm`` is the voxel
size. That is a cheap stand-in for the partial-volume effect, which is what makes a 1 mm cortex look
like 400-800 HU rather than 1200 HU in a 3 mm scan and in its MIP.

Each shape is evaluated only inside the voxel box that bounds it, in slabs of slices so that large
shapes (the body) never need more than a few million voxels of scratch memory at a time.
Arrays are indexed ``[k, j, i]`` like SimpleITK.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .primitives import Primitive

# Soft-edge width in voxels. 1 keeps thin cortex at its physical partial-volume value (a 1 mm shell
# reads about a third of its HU contrast in 3 mm voxels, as in real scans).
EDGE_VOXELS = 1.0
# Edge length of the periodic bone-texture tile, in 1 mm cells.
_TILE = 48
# Distance that stands for "far outside every part" in scratch buffers (mm).
_FAR_MM = 1.0e4
# Upper bound on the voxels of one slab of scratch arrays.
_SLAB_VOXELS = 2_000_000


@dataclass
class Structure:
    """A named set of primitives painted as one union with layered tissue.

    ``layers`` run from the surface inwards: ``[(thickness_mm, hu), ..., (None, hu_inside)]``. A bone
    is ``[(cortex_mm, cortical_hu), (None, cancellous_hu)]``; plain soft tissue is ``[(None, hu)]``.
    ``label`` (VerSe id, 0 for none) is written where the union's distance is negative.
    ``in_scanner_frame`` places the primitives in scanner RAS rather than the patient's anatomy frame
    (the table does not turn with the patient).
    """

    name: str
    parts: list[Primitive]
    layers: list[tuple[float | None, float]]
    label: int = 0
    in_scanner_frame: bool = False
    metal: bool = False
    # Relative amplitude of trabecular texture (0 = uniform tissue): bone is not a uniform solid, and
    # a MIP picks out its densest spots.
    texture: float = 0.0
    # Grain elongation along ``texture_axis`` (anatomy frame; default the patient's z): trabeculae run
    # along the lines of load (head to foot in vertebrae, fanning up from the hip in the ilium), so a
    # MIP shows streaks rather than speckles.
    texture_stretch: float = 1.0
    texture_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    meta: dict = field(default_factory=dict)


Box = tuple[int, int, int, int, int, int]  # k0, k1, j0, j1, i0, i1 (half-open)


class Canvas:
    """HU and label arrays on the scan grid, with the maps voxel -> scanner RAS -> patient anatomy."""

    def __init__(self, shape_kji, ijk_to_ras, anatomy_to_ras, background_hu: float):
        self.shape_kji = tuple(int(n) for n in shape_kji)
        self.hu = np.full(self.shape_kji, np.float32(background_hu), dtype=np.float32)
        self.labels = np.zeros(self.shape_kji, dtype=np.uint8)
        self.metal_mask_boxes: list[Box] = []
        self.texture_tile: np.ndarray | None = None  # set by set_texture_seed
        self.ijk_to_ras = np.asarray(ijk_to_ras, dtype=float)
        self.ijk_to_anatomy = np.linalg.inv(np.asarray(anatomy_to_ras, dtype=float)) @ self.ijk_to_ras
        spacing = np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)
        self.spacing_mm = spacing
        # Soft-edge width: the voxel's geometric mean size (a box average, like resampling a thin-slice
        # scan), so thin slices and coarse pixels both count.
        self.edge_mm = EDGE_VOXELS * float(np.prod(spacing) ** (1.0 / 3.0))
        # With thick slices (2.5 mm slices of 0.7 mm pixels) one edge width cannot serve every surface:
        # a rib cut by a slice needs the slice's width, its side the pixel's. Then the width is taken
        # per voxel from the distance field's gradient in voxel steps (see _edge_width).
        self.anisotropic = float(spacing.max() / spacing.min()) > 1.3

    def set_texture_seed(self, seed: int) -> None:
        """Make the periodic bone-texture tile (1 mm cells, zero mean, unit sd, heavy bright tail).

        Grains of 3-5 mm: finer texture would alias into salt-and-pepper at 2-3 mm voxels, which real
        scans (which average their fine trabeculae over the voxel) do not show.
        """
        from scipy import ndimage

        rng = np.random.default_rng(seed)
        tile = ndimage.gaussian_filter(rng.standard_normal((_TILE,) * 3).astype(np.float32), 2.0, mode="wrap")
        tile /= tile.std()
        tile = tile + 0.3 * tile**3  # sparse dense spots, like sclerotic trabeculae
        self.texture_tile = ((tile - tile.mean()) / tile.std()).astype(np.float32)

    def _texture(self, slab: Box, in_scanner_frame: bool, stretch: float = 1.0, axis=(0.0, 0.0, 1.0)):
        x, y, z = self.frame_coordinates(slab, in_scanner_frame)
        if stretch != 1.0:
            # shrink the coordinate along the axis: the grain grows ``stretch`` times longer along it
            ax, ay, az = (np.float32(v) for v in np.asarray(axis, dtype=float) / np.linalg.norm(axis))
            along = (x * ax + y * ay + z * az) * np.float32(1.0 / stretch - 1.0)
            x, y, z = x + along * ax, y + along * ay, z + along * az
        tile = self.texture_tile
        return tile[
            np.floor(x).astype(np.int32) % _TILE,
            np.floor(y).astype(np.int32) % _TILE,
            np.floor(z).astype(np.int32) % _TILE,
        ]

    # ----------------------------------------------------------------------------------------------
    # Geometry helpers
    def _ijk_to_frame(self, in_scanner_frame: bool) -> np.ndarray:
        return self.ijk_to_ras if in_scanner_frame else self.ijk_to_anatomy

    def bounding_box(self, primitive: Primitive, in_scanner_frame: bool = False) -> Box | None:
        """Voxel box (clipped to the volume) that contains ``primitive`` plus one soft edge."""
        low, high = (np.asarray(b, dtype=float) for b in primitive.bounds_local)
        margin = self.edge_mm
        corners = np.array(list(itertools.product(*zip(low - margin, high + margin))))
        local_to_ijk = np.linalg.inv(primitive.to_local @ self._ijk_to_frame(in_scanner_frame))
        ijk = corners @ local_to_ijk[:3, :3].T + local_to_ijk[:3, 3]
        first = np.floor(ijk.min(axis=0)).astype(int)
        last = np.ceil(ijk.max(axis=0)).astype(int) + 1
        shape_ijk = self.shape_kji[::-1]
        first = np.maximum(first, 0)
        last = np.minimum(last, shape_ijk)
        if np.any(last <= first):
            return None
        return (first[2], last[2], first[1], last[1], first[0], last[0])

    def local_coordinates(self, primitive: Primitive, box: Box, in_scanner_frame: bool = False):
        """Primitive-local x, y, z (float32 mm) of the voxel centres in ``box``, each shaped like it."""
        k0, k1, j0, j1, i0, i1 = box
        matrix = primitive.to_local @ self._ijk_to_frame(in_scanner_frame)
        i = np.arange(i0, i1, dtype=np.float32)
        j = np.arange(j0, j1, dtype=np.float32)
        k = np.arange(k0, k1, dtype=np.float32)
        coords = []
        for row in range(3):
            m = [float(v) for v in matrix[row]]
            coords.append(
                (m[0] * i)[None, None, :] + (m[1] * j)[None, :, None] + (m[2] * k + np.float32(m[3]))[:, None, None]
            )
        return coords

    def frame_coordinates(self, box: Box, in_scanner_frame: bool = False):
        """Anatomy-frame (or scanner RAS) x, y, z of the voxel centres in ``box``."""
        identity = _Identity()
        return self.local_coordinates(identity, box, in_scanner_frame)

    def slabs(self, box: Box):
        """Split ``box`` along k into slabs of at most ``_SLAB_VOXELS`` voxels."""
        k0, k1, j0, j1, i0, i1 = box
        per_slice = max(1, (j1 - j0) * (i1 - i0))
        step = max(1, _SLAB_VOXELS // per_slice)
        for start in range(k0, k1, step):
            yield (start, min(k1, start + step), j0, j1, i0, i1)

    # ----------------------------------------------------------------------------------------------
    # Painting
    def occupancy(self, distance_mm, edge_mm=None):
        """Fraction of a voxel inside a surface at signed distance ``distance_mm`` (negative inside).

        ``edge_mm`` (scalar or array like the distance) overrides the canvas's soft-edge width.
        """
        if edge_mm is None:
            return np.clip(np.float32(0.5) - distance_mm * np.float32(1.0 / self.edge_mm), 0.0, 1.0)
        return np.clip(np.float32(0.5) - distance_mm / edge_mm, 0.0, 1.0)

    def _edge_width(self, distance):
        """Per-voxel soft-edge width: how much the distance changes over one voxel step.

        For a true distance field this is ``sqrt(sum((n_a * spacing_a)^2))`` with ``n`` the surface
        normal: the projection of the voxel onto the normal, i.e. the box over which the scanner and
        the slice profile average the surface.
        """
        if min(distance.shape) < 2:
            return np.float32(self.edge_mm)
        gk, gj, gi = np.gradient(distance)
        width = np.sqrt(gk * gk + gj * gj + gi * gi)
        return np.clip(width, np.float32(self.spacing_mm.min()), np.float32(self.spacing_mm.max()))

    def blend(self, box: Box, fraction, hu: float) -> None:
        """Mix ``fraction`` (0..1, shaped like ``box``) of tissue ``hu`` into the volume."""
        k0, k1, j0, j1, i0, i1 = box
        region = self.hu[k0:k1, j0:j1, i0:i1]
        region += fraction * (np.float32(hu) - region)

    def union_distance(self, parts: list[Primitive], in_scanner_frame: bool = False, first_layer_mm: float = 0.0):
        """Yield ``(slab_box, distance, shifted)`` for the union of ``parts`` over their common box.

        ``distance`` is the union's signed distance; ``shifted`` is ``min(d_part + (factor - 1) *
        first_layer_mm)``, whose ``first_layer_mm`` offset bounds the outer layer with each part's own
        thickness. It is ``distance`` itself when every factor is 1.
        """
        boxes = [self.bounding_box(p, in_scanner_frame) for p in parts]
        placed = [(p, b) for p, b in zip(parts, boxes) if b is not None]
        if not placed:
            return
        union = (
            min(b[0] for _, b in placed), max(b[1] for _, b in placed),
            min(b[2] for _, b in placed), max(b[3] for _, b in placed),
            min(b[4] for _, b in placed), max(b[5] for _, b in placed),
        )
        thick_parts = first_layer_mm > 0 and any(p.shell_factor != 1.0 for p, _ in placed)
        for slab in self.slabs(union):
            # "far outside" is a large finite number so that gradients of the field stay finite
            distance = np.full((slab[1] - slab[0], slab[3] - slab[2], slab[5] - slab[4]), _FAR_MM, dtype=np.float32)
            shifted = np.full_like(distance, _FAR_MM) if thick_parts else distance
            for primitive, box in placed:
                sub = _intersect(box, slab)
                if sub is None:
                    continue
                x, y, z = self.local_coordinates(primitive, sub, in_scanner_frame)
                view = distance[
                    sub[0] - slab[0] : sub[1] - slab[0],
                    sub[2] - slab[2] : sub[3] - slab[2],
                    sub[4] - slab[4] : sub[5] - slab[4],
                ]
                d_part = primitive.sdf(x, y, z).astype(np.float32, copy=False)
                np.minimum(view, d_part, out=view)
                if thick_parts:
                    shifted_view = shifted[
                        sub[0] - slab[0] : sub[1] - slab[0],
                        sub[2] - slab[2] : sub[3] - slab[2],
                        sub[4] - slab[4] : sub[5] - slab[4],
                    ]
                    offset = np.float32((primitive.shell_factor - 1.0) * first_layer_mm)
                    np.minimum(shifted_view, d_part + offset, out=shifted_view)
            yield slab, distance, shifted

    def paint(self, structure: Structure) -> None:
        """Paint one structure: layered tissue from its surface inwards, and its label."""
        first_layer_mm = structure.layers[0][0] or 0.0
        for slab, distance, shifted in self.union_distance(structure.parts, structure.in_scanner_frame, first_layer_mm):
            k0, k1, j0, j1, i0, i1 = slab
            region = self.hu[k0:k1, j0:j1, i0:i1]
            edge = self._edge_width(distance) if self.anisotropic else None
            outer = self.occupancy(distance, edge)
            if not np.any(outer):
                continue
            mixed = region * (1.0 - outer)
            texture = None
            if structure.texture and self.texture_tile is not None:
                texture = np.float32(structure.texture) * self._texture(slab, structure.in_scanner_frame, structure.texture_stretch, structure.texture_axis)
            depth_mm = 0.0
            for n, (thickness_mm, hu) in enumerate(structure.layers):
                value = np.float32(hu)
                if texture is not None:
                    value = value * (1.0 + (0.5 if n == 0 and thickness_mm is not None else 1.0) * texture)
                if thickness_mm is None:
                    mixed += value * outer
                    break
                depth_mm += thickness_mm
                inner = self.occupancy(shifted + np.float32(depth_mm), edge)
                mixed += value * (outer - inner)
                outer = inner
            region[...] = mixed
            if structure.label:
                self.labels[k0:k1, j0:j1, i0:i1][distance < 0] = structure.label
            if structure.metal:
                self.metal_mask_boxes.append(slab)


class _Identity(Primitive):
    to_local = np.eye(4)
    bounds_local = (np.zeros(3), np.zeros(3))


def _intersect(a: Box, b: Box) -> Box | None:
    out = (max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3]), max(a[4], b[4]), min(a[5], b[5]))
    if out[1] <= out[0] or out[3] <= out[2] or out[5] <= out[4]:
        return None
    return out
