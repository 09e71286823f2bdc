"""The experimental lumbar-junction network (training/junction_network.py): how its maps are read, how it
starts from a vertebra count, and its training command end to end on two phantoms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from L3SpotterLib.model_card import load_vertebra_count, read_card, resolve_card_path
from L3SpotterLib.networks import LevelMapNetwork
from training import train_junctions
from training.junction_network import JunctionNetwork, junction_map, junction_rows, lumbosacral_junction_level, vertebra_centre_rows
from training.train_junctions import centre_target


def test_junction_rows_are_where_the_maps_cross_one_half():
    above = np.array([1.0, 1.0, 0.8, 0.2, 0.0, 0.0, 0.0, 0.0])
    below = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.9, 1.0])
    rows = junction_rows(above, below)
    assert rows["thoracolumbar"] == pytest.approx(2.5)  # 0.8 -> 0.2 between rows 2 and 3
    assert rows["lumbosacral"] == pytest.approx(5 + 0.2 / 0.6)  # 0.3 -> 0.9 between rows 5 and 6


def test_a_junction_beyond_the_scan_is_none():
    everywhere_above = np.ones(6)
    nowhere_below = np.zeros(6)
    assert junction_rows(everywhere_above, nowhere_below) == {"thoracolumbar": None, "lumbosacral": None}


def test_vertebra_centres_are_the_peaks_between_two_rows():
    rows = np.arange(200, dtype=float)
    centre = sum(np.exp(-0.5 * ((rows - peak) / 2.0) ** 2) for peak in (20, 37, 54, 71, 88, 105))
    assert vertebra_centre_rows(centre, 30.0, 95.0, row_mm=2.0) == [37.0, 54.0, 71.0, 88.0]
    # Peaks closer than MIN_VERTEBRA_SPACING_MM (20 mm = 10 rows) are one vertebra: the higher one stays.
    doubled = centre + 1.2 * np.exp(-0.5 * ((rows - 42) / 2.0) ** 2)
    assert vertebra_centre_rows(doubled, 30.0, 60.0, row_mm=2.0) == [42.0, 54.0]


def test_centre_target_peaks_at_whole_levels():
    target = centre_target(np.array([-3.0, -2.5, 0.0, 0.15, 2.0], dtype=np.float32))
    assert target[[0, 2, 4]] == pytest.approx([1.0, 1.0, 1.0])
    assert target[1] < 0.01  # half-way between two centres
    assert target[3] == pytest.approx(np.exp(-0.5))


def test_the_lumbosacral_junction_moves_with_the_lumbar_count():
    assert [lumbosacral_junction_level(count) for count in (4, 5, 6)] == [1.5, 2.5, 3.5]


def test_it_starts_from_a_vertebra_count_and_gives_three_maps_at_four_rows():
    count = LevelMapNetwork(n_views=2)
    network = JunctionNetwork(n_views=2)
    network.load_count_weights(count.state_dict())
    assert torch.equal(network.stride4[0][0].weight, count.stride8[0][0].weight)
    assert torch.equal(network.along_body.weight_hh_l0, count.along_body.weight_hh_l0)
    network.eval()
    above, below, centre = junction_map(network, np.zeros((2, 100, 160), dtype=np.float32), torch.device("cpu"))
    assert above.shape == below.shape == centre.shape == (100,)
    with torch.inference_mode():
        assert network(torch.zeros(1, 2, 128, 160)).shape == (1, 3, 32)


def test_count_weights_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        JunctionNetwork(n_views=2).load_count_weights({"stride8.0.0.weight": torch.zeros(1), "unknown.weight": torch.zeros(1)})


def test_the_training_command_writes_weights_and_its_record(tmp_path):
    card = resolve_card_path(None)
    out = tmp_path / "junctions"
    argv = [str(card), "--out", str(out), "--data", "phantoms:2:100000", "--val-data", "phantoms:1:900000",
            "--steps", "2", "--validate-every", "2", "--batch-size", "2", "--threads", "1", "--workers", "1",
            "--cache-dir", str(tmp_path / "cache")]
    assert train_junctions.main(argv) == 0
    record = json.loads((out / "junctions.json").read_text())
    assert record["steps_run"] == 2
    assert set(record["validation"]) == {"thoracolumbar_median_mm", "lumbosacral_median_mm", "lumbosacral_transitional_median_mm",
                                         "row_error", "lumbar_count_right", "lumbar_count_right_transitional"}
    network = JunctionNetwork(n_views=2)
    network.load_state_dict(torch.load(out / "junctions.pt", map_location="cpu", weights_only=True))
    # It started from the shipped count's trunk, which training of two steps barely moves.
    count = load_vertebra_count(card, read_card(card))
    assert torch.allclose(network.stride32[0].conv[0][0].weight, count.stride32[0].conv[0][0].weight, atol=1e-2)
