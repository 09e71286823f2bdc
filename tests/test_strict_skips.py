"""Under CI=true a skip caused by a missing dependency fails the run; elsewhere it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent

MODULE_LEVEL_SKIP = """
import pytest
pytest.importorskip("l3spotter_no_such_module")

def test_never_runs():
    pass
"""

TEST_LEVEL_SKIP = """
import pytest

def test_needs_a_missing_module():
    pytest.importorskip("l3spotter_no_such_module")

def test_skipped_for_another_reason():
    pytest.skip("this machine has CUDA")
"""


def run_pytest(tmp_path, source: str, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(source)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(TESTS_DIR)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "strict_skips", "-p", "no:cacheprovider", "-rfs", str(tmp_path)]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_a_module_skipped_for_a_missing_import_fails_under_ci(tmp_path):
    run = run_pytest(tmp_path, MODULE_LEVEL_SKIP, ci="true")
    assert run.returncode == 2, run.stdout  # a collection error interrupts the run
    assert "1 error" in run.stdout.splitlines()[-1]
    assert "CI=true: a missing dependency must fail the run" in run.stdout
    assert "l3spotter_no_such_module" in run.stdout


def test_a_test_skipped_for_a_missing_import_fails_under_ci_and_other_skips_stay(tmp_path):
    run = run_pytest(tmp_path, TEST_LEVEL_SKIP, ci="true")
    assert run.returncode == 1, run.stdout
    assert run.stdout.splitlines()[-1].startswith("1 failed, 1 skipped")


def test_without_ci_a_missing_import_is_a_skip(tmp_path):
    run = run_pytest(tmp_path, TEST_LEVEL_SKIP, ci=None)
    assert run.returncode == 0, run.stdout
    assert run.stdout.splitlines()[-1].startswith("2 skipped")
