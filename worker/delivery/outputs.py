"""The upload stage: the job's images, from device tensors to stored objects, and the job's result.

Each image is encoded in a thread and uploaded as soon as it is encoded, so the first uploads overlap the
last encodes. Every image carries the fields its result entry reports, so nothing is paired by position.

Keys carry a short hash of the file's bytes (``<design_id>/design-0-<hash>.png``): a retried job writes
the same objects again, a different result never replaces another, and the objects can be cached as
immutable.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from worker.delivery.encode import CONTENT_TYPES, EXTENSIONS, encode_image, to_host_pixels
from worker.delivery.storage import Artifact, Storage, StoredArtifact
from worker.errors import ErrorCode, WorkerError
from worker.generation.plan import GenerationPlan
from worker.mockups.composite import MockupRequest
from worker.mockups.print_files import PrintFile
from worker.outbound.urls import Deadline
from worker.schema import PRINT_DPI, JobInput
from worker.style.stylize import StyledDesigns

MAX_THREADS = 8
HASH_CHARS = 12
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageOutput:
    """One image the job delivers, and what the result says about it."""

    kind: Literal["design", "mockup", "print_file"]
    name: str  # the key without its hash and extension, e.g. "local-test/mockups/tshirt-0"
    pixels: np.ndarray  # (H, W, C) uint8 on the host
    fmt: str
    metadata: dict[str, str]
    describes: dict[str, Any]  # the result entry's fields besides key, url and size
    quality: int = 90
    dpi: int | None = None
    srgb_profile: bool = False

    def encode(self) -> Artifact:
        data = encode_image(self.pixels, self.fmt, self.quality, self.dpi, self.srgb_profile)
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
        return {
            **self.output.describes,
            "key": self.stored.key,
            "url": self.stored.url,
            "width": width,
            "height": height,
            "bytes": self.size_bytes,
        }


def job_outputs(
    request: JobInput,
    plan: GenerationPlan,
    styled: StyledDesigns,
    products: list[MockupRequest],
    mockups: list[torch.Tensor],
    model_id: str,
    print_files: list[PrintFile] | None = None,
) -> list[ImageOutput]:
    """Every image of the job: design ``i`` (made from ``plan.seeds[i]``), each product's mockup of it, then
    each product's print file of it."""
    seeds = plan.seeds

    def metadata(i: int) -> dict[str, str]:
        return {"style": request.style, "model": model_id, "seed": str(seeds[i])}

    designs = [
        ImageOutput(
            kind="design",
            name=f"{request.design_id}/design-{i}",
            pixels=pixels,
            fmt="png",
            dpi=PRINT_DPI if request.print_size else None,
            metadata=metadata(i),
            describes={
                "index": i,
                "seed": seeds[i],
                "pipeline": plan.pipeline,
                "background": styled.backgrounds[i].as_dict(),
            },
        )
        for i, pixels in enumerate(to_host_pixels(styled.images))
    ]
    return (
        designs
        + [
            ImageOutput(
                kind="mockup",
                name=f"{request.design_id}/mockups/{product.product}-{i}",
                pixels=pixels,
                fmt=request.mockup_format,
                quality=request.mockup_quality,
                metadata=metadata(i),
                describes={"product": product.product, "design_index": i, "color": product.color},
            )
            for product, batch in zip(products, mockups, strict=True)
            for i, pixels in enumerate(batch.cpu().numpy())  # composited to uint8 on the device
        ]
        + [print_file_output(request, item, metadata(item.design_index)) for item in print_files or []]
    )


def print_file_output(request: JobInput, item: PrintFile, metadata: dict[str, str]) -> ImageOutput:
    """A product's print file: a PNG at ``PRINT_DPI`` with an sRGB profile, saying its size in inches."""
    return ImageOutput(
        kind="print_file",
        name=f"{request.design_id}/print/{item.product}-{item.design_index}",
        pixels=item.pixels,
        fmt="png",
        dpi=PRINT_DPI,
        srgb_profile=True,
        metadata=metadata,
        describes={
            "product": item.product,
            "design_index": item.design_index,
            "print_area_in": list(item.size_in),
            "dpi": PRINT_DPI,
        },
    )


def store_outputs(outputs: list[ImageOutput], storage: Storage, deadline: Deadline) -> list[StoredOutput]:
    """Encode and store every output in parallel, within ``deadline``; results in the order of ``outputs``.

    A failure or the deadline ends the stage with a ``WorkerError`` that still lists what was stored. An upload
    still in flight when the deadline passes is removed if it lands later: the result and the bucket agree.
    """
    lock, in_time, abandoned = threading.Lock(), set(), threading.Event()

    def encode_and_put(output: ImageOutput) -> StoredOutput:
        artifact = output.encode()
        stored = StoredOutput(output, storage.put(artifact), len(artifact.data))
        with lock:  # the stage either counts it (before giving up) or never sees it: then it is removed
            if abandoned.is_set():
                storage.delete(stored.stored.key)
            else:
                in_time.add(id(output))
        return stored

    pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_THREADS, len(outputs))), thread_name_prefix="store")
    futures = [pool.submit(encode_and_put, output) for output in outputs]
    try:
        wait(futures, timeout=deadline.remaining())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck peer keeps its thread, not the job
    with lock:
        abandoned.set()
        done = {future for future, output in zip(futures, outputs, strict=True) if id(output) in in_time}
        pending = [future for future in futures if future not in done and not future.done()]
    stored = [future.result() for future in futures if future in done]
    finished = [future for future in futures if future.done() and not future.cancelled()]
    failures = [future.exception() for future in finished if future.exception() is not None]
    if pending or any(future.cancelled() for future in futures):
        error = WorkerError(ErrorCode.TIMEOUT, "the job ran out of time storing its images (JOB_TIMEOUT_S)")
    elif failures and isinstance(failures[0], WorkerError):
        error = failures[0]
    elif failures:
        log.error("storing an image failed unexpectedly", exc_info=failures[0])
        error = WorkerError(ErrorCode.INTERNAL, "an unexpected error ended the job while storing its images")
    else:
        return stored
    error.partial_output = by_kind(stored)
    raise error


def by_kind(stored: list[StoredOutput]) -> dict[str, list[dict[str, Any]]]:
    """The result's ``designs``, ``mockups`` and (when there are any) ``print_files`` lists; a failed job's
    ``partial_output``, so nothing made is lost."""
    lists = {
        "designs": [item.result_entry() for item in stored if item.output.kind == "design"],
        "mockups": [item.result_entry() for item in stored if item.output.kind == "mockup"],
    }
    print_files = [item.result_entry() for item in stored if item.output.kind == "print_file"]
    return lists | ({"print_files": print_files} if print_files else {})


def job_result(
    request: JobInput, plan: GenerationPlan, stored: list[StoredOutput], model: dict[str, Any]
) -> dict[str, Any]:
    """The handler's result for a job whose images are stored (the webhook and timings are added after).

    ``pipeline`` says what made the designs: ``photo`` when no model ran (the model is still described).
    """
    return {
        "design_id": request.design_id,
        "style": request.style,
        "seed": plan.seeds[0],
        "pipeline": plan.pipeline,
        **by_kind(stored),
        "model": model,
    }
