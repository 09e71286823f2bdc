"""``python -m training.adapt`` in its own process, so that minutes of training never block Slicer.

A process rather than a thread: training uses every core and worker processes of its own, and Cancel
must stop all of it at once. The job reads the JSON progress lines the command prints
(``--progress-json``) in a reader thread; the panel polls ``stage``, ``fraction`` and ``done`` from the GUI
thread, as it polls a detection. Nothing here touches Qt or the MRML scene.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

EXIT_REFUSED = 3  # training.adapt's status for "worse than its parent: nothing written"


class AdaptationJob:
    """One run of ``training.adapt``. ``python`` runs it (PythonSlicer in Slicer); ``python_path`` lists
    the folders that hold ``training`` and ``L3SpotterLib``."""

    def __init__(self, arguments: list[str], python: str | None = None, python_path: list[str] = (), cwd: str | None = None):
        self.command = [python or sys.executable, "-m", "training.adapt", "--progress-json", *arguments]
        self._python_path = [str(path) for path in python_path]
        self._cwd = cwd
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._finished = threading.Event()
        self._cancel_requested = threading.Event()
        self.stage = "Starting"
        self.fraction: float | None = None
        self.exit_code: int | None = None
        self.log_tail: deque[str] = deque(maxlen=40)  # the last lines that were not progress, for the error message

    def start(self) -> "AdaptationJob":
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(self._python_path + [environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        environment.setdefault("PYTHONUNBUFFERED", "1")
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1,
            env=environment, cwd=self._cwd, start_new_session=(os.name != "nt"),
        )
        self._reader = threading.Thread(target=self._read, name="L3Spotter adaptation output", daemon=True)
        self._reader.start()
        return self

    def cancel(self) -> None:
        """Stop the run and its worker processes; nothing is written (the card is written last)."""
        self._cancel_requested.set()
        process = self._process
        if process is None or process.poll() is not None:
            return
        if os.name != "nt":
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the projection workers go too
        else:
            process.terminate()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    @property
    def cancelled(self) -> bool:
        return self.done and self._cancel_requested.is_set() and self.exit_code != 0

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    @property
    def succeeded(self) -> bool:
        return self.done and self.exit_code == 0

    @property
    def refused(self) -> bool:
        return self.done and self.exit_code == EXIT_REFUSED

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._finished.wait(timeout_s)

    def message(self) -> str:
        """What happened, in a line for the panel: the last stage, or the error's last lines."""
        if not self.done or self.exit_code == 0 or self.refused:
            return self.stage
        if self.cancelled:
            return "Cancelled: no model was written."
        return f"training.adapt stopped with status {self.exit_code}: " + " | ".join(list(self.log_tail)[-5:])

    def _read(self) -> None:
        try:
            for line in self._process.stdout:
                self._take(line.rstrip("\n"))
        finally:
            self.exit_code = self._process.wait()
            self._finished.set()

    def _take(self, line: str) -> None:
        if line.startswith("{"):
            try:
                progress = json.loads(line)
            except ValueError:
                progress = None
            if isinstance(progress, dict) and "stage" in progress:
                self.stage = str(progress["stage"])
                if progress.get("fraction") is not None:
                    self.fraction = float(progress["fraction"])
                return
        if line.strip():
            self.log_tail.append(line)


def training_package_root(module_dir: Path) -> Path | None:
    """The folder that holds the ``training`` package: beside ``L3SpotterLib`` in an installed extension,
    the repository root in a source checkout. None when neither has it."""
    for candidate in (Path(module_dir), Path(module_dir).parent):
        if (candidate / "training" / "adapt.py").is_file():
            return candidate
    return None
