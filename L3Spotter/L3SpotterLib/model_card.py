"""A model is a weights file (a torch state dict) plus a model card (JSON) that says how to use it.

The card records everything inference must reproduce exactly (backbone, views, mm grid, window size, HU
window) and what a reader needs to trust it (training data, measured accuracy, the weights' SHA-256).
Loading checks the card's fields and the weights' checksum, and reads the weights with
``torch.load(..., weights_only=True)`` so that a weights file can never run code.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from .checksums import sha256_of_file
from .errors import ModelError
from .mip import VIEWS, MipGrid
from .backbone_names import BACKBONES
from .output_curve import curve_problems

CARD_FORMAT = "l3spotter-model-card/1"
MODELS_DIR = Path(__file__).resolve().parent.parent / "Resources" / "Models"
DEFAULT_MODEL_NAME = "l3spotter_mobilenet_v2"


@dataclass
class ModelCard:
    name: str
    backbone: str
    views: list[str]
    row_mm: float
    col_mm: float
    window_height_px: int
    window_width_px: int
    hu_window: tuple[float, float]
    weights_file: str
    weights_sha256: str = ""
    default_stride_px: int = 2
    confidence_threshold: float = 0.5
    # Knots that undo the network's measured bend of its predictions (see output_curve); {} for none.
    output_curve: dict = field(default_factory=dict)
    # The vertebra count (networks.LevelMapNetwork) that must agree with the windows: its weights file and
    # SHA-256, how it was trained and how well it counts; {} for a model without one.
    vertebra_count: dict = field(default_factory=dict)
    # The inputs the model was measured on: {"slice_thickness_mm": [low, high], "pixel_mm": [low, high],
    # "in_plane_field_mm": [low, None]};
    # outside them an answer is uncertain, whatever its confidence. {} for no limits.
    valid_input: dict = field(default_factory=dict)
    training_data: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)
    notes: str = ""
    format: str = CARD_FORMAT

    @property
    def grid(self) -> MipGrid:
        return MipGrid(row_mm=self.row_mm, col_mm=self.col_mm, width_px=self.window_width_px, hu_window=tuple(self.hu_window))

    def to_dict(self) -> dict:
        data = asdict(self)
        data["hu_window"] = list(self.hu_window)
        return data

    def validate(self, source: str) -> None:
        problems = []
        if self.format != CARD_FORMAT:
            problems.append(f"format is {self.format!r}, expected {CARD_FORMAT!r}")
        if self.backbone not in BACKBONES:
            problems.append(f"backbone {self.backbone!r} is not one of {BACKBONES}")
        if not self.views or any(view not in VIEWS for view in self.views) or len(set(self.views)) != len(self.views):
            problems.append(f"views {self.views!r} must be distinct entries of {VIEWS}")
        if not (self.row_mm > 0 and self.col_mm > 0):
            problems.append("the mm grid must be positive")
        if not (self.window_height_px >= 16 and self.window_width_px >= 16):
            problems.append("the window must be at least 16x16 pixels")
        if len(self.hu_window) != 2 or not self.hu_window[0] < self.hu_window[1]:
            problems.append(f"hu_window {self.hu_window!r} must be [low, high] with low < high")
        if self.default_stride_px < 1:
            problems.append("default_stride_px must be at least 1")
        if not _is_sha256_hex(self.weights_sha256):
            # Without it any file under the weights' name would be loaded: a corrupt or swapped model unnoticed.
            problems.append(f"weights_sha256 {self.weights_sha256!r} must be the 64-hex-digit SHA-256 of the weights file")
        if self.output_curve:
            if not isinstance(self.output_curve, dict) or not {"raw", "target"} <= set(self.output_curve):
                problems.append("output_curve must hold 'raw' and 'target' knot lists")
            else:
                problems.extend(f"output_curve: {problem}" for problem in curve_problems(self.output_curve["raw"], self.output_curve["target"]))
        if self.vertebra_count and not ("weights_file" in self.vertebra_count and _is_sha256_hex(self.vertebra_count.get("weights_sha256"))):
            problems.append("vertebra_count must name its weights_file and the 64-hex-digit weights_sha256")
        if problems:
            raise ModelError(f"{source}: invalid model card: " + "; ".join(problems))


def resolve_card_path(model: str | Path | None) -> Path:
    """The card for ``model``: None (the shipped default), a card ``.json``, a ``.pt`` beside its card,
    or the name of a model in ``Resources/Models``."""
    if model is None or model == "":
        return MODELS_DIR / f"{DEFAULT_MODEL_NAME}.json"
    path = Path(model)
    if path.suffix == ".pt":
        return path.with_suffix(".json")
    if path.suffix == ".json" or path.exists():
        return path
    return MODELS_DIR / f"{model}.json"


def read_card(card_path: Path) -> ModelCard:
    if not card_path.is_file():
        raise ModelError(f"{card_path}: no such model card")
    try:
        data = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{card_path}: the model card is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{card_path}: the model card must be a JSON object")
    known = {spec.name for spec in fields(ModelCard)}
    required = [spec.name for spec in fields(ModelCard) if spec.default is MISSING and spec.default_factory is MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ModelError(f"{card_path}: the model card lacks {', '.join(missing)}")
    card = ModelCard(**{key: value for key, value in data.items() if key in known})
    card.hu_window = tuple(card.hu_window)
    card.validate(str(card_path))
    return card


def model_files(card_path: Path) -> list[Path]:
    """Every file a model is made of: its card, its weights and, where it has one, its vertebra count's
    weights (what to copy to move a model elsewhere)."""
    card_path = Path(card_path)
    card = read_card(card_path)
    files = [card_path, card_path.parent / card.weights_file]
    if card.vertebra_count:
        files.append(card_path.parent / card.vertebra_count["weights_file"])
    return files


def load_model(model: str | Path | None = None, map_location="cpu"):
    """Read a card and its weights; return ``(network, card)`` with the network in eval mode."""
    from .networks import WindowRegressor

    card_path = resolve_card_path(model)
    card = read_card(card_path)
    network = WindowRegressor(card.backbone, n_views=len(card.views))
    _load_weights(network, card_path, card.weights_file, card.weights_sha256, map_location, f"a {card.backbone} window regressor")
    return network, card


def load_vertebra_count(card_path: Path, card: ModelCard, map_location="cpu"):
    """The card's vertebra count network in eval mode, or None for a card without one."""
    from .networks import LevelMapNetwork

    if not card.vertebra_count:
        return None
    network = LevelMapNetwork(n_views=len(card.views))
    count = card.vertebra_count
    _load_weights(network, Path(card_path), count["weights_file"], count["weights_sha256"], map_location, "the vertebra count")
    return network


