"""Soft tissue inside the trunk: lungs, heart and vessels, abdominal organs, bowel, bladder, muscles.

Positions follow the skeleton (anatomy frame, see spine.py): the diaphragm domes sit near T9-T11, the
kidneys span about T12-L3 (the left a little higher), the aorta runs left-anterior of the spine and
divides at L4, the IVC runs to its right. Contrast enhancement depends on the drawn phase through the
tissue HU table (intensities.py): in the arterial phase the aorta and renal cortex can rival bone in a
MIP, as in real scans.
"""

from __future__ import annotations

import numpy as np

from .body import BodyProfile
from .canvas import Structure
from .pelvis import Pelvis
from .primitives import Capsule, Clipped, Ellipsoid, Primitive, catmull_rom, transform_points, tube_along, unit
from .spine import Spine
from .thorax import Thorax


class Lung(Primitive):
    """One lung: inside the rib cage (minus the chest wall), above its diaphragm dome, beside the
    mediastinum. Anatomy coordinates; the cage ellipse is interpolated between rib levels."""

    def __init__(self, side: float, thorax: Thorax, dome_top_z: float, dome_depth_mm: float, apex_z: float):
        rings = sorted(thorax.rings, key=lambda r: r.z_mm)
        self.z = np.array([r.z_mm for r in rings], dtype=np.float32)
        self.x_c = np.array([r.x_centre_mm for r in rings], dtype=np.float32)
        self.y_c = np.array([r.y_centre_mm for r in rings], dtype=np.float32)
        self.ax = np.array([r.half_width_mm - 14.0 for r in rings], dtype=np.float32)
        self.ay = np.array([r.half_depth_mm - 12.0 for r in rings], dtype=np.float32)
        self.side = side
        self.dome_top = dome_top_z
        self.dome_depth = dome_depth_mm
        self.apex_z = apex_z
        self.top_ring_z = float(self.z[-1])
        widest = float(self.ax.max())
        x_mid = float(np.mean(self.x_c))
        self.to_local = np.eye(4)
        low_z = dome_top_z - dome_depth_mm
        low_x, high_x = (x_mid, x_mid + widest) if side > 0 else (x_mid - widest, x_mid)
        self.bounds_local = (
            np.array([low_x, float((self.y_c - self.ay).min()), low_z]),
            np.array([high_x, float((self.y_c + self.ay).max()), apex_z]),
        )

    def sdf(self, x, y, z):
        x_c = np.interp(z, self.z, self.x_c).astype(np.float32)
        y_c = np.interp(z, self.z, self.y_c).astype(np.float32)
        shrink = np.sqrt(np.clip(1.0 - ((z - self.top_ring_z) / (self.apex_z - self.top_ring_z)) ** 2, 0.02, 1.0))
        shrink = np.where(z > self.top_ring_z, shrink, 1.0).astype(np.float32)
        ax = np.interp(z, self.z, self.ax).astype(np.float32) * shrink
        ay = np.interp(z, self.z, self.ay).astype(np.float32) * shrink
        u, v = (x - x_c) / ax, (y - y_c) / ay
        r = np.sqrt(u * u + v * v)
        d_cage = (r - 1.0) * r / np.maximum(np.sqrt((u / ax) ** 2 + (v / ay) ** 2), 1e-6)
        # dome: highest at its centre (a third of the way out, slightly anterior), lowest at the back
        du = (x - (x_c + self.side * 0.4 * ax)) / ax
        dv = (y - (y_c + 0.25 * ay)) / ay
        z_dome = self.dome_top - self.dome_depth * 0.55 * (du * du + dv * dv)
        d_dome = z_dome - z
        mediastinum = np.where(z > self.top_ring_z - 60.0, 14.0, 22.0).astype(np.float32)
        d_mediastinum = self.side * (x_c - x) + mediastinum
        return np.maximum(np.maximum(d_cage, d_dome), d_mediastinum)


