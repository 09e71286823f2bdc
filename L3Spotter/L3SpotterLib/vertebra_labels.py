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

# TotalSegmentator's multilabel ids (task "total"): v2 counts up from the sacrum, v1 from L5.
_SPINE_FOOT_TO_HEAD = (
    *(f"L{i}" for i in range(5, 0, -1)),
    *(f"T{i}" for i in range(12, 0, -1)),
    *(f"C{i}" for i in range(7, 0, -1)),
)
TOTALSEGMENTATOR_V2_IDS: dict[str, int] = {"sacrum": 25, **{name: 27 + n for n, name in enumerate(_SPINE_FOOT_TO_HEAD)}}
TOTALSEGMENTATOR_V1_IDS: dict[str, int] = {"sacrum": 92, **{name: 18 + n for n, name in enumerate(_SPINE_FOOT_TO_HEAD)}}

LABEL_CONVENTIONS: dict[str, dict[str, int]] = {
    "verse": VERSE_IDS,
    "totalseg": TOTALSEGMENTATOR_V2_IDS,
    "totalseg_v1": TOTALSEGMENTATOR_V1_IDS,
}