def _load_weights(network, card_path: Path, weights_file: str, weights_sha256: str, map_location, what: str) -> None:
    """Check the SHA-256 and load a state dict into ``network`` (which is left in eval mode)."""
    import torch

    weights_path = card_path.parent / weights_file
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: the weights file named by {card_path.name} is missing")
    actual = sha256_of_file(weights_path)
    if actual != weights_sha256:
        raise ModelError(
            f"{weights_path}: SHA-256 {actual[:12]}... does not match the card's {weights_sha256[:12]}... "
            "(corrupt or replaced weights)"
        )
    try:
        state = torch.load(weights_path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise ModelError(f"{weights_path}: cannot load the weights ({type(error).__name__}: {error})") from None
    try:
        network.load_state_dict(_float32_state(state))
    except RuntimeError as error:
        raise ModelError(f"{weights_path}: the weights do not fit {what} ({error})") from None
    network.eval()


def save_model(network, card: ModelCard, card_path: Path, half_precision: bool = False) -> ModelCard:
    """Write the weights and the card (atomically), filling in the card's weights file and SHA-256.

    ``half_precision`` stores float tensors as float16 to halve the file; they are widened on load.
    """
    card_path = Path(card_path)
    weights_path = card_path.with_suffix(".pt")
    card.weights_file = weights_path.name
    card.weights_sha256 = write_weights(network, weights_path, half_precision)
    write_card(card, card_path)
    return card


def write_weights(network, weights_path: Path, half_precision: bool = False) -> str:
    """Write a network's state dict atomically; return its SHA-256."""
    import torch

    from .atomic_files import atomic_write_bytes

    state = {key: value.detach().cpu() for key, value in network.state_dict().items()}
    if half_precision:
        state = {key: value.half() if value.is_floating_point() else value for key, value in state.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(weights_path), buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def write_card(card: ModelCard, card_path: Path) -> None:
    """The one writer of model cards: validate, then write atomically."""
    from .atomic_files import atomic_write_text

    card.validate(str(card_path))
    atomic_write_text(Path(card_path), json.dumps(card.to_dict(), indent=2) + "\n")


def _is_sha256_hex(text) -> bool:
    return isinstance(text, str) and re.fullmatch(r"[0-9a-f]{64}", text) is not None


def _float32_state(state: dict) -> dict:
    return {key: value.float() if value.is_floating_point() else value for key, value in state.items()}
