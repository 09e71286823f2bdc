"""Model files: the card is checked, the weights' checksum verified, and weights never run code."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
import torch

from L3SpotterLib.errors import ModelError
from L3SpotterLib.model_card import ModelCard, load_model, read_card, save_model
from L3SpotterLib.networks import BACKBONES, WindowRegressor, count_parameters


def small_card(**changes) -> ModelCard:
    fields = dict(
        name="test", backbone="cnn4", views=["frontal"], row_mm=4.0, col_mm=4.0, window_height_px=32,
        window_width_px=32, hu_window=(-100.0, 1000.0), weights_file="",
    )
    fields.update(changes)
    return ModelCard(**fields)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("n_views", [1, 2])
def test_every_backbone_maps_windows_to_one_number(backbone, n_views):
    network = WindowRegressor(backbone, n_views=n_views).eval()
    with torch.no_grad():
        output = network(torch.rand(2, n_views, 64, 64))
    assert output.shape == (2,)


def test_cnn4_is_the_seeds_size():
    assert 40_000 < count_parameters(WindowRegressor("cnn4").trunk) < 80_000


def test_save_and_load_round_trip(tmp_path):
    network = WindowRegressor("cnn4")
    card = save_model(network, small_card(), tmp_path / "m.json")
    loaded, loaded_card = load_model(tmp_path / "m.json")
    assert loaded_card.weights_sha256 == card.weights_sha256 and len(card.weights_sha256) == 64
    for key, value in network.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])
    # The .pt path and the card path name the same model.
    assert load_model(tmp_path / "m.pt")[1].name == "test"


def test_half_precision_file_is_half_the_size(tmp_path):
    network = WindowRegressor("mobilenet_v2")
    save_model(network, small_card(backbone="mobilenet_v2"), tmp_path / "full.json")
    save_model(network, small_card(backbone="mobilenet_v2"), tmp_path / "half.json", half_precision=True)
    full, half = (tmp_path / "full.pt").stat().st_size, (tmp_path / "half.pt").stat().st_size
    assert half < 0.6 * full
    loaded, _ = load_model(tmp_path / "half.json")
    assert next(loaded.parameters()).dtype == torch.float32


def test_tampered_weights_are_refused(tmp_path):
    save_model(WindowRegressor("cnn4"), small_card(), tmp_path / "m.json")
    weights = tmp_path / "m.pt"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the card"):
        load_model(tmp_path / "m.json")


def test_weights_that_would_run_code_are_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    save_model(WindowRegressor("cnn4"), small_card(), tmp_path / "m.json")
    (tmp_path / "m.pt").write_bytes(pickle.dumps({"x": Payload()}))
    card = json.loads((tmp_path / "m.json").read_text())
    card["weights_sha256"] = hashlib.sha256((tmp_path / "m.pt").read_bytes()).hexdigest()  # the checksum agrees
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="cannot load the weights"):
        load_model(tmp_path / "m.json")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"backbone": "alexnet"}, "backbone 'alexnet'"),
        ({"views": ["axial"]}, "views"),
        ({"hu_window": [1000, -100]}, "hu_window"),
        ({"row_mm": 0}, "mm grid"),
        ({"format": "something-else/9"}, "format"),
        ({"weights_sha256": ""}, "weights_sha256 '' must be the 64-hex-digit SHA-256 of the weights file"),
        ({"weights_sha256": "abc123"}, "weights_sha256 'abc123' must be the 64-hex-digit SHA-256"),
    ],
)
def test_invalid_cards_name_the_problem(tmp_path, change, message):
    save_model(WindowRegressor("cnn4"), small_card(), tmp_path / "m.json")
    card = json.loads((tmp_path / "m.json").read_text())
    card.update(change)
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=message):
        read_card(tmp_path / "m.json")


def test_a_card_without_a_weights_checksum_loads_nothing(tmp_path):
    """An empty (or absent) weights_sha256 would accept any file under the weights' name."""
    save_model(WindowRegressor("cnn4"), small_card(), tmp_path / "m.json")
    card = json.loads((tmp_path / "m.json").read_text())
    del card["weights_sha256"]
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="invalid model card: weights_sha256 '' must be"):
        load_model(tmp_path / "m.json")


def test_card_missing_a_field_is_refused(tmp_path):
    save_model(WindowRegressor("cnn4"), small_card(), tmp_path / "m.json")
    card = json.loads((tmp_path / "m.json").read_text())
    del card["window_height_px"]
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="lacks window_height_px"):
        read_card(tmp_path / "m.json")


def test_weights_of_another_backbone_are_refused(tmp_path):
    save_model(WindowRegressor("cnn4"), small_card(), tmp_path / "m.json")
    card = json.loads((tmp_path / "m.json").read_text())
    card["backbone"] = "resnet18"
    (tmp_path / "m.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="do not fit a resnet18"):
        load_model(tmp_path / "m.json")


def test_missing_model_is_named(tmp_path):
    with pytest.raises(ModelError, match="no such model card"):
        load_model(tmp_path / "nothing.json")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_inference_preparation_keeps_the_function(backbone):
    """Folding batch norms into convolutions and the channels-last layout change speed, not outputs."""
    from L3SpotterLib.inference import prepare_for_inference

    torch.manual_seed(0)
    network = WindowRegressor(backbone).eval()
    # Non-trivial batch-norm statistics, as after training.
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    prepared = prepare_for_inference(network)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in prepared.modules()) or backbone == "resnet18"
    windows = torch.rand(4, 1, 96, 96)
    with torch.no_grad():
        expected = network(windows)
        actual = prepared(windows.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


def test_head_dropout_changes_training_only_and_not_the_weights():
    torch.manual_seed(0)
    with_dropout = WindowRegressor("cnn4", head_dropout=0.5)
    without = WindowRegressor("cnn4", head_dropout=0.0)
    without.load_state_dict(with_dropout.state_dict())  # same parameters: dropout has none
    windows = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        with_dropout.train()
        without.train()
        assert not torch.equal(with_dropout(windows), with_dropout(windows))  # noisy in training
        assert torch.equal(without(windows), without(windows))
        with_dropout.eval()
        without.eval()
        assert torch.allclose(with_dropout(windows), without(windows))


def test_the_card_module_imports_without_torch():
    """The Slicer panel reads cards before PyTorch is installed: the card module must not need torch."""
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; import L3SpotterLib.model_card as card; print(card.DEFAULT_MODEL_NAME)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "l3spotter_mobilenet_v2"
