"""training.adapt: its schedule, its refusal rules, and real (small) runs from the shipped model."""

from __future__ import annotations

import json


from L3SpotterLib.checksums import sha256_of_file
from L3SpotterLib.model_card import MODELS_DIR, DEFAULT_MODEL_NAME, read_card
from L3SpotterLib.pipeline import LoadedModel
from training import adapt
from training.adapt import Score, adaptation_schedule, judge_against_parent, phantom_specs

SHIPPED = MODELS_DIR / f"{DEFAULT_MODEL_NAME}.json"
# Three small phantoms with L3 in view stand for a site's cases; two phantoms each for rehearsal and judging.
SITE = "phantoms:3:771000:distribution=shifted,l3_in_view=true"
SMALL_RUN = ["--phantoms", "2", "--val-phantoms", "2", "--workers", "1", "--threads", "2"]


def test_the_schedule_grows_with_the_cases_within_bounds():
    assert [adaptation_schedule(n).steps for n in (3, 5, 10, 20, 50, 200)] == [150, 150, 200, 300, 500, 500]
    assert {adaptation_schedule(n).learning_rate for n in (3, 20, 50)} == {1e-5}


def test_a_child_no_worse_than_its_parent_is_accepted():
    parent = Score(mean_error_mm=2.0, wrong_vertebra_share=0.05, n_cases=40)
    assert judge_against_parent(parent, Score(2.2, 0.05, 40)) == []
    assert judge_against_parent(parent, Score(1.5, 0.0, 40)) == []


def test_a_child_with_more_wrong_vertebrae_or_a_larger_error_is_refused_with_both_figures():
    parent = Score(mean_error_mm=2.0, wrong_vertebra_share=0.0, n_cases=40)
    assert judge_against_parent(parent, Score(2.21, 0.0, 40)) == [
        "a mean error of 2.21 mm on the parent's validation phantoms, more than 0.2 mm above the parent's 2.00 mm, "
        "beyond the noise (+0.21 mm, twice its standard error 0.00 mm)"]
    assert judge_against_parent(parent, Score(1.9, 0.025, 40)) == [
        "more wrong vertebrae than its parent on the parent's validation phantoms (2.5% against 0.0%)"]
    assert len(judge_against_parent(parent, Score(9.0, 0.5, 40))) == 2
    assert judge_against_parent(Score(2.0, 0.0, 40, 0.0, 10), Score(2.0, 0.0, 40, 0.1, 10)) == [
        "L3 placed inside more of the parent's validation phantoms that do not hold it (10.0% against 0.0%)"]
    assert judge_against_parent(parent, Score(2.21, 0.0, 40), tolerance_mm=0.5) == []


def test_a_mean_error_raised_by_one_case_is_noise_but_a_raise_on_every_case_is_not():
    parent_errors = (2.0,) * 24 + (3.0,)
    parent = Score(2.04, 0.0, 25, errors_mm=parent_errors)
    one_case_jumps = parent_errors[:24] + (12.0,)  # +0.36 mm on the mean, from one case
    assert judge_against_parent(parent, Score(2.40, 0.0, 25, errors_mm=one_case_jumps)) == []
    every_case_worse = tuple(error + 0.3 for error in parent_errors)
    [reason] = judge_against_parent(parent, Score(2.34, 0.0, 25, errors_mm=every_case_worse))
    assert reason.startswith("a mean error of 2.34 mm") and "twice its standard error 0.00 mm" in reason


def test_rehearsal_and_validation_phantoms_are_the_parents_own_first_seeds():
    sources = ["phantoms:1000:100000", "cases.csv", "phantoms:600:200000:fov_profile=archive"]
    assert phantom_specs(sources, 5) == ["phantoms:3:100000", "phantoms:2:200000:fov_profile=archive"]
    assert phantom_specs(["phantoms:1:5"], 4) == ["phantoms:1:5"]
    assert phantom_specs(["cases.csv"], 4) == [] and phantom_specs(sources, 0) == []


def test_too_few_cases_are_refused_before_any_training(tmp_path, capsys):
    out = tmp_path / "site.json"
    status = adapt.main(["--data", "phantoms:2:771000:l3_in_view=true", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *SMALL_RUN])
    assert status == adapt.EXIT_UNUSABLE
    error = capsys.readouterr().err
    assert "2 labelled case(s)" in error and "at least 3" in error
    assert list(tmp_path.iterdir()) == []


def test_the_parent_is_never_overwritten(tmp_path, capsys):
    status = adapt.main(["--data", SITE, "--out", str(SHIPPED), "--cache-dir", str(tmp_path / "cache"), *SMALL_RUN])
    assert status == adapt.EXIT_UNUSABLE and "would overwrite the parent model" in capsys.readouterr().err


def test_a_run_that_wrecks_the_model_is_refused_and_writes_nothing(tmp_path, capsys):
    """A real run with a learning rate far too high: the child is worse on the parent's validation
    phantoms, so the command says so with both figures and leaves no file behind."""
    out = tmp_path / "models" / "site.json"
    status = adapt.main(["--data", SITE, "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--steps", "3", "--lr", "0.05", *SMALL_RUN])
    error = capsys.readouterr().err
    assert status == adapt.EXIT_REFUSED
    assert "refused:" in error and "above the parent's" in error and "Nothing was written" in error
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []

    # For studies only: the same run written anyway, its card saying why it is refused.
    status = adapt.main(["--data", SITE, "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--steps", "3", "--lr", "0.05",
                         "--write-even-if-worse", *SMALL_RUN])
    card = read_card(out)
    assert status == 0 and card.accuracy["refused_for"] and card.notes.startswith("REFUSED, written for a study")


def test_an_accepted_run_writes_a_loadable_model_that_records_its_parent_and_cases(tmp_path):
    out = tmp_path / "site_model.json"
    status = adapt.main(["--data", SITE, "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--steps", "2", "--lr", "1e-6", *SMALL_RUN])
    assert status == 0

    card, parent = read_card(out), read_card(SHIPPED)
    data = card.training_data
    assert data["adapted_from"] == {"card": str(SHIPPED), "name": parent.name, "weights_sha256": parent.weights_sha256}
    assert [case["case_id"] for case in data["site_cases"]] == ["phantom_771000", "phantom_771001", "phantom_771002"]
    assert (data["steps"], data["learning_rate"]) == (2, 1e-6)
    assert data["rehearsal_phantoms"] == ["phantoms:1:100000", "phantoms:1:200000:fov_profile=archive"]
    judged = card.accuracy["parent_validation_phantoms"]
    # Of the two validation phantoms, the one with an archive field of view does not hold L3.
    assert (judged["parent"]["n_cases"], judged["parent"]["n_without_l3"]) == (judged["adapted"]["n_cases"], judged["adapted"]["n_without_l3"]) == (1, 1)
    # Inherited, not re-fitted: the count (copied beside the card, same bytes), the curve and the threshold.
    assert card.vertebra_count["weights_file"] == "site_model_count.pt"
    assert sha256_of_file(tmp_path / "site_model_count.pt") == parent.vertebra_count["weights_sha256"]
    assert (card.output_curve, card.confidence_threshold) == (parent.output_curve, parent.confidence_threshold)
    assert card.weights_sha256 != parent.weights_sha256
    loaded = LoadedModel.load(out, device="cpu")
    assert loaded.count_network is not None and loaded.card.name == "site_model"
    json.loads(out.read_text())  # a complete card: written last, atomically
