"""Draw the extension's icon and render the screenshot of Slicer's slice views with the L3 fiducial.

    .venv/bin/python docs/make_slicer_images.py                 # both, from the repository root
    .venv/bin/python docs/make_slicer_images.py --model CARD    # the screenshot with another model

Writes ``L3Spotter/Resources/Icons/L3Spotter.png`` (128 x 128) and ``docs/images/l3spotter_slice_views.png``.

The screenshot is a real rendering by Slicer's own classes from the ``slicer-core`` wheel, offscreen: the
volume loaded by ``vtkSlicerVolumesLogic``, the L3 fiducial placed by ``L3SpotterLib.slicer_adapter.mrml.show_result``,
the slice images resliced by ``vtkMRMLSliceLogic`` and the fiducial drawn by Slicer's markups displayable
manager. The level comes from the shipped model (or ``--model``); while no trained model is in the tree,
it is the scan's reference level from ``case.json``, and the caption says so.
"""

from __future__ import annotations

import argparse
import textwrap
import json
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "L3Spotter"))

ICON_PATH = REPO_ROOT / "L3Spotter" / "Resources" / "Icons" / "L3Spotter.png"
SCREENSHOT_PATH = REPO_ROOT / "docs" / "images" / "l3spotter_slice_views.png"
DEFAULT_CASE = REPO_ROOT / "tests" / "data" / "totalseg_example_ct"

VIEW_SIZE_PX = 420
# Slicer's "CT abdomen" window/level.
WINDOW_HU, LEVEL_HU = 350.0, 40.0
VIEW_COLOURS = {"Red": "#f34a33", "Yellow": "#edd54c", "Green": "#6eb04b"}


# ---------------------------------------------------------------- icon


def draw_icon(path: Path) -> None:
    """A lumbar spine seen from the side, L3 highlighted and crossed by the axial slice it names."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Polygon

    figure = Figure(figsize=(1.28, 1.28), dpi=100)
    axis = figure.add_axes((0, 0, 1, 1))
    axis.set_xlim(0, 128)
    axis.set_ylim(0, 128)
    axis.set_axis_off()
    figure.patch.set_alpha(0.0)

    axis.add_patch(FancyBboxPatch((4, 4), 120, 120, boxstyle="round,pad=0,rounding_size=22", facecolor="#17263d",
                                  edgecolor="#2e4a70", linewidth=2))
    bone, bone_edge, l3_colour = "#e9e1cc", "#b9ad8f", "#ff8a1f"
    # Six bodies from T12 (top) to L5, on a gentle lordotic curve; L3 is the fourth.
    names = ["T12", "L1", "L2", "L3", "L4", "L5"]
    heights = [13.0, 13.5, 14.0, 14.5, 14.5, 14.0]
    gap = 4.0
    top = 112.0
    for index, (name, height) in enumerate(zip(names, heights)):
        y = top - height
        curve = 6.0 * np.sin(np.pi * index / (len(names) - 1))  # lordosis: the middle bows forward
        x = 30.0 - curve
        is_l3 = name == "L3"
        colour, edge = (l3_colour, "#ffd2a6") if is_l3 else (bone, bone_edge)
        axis.add_patch(FancyBboxPatch((x, y), 34, height, boxstyle="round,pad=0,rounding_size=4", facecolor=colour,
                                      edgecolor=edge, linewidth=1.2, zorder=3))
        # Pedicle and spinous process behind the body (to the right: posterior).
        axis.add_patch(Polygon([(x + 32, y + height * 0.85), (x + 46, y + height * 0.8), (x + 60, y + height * 0.1),
                                (x + 57, y - 1.5), (x + 45, y + height * 0.3), (x + 32, y + height * 0.22)],
                               closed=True, facecolor=colour, edgecolor=edge, linewidth=1.0, zorder=2,
                               alpha=1.0 if is_l3 else 0.85))
        if index < len(names) - 1:
            axis.add_patch(FancyBboxPatch((x + 3, y - gap + 0.8), 28, gap - 1.6, boxstyle="round,pad=0,rounding_size=1.5",
                                          facecolor="#6f8fb8", edgecolor="none", zorder=2))
        if is_l3:
            l3_centre_y = y + height / 2.0
        top = y - gap
    # The axial slice through L3's centre: a bright line across, with a soft band.
    axis.axhspan(l3_centre_y - 3.2, l3_centre_y + 3.2, xmin=0.06, xmax=0.94, facecolor="#ff4d3a", alpha=0.22, zorder=4)
    axis.plot([10, 118], [l3_centre_y, l3_centre_y], color="#ff4d3a", linewidth=2.4, solid_capstyle="round", zorder=5)
    axis.text(100, l3_centre_y + 5.5, "L3", color="white", fontsize=13, fontweight="bold", ha="center", va="bottom",
              zorder=6)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, transparent=True)


# ---------------------------------------------------------------- screenshot


def load_case(scene, case_folder: Path):
    import slicer

    volumes_logic = slicer.vtkSlicerVolumesLogic()
    volumes_logic.SetMRMLScene(scene)
    volume_node = volumes_logic.AddArchetypeVolume(str(case_folder / "ct.nii.gz"), "CT")
    # Outside the application there is no colour logic to give the volume its grey table.
    grey = slicer.vtkMRMLColorTableNode()
    grey.SetTypeToGrey()
    scene.AddNode(grey)
    display_node = volume_node.GetDisplayNode()
    display_node.SetAndObserveColorNodeID(grey.GetID())
    display_node.SetAutoWindowLevel(False)
    display_node.SetWindowLevel(WINDOW_HU, LEVEL_HU)
    return volume_node


def detection_for_screenshot(volume_node, case_folder: Path, model):
    """(result, caption note): the model's detection, or the reference level while no model is shipped."""
    from L3SpotterLib.slicer_adapter import mrml
    from L3SpotterLib.model_card import resolve_card_path
    from L3SpotterLib.result import DetectionResult

    if resolve_card_path(model).is_file():
        result = mrml.detect_volume_node(volume_node, model=model, device="auto")
        return result, f"model {result.model['name'] if result.model else model}"
    case = json.loads((case_folder / "case.json").read_text())
    geometry = mrml.volume_world_geometry(volume_node)
    z_ras_mm = float(case["l3_z_ras_mm"])
    slice_index = int(np.floor(geometry.z_ras_mm_to_slice(z_ras_mm) + 0.5))
    result = DetectionResult(input="CT", status="found", l3_slice=slice_index, l3_z_ras_mm=z_ras_mm, l3_position="inside")
    return result, "reference level from case.json (no trained model in the tree yet)"


