"""Vertebra label ids of the VerSe convention (the one ``../shared/data`` and the phantoms use)."""

from __future__ import annotations

# VerSe: 1-7 C1-C7, 8-19 T1-T12, 20-24 L1-L5, 25 L6, 26 sacrum, 27 coccyx, 28 T13.
VERSE_LABELS: dict[int, str] = {
    **{i: f"C{i}" for i in range(1, 8)},
    **{7 + i: f"T{i}" for i in range(1, 13)},
    **{19 + i: f"L{i}" for i in range(1, 6)},
    25: "L6",
    26: "sacrum",
    27: "coccyx",
    28: "T13",
}
VERSE_IDS: dict[str, int] = {name: label for label, name in VERSE_LABELS.items()}

# Head-to-foot order of the names (T13 after T12, L6 after L5).
HEAD_TO_FOOT: tuple[str, ...] = (
    *(f"C{i}" for i in range(1, 8)),
    *(f"T{i}" for i in range(1, 14)),
    *(f"L{i}" for i in range(1, 7)),
    "sacrum",
    "coccyx",
)

L3_NAME = "L3"
