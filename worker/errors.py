"""The error contract: every failure a caller sees is a ``WorkerError`` with a machine-readable code."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


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
