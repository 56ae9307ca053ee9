"""Upload speed: one job's outputs (a 1024x1024 design PNG and six mockups) to a local S3 server.

    python -m bench.upload [--repeats 5]

Starts SeaweedFS on loopback, makes a real job's artifacts (a styled synthetic design, its six mockups,
encoded as the worker does), then times the worker's parallel upload against the same uploads one
after another, in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from bench.seaweed import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedS3
from bench.timing import median_seconds
from tests.synthetic import pet_on_plain_background
from worker.config import Settings
from worker.encode import CONTENT_TYPES, encode_batch
from worker.products import BUILTIN_MOCKUPS_DIR, MockupRequest, composite_mockups, load_templates
from worker.storage import Artifact, S3Storage, S3Target, design_key, mockup_key
from worker.styles import BUILTIN_STYLES_DIR, load_styles
from worker.stylize import style_designs


def job_artifacts() -> list[Artifact]:
    picture, _, _ = pet_on_plain_background(1024)
    design = style_designs(picture, load_styles(BUILTIN_STYLES_DIR)["watercolor"], [0], True, None)
    templates = load_templates(BUILTIN_MOCKUPS_DIR, device=torch.device("cpu"))
    requests = [MockupRequest(name, t.default_color) for name, t in templates.items()]
    mockups = encode_batch(torch.cat(composite_mockups(design, templates, requests)), "webp")
    artifacts = [Artifact(design_key("bench", 0), encode_batch(design, "png")[0], CONTENT_TYPES["png"])]
    artifacts += [
        Artifact(mockup_key("bench", r.product, 0, "webp"), data, CONTENT_TYPES["webp"])
        for r, data in zip(requests, mockups, strict=True)
    ]
    return artifacts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    artifacts = job_artifacts()
    with tempfile.TemporaryDirectory() as folder:
        server = SeaweedS3(Path(folder))
        try:
            settings = Settings(s3_bucket="designs", s3_endpoint_url=server.endpoint, s3_path_style=True)
            target = S3Target("designs", server.endpoint, "us-east-1", S3_ACCESS_KEY, S3_SECRET_KEY)
            storage = S3Storage(target, settings)
            parallel = median_seconds(lambda: storage.put_all(artifacts), args.repeats)
            sequential = median_seconds(lambda: [storage.put_all([a]) for a in artifacts], args.repeats)
        finally:
            server.stop()
    size_mb = sum(len(a.data) for a in artifacts) / 1e6
    print(
        f"uploading one job: {len(artifacts)} objects, {size_mb:.1f} MB, to SeaweedFS on loopback, median of {args.repeats}"
    )
    print(f"parallel (worker): {parallel * 1000:8.1f} ms")
    print(f"sequential:        {sequential * 1000:8.1f} ms  ({sequential / parallel:.1f}x the parallel time)")


if __name__ == "__main__":
    main()
