"""Fault injection for tests: make GPU failures reachable on a CPU. Off unless ``FAULT_INJECTION`` is set.

``FAULT_INJECTION=oom,nan`` makes the first job's generation run out of memory and the second's return
NaN; each fault fires once, in order, and later jobs run normally. ``late`` lets the job run, and makes
its deadline pass the moment its images are stored (what a slow upload does, without the wait).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import torch

FAULTS = ("oom", "nan", "black", "cuda_error", "late")  # late: the job's deadline passes right after the upload


class FaultPlan:
    def __init__(self, spec: str) -> None:
        faults = [name.strip() for name in spec.split(",") if name.strip()]
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"FAULT_INJECTION: unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}")
        self._pending = deque(faults)
        self._lock = threading.Lock()

    def next_fault(self) -> str | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None


def raise_fault(fault: str | None) -> None:
    """Faults that happen instead of the computation."""
    if fault == "oom":
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
    if fault == "cuda_error":
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered (injected)")


def corrupt_output(fault: str | None, images: torch.Tensor) -> torch.Tensor:
    """Faults that spoil the computation's result."""
    if fault == "nan":
        return torch.full_like(images, float("nan"))
    if fault == "black":
        return torch.zeros_like(images)
    return images


def with_fault(fault: str | None, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``compute()``, or the fault instead of it, or its result spoiled by the fault."""
    raise_fault(fault)
    return corrupt_output(fault, compute())
