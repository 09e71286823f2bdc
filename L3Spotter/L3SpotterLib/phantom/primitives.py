"""Signed-distance primitives that the phantom is built from.

Every primitive lives in its own *local* frame (mm) and knows:

* ``to_local``: the 4x4 matrix from the frame it is placed in (the patient's anatomy frame, or the
  scanner's RAS frame for the table) to its local frame;
* ``bounds_local``: ``(low, high)`` corners of a local box that contains the whole shape;
* ``sdf(x, y, z)``: an approximate signed distance in mm (negative inside) at local coordinates given
  as broadcastable float32 arrays.

The anatomy frame is RAS-oriented: +x towards the patient's right, +y anterior, +z superior, in mm.
Distances are first-order approximations (exact on the surface, good to a fraction of a millimetre
within a voxel of it), which is all the soft-edged rasteriser needs.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-6


def unit(vector) -> np.ndarray:
    """``vector`` scaled to length 1; a zero vector becomes +z so that frames stay valid."""
    vector = np.asarray(vector, dtype=float)
    norm = np.linalg.norm(vector)
    if norm < _EPS:
        return np.array([0.0, 0.0, 1.0])
    return vector / norm


def frame_matrix(origin, z_axis, y_hint=(0.0, 1.0, 0.0)) -> np.ndarray:
    """4x4 local->parent matrix: local z along ``z_axis``, local y as close to ``y_hint`` as possible."""
    ez = unit(z_axis)
    ex = np.cross(np.asarray(y_hint, dtype=float), ez)
    if np.linalg.norm(ex) < 1e-3:  # y_hint parallel to z: pick any perpendicular
        ex = np.cross((1.0, 0.0, 0.0), ez) if abs(ez[0]) < 0.9 else np.cross((0.0, 0.0, 1.0), ez)
    ex = unit(ex)
    ey = np.cross(ez, ex)
    matrix = np.eye(4)
    matrix[:3, 0], matrix[:3, 1], matrix[:3, 2] = ex, ey, ez
    matrix[:3, 3] = np.asarray(origin, dtype=float)
    return matrix


def transform_points(matrix, points) -> np.ndarray:
    points = np.atleast_2d(np.asarray(points, dtype=float))
    return points @ matrix[:3, :3].T + matrix[:3, 3]


class Primitive:
    """Base class: subclasses set ``to_local`` and ``bounds_local`` and implement ``sdf``."""

    to_local: np.ndarray
    bounds_local: tuple[np.ndarray, np.ndarray]
    # Multiplies the outer layer's thickness for this part of a union (the cortex of a pedicle is
    # thicker than that of a vertebral body): see Canvas.paint.
    shell_factor: float = 1.0

    def thick(self, factor: float) -> "Primitive":
        """Set ``shell_factor`` and return self (for building part lists inline)."""
        self.shell_factor = float(factor)
        return self

    def sdf(self, x, y, z):  # pragma: no cover - interface
        raise NotImplementedError


class Ellipsoid(Primitive):
    """Ellipsoid with semi-axes ``radii_mm`` along the local axes of ``frame`` (local->parent)."""

    def __init__(self, frame, radii_mm):
        self.radii = np.asarray(radii_mm, dtype=float)
        self.to_local = np.linalg.inv(frame)
        self.bounds_local = (-self.radii, self.radii.copy())

    @classmethod
    def at(cls, centre, radii_mm, z_axis=(0, 0, 1), y_hint=(0, 1, 0)):
        return cls(frame_matrix(centre, z_axis, y_hint), radii_mm)

    def sdf(self, x, y, z):
        a, b, c = (float(r) for r in self.radii)
        u, v, w = x / a, y / b, z / c
        r = np.sqrt(u * u + v * v + w * w)
        # First-order distance (r - 1) / |grad r|: accurate near the surface even for flat shapes.
        gx, gy, gz = u / a, v / b, w / c
        grad = np.sqrt(gx * gx + gy * gy + gz * gz)
        # r / |grad r| lies between the smallest and largest semi-axis; the clip keeps the centre at
        # depth min(radii) instead of 0.
        scale = np.clip(r / np.maximum(grad, _EPS), min(a, b, c), max(a, b, c))
        return (r - 1.0) * scale


class SuperEllipticCylinder(Primitive):
    """A rounded-rectangle cylinder along local z: a vertebral body, a disc, a slab of sacrum.

    In-plane shape ``|x/a|^n + |y/b|^n = 1`` with ``b = b_anterior`` for y > 0 and ``b_posterior`` for
    y < 0; height ``2 * half_height_mm``. ``waist`` narrows the middle (vertebral bodies are concave).
    """

    def __init__(self, frame, a_mm, b_anterior_mm, b_posterior_mm, half_height_mm, exponent=2.5, waist=0.0):
        self.a, self.b_ant, self.b_post = float(a_mm), float(b_anterior_mm), float(b_posterior_mm)
        self.half_height = float(half_height_mm)
        self.exponent = float(exponent)
        self.waist = float(waist)
        self.to_local = np.linalg.inv(frame)
        self.bounds_local = (
            np.array([-self.a, -self.b_post, -self.half_height]),
            np.array([self.a, self.b_ant, self.half_height]),
        )

    def sdf(self, x, y, z):
        n = self.exponent
        scale = 1.0 - self.waist * (1.0 - np.minimum((z / self.half_height) ** 2, 1.0))
        a = self.a * scale
        b = np.where(y > 0, self.b_ant, self.b_post) * scale
        ax, ay = np.abs(x) / a, np.abs(y) / b
        r = (ax**n + ay**n) ** (1.0 / n)
        r_safe = np.maximum(r, _EPS)
        common = r_safe ** (1.0 - n)
        gx = common * np.maximum(ax, _EPS) ** (n - 1.0) / a
        gy = common * np.maximum(ay, _EPS) ** (n - 1.0) / b
        d_radial = (r - 1.0) / np.maximum(np.sqrt(gx * gx + gy * gy), _EPS)
        d_axial = np.abs(z) - self.half_height
        outside = np.sqrt(np.maximum(d_radial, 0.0) ** 2 + np.maximum(d_axial, 0.0) ** 2)
        return outside + np.minimum(np.maximum(d_radial, d_axial), 0.0)


class Capsule(Primitive):
    """A tapered tube from ``p0`` to ``p1`` (parent coordinates) with radii ``r0`` and ``r1`` in mm."""

    def __init__(self, p0, p1, r0_mm, r1_mm=None):
        self.p0 = np.asarray(p0, dtype=float)
        self.p1 = np.asarray(p1, dtype=float)
        self.r0 = float(r0_mm)
        self.r1 = float(r0_mm if r1_mm is None else r1_mm)
        self.to_local = np.eye(4)
        radius = max(self.r0, self.r1)
        self.bounds_local = (np.minimum(self.p0, self.p1) - radius, np.maximum(self.p0, self.p1) + radius)
        axis = self.p1 - self.p0
        self.axis = axis
        self.length_sq = max(float(axis @ axis), _EPS)

    def sdf(self, x, y, z):
        dx, dy, dz = x - self.p0[0], y - self.p0[1], z - self.p0[2]
        ax, ay, az = (float(v) for v in self.axis)
        t = np.clip((dx * ax + dy * ay + dz * az) / self.length_sq, 0.0, 1.0)
        ex, ey, ez = dx - t * ax, dy - t * ay, dz - t * az
        return np.sqrt(ex * ex + ey * ey + ez * ez) - (self.r0 + t * (self.r1 - self.r0))


class RoundedBox(Primitive):
    """A box with half sizes ``half_mm`` (local x, y, z) and edges rounded by ``rounding_mm``."""

    def __init__(self, frame, half_mm, rounding_mm=1.0):
        self.half = np.asarray(half_mm, dtype=float)
        self.rounding = float(rounding_mm)
        self.to_local = np.linalg.inv(frame)
        self.bounds_local = (-self.half - self.rounding, self.half + self.rounding)

    def sdf(self, x, y, z):
        qx = np.abs(x) - self.half[0]
        qy = np.abs(y) - self.half[1]
        qz = np.abs(z) - self.half[2]
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2 + np.maximum(qz, 0) ** 2)
        inside = np.minimum(np.maximum(np.maximum(qx, qy), qz), 0.0)
        return outside + inside - self.rounding


class Plate(Primitive):
    """A flat plate: a convex polygon (3-D points, nearly coplanar) thickened by ``half_thickness_mm``.

    Used for the iliac wings and scapulae, which are thin sheets of bone seen edge-on or obliquely in a
    MIP. The polygon is projected onto its best-fit plane; vertices must go round its boundary.
    """

    def __init__(self, points, half_thickness_mm):
        points = np.asarray(points, dtype=float)
        centre = points.mean(axis=0)
        _, _, vt = np.linalg.svd(points - centre)
        normal = vt[2]
        frame = frame_matrix(centre, normal, vt[1])
        self.to_local = np.linalg.inv(frame)
        local = transform_points(self.to_local, points)[:, :2]
        # Orient counter-clockwise so that edge normals point outwards.
        area = 0.5 * np.sum(local[:, 0] * np.roll(local[:, 1], -1) - np.roll(local[:, 0], -1) * local[:, 1])
        if area < 0:
            local = local[::-1]
        edges = np.roll(local, -1, axis=0) - local
        normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), _EPS)
        self.edge_normals = normals
        self.edge_offsets = np.sum(normals * local, axis=1)
        self.half_thickness = float(half_thickness_mm)
        low = np.append(local.min(axis=0), -self.half_thickness)
        high = np.append(local.max(axis=0), self.half_thickness)
        self.bounds_local = (low, high)

    def sdf(self, x, y, z):
        d_polygon = None
        for (nx, ny), offset in zip(self.edge_normals, self.edge_offsets):
            d_edge = x * nx + y * ny - offset
            d_polygon = d_edge if d_polygon is None else np.maximum(d_polygon, d_edge)
        d_thickness = np.abs(z) - self.half_thickness
        outside = np.sqrt(np.maximum(d_polygon, 0.0) ** 2 + np.maximum(d_thickness, 0.0) ** 2)
        return outside + np.minimum(np.maximum(d_polygon, d_thickness), 0.0)


class SphericalCup(Primitive):
    """A spherical shell (inner radius ``radius_mm``, thickness ``thickness_mm``) cut by a plane.

    The part kept is where ``dot(p - centre, opening) < cut_mm``: an acetabulum around a femoral head.
    """

    def __init__(self, centre, radius_mm, thickness_mm, opening, cut_mm=0.0):
        self.radius = float(radius_mm)
        self.thickness = float(thickness_mm)
        self.to_local = np.linalg.inv(frame_matrix(centre, opening))
        self.cut = float(cut_mm)
        outer = self.radius + self.thickness
        self.bounds_local = (np.array([-outer, -outer, -outer]), np.array([outer, outer, max(self.cut, -outer)]))

    def sdf(self, x, y, z):
        r = np.sqrt(x * x + y * y + z * z)
        d_shell = np.abs(r - (self.radius + 0.5 * self.thickness)) - 0.5 * self.thickness
        return np.maximum(d_shell, z - self.cut)


class Clipped(Primitive):
    """``shape`` intersected with the half-space ``dot(p, normal) <= offset_mm`` (shape-local coords)."""

    def __init__(self, shape: Primitive, normal, offset_mm):
        self.shape = shape
        self.normal = unit(normal)
        self.offset = float(offset_mm)
        self.to_local = shape.to_local
        self.bounds_local = shape.bounds_local

    def sdf(self, x, y, z):
        d_plane = x * self.normal[0] + y * self.normal[1] + z * self.normal[2] - self.offset
        return np.maximum(self.shape.sdf(x, y, z), d_plane)


def tube_along(points, radii_mm) -> list[Capsule]:
    """Capsules joining consecutive ``points`` (N x 3), radii tapering along ``radii_mm`` (N values)."""
    points = np.asarray(points, dtype=float)
    radii = np.broadcast_to(np.asarray(radii_mm, dtype=float), (len(points),))
    return [Capsule(points[n], points[n + 1], radii[n], radii[n + 1]) for n in range(len(points) - 1)]


def catmull_rom(control_points, samples_per_segment=6) -> np.ndarray:
    """A smooth curve through ``control_points`` (N x 3), returned as dense points (M x 3)."""
    p = np.asarray(control_points, dtype=float)
    if len(p) < 3:
        return p
    padded = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    t = np.linspace(0.0, 1.0, samples_per_segment, endpoint=False)[:, None]
    pieces = []
    for n in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[n - 1], padded[n], padded[n + 1], padded[n + 2]
        pieces.append(
            0.5
            * (
                2 * p1
                + (-p0 + p2) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
            )
        )
    pieces.append(p[-1][None, :])
    return np.vstack(pieces)


class FlatTube(Primitive):
    """A tube segment with an elliptical cross-section (a rib): semi-axes ``height_mm`` along ``up``
    and ``thickness_mm`` across it, tapering from ``p0`` to ``p1``; ellipsoidal end caps.

    ``up`` (parent coordinates) is projected perpendicular to the segment. Ribs are flat: about
    10-12 mm tall and 5-6 mm thick, so a frontal MIP shows their narrow edges where they turn.
    """

    def __init__(self, p0, p1, height0_mm, height1_mm, thickness_mm, up):
        self.p0 = np.asarray(p0, dtype=float)
        axis = np.asarray(p1, dtype=float) - self.p0
        self.length = max(float(np.linalg.norm(axis)), _EPS)
        self.along = axis / self.length
        across = np.cross(self.along, np.asarray(up, dtype=float))
        if np.linalg.norm(across) < 1e-3:
            across = np.cross(self.along, (1.0, 0.0, 0.0) if abs(self.along[0]) < 0.9 else (0.0, 1.0, 0.0))
        self.across = unit(across)
        self.up = np.cross(self.across, self.along)
        self.h0, self.h1 = float(height0_mm), float(height1_mm)
        self.b = float(thickness_mm)
        self.to_local = np.eye(4)
        corners = [self.p0 + s * self.length * self.along + u * max(self.h0, self.h1) * self.up + a * self.b * self.across
                   for s in (0.0, 1.0) for u in (-1.0, 1.0) for a in (-1.0, 1.0)]
        reach = self.b * self.along
        corners = np.array(corners + [c - reach for c in corners[:4]] + [c + reach for c in corners[4:]])
        self.bounds_local = (corners.min(axis=0), corners.max(axis=0))

    def sdf(self, x, y, z):
        dx, dy, dz = x - self.p0[0], y - self.p0[1], z - self.p0[2]
        ax, ay, az = (float(v) for v in self.along)
        ux, uy, uz = (float(v) for v in self.up)
        cx, cy, cz = (float(v) for v in self.across)
        s = dx * ax + dy * ay + dz * az
        t = np.clip(s * np.float32(1.0 / self.length), 0.0, 1.0)
        e_along = s - t * np.float32(self.length)  # non-zero only beyond the ends: the caps
        e_up = dx * ux + dy * uy + dz * uz
        e_across = dx * cx + dy * cy + dz * cz
        height = np.float32(self.h0) + t * np.float32(self.h1 - self.h0)
        b = np.float32(self.b)
        u, v, w = e_up / height, e_across / b, e_along / b
        r = np.sqrt(u * u + v * v + w * w)
        grad = np.sqrt((u / height) ** 2 + (v / b) ** 2 + (w / b) ** 2)
        # r / |grad r| lies between the smallest and largest semi-axis; the clip keeps the axis itself
        # (r = 0) at depth min(height, b) instead of 0.
        scale = np.clip(r / np.maximum(grad, _EPS), np.minimum(height, b), np.maximum(height, b))
        return (r - 1.0) * scale


def thin_surface(grid_points, half_thickness_mm) -> list[Plate]:
    """A curved thin plate: the quads of a grid of surface points (n x m x 3) as pairs of triangles.

    ``half_thickness_mm`` is one value or one per quad ((n - 1) x (m - 1)).
    """
    grid = np.asarray(grid_points, dtype=float)
    half = np.broadcast_to(np.asarray(half_thickness_mm, dtype=float), (grid.shape[0] - 1, grid.shape[1] - 1))
    plates = []
    for a in range(grid.shape[0] - 1):
        for b in range(grid.shape[1] - 1):
            p00, p01, p10, p11 = grid[a, b], grid[a, b + 1], grid[a + 1, b], grid[a + 1, b + 1]
            plates.append(Plate([p00, p10, p11], half[a, b]))
            plates.append(Plate([p00, p11, p01], half[a, b]))
    return plates
