"""Error statistics as METHOD.md defines them, and the seed's table layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# An error of more than half a vertebra places the answer on the wrong vertebra.
WRONG_VERTEBRA_MM = 15.0


@dataclass(frozen=True)
class ErrorSummary:
    n: int
    mean_slices: float
    sd_slices: float
    mean_mm: float
    sd_mm: float
    median_mm: float
    p95_mm: float
    max_mm: float
    within_1_slice: float
    within_10_mm: float
    wrong_vertebra: float

    def as_row(self) -> str:
        return (
            f"{self.mean_slices:.2f} ± {self.sd_slices:.2f} slices | {self.mean_mm:.2f} ± {self.sd_mm:.2f} mm | "
            f"median {self.median_mm:.2f} mm | p95 {self.p95_mm:.2f} mm | max {self.max_mm:.1f} mm | "
            f"≤1 slice {100 * self.within_1_slice:.1f} % | ≤10 mm {100 * self.within_10_mm:.1f} % | "
            f"wrong vertebra {100 * self.wrong_vertebra:.1f} % (n={self.n})"
        )


def summarise_errors(errors_mm, errors_slices) -> ErrorSummary:
    """|predicted - true| per case, in mm and in slices of each scan's own spacing."""
    errors_mm = np.asarray(errors_mm, dtype=float)
    errors_slices = np.asarray(errors_slices, dtype=float)
    if errors_mm.size == 0:
        nan = float("nan")
        return ErrorSummary(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
    return ErrorSummary(
        n=int(errors_mm.size),
        mean_slices=float(errors_slices.mean()),
        sd_slices=float(errors_slices.std()),
        mean_mm=float(errors_mm.mean()),
        sd_mm=float(errors_mm.std()),
        median_mm=float(np.median(errors_mm)),
        p95_mm=float(np.percentile(errors_mm, 95)),
        max_mm=float(errors_mm.max()),
        within_1_slice=float(np.mean(errors_slices <= 1.0)),
        within_10_mm=float(np.mean(errors_mm <= 10.0)),
        wrong_vertebra=float(np.mean(errors_mm > WRONG_VERTEBRA_MM)),
    )


def share_wrong_or_missed(summary: ErrorSummary, n_missed: int) -> float:
    """Wrong vertebra among all in-view scans, a scan whose L3 was not found counting as wrong."""
    return (summary.wrong_vertebra * summary.n + n_missed) / max(1, summary.n + n_missed) if summary.n else float(n_missed > 0)


def share_within_1_slice(summary: ErrorSummary, n_missed: int) -> float:
    """Within one slice among all in-view scans (a missed scan is not)."""
    return summary.within_1_slice * summary.n / max(1, summary.n + n_missed) if summary.n else 0.0


def share_upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided upper confidence bound (Clopper-Pearson) of a share seen as ``k`` in ``n``.

    What a benchmark can claim: 0 wrong in 123 still allows a true rate up to 2.4 % (95 %), so a target of
    0.5 % is shown met only by a part large enough for that bound to fall under it.
    """
    from scipy.stats import beta

    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    return float(beta.ppf(confidence, k + 1, n - k))
