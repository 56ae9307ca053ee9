"""A RunPod serverless worker that turns a pet photo or a prompt into styled merchandise designs."""

from worker import noise  # noqa: F401  (first: it silences notices printed while the libraries load)
from worker.job import DesignWorker

__all__ = ["DesignWorker"]