class BelowDome(Primitive):
    """An ellipsoid cut by a diaphragm dome (liver under the right dome, spleen under the left)."""

    def __init__(self, ellipsoid: Ellipsoid, lung: Lung, gap_mm: float = 4.0):
        self.ellipsoid, self.lung, self.gap = ellipsoid, lung, gap_mm
        self.to_local = np.eye(4)
        low, high = ellipsoid.bounds_local
        corners = np.array(np.meshgrid(*zip(low, high))).reshape(3, -1).T
        world = transform_points(np.linalg.inv(ellipsoid.to_local), corners)
        self.bounds_local = (world.min(axis=0), world.max(axis=0))

    def sdf(self, x, y, z):
        m = self.ellipsoid.to_local
        lx = m[0, 0] * x + m[0, 1] * y + m[0, 2] * z + m[0, 3]
        ly = m[1, 0] * x + m[1, 1] * y + m[1, 2] * z + m[1, 3]
        lz = m[2, 0] * x + m[2, 1] * y + m[2, 2] * z + m[2, 3]
        d = self.ellipsoid.sdf(lx.astype(np.float32), ly.astype(np.float32), lz.astype(np.float32))
        lung = self.lung
        x_c = np.interp(z, lung.z, lung.x_c)
        y_c = np.interp(z, lung.z, lung.y_c)
        ax = np.interp(z, lung.z, lung.ax)
        ay = np.interp(z, lung.z, lung.ay)
        du = (x - (x_c + lung.side * 0.4 * ax)) / ax
        dv = (y - (y_c + 0.25 * ay)) / ay
        z_dome = lung.dome_top - lung.dome_depth * 0.55 * (du * du + dv * dv)
        return np.maximum(d, (z - z_dome + self.gap).astype(np.float32))


