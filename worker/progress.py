"""The job's stages, their share of the progress bar, and the time each took.

One list of stage names and percentages serves RunPod's ``progress_update`` and, later, progress webhooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from worker.errors import ErrorCode, WorkerError
from worker.outbound.urls import Deadline

log = logging.getLogger(__name__)

# stage name -> (percent when it starts, percent when it ends)
STAGES: dict[str, tuple[int, int]] = {
    "validate": (0, 2),
    "load_input": (2, 5),
    "generate": (5, 80),
    "style": (80, 84),
    "mockups": (84, 90),
    "upload": (90, 98),  # each image encoded, then uploaded as soon as it is
    "webhook": (98, 100),
}

ProgressSink = Callable[[dict[str, Any]], None]


class JobProgress:
    """Reports each stage as it starts, denoising steps at most once per ``interval_s``, and times stages.

    It also keeps the job's time budget: a stage or a denoising step that starts after ``budget_s``
    ends the job with ``timeout`` (raising from diffusers' step callback stops the pipeline).
    """

    def __init__(
        self,
        sink: ProgressSink,
        interval_s: float = 1.0,
        budget_s: float = float("inf"),
        clock: Callable[[], float] = time.monotonic,
    ):
        self._sinks = [sink]
        self._interval_s = interval_s
        self._clock = clock
        self._last_step_report = float("-inf")
        self._started = time.perf_counter()
        self.deadline = Deadline(budget_s, clock)  # bounds every stage and every outbound transfer
        self._budget_s = budget_s
        self.timings_ms: dict[str, int] = {}

    def remaining_s(self) -> float:
        return self.deadline.remaining()

    def check_deadline(self) -> None:
        if self.deadline.passed:
            raise WorkerError(
                ErrorCode.TIMEOUT, f"the job ran longer than its {self._budget_s:g} s budget (JOB_TIMEOUT_S)"
            )

    def add_sink(self, sink: ProgressSink) -> None:
        """Send the same updates somewhere else too (the progress webhooks)."""
        self._sinks.append(sink)

    def _send(self, update: dict[str, Any]) -> None:
        for sink in self._sinks:
            sink(update)

    @contextmanager
    def stage(self, name: str, enforce_deadline: bool = True) -> Iterator[None]:
        """``enforce_deadline=False`` for the report after the outputs exist: it must run, late or not."""
        if enforce_deadline:
            self.check_deadline()
        self._send({"stage": name, "percent": STAGES[name][0]})
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round((time.perf_counter() - started) * 1000)
            log.info("%s took %d ms", name, self.timings_ms[name])

    def step(self, done: int, total: int) -> None:
        """Called from the denoising loop; the last step is always reported."""
        self.check_deadline()
        now = self._clock()
        if done < total and now - self._last_step_report < self._interval_s:
            return
        self._last_step_report = now
        start, end = STAGES["generate"]
        percent = start + (end - start) * done // max(total, 1)
        self._send({"stage": "generate", "percent": percent, "step": done, "steps": total})

    def total_ms(self) -> int:
        return round((time.perf_counter() - self._started) * 1000)

    def timings(self) -> dict[str, int]:
        """Each stage's time so far, and the job's total: the result's ``timings_ms``."""
        return {**self.timings_ms, "total": self.total_ms()}
