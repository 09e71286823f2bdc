"""A pytest plugin: under ``CI=true`` a test skipped because a dependency cannot be imported fails instead.

``pytest.importorskip`` lets a developer without, say, ``slicer-core`` run the rest of the suite; in CI the
same skip would hide that dozens of tests never ran. Loaded by ``conftest.py``.
"""

from __future__ import annotations

import os

import pytest

# The start of the reason pytest.importorskip gives ("could not import 'slicer': No module named ...").
MISSING_IMPORT_REASON = "could not import"


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_reason(report) -> str:
    # A skip's longrepr is (path, line, reason).
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def fail_skips_for_missing_imports(report) -> None:
    if not (report.skipped and running_in_ci()):
        return
    reason = skip_reason(report)
    if MISSING_IMPORT_REASON in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true: a missing dependency must fail the run, not skip it ({reason})"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    fail_skips_for_missing_imports(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    fail_skips_for_missing_imports(outcome.get_result())
