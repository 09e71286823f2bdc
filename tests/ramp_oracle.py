"""A stand-in for a trained network, for tests of everything around the CNN on a real scan.

:class:`RampOracle` knows a reference projection and where L3 lies on it. Given a window, it finds where
the window sits on the reference (by matching row profiles) and answers the exact target a perfect model
would give. The rest of the pipeline (projection, windows, ramp correlation, geometry, MRML) is then tested
against a known answer, without a trained model. Inputs whose projection differs from the reference
(flipped, shifted, resampled differently) get wrong answers, so the oracle also checks that a transformed
or reoriented copy of the scan reaches the engine as the same projection.
"""

from __future__ import annotations

import numpy as np
import torch

from L3SpotterLib.windows import padded_for_windows, window_target

_COLUMN_BANDS = 4


def row_profiles(image: np.ndarray) -> np.ndarray:
    """``[rows, views * bands]``: each row's mean in a few column bands, for each view (``[views, rows, cols]``)."""
    bands = np.array_split(image, _COLUMN_BANDS, axis=-1)
    profiles = np.stack([band.mean(axis=-1) for band in bands], axis=-1)  # [views, rows, bands]
    return np.concatenate(list(profiles), axis=-1)


class RampOracle(torch.nn.Module):
    def __init__(self, reference_views: np.ndarray, l3_row: float, height_px: int):
        """``reference_views``: ``[views, rows, width]`` projection pixels; ``l3_row``: L3 on its rows."""
        super().__init__()
        self.l3_row = float(l3_row)
        self.height_px = int(height_px)
        padded = padded_for_windows(np.asarray(reference_views, dtype=np.float32), self.height_px)
        profiles = row_profiles(padded)  # [padded rows, features]
        # Every window position on the padded reference: [positions, height, features].
        self._reference_windows = np.lib.stride_tricks.sliding_window_view(profiles, self.height_px, axis=0).transpose(0, 2, 1)

    def window_top(self, window: np.ndarray) -> int:
        """The projection row of the window's top (negative inside the padding above)."""
        squared_distance = ((self._reference_windows - row_profiles(window)[None]) ** 2).sum(axis=(1, 2))
        return int(np.argmin(squared_distance)) - (self.height_px - 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        batch = windows.detach().cpu().numpy()
        tops = np.array([self.window_top(window) for window in batch])
        return torch.from_numpy(window_target(self.l3_row, tops, self.height_px).astype(np.float32))
