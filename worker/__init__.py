"""A RunPod serverless worker that turns a pet photo or a prompt into styled merchandise designs."""

import worker.runtime.quiet_notices  # noqa: F401  (first: it silences notices printed while the libraries load)
from worker.job import DesignWorker

__all__ = ["DesignWorker"]
