"""Timing helpers shared by the benchmarks: warm-up, then the median of repeats, synchronised on CUDA."""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, device: str = "cpu") -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def machine_description(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads (torch {torch.__version__})"


def add_common_arguments(parser: argparse.ArgumentParser, size: int = 1024, repeats: int = 5) -> None:
    """``--size``, ``--repeats`` and ``--device`` (CUDA when present), as every benchmark takes them."""
    parser.add_argument("--size", type=int, default=size, help=f"design edge in pixels (default {size})")
    parser.add_argument(
        "--repeats", type=int, default=repeats, help=f"timed repeats after a warm-up (default {repeats})"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
