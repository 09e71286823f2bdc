"""Job arrays without a cluster: ``l3spotter detect ... --shard I/N`` does one share of the cases, and
``l3spotter merge OUT SHARD_OUT...`` puts the shares' results back into one output folder.

A case falls in a shard by a hash of its case id, not by its place in the list, so every job of an array
agrees on the shares even if the folders they list differ in order, and adding cases does not move the
others between shards.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..atomic_files import atomic_write_bytes
from .batch import RESULTS_CSV, results_in_folder, write_results_csv
from .case_discovery import Case


class MergeConflict(Exception):
    """Two output folders hold different inputs under the same case id."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)``, with 1 <= I <= N."""
    index, slash, count = text.partition("/")
    try:
        shard, shards = int(index), int(count)
    except ValueError:
        shard, shards = 0, 0
    if not slash or shards < 1 or not 1 <= shard <= shards:
        raise ValueError(f"--shard {text}: expected I/N with 1 <= I <= N, for example 3/10")
    return shard, shards


def shard_of(case_id: str, shards: int) -> int:
    """The shard (1 ... shards) a case id falls in."""
    return int.from_bytes(hashlib.sha256(case_id.encode("utf-8")).digest()[:8], "big") % shards + 1


def shard_cases(cases: list[Case], shard: int, shards: int) -> list[Case]:
    return [case for case in cases if shard_of(case.case_id, shards) == shard]


def merge_output_folders(shard_folders: list[Path], out_dir: Path) -> int:
    """Copy each result (JSON and picture) of ``shard_folders`` into ``out_dir`` and rewrite its
    results.csv with every case there; returns the number of cases in ``out_dir``. Raises
    :class:`MergeConflict` before copying anything if two folders hold different inputs under one id."""
    out_dir = Path(out_dir)
    inputs_by_id = {case.case_id: result.input for case, result in results_in_folder(out_dir)}
    to_copy = []
    for folder in shard_folders:
        if not (Path(folder) / RESULTS_CSV).is_file():
            raise MergeConflict(f"{folder}: not an output folder of l3spotter detect (no {RESULTS_CSV})")
        for case, result in results_in_folder(Path(folder)):
            known = inputs_by_id.setdefault(case.case_id, result.input)
            if known != result.input:
                raise MergeConflict(f"case id {case.case_id} names {known} in one folder and {result.input} in {folder}")
            to_copy.append((Path(folder), case.case_id))
    out_dir.mkdir(parents=True, exist_ok=True)
    for folder, case_id in to_copy:
        picture = folder / f"{case_id}.png"
        if picture.is_file():
            atomic_write_bytes(out_dir / picture.name, picture.read_bytes())
        atomic_write_bytes(out_dir / f"{case_id}.json", (folder / f"{case_id}.json").read_bytes())
    merged = results_in_folder(out_dir)
    write_results_csv(out_dir / RESULTS_CSV, merged, out_dir)
    return len(merged)
