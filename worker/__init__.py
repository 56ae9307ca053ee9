"""A RunPod serverless worker that turns a pet photo or a prompt into styled merchandise designs."""

from worker.job import DesignWorker

__all__ = ["DesignWorker"]
