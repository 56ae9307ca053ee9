"""A RunPod serverless worker that turns a pet photo or a prompt into styled merchandise designs."""

from worker.job import DesignWorker
from worker.runtime import quiet_notices  # noqa: F401  (first: it silences notices printed while the libraries load)

__all__ = ["DesignWorker"]