def build_organs(params: dict, spine: Spine, thorax: Thorax, pelvis: Pelvis, profile: BodyProfile, hu: dict, rng) -> tuple[list[Structure], dict]:
    """Soft-tissue structures in painting order, and landmarks (diaphragm, kidneys) for the record."""
    patient, anatomy, variants = params["patient"], params["anatomy"], params["variants"]
    size = patient["size_scale"]
    muscle_scale = patient["muscle_scale"]
    out: list[Structure] = []
    verts = {v.name: v for v in spine.vertebrae}
    thoracic = [v for v in spine.vertebrae if v.region == "T"]
    lumbar = [v for v in spine.vertebrae if v.region == "L"]
    n_t = len(thoracic)
    rings = thorax.rings

    def anterior(v, extra=0.0):
        return v.to_anatomy([[0.0, v.dims["d"] * 0.5 + extra, 0.0]])[0]

    # ---- lungs and airways
    dome_vertebra = thoracic[n_t - 3]  # T10 with 12 thoracic vertebrae
    dome_right = float(dome_vertebra.centre[2] + anatomy["diaphragm_height_mm"])
    dome_left = dome_right - 15.0
    apex = rings[0].z_mm + 35.0 * size
    lungs = {side: Lung(side, thorax, top, 100.0 * size, apex) for side, top in ((1.0, dome_right), (-1.0, dome_left))}
    for side, lung in lungs.items():
        out.append(Structure(f"lung_{side:+.0f}", [lung], [(None, hu["lung"])]))
    carina = anterior(thoracic[min(4, n_t - 1)], 18.0)
    trachea_top = anterior(verts["C6"], 22.0)
    airway = [Capsule(trachea_top, carina, 9.0 * size, 8.5 * size)]
    for side in (-1.0, 1.0):
        hilum = carina + np.array([side * 40.0, -5.0, -25.0]) * size
        airway.append(Capsule(carina, hilum, 6.5 * size, 5.0 * size))
    out.append(Structure("airways", airway, [(1.5, hu["muscle"]), (None, hu["air"])]))
    # pulmonary vessels: short random trees from each hilum, enhanced with the blood
    vessel_hu = 0.5 * (hu["artery"] + hu["vein"])
    for side in (-1.0, 1.0):
        hilum = carina + np.array([side * 45.0, 5.0, -30.0]) * size
        parts = []
        for _ in range(18):
            point, radius = hilum.copy(), 5.0
            direction = unit(np.array([side * rng.uniform(0.3, 1.0), rng.uniform(-0.8, 0.8), rng.uniform(-1.0, 1.0)]))
            for _ in range(4):
                length = rng.uniform(20.0, 35.0) * size
                nxt = point + direction * length
                parts.append(Capsule(point, nxt, radius, radius * 0.7))
                point, radius = nxt, radius * 0.7
                direction = unit(direction + rng.normal(0.0, 0.35, 3))
        out.append(Structure("pulmonary_vessels", parts, [(None, vessel_hu)]))

    # ---- heart with pericardial fat, great vessels
    low_ring = min(rings, key=lambda r: abs(r.z_mm - (dome_left + 40.0)))
    heart_centre = np.array([low_ring.x_centre_mm - 25.0 * size, low_ring.y_centre_mm + 0.25 * low_ring.half_depth_mm, dome_left + 45.0 * size])
    heart_axis = np.array([-0.6, 0.5, -0.55])
    heart = Ellipsoid.at(heart_centre, np.array([52.0, 50.0, 68.0]) * size, heart_axis)
    blood = 0.5 * (hu["artery"] + hu["vein"])
    out.append(Structure("heart", [heart], [(4.0, hu["fat"]), (10.0, hu["myocardium"]), (None, blood)]))

    # ---- aorta: root, arch over the left main bronchus, descending left of the spine, bifurcation at L4
    t4 = thoracic[min(3, n_t - 1)]
    root = heart_centre + np.array([10.0, 5.0, 45.0]) * size
    arch_top = anterior(t4, 35.0) + np.array([0.0, 0.0, 25.0])
    aorta_points = [root, root + np.array([0.0, 5.0, 40.0]), arch_top + np.array([5.0, 10.0, 0.0]), arch_top + np.array([-15.0, -30.0, 5.0])]
    for v in thoracic[4:] + lumbar[:-2]:
        aorta_points.append(v.to_anatomy([[-v.dims["w"] * 0.25 - 6.0, v.dims["d"] * 0.5 + 14.0, 0.0]])[0])
    l4 = lumbar[-2]
    bifurcation = l4.to_anatomy([[-5.0, l4.dims["d"] * 0.5 + 14.0, -l4.dims["h"] * 0.25]])[0]
    aorta_points.append(bifurcation)
    aorta_path = catmull_rom(aorta_points, samples_per_segment=3)
    radii = np.interp(np.arange(len(aorta_path)), [0, 6, len(aorta_path) - 1], [15.0, 13.0, 9.5]) * size
    artery_layers = [(None, hu["artery"])]
    out.append(Structure("aorta", tube_along(aorta_path, radii), artery_layers))
    hips = pelvis.hip_centres
    for side, hip in hips.items():
        iliac = catmull_rom(
            [bifurcation, bifurcation + np.array([side * 40.0, 10.0, -45.0]) * size, hip + np.array([-side * 15.0, 35.0, 25.0]), hip + np.array([-side * 5.0, 40.0, -60.0])],
            samples_per_segment=4,
        )
        out.append(Structure("iliac_artery", tube_along(iliac, np.linspace(6.5, 4.5, len(iliac)) * size), artery_layers))
        if variants["aortic_calcification"] > 0:
            path = np.vstack([aorta_path[len(aorta_path) // 2 :], iliac])
            for n in range(len(path) - 1):
                if rng.random() < variants["aortic_calcification"] * 0.6:
                    offset = unit(rng.normal(0.0, 1.0, 3)) * 8.0 * size
                    out.append(Structure("vascular_calcification", [Ellipsoid.at(path[n] + offset, (2.5, 2.5, 4.0), path[n + 1] - path[n])], [(None, hu["calcification"])]))

    # ---- IVC, iliac veins, SVC, injection-side arm vein
    ivc_points = []
    for v in [lumbar[-1]] + list(reversed(lumbar[:-1])) + list(reversed(thoracic[-3:])):
        ivc_points.append(v.to_anatomy([[v.dims["w"] * 0.3 + 8.0, v.dims["d"] * 0.5 + 12.0, 0.0]])[0])
    ivc_points.append(heart_centre + np.array([45.0, -10.0, 10.0]) * size)
    vein_layers = [(None, hu["vein"])]
    out.append(Structure("ivc", tube_along(catmull_rom(ivc_points, 3), 11.0 * size), vein_layers))
    for side, hip in hips.items():
        vein = [ivc_points[0], ivc_points[0] + np.array([side * 35.0, 5.0, -45.0]) * size, hip + np.array([-side * 25.0, 28.0, 20.0]), hip + np.array([-side * 15.0, 35.0, -60.0])]
        out.append(Structure("iliac_vein", tube_along(catmull_rom(vein, 3), 7.0 * size), vein_layers))
    svc_bottom = heart_centre + np.array([40.0, 0.0, 50.0]) * size
    svc_top = np.array([svc_bottom[0], svc_bottom[1] - 5.0, rings[1].z_mm + 10.0])
    out.append(Structure("svc", [Capsule(svc_bottom, svc_top, 10.0 * size)], vein_layers))
    for side, head in thorax.shoulder_joints.items():
        injected = (side > 0) == (anatomy["contrast_injection_side"] == "right")
        vein_hu = hu["injection_vein"] if injected else hu["vein"]
        path = catmull_rom([svc_top, svc_top + np.array([side * 30.0, 5.0, 15.0]), head + np.array([-side * 35.0, 15.0, 5.0]), head + np.array([side * 5.0, 25.0, -30.0])], 4)
        out.append(Structure("subclavian_vein", tube_along(path, 6.0 * size), [(None, vein_hu)]))

    # ---- liver, gallbladder, spleen, stomach, pancreas
    low = rings[-3] if len(rings) >= 3 else rings[-1]
    liver = BelowDome(
        Ellipsoid.at(np.array([low.x_centre_mm + 0.42 * low.half_width_mm, low.y_centre_mm + 0.05 * low.half_depth_mm, dome_right - 70.0 * size]),
                     np.array([100.0, 90.0, 85.0]) * size, (0.25, 0.0, 1.0)),
        lungs[1.0],
    )
    left_lobe = BelowDome(
        Ellipsoid.at(np.array([low.x_centre_mm - 10.0, low.y_centre_mm + 0.5 * low.half_depth_mm, dome_right - 45.0 * size]), np.array([70.0, 40.0, 40.0]) * size),
        lungs[-1.0],
    )
    out.append(Structure("liver", [liver, left_lobe], [(None, hu["liver"])]))
    liver_centre = np.array([low.x_centre_mm + 0.42 * low.half_width_mm, low.y_centre_mm + 0.05 * low.half_depth_mm, dome_right - 70.0 * size])
    out.append(Structure("portal_vein", [Capsule(anterior(lumbar[0], 45.0), liver_centre + np.array([-30.0, 10.0, 10.0]), 7.0 * size, 6.0 * size)], [(None, hu["portal_vein"])]))
    out.append(Structure("gallbladder", [Ellipsoid.at(liver_centre + np.array([-25.0, 55.0, -55.0]) * size, np.array([16.0, 16.0, 35.0]) * size, (0.2, 0.5, 1.0))], [(2.0, hu["bowel_wall"]), (None, hu["urine"])]))
    spleen = BelowDome(
        Ellipsoid.at(np.array([low.x_centre_mm - 0.7 * low.half_width_mm, low.y_centre_mm - 0.35 * low.half_depth_mm, dome_left - 55.0 * size]), np.array([30.0, 50.0, 55.0]) * size, (0.0, 0.4, 1.0), (-1.0, 0.6, 0.0)),
        lungs[-1.0],
    )
    out.append(Structure("spleen", [spleen], [(None, hu["spleen"])]))
    stomach_centre = np.array([low.x_centre_mm - 0.4 * low.half_width_mm, low.y_centre_mm + 0.35 * low.half_depth_mm, dome_left - 55.0 * size])
    stomach_radii = np.array([50.0, 40.0, 55.0]) * size
    content = hu["oral_contrast"] if anatomy["oral_contrast"] else hu["bowel_fluid"]
    stomach = Ellipsoid.at(stomach_centre, stomach_radii, (0.3, 0.2, 1.0))
    out.append(Structure("stomach", [stomach], [(4.0, hu["bowel_wall"]), (None, content)]))
    gas_level = stomach_radii[1] * (1.0 - 2.0 * rng.uniform(0.1, 0.6))
    out.append(Structure("stomach_gas", [Clipped(Ellipsoid.at(stomach_centre, stomach_radii - 4.5, (0.3, 0.2, 1.0)), (0.0, -1.0, 0.0), -gas_level)], [(None, hu["air"])]))
    l1 = lumbar[0]
    pancreas = catmull_rom([anterior(lumbar[1], 40.0) + np.array([45.0, 0.0, 0.0]), anterior(l1, 45.0), anterior(l1, 30.0) + np.array([-60.0, -10.0, 15.0]), anterior(l1, 0.0) + np.array([-95.0, -20.0, 25.0])], 3)
    out.append(Structure("pancreas", tube_along(pancreas, 11.0 * size), [(None, 0.5 * (hu["liver"] + hu["kidney_medulla"]))]))

    # ---- kidneys (T12-L3) with cortex, medulla and sinus fat; renal vessels
    kidney_level = lumbar[1].centre[2] + 5.0 + anatomy["kidney_height_mm"]
    kidneys = {}
    for side in (-1.0, 1.0):
        z = kidney_level - (15.0 if side > 0 else 0.0)
        v = min(lumbar, key=lambda vv: abs(vv.centre[2] - z))
        centre = np.array([v.centre[0] + side * 62.0 * size, v.centre[1] - 0.1 * v.dims["d"], z])
        axis = (-side * 0.25, -0.25, 1.0)
        kidneys[side] = centre
        out.append(Structure("kidney", [Ellipsoid.at(centre, np.array([27.0, 22.0, 55.0]) * size, axis, (side * 0.6, 1.0, 0.0))], [(6.0, hu["kidney_cortex"]), (None, hu["kidney_medulla"])]))
        sinus = centre + np.array([-side * 12.0, 6.0, 0.0]) * size
        out.append(Structure("renal_sinus", [Ellipsoid.at(sinus, np.array([9.0, 9.0, 25.0]) * size, axis)], [(None, hu["fat"])]))
        out.append(Structure("renal_pelvis", [Ellipsoid.at(sinus + np.array([-side * 6.0, 0.0, 0.0]), np.array([6.0, 6.0, 10.0]) * size)], [(None, hu["urine"])]))
        aorta_at = aorta_points[min(range(4, len(aorta_points)), key=lambda n: abs(aorta_points[n][2] - z))]
        out.append(Structure("renal_artery", [Capsule(aorta_at, sinus, 3.0 * size)], artery_layers))
        out.append(Structure("renal_vein", [Capsule(ivc_points[min(range(len(ivc_points)), key=lambda n: abs(ivc_points[n][2] - z))], sinus, 4.0 * size)], vein_layers))

    # ---- bowel: colon frame with gas and stool, small-bowel loops, then bladder
    waist = profile.at(lumbar[len(lumbar) // 2].centre[2])
    widen = (waist["half_width_lean"] - 20.0) / (112.0 * size)
    hip_z = float(np.mean([h[2] for h in hips.values()]))
    s3 = spine.sacrum_frames[2][:3, 3]
    s5 = spine.sacrum_frames[4][:3, 3]
    l_top, l_mid, l_low = lumbar[0], lumbar[len(lumbar) // 2], lumbar[-1]
    front = waist["y_front_lean"]
    colon = [
        (np.array([72.0 * widen, l_low.centre[1] + 55.0, l_low.centre[2] - 20.0]), 30.0),
        (np.array([88.0 * widen, l_mid.centre[1] + 25.0, l_mid.centre[2]]), 25.0),
        (np.array([85.0 * widen, l_top.centre[1] + 35.0, l_top.centre[2] + 10.0]), 24.0),
        (np.array([40.0 * widen, front - 45.0, lumbar[1].centre[2]]), 22.0),
        (np.array([0.0, front - 35.0, l_mid.centre[2] - 10.0]), 22.0),
        (np.array([-45.0 * widen, front - 45.0, lumbar[1].centre[2] + 5.0]), 22.0),
        (np.array([-88.0 * widen, thoracic[-1].centre[1] + 15.0, thoracic[-1].centre[2]]), 22.0),
        (np.array([-90.0 * widen, l_mid.centre[1] + 15.0, l_mid.centre[2]]), 20.0),
        (np.array([-80.0 * widen, l_low.centre[1] + 30.0, pelvis.crest_top_z_mm - 25.0]), 19.0),
        (np.array([-50.0, s3[1] + 75.0, hip_z + 45.0]), 17.0),
        (np.array([-5.0, s3[1] + 85.0, hip_z + 35.0]), 17.0),
        (np.array([15.0, s3[1] + 45.0, hip_z + 30.0]), 18.0),
        (np.array([0.0, s3[1] + 30.0, s3[2]]), 20.0),
        (np.array([0.0, s5[1] + 32.0, hip_z - 25.0]), 18.0),
        (np.array([0.0, s5[1] + 35.0, pelvis.ischial_tuberosity_z_mm - 5.0]), 10.0),
    ]
    path = catmull_rom([p for p, _ in colon], samples_per_segment=3)
    radii = np.interp(np.linspace(0, len(colon) - 1, len(path)), np.arange(len(colon)), [r for _, r in colon]) * size
    gas_fraction = anatomy["bowel_gas_fraction"]
    wall = hu["bowel_wall"]
    for start in range(0, len(path) - 1, 4):
        seg_points, seg_radii = path[start : start + 5], radii[start : start + 5]
        if len(seg_points) < 2:
            continue
        tube = tube_along(seg_points, seg_radii)
        draw = rng.random()
        if draw < gas_fraction:
            filling = hu["air"]
        elif draw < gas_fraction + 0.5 * (1.0 - gas_fraction):
            filling = hu["stool"]
        else:
            filling = hu["oral_contrast"] if anatomy["oral_contrast"] and rng.random() < 0.6 else hu["bowel_fluid"]
        out.append(Structure("colon", tube, [(3.0, wall), (None, filling)]))
        if filling != hu["air"] and rng.random() < gas_fraction:
            level = float(np.mean(seg_points[:, 1]))
            gas = [Clipped(Capsule(a, b, ra - 3.0, rb - 3.0), (0.0, -1.0, 0.0), -level) for a, b, ra, rb in zip(seg_points[:-1], seg_points[1:], seg_radii[:-1], seg_radii[1:])]
            out.append(Structure("colon_gas", gas, [(None, hu["air"])]))

    box_low = np.array([-70.0 * widen, l_mid.centre[1] + 40.0, hip_z + 35.0])
    box_high = np.array([70.0 * widen, front - 25.0, lumbar[1].centre[2]])
    if np.all(box_high > box_low):
        for _ in range(int(rng.integers(6, 11))):
            point = rng.uniform(box_low, box_high)
            direction = unit(rng.normal(0.0, 1.0, 3))
            points = [point]
            for _ in range(int(rng.integers(5, 9))):
                direction = unit(direction + rng.normal(0.0, 0.8, 3))
                nxt = points[-1] + direction * rng.uniform(20.0, 32.0)
                direction = np.where((nxt < box_low) | (nxt > box_high), -direction, direction)
                points.append(np.clip(nxt, box_low, box_high))
            radius = rng.uniform(10.0, 14.0) * size
            if anatomy["oral_contrast"] and rng.random() < 0.7:
                filling = hu["oral_contrast"]
            elif rng.random() < 0.25 * gas_fraction:
                filling = hu["air"]
            else:
                filling = hu["bowel_fluid"]
            out.append(Structure("small_bowel", tube_along(catmull_rom(points, 2), radius), [(2.5, wall), (None, filling)]))

    fill = anatomy["bladder_fill"]
    bladder_centre = pelvis.symphysis + np.array([0.0, -38.0, 28.0 * fill])
    out.append(Structure("bladder", [Ellipsoid.at(bladder_centre, np.array([45.0, 35.0, 35.0]) * size * fill ** (1.0 / 3.0))], [(3.0, hu["muscle"]), (None, hu["urine"])]))
    out.append(Structure("uterus_or_prostate", [Ellipsoid.at(bladder_centre + np.array([0.0, -35.0, -15.0]), np.array([25.0, 20.0, 25.0]) * size)], [(None, hu["muscle"] + 15.0)]))

    # ---- muscles: psoas, iliacus, quadratus lumborum, paraspinal, glutei (painted first: organs and
    # vessels lie on top of them where the simple shapes overlap)
    organs, out = out, []
    muscle_layers = [(None, hu["muscle"])]
    for side in (-1.0, 1.0):
        points, radii = [], []
        for n, v in enumerate([thoracic[-1]] + lumbar):
            grow = n / max(len(lumbar), 1)
            points.append(v.to_anatomy([[side * (v.dims["w"] * 0.5 + 4.0 + 16.0 * grow), -0.05 * v.dims["d"], -v.dims["h"] * 0.3]])[0])
            radii.append((6.0 + 18.0 * grow) * muscle_scale * size)
        hip = hips[side]
        points += [hip + np.array([-side * 25.0, 12.0, 35.0]), hip + np.array([side * 20.0, -12.0, -62.0])]
        radii += [20.0 * muscle_scale * size, 12.0 * muscle_scale * size]
        out.append(Structure("psoas", tube_along(catmull_rom(points, 2), np.interp(np.linspace(0, len(radii) - 1, 2 * len(radii) - 1), np.arange(len(radii)), radii)), muscle_layers))
        crest_hw = pelvis.details["crest_half_width_mm"]
        out.append(Structure("iliacus", [Ellipsoid.at(np.array([side * (crest_hw - 50.0), hip[1] - 5.0, pelvis.crest_top_z_mm - 45.0]), np.array([14.0, 38.0, 45.0]) * muscle_scale ** 0.5, (0.0, 0.0, 1.0), (-side * 0.5, 1.0, 0.0))], muscle_layers))
        ql = [v.to_anatomy([[side * (v.dims["w"] * 0.5 + v.dims["tp"] * 0.7 + 10.0), -v.dims["d"] * 0.42 - v.dims["cd"] - 2.0, 0.0]])[0] for v in [thoracic[-1]] + lumbar]
        out.append(Structure("quadratus_lumborum", tube_along(ql, 11.0 * muscle_scale), muscle_layers))
        para = []
        for v in spine.vertebrae[2:]:
            d = v.dims
            r = {"C": 13.0, "T": 17.0, "L": 25.0}[v.region] * muscle_scale * size
            para.append((v.to_anatomy([[side * (d["cw"] * 0.5 + r * 0.8), -d["d"] * 0.42 - d["cd"] - r * 0.9, 0.0]])[0], r))
        para.append((transform_points(spine.sacrum_frames[1], [[side * 22.0, -35.0, 0.0]])[0], 15.0 * muscle_scale))
        out.append(Structure("paraspinal", tube_along([p for p, _ in para], [r for _, r in para]), muscle_layers))
        sacrum_back = transform_points(spine.sacrum_frames[2], [[0.0, -20.0, 0.0]])[0]
        out.append(Structure("gluteus_maximus", [Ellipsoid.at(np.array([side * 70.0 * size, sacrum_back[1] - 10.0 - 15.0 * muscle_scale, hip[2] + 5.0]), np.array([50.0, 25.0 * muscle_scale, 75.0]) * size, (0.0, 0.0, 1.0), (side * 0.4, 1.0, 0.0))], muscle_layers))
        out.append(Structure("gluteus_medius", [Ellipsoid.at(np.array([side * (crest_hw - 20.0), hip[1] - 40.0, pelvis.crest_top_z_mm - 55.0]), np.array([22.0 * muscle_scale, 45.0, 50.0]) * size, (0.0, 0.0, 1.0), (-side * 0.7, 1.0, 0.0))], muscle_layers))

    out = out + organs
    landmarks = {
        "diaphragm_right_dome_z_mm": round(dome_right, 1),
        "lung_apex_z_mm": round(float(apex), 1),
        "kidney_centre_z_mm": {"right": round(float(kidneys[1.0][2]), 1), "left": round(float(kidneys[-1.0][2]), 1)},
        "aortic_bifurcation_z_mm": round(float(bifurcation[2]), 1),
    }
    return out, landmarks
