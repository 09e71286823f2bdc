"""The output folder of a batch: checked before any work starts, and held by one run at a time.

Two runs writing into one folder would interleave their results (a CSV row naming one scan beside the JSON
of another), so a run takes an operating-system lock on the folder (released by the system even if the
run is killed) and records who holds it, for the error the second run gets.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from ..atomic_files import atomic_write_text
from ..errors import L3SpotterError

LOCK_FILE_NAME = ".l3spotter.lock"
HOLDER_FILE_NAME = ".l3spotter.holder"  # JSON: who holds the lock


class OutputFolderError(L3SpotterError):
    """The output folder cannot be created or written to."""


class OutputFolderBusy(L3SpotterError):
    """Another run holds the output folder."""


def prepare_output_folder(out_dir) -> Path:
    """Create ``out_dir`` if needed and prove it writable, or raise :class:`OutputFolderError` naming why."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFolderError(f"{out_dir}: the output folder is an existing file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(f"{out_dir}: the output folder cannot be created ({error.strerror or error})") from None
    _check_writable(out_dir)
    return out_dir


def _check_writable(out_dir: Path) -> None:
    # Writing a file is the only test that tells (permissions, read-only mounts, quotas, ACLs).
    try:
        with tempfile.TemporaryFile(dir=out_dir, prefix=".l3spotter-write-test."):
            pass
    except OSError as error:
        raise OutputFolderError(f"{out_dir}: the output folder is not writable ({error.strerror or error})") from None


class OutputFolderLock:
    """Holds ``out_dir`` for one run: ``with OutputFolderLock(out_dir): ...``.

    Raises :class:`OutputFolderBusy` naming the holder when another run has it.
    """

    def __init__(self, out_dir):
        from filelock import FileLock

        self.out_dir = Path(out_dir)
        self._lock = FileLock(str(self.out_dir / LOCK_FILE_NAME))
        self._holder_path = self.out_dir / HOLDER_FILE_NAME

    def __enter__(self) -> "OutputFolderLock":
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise OutputFolderBusy(
                f"{self.out_dir}: the output folder is in use by another l3spotter run ({self.holder_description()}); "
                "wait for it to finish or choose another --out"
            ) from None
        atomic_write_text(self._holder_path, json.dumps(current_run()) + "\n")
        return self

    def __exit__(self, *exc_info) -> bool:
        self._holder_path.unlink(missing_ok=True)
        self._lock.release()
        return False

    def holder_description(self) -> str:
        try:
            holder = json.loads(self._holder_path.read_text(encoding="utf-8"))
            return f"process {holder['pid']} on {holder['host']}, started {holder['started']}: {holder['command']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "the holder did not say who it is"


def current_run() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(sys.argv),
    }