def render_slice_view(scene, application_logic, slice_logic, size_px: int) -> np.ndarray:
    """What Slicer's slice view shows: the resliced volume and the markups, as an RGB array."""
    import slicer
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    window = vtk.vtkRenderWindow()
    window.SetOffScreenRendering(True)
    window.SetSize(size_px, size_px)
    renderer = vtk.vtkRenderer()
    window.AddRenderer(renderer)
    interactor = vtk.vtkRenderWindowInteractor()
    interactor.SetRenderWindow(window)
    style = slicer.vtkMRMLSliceViewInteractorStyle()
    style.SetInteractor(interactor)

    mapper = vtk.vtkImageMapper()
    mapper.SetInputConnection(slice_logic.GetImageDataConnection())
    mapper.SetColorWindow(255)
    mapper.SetColorLevel(127.5)
    image_actor = vtk.vtkActor2D()
    image_actor.SetMapper(mapper)
    renderer.AddViewProp(image_actor)

    factory = slicer.vtkMRMLSliceViewDisplayableManagerFactory.GetInstance()
    factory.SetMRMLApplicationLogic(application_logic)
    for manager in ("vtkMRMLMarkupsDisplayableManager",):
        if not factory.IsDisplayableManagerRegistered(manager):
            factory.RegisterDisplayableManager(manager)
    managers = factory.InstantiateDisplayableManagers(renderer)
    managers.SetMRMLDisplayableNode(slice_logic.GetSliceNode())
    window.Render()
    grab = vtk.vtkWindowToImageFilter()
    grab.SetInput(window)
    grab.Update()
    image = grab.GetOutput()
    width, height, _ = image.GetDimensions()
    pixels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)[:, :, :3]
    return pixels[::-1]  # VTK rows run bottom-up


