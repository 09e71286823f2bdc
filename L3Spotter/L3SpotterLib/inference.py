"""Run the window regressor over all windows of a projection, in batches, on CPU or CUDA."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .windows import extract_windows, padded_for_windows

DEVICES = ("auto", "cpu", "cuda")


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
    batch_size: int = 32,
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
            output = network(windows.to(device, non_blocking=True))
            predictions[start : start + len(batch_tops)] = output.float().cpu().numpy()
            if progress is not None:
                progress(min(1.0, (start + len(batch_tops)) / len(tops)))
    # The targets live in [0, 1]; a prediction outside is the same statement, said louder.
    return np.clip(predictions, 0.0, 1.0)
