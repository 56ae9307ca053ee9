"""The job's images, from device tensors to stored objects: each is encoded in a thread and uploaded as
soon as it is encoded, so the first uploads overlap the last encodes.

Keys carry a short hash of the file's bytes (``<design_id>/design-0-<hash>.png``): a retried job writes
the same objects again, a different result never replaces another, and the objects can be cached as
immutable.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from worker.encode import CONTENT_TYPES, EXTENSIONS, encode_image
from worker.errors import ErrorCode, WorkerError
from worker.storage import Artifact, Storage, StoredArtifact
from worker.urls import Deadline

MAX_THREADS = 8
HASH_CHARS = 12


@dataclass(frozen=True)
class ImageOutput:
    """One image the job delivers, and what the result says about it."""

    kind: Literal["design", "mockup"]
    name: str  # the key without its hash and extension, e.g. "local-test/mockups/tshirt-0"
    pixels: np.ndarray  # (H, W, C) uint8 on the host
    fmt: str
    metadata: dict[str, str]
    describes: dict[str, Any]  # the result entry's fields besides key, url and size
    quality: int = 90
    dpi: int | None = None

    def encode(self) -> Artifact:
        data = encode_image(self.pixels, self.fmt, self.quality, self.dpi)
        digest = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
        key = f"{self.name}-{digest}.{EXTENSIONS[self.fmt]}"
        return Artifact(key, data, CONTENT_TYPES[self.fmt], self.metadata)


@dataclass(frozen=True)
class StoredOutput:
    output: ImageOutput
    stored: StoredArtifact
    size_bytes: int

    def result_entry(self) -> dict[str, Any]:
        height, width = self.output.pixels.shape[:2]
        return {**self.output.describes, "key": self.stored.key, "url": self.stored.url,
                "width": width, "height": height, "bytes": self.size_bytes}  # fmt: skip


def store_outputs(outputs: list[ImageOutput], storage: Storage, deadline: Deadline) -> list[StoredOutput]:
    """Encode and store every output in parallel, within ``deadline``; results in the order of ``outputs``.

    A failure or the deadline ends the stage with a ``WorkerError`` that still lists what was stored.
    """

    def encode_and_put(output: ImageOutput) -> StoredOutput:
        artifact = output.encode()
        return StoredOutput(output, storage.put(artifact), len(artifact.data))

    pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_THREADS, len(outputs))), thread_name_prefix="store")
    futures = [pool.submit(encode_and_put, output) for output in outputs]
    try:
        done, pending = wait(futures, timeout=deadline.remaining())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck peer keeps its thread, not the job
    stored = [future.result() for future in futures if future in done and future.exception() is None]
    failures = [future.exception() for future in futures if future in done and future.exception() is not None]
    if pending:
        error = WorkerError(ErrorCode.TIMEOUT, "the job ran out of time storing its images (JOB_TIMEOUT_S)")
    elif failures:
        error = failures[0] if isinstance(failures[0], WorkerError) else None
        if error is None:
            raise failures[0]
    else:
        return stored
    error.partial_output = partial_output(stored)
    raise error


def partial_output(stored: list[StoredOutput]) -> dict[str, list[dict[str, Any]]]:
    """What a failed job did store, so that nothing already made is lost."""
    return {
        "designs": [item.result_entry() for item in stored if item.output.kind == "design"],
        "mockups": [item.result_entry() for item in stored if item.output.kind == "mockup"],
    }
