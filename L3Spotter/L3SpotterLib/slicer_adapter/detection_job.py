"""A detection run in a worker thread, so that the Slicer panel stays responsive: importing torch, loading
the model and running the network take seconds, and ``processEvents`` in the GUI thread made the panel
re-entrant instead.

The panel polls the job from the GUI thread (a timer) for its stage, its share of windows done and its
result; nothing here touches Qt or the MRML scene. Cancelling takes effect at the next stage or the next
batch of windows.
"""

from __future__ import annotations

import threading
from typing import Callable

from ..result import DetectionResult


class DetectionCancelled(BaseException):
    """Raised inside the worker to stop it. A BaseException, so that the engine's "any exception becomes
    an error result" rule does not turn a cancel into an error."""


class DetectionJob:
    """``work(progress, window_progress) -> DetectionResult`` run in a daemon thread.

    ``progress(message)`` and ``window_progress(fraction)`` are the callbacks the engine calls; the job
    records them for polling and raises :class:`DetectionCancelled` from them once cancelled.
    """

    def __init__(self, work: Callable[[Callable[[str], None], Callable[[float], None]], DetectionResult]):
        self._work = work
        self._cancel_requested = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="L3Spotter detection", daemon=True)
        self.stage = "Starting"
        self.fraction: float | None = None  # None until the network starts
        self.result: DetectionResult | None = None
        self.cancelled = False
        self.failure: BaseException | None = None  # an error the work itself did not turn into a result

    @classmethod
    def finished_with(cls, result: DetectionResult) -> "DetectionJob":
        """A job that is already done (a problem found before any work could start)."""
        job = cls(lambda progress, window_progress: result)
        job.result = result
        job._finished.set()
        return job

    def start(self) -> "DetectionJob":
        if not self._finished.is_set():
            self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel_requested.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested.is_set()

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job is done (for scripts and tests; the panel polls instead)."""
        return self._finished.wait(timeout_s)

    def _run(self) -> None:
        try:
            self.result = self._work(self._on_stage, self._on_fraction)
        except DetectionCancelled:
            self.cancelled = True
        except BaseException as error:  # recorded for the panel to show; a worker thread has no one to raise to
            self.failure = error
        finally:
            self._finished.set()

    def _raise_if_cancelled(self) -> None:
        if self._cancel_requested.is_set():
            raise DetectionCancelled()

    def _on_stage(self, message: str) -> None:
        self._raise_if_cancelled()
        self.stage = message

    def _on_fraction(self, fraction: float) -> None:
        self._raise_if_cancelled()
        self.fraction = float(fraction)
