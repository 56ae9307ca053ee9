"""Encode and upload one job's images: the worker's pipeline against the settings it replaced, same run.

    python -m bench.upload [--repeats 5]

The images are a real job's: a 1024x1024 design from the style stage (Watercolor, on the synthetic pet)
and the six mockups the compositor makes of it, as host pixels. Three ways to store them in SeaweedFS
on loopback (a real S3 server):

- ``worker``: ``store_outputs``, as the handler runs it: fpng for the PNG, JPEG q90 previews, each image
  uploaded as soon as it is encoded, in parallel threads.
- ``previous``: the worker before: PNG compress level 6 and WebP method 4, encoded in parallel threads,
  then all uploaded in parallel.
- ``previous, one after another``: the same settings, each encode and each upload in turn.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.timing import machine_description, median_seconds
from devkit.photos import pet_on_plain_background
from devkit.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedS3
from worker.delivery.encode import to_host_pixels
from worker.delivery.outputs import ImageOutput, store_outputs
from worker.delivery.storage import Artifact, S3Storage, S3Target
from worker.mockups.composite import MockupRequest, composite_mockups
from worker.mockups.templates import BUILTIN_MOCKUPS_DIR, load_templates
from worker.outbound.urls import Deadline
from worker.runtime.config import Settings
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles
from worker.style.stylize import stylize


def job_outputs() -> list[ImageOutput]:
    picture, _, _ = pet_on_plain_background(1024)
    design = stylize(picture, load_styles(BUILTIN_STYLES_DIR)["watercolor"], [0], True, None).images
    templates = load_templates(BUILTIN_MOCKUPS_DIR, device=torch.device("cpu"))
    requests = [MockupRequest(name, t.default_color) for name, t in templates.items()]
    mockups = composite_mockups(design, templates, requests)
    outputs = [ImageOutput("design", "bench/design-0", to_host_pixels(design)[0], "png", {}, {"index": 0})]
    outputs += [
        ImageOutput("mockup", f"bench/mockups/{r.product}-0", batch[0].cpu().numpy(), "jpeg", {}, {})
        for r, batch in zip(requests, mockups, strict=True)
    ]
    return outputs


def previous_encode(output: ImageOutput) -> Artifact:
    """The encoder settings the worker used before (PNG level 6, WebP method 4 at quality 90)."""
    buffer = io.BytesIO()
    image = Image.fromarray(output.pixels, mode="RGBA" if output.pixels.shape[2] == 4 else "RGB")
    if output.fmt == "png":
        image.save(buffer, format="PNG", compress_level=6)
    else:
        image.save(buffer, format="WEBP", quality=90, method=4)
    return Artifact(f"{output.name}.{output.fmt}", buffer.getvalue(), f"image/{output.fmt}")


def previous_pipeline(outputs: list[ImageOutput], storage: S3Storage) -> list:
    with ThreadPoolExecutor(max_workers=min(8, len(outputs))) as pool:
        artifacts = list(pool.map(previous_encode, outputs))
    with ThreadPoolExecutor(max_workers=min(16, len(artifacts))) as pool:
        return list(pool.map(storage.put, artifacts))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    outputs = job_outputs()
    with tempfile.TemporaryDirectory() as folder:
        server = SeaweedS3(Path(folder))
        try:
            settings = Settings(s3_bucket="designs", s3_endpoint_url=server.endpoint, s3_path_style=True)
            storage = S3Storage(
                S3Target("designs", server.endpoint, "us-east-1", S3_ACCESS_KEY, S3_SECRET_KEY), settings
            )
            figures = {
                "worker_s": median_seconds(lambda: store_outputs(outputs, storage, Deadline(600)), args.repeats),
                "previous_s": median_seconds(lambda: previous_pipeline(outputs, storage), args.repeats),
                "previous_sequential_s": median_seconds(
                    lambda: [storage.put(previous_encode(o)) for o in outputs], args.repeats
                ),
            }
            worker_sizes = [item.size_bytes for item in store_outputs(outputs, storage, Deadline(600))]
            previous_sizes = [len(previous_encode(o).data) for o in outputs]
            worker_bytes, previous_bytes = sum(worker_sizes), sum(previous_sizes)
        finally:
            server.stop()
    pixels = sum(int(np.prod(o.pixels.shape[:2])) for o in outputs)
    print(f"encode + upload of one job: {len(outputs)} images ({pixels / 1e6:.1f} Mpixel) to SeaweedFS on loopback,")
    print(f"median of {args.repeats}, {machine_description('cpu')}")
    print(f"worker (fpng, JPEG, pipelined):    {figures['worker_s'] * 1000:8.1f} ms  {worker_bytes / 1e6:.2f} MB")
    print(f"previous (PNG 6, WebP m4):         {figures['previous_s'] * 1000:8.1f} ms  {previous_bytes / 1e6:.2f} MB")
    print(f"previous, one after another:       {figures['previous_sequential_s'] * 1000:8.1f} ms")
    figures["ratio_to_previous"] = figures["worker_s"] / figures["previous_s"]
    figures["ratio_to_previous_sequential"] = figures["worker_s"] / figures["previous_sequential_s"]
    print(
        f"worker / previous: {figures['ratio_to_previous']:.2f}; "
        f"worker / previous one after another: {figures['ratio_to_previous_sequential']:.2f}"
    )
    for label, sizes in (("worker", worker_sizes), ("previous", previous_sizes)):
        figures[f"{label}_design_mb"], figures[f"{label}_mockup_mean_mb"] = (
            sizes[0] / 1e6,
            statistics.mean(sizes[1:]) / 1e6,
        )
        print(
            f"{label}: design {sizes[0] / 1e6:.2f} MB, mockups {statistics.mean(sizes[1:]) / 1e3:.0f} KB each on average"
        )
    return figures


if __name__ == "__main__":
    main()
