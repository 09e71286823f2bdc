"""How much adapting to a site helps: the shipped model adapted (``training.adapt``) on 0, 5, 10 and 20
labelled scans of "a new site", then scored on that site's scans that were not used.

    .venv/bin/python benchmarks/adaptation_curve.py                      # ~35 min on 2 cores
    .venv/bin/python benchmarks/adaptation_curve.py --sizes 5 --test 10 --reference 5 --out /tmp/curve   # a quick look

The new site is the shifted phantom family of the domain-shift bench (``L3Spotter/L3SpotterLib/phantom/shifted.py``:
other HU, proportions, kernels, slice thicknesses, PET/CT), acquired as real scans are (1.25 mm pixels),
L3 in view. Its cases are drawn from seeds no training, selection or bench uses:

* adaptation pool: seeds 770000-770019 (the first 5, 10 or 20: nested, as a site collects them);
* site test scans: seeds 780000 on (``--test``, 60 by default), never adapted on;
* reference: standard phantoms from the bench's reference seeds 740000 on (``--reference``), to see what
  adapting costs on the scans the parent was made for.

Each model runs through the whole engine (count, threshold, decision) as users get it. Printed per
model: adaptation seconds, and on each test part mean error, right vertebra, coverage (``found``) and the
share of ``found`` answers on the wrong vertebra. Each adaptation starts from an empty projection cache, as a
site's first run does, so its seconds include making every projection. Writes the table and one CSV per
model and part to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "L3Spotter"), str(REPO), str(REPO / "benchmarks")]

from domain_shift_bench import part_figures  # noqa: E402
from L3SpotterLib.atomic_files import atomic_write_text  # noqa: E402
from L3SpotterLib.model_card import DEFAULT_MODEL_NAME, MODELS_DIR, read_card  # noqa: E402
from training import adapt  # noqa: E402
from training.annotations import read_data_spec  # noqa: E402
from training.evaluate import evaluate_models, write_outcomes_csv  # noqa: E402

SITE = "distribution=shifted,l3_in_view=true,coarse_pixel_mm=1.25"
POOL_FIRST_SEED = 770000
TEST_FIRST_SEED = 780000
REFERENCE_FIRST_SEED = 740000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20], help="site cases to adapt on (0 is always shown)")
    parser.add_argument("--test", type=int, default=60, help="site test scans")
    parser.add_argument("--reference", type=int, default=30, help="standard phantoms (in-distribution reference)")
    parser.add_argument("--out", default="docs/results/adaptation_curve")
    parser.add_argument("--cache-dir", default="cache/projections", help="the evaluation's projection cache")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parent = MODELS_DIR / f"{DEFAULT_MODEL_NAME}.json"

    models, labels, adapt_seconds, judged = [str(parent)], ["0 (shipped)"], [None], [None]
    for size in sorted(set(args.sizes)):
        card_path = out / f"site_{size}.json"
        # A model adapted by an earlier run of this script is reused (delete it to adapt again). Each run
        # starts from an empty projection cache, as at a site, so that its seconds are a site's first run.
        fresh_cache = out / f"cache_{size}"
        # --write-even-if-worse: a model the rules refuse is scored too (what the gate kept the site from),
        # and its card says why; the shipped model is what such a site keeps.
        status = 0 if card_path.is_file() else adapt.main(["--data", f"phantoms:{size}:{POOL_FIRST_SEED}:{SITE}", "--out", str(card_path),
                                                          "--cache-dir", str(fresh_cache), "--workers", str(args.workers),
                                                          "--write-even-if-worse"])
        shutil.rmtree(fresh_cache, ignore_errors=True)
        label = f"{size}"
        if status != 0:
            print(f"{size} cases: training.adapt refused or failed (status {status}); shown as the shipped model", file=sys.stderr)
            models.append(str(parent))
            labels.append(f"{size} (refused: shipped kept)")
            adapt_seconds.append(None)
            judged.append(None)
            continue
        card = read_card(card_path)
        models.append(str(card_path))
        labels.append(label + (" (refused)" if card.accuracy.get("refused_for") else ""))
        adapt_seconds.append(card.training_data["seconds"])
        judged.append(card.accuracy["parent_validation_phantoms"])

    parts = {
        "site_test": f"phantoms:{args.test}:{TEST_FIRST_SEED}:{SITE}",
        "reference": f"phantoms:{args.reference}:{REFERENCE_FIRST_SEED}:l3_in_view=true,coarse_pixel_mm=1.25",
    }
    figures = {}
    unique_models = list(dict.fromkeys(models))  # a refused size runs the shipped model: evaluated once
    for part, spec in parts.items():
        per_model = evaluate_models(read_data_spec(spec, keep_out_of_view=True), unique_models, workers=args.workers)
        for label, model in zip(labels, models):
            outcomes = per_model[unique_models.index(model)]
            write_outcomes_csv(out / f"{part}_{label.split()[0]}.csv", outcomes)
            figures[(part, label)] = part_figures(part, outcomes)

    lines = [f"Adaptation curve: the shipped model adapted on n cases of the shifted family ({SITE}),",
             f"pool seeds {POOL_FIRST_SEED}+, site test {args.test} scans from seed {TEST_FIRST_SEED}, reference {args.reference} standard "
             f"phantoms from seed {REFERENCE_FIRST_SEED}.", "",
             "Every adapted model is scored, also those training.adapt refuses (marked: a site keeps the shipped model then;",
             "run here with --write-even-if-worse). Adaptation seconds: a first run, projections made from scratch.", "",
             "cases | adapt s | part       | mean mm | right vertebra | coverage | found on wrong vertebra | judged on parent's validation (parent -> adapted)"]
    for label, seconds, judgement in zip(labels, adapt_seconds, judged):
        for part in parts:
            f = figures[(part, label)]
            judged_text = "" if judgement is None else (
                f"{judgement['parent']['mean_error_mm']} -> {judgement['adapted']['mean_error_mm']} mm, wrong "
                f"{100 * judgement['parent']['wrong_vertebra_share']:.0f} -> {100 * judgement['adapted']['wrong_vertebra_share']:.0f} %")
            lines.append(
                f"{label:>5} | {'' if seconds is None else f'{seconds:.0f}':>7} | {part:<10} | {f['mean_error_mm']:>7} | "
                f"{100 * f['right_vertebra']:>13.1f}% | {100 * f['coverage_found']:>7.1f}% | "
                f"{f['n_found_wrong_vertebra']:>3} of {f['n_found']:<3} ({100 * f['found_wrong_vertebra']:.1f} %)     | {judged_text}"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    atomic_write_text(out / "summary.txt", text)
    atomic_write_text(out / "figures.json", json.dumps({f"{part}|{label}": value for (part, label), value in figures.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