def render_screenshot(path: Path, case_folder: Path, model) -> str:
    import slicer

    from L3SpotterLib.slicer_adapter import mrml

    scene = slicer.vtkMRMLScene()
    application_logic = slicer.vtkMRMLApplicationLogic()
    application_logic.SetMRMLScene(scene)
    markups_logic = slicer.vtkSlicerMarkupsLogic()
    markups_logic.SetMRMLApplicationLogic(application_logic)
    markups_logic.SetMRMLScene(scene)
    application_logic.SetModuleLogic("Markups", markups_logic)
    slice_logics = {}
    for name, orientation in (("Red", "Axial"), ("Yellow", "Sagittal")):
        slice_logic = slicer.vtkMRMLSliceLogic()
        slice_logic.SetMRMLApplicationLogic(application_logic)
        slice_logic.SetMRMLScene(scene)
        slice_node = slice_logic.AddSliceNode(name)
        slice_node.SetOrientation(orientation)
        slice_node.SetDimensions(VIEW_SIZE_PX, VIEW_SIZE_PX, 1)
        slice_logics[name] = slice_logic

    volume_node = load_case(scene, case_folder)
    result, note = detection_for_screenshot(volume_node, case_folder, model)
    for slice_logic in slice_logics.values():
        slice_logic.GetSliceCompositeNode().SetBackgroundVolumeID(volume_node.GetID())
        slice_logic.FitSliceToAll()
    fiducial_node = mrml.show_result(result, volume_node)
    if fiducial_node is None:
        raise SystemExit(f"no L3 to show: {result.summary()}")
    display_node = fiducial_node.GetDisplayNode()
    display_node.SetGlyphScale(4.0)
    display_node.SetTextScale(4.5)
    point = [0.0, 0.0, 0.0]
    fiducial_node.GetNthControlPointPositionWorld(0, point)

    views = {name: render_slice_view(scene, application_logic, logic, VIEW_SIZE_PX) for name, logic in slice_logics.items()}
    # Each view passes through the fiducial: label it with the coordinate it fixes (S for axial, R for sagittal).
    plane_coordinates = {"Red": ("S", point[2]), "Yellow": ("R", point[0])}
    compose(path, views, plane_coordinates, result, note)
    return result.summary()


def compose(path: Path, views: dict, plane_coordinates: dict, result, note: str) -> None:
    """The views side by side under Slicer-style coloured view bars, with the result as caption."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = list(views)
    figure = Figure(figsize=(4.4 * len(names), 5.6), dpi=100, facecolor="black")
    for index, name in enumerate(names):
        axis = figure.add_axes((index / len(names) + 0.004, 0.17, 1 / len(names) - 0.008, 0.75))
        axis.imshow(views[name], interpolation="nearest")
        axis.set_axis_off()
        bar = figure.add_axes((index / len(names) + 0.004, 0.92, 1 / len(names) - 0.008, 0.06))
        bar.set_facecolor(VIEW_COLOURS[name])
        bar.set_xticks([])
        bar.set_yticks([])
        axis_name, coordinate_mm = plane_coordinates[name]
        bar.text(0.02, 0.45, f"{name[0]}   {axis_name}: {coordinate_mm:.1f} mm", color="black", fontsize=10,
                 fontweight="bold", va="center", transform=bar.transAxes)
    # An uncertain answer carries its reasons: wrap them rather than let them run off the picture.
    caption = textwrap.fill(f"L3Spotter: {result.summary()}", width=118)
    figure.text(0.5, 0.105, caption, color="white", fontsize=10, ha="center", va="center", linespacing=1.3)
    figure.text(0.5, 0.018, note, color="#bbbbbb", fontsize=8, ha="center", va="center")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, facecolor="black")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="a folder with ct.nii.gz and case.json")
    parser.add_argument("--model", default=None, help="model card for the screenshot (default: the shipped model)")
    parser.add_argument("--icon-only", action="store_true", help="draw the icon and stop")
    args = parser.parse_args(argv)
    draw_icon(ICON_PATH)
    print(f"wrote {ICON_PATH.relative_to(REPO_ROOT)}")
    if not args.icon_only:
        summary = render_screenshot(SCREENSHOT_PATH, args.case, args.model)
        print(f"wrote {SCREENSHOT_PATH.relative_to(REPO_ROOT)}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
