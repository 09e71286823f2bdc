"""How the engine's front-back reading behaves on development draws: a development tool, not a benchmark.

An answer that is not ``found`` is read once more with front and back swapped (``pipeline.locate``). This
runs the whole engine on the cached projection stacks of ``decision_study.py`` (the shifted family's
development draws, seeds 760000-789999; never the bench's own) twice: as they are, and with the lateral
view mirrored, which is what a volume with front and back swapped under its header projects to. It prints:

* as they are: the statuses, how often the engine wrongly says front and back are swapped, and the right
  vertebra (error <= 15 mm) among answers with L3 in view;
* swapped: the statuses, how often the swap is reported, and the right vertebra.

    .venv/bin/python benchmarks/front_back_study.py          # more than 20 min on 2 cores, even with the stacks cached
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO), str(REPO / "benchmarks")]

from decision_study import SHIFTED_IN_VIEW_DATA, add_single_model_arguments, stacks_and_model  # noqa: E402
from training.metrics import WRONG_VERTEBRA_MM  # noqa: E402


def tally(localisation, in_view: bool, true_row: float, row_mm: float, counter: Counter) -> None:
    counter[localisation.status] += 1
    counter["front and back reported swapped"] += localisation.front_back_swapped
    placed = localisation.l3_row is not None and localisation.status != "not_in_view"
    if in_view and placed and abs(localisation.l3_row - true_row) * row_mm <= WRONG_VERTEBRA_MM:
        counter["right vertebra"] += 1
        counter[f"right vertebra, {localisation.status}"] += 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_single_model_arguments(parser)
    args = parser.parse_args(argv)

    from L3SpotterLib.pipeline import front_back_swapped, locate

    paths, model = stacks_and_model(args, SHIFTED_IN_VIEW_DATA)
    views = list(model.card.views)
    as_is, swapped = Counter(), Counter()
    for done, path in enumerate(paths, 1):
        if done % 50 == 0:
            print(f"  {done}/{len(paths)} scans", file=sys.stderr, flush=True)
        data = np.load(path)
        stacked, in_view, true_row = data["stacked"], bool(data["in_view"]), float(data["true_row"])
        tally(locate(stacked, model), in_view, true_row, model.card.row_mm, as_is)
        tally(locate(front_back_swapped(stacked, views), model), in_view, true_row, model.card.row_mm, swapped)
    print(f"model: {args.model}; {len(paths)} development scans with L3 in view ({' and '.join(SHIFTED_IN_VIEW_DATA)})")
    for name, counter in (("as they are", as_is), ("front and back swapped", swapped)):
        print(f"{name}: " + ", ".join(f"{key} {value}" for key, value in sorted(counter.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
