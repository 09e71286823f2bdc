"""Run the window regressor over all windows of a projection, in batches, on CPU or CUDA."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .windows import extract_windows, padded_for_windows

DEVICES = ("auto", "cpu", "cuda")

# Windows per forward pass. Small batches keep a MobileNetV2's activations in the CPU's caches: on 2 cores,
# 8 windows of 160x160 run about 3x faster per window than 32 (benchmarks/bench_speed.py).
DEFAULT_BATCH_SIZE = 8


def prepare_for_inference(network: torch.nn.Module) -> torch.nn.Module:
    """The same function, faster: each convolution followed by a batch norm becomes one convolution
    (exact up to float rounding, in eval mode), and tensors use the channels-last layout that oneDNN's
    convolutions prefer. Returns a new module; ``network`` is left as it was."""
    import copy

    fused = _fuse_conv_batchnorm(copy.deepcopy(network).eval())
    return fused.to(memory_format=torch.channels_last)


def _fuse_conv_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for child in module.children():
        _fuse_conv_batchnorm(child)
    if isinstance(module, torch.nn.Sequential):
        layers, kept = list(module), []
        index = 0
        while index < len(layers):
            layer = layers[index]
            following = layers[index + 1] if index + 1 < len(layers) else None
            if isinstance(layer, torch.nn.Conv2d) and isinstance(following, torch.nn.BatchNorm2d):
                kept.append(fuse_conv_bn_eval(layer, following))
                index += 2
            else:
                kept.append(layer)
                index += 1
        module._modules.clear()
        for position, layer in enumerate(kept):
            module.add_module(str(position), layer)
    return module


def choose_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Asking for CUDA without it is an error, not a fallback."""
    requested = (requested or "auto").lower()
    if requested not in DEVICES and not requested.startswith("cuda:"):
        raise ValueError(f"unknown device {requested!r}; expected one of {DEVICES}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but torch sees no CUDA device")
    return torch.device(requested)


def predict_windows(
    network: torch.nn.Module,
    stacked_views: np.ndarray,
    tops: np.ndarray,
    height_px: int,
    device: torch.device,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Predicted L3 fraction for each window top; ``stacked_views`` is ``[views, rows, width]``."""
    padded = padded_for_windows(stacked_views, height_px)
    predictions = np.empty(len(tops), dtype=np.float32)
    network.eval()
    with torch.inference_mode():
        for start in range(0, len(tops), batch_size):
            batch_tops = tops[start : start + batch_size]
            windows = torch.from_numpy(np.ascontiguousarray(extract_windows(padded, batch_tops, height_px)))
            windows = windows.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            output = network(windows)
            predictions[start : start + len(batch_tops)] = output.float().cpu().numpy()
            if progress is not None:
                progress(min(1.0, (start + len(batch_tops)) / len(tops)))
    # The targets live in [0, 1]; a prediction outside is the same statement, said louder.
    return np.clip(predictions, 0.0, 1.0)
