"""The error contract: every failure a caller sees has an ``error`` and a machine-readable ``error_code``.

``error_response`` turns whatever ended a job (a ``WorkerError``, the GPU running out of memory or failing,
a bug) into the handler's response.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import torch

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    INVALID_INPUT = "invalid_input"
    INPUT_FETCH_FAILED = "input_fetch_failed"
    MODEL_UNAVAILABLE = "model_unavailable"
    OUT_OF_MEMORY = "out_of_memory"
    GPU_ERROR = "gpu_error"
    MODEL_ERROR = "model_error"
    TIMEOUT = "timeout"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    CONTENT_REFUSED = "content_refused"
    INTERNAL = "internal"


class WorkerError(Exception):
    """A failure of one job, phrased for the caller; ``details`` names the offending fields."""

    def __init__(
        self, code: ErrorCode, message: str, details: list[dict[str, Any]] | None = None, refresh_worker: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.refresh_worker = refresh_worker
        self.partial_output: dict[str, Any] | None = None  # what was stored before the failure

    def to_response(self) -> dict[str, Any]:
        """The handler's return value. RunPod's local API keeps only ``error``, so the code leads it."""
        response: dict[str, Any] = {"error": f"{self.code.value}: {self.message}", "error_code": self.code.value}
        if self.details is not None:
            response["details"] = self.details
        if self.refresh_worker:
            response["refresh_worker"] = True  # RunPod replaces this worker after the job
        if self.partial_output and any(self.partial_output.values()):
            response["partial_output"] = self.partial_output
        return response


def invalid_input(message: str, field: str) -> WorkerError:
    return WorkerError(ErrorCode.INVALID_INPUT, message, [{"field": field, "message": message}])


def content_refused(message: str, field: str | None = None) -> WorkerError:
    return WorkerError(ErrorCode.CONTENT_REFUSED, message, [{"field": field, "message": message}] if field else None)


def error_response(exc: Exception, job_id: str | None) -> dict[str, Any]:
    """The response for the exception that ended job ``job_id``, logged at the level it deserves."""
    if isinstance(exc, WorkerError):
        log.info("job %s failed: %s", job_id, exc.code.value)
        return exc.to_response()
    if isinstance(exc, torch.OutOfMemoryError):
        log.warning("job %s ran out of GPU memory", job_id)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        error = WorkerError(ErrorCode.OUT_OF_MEMORY, "the GPU ran out of memory; try a smaller size or fewer designs")
        return error.to_response()
    if isinstance(exc, torch.AcceleratorError):
        # A CUDA error leaves the context unusable: this worker must not take another job.
        log.error("job %s hit a GPU error, asking RunPod to replace the worker: %s", job_id, exc)
        message = "the GPU failed during the job; retry it on another worker"
        return WorkerError(ErrorCode.GPU_ERROR, message, refresh_worker=True).to_response()
    log.error("job %s failed with an unexpected error", job_id, exc_info=exc)
    return WorkerError(ErrorCode.INTERNAL, "an unexpected error ended the job; it has been logged").to_response()
