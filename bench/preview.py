"""The instant preview: one whole ``generate: false`` job, as the handler runs it, per style.

    python -m bench.preview [--size 1024] [--repeats 5] [--styles photo,pop_art,...]

A real job through ``DesignWorker.run``: validate, load the photo (a base64 PNG), the matte and the
style's filters on the photo, the six mockups, and every image encoded and uploaded to SeaweedFS on
loopback (a real S3 server). No model runs, so the tiny random-weight FLUX.1 is loaded only because the
worker loads one at cold start. Two photos: the synthetic pet on a plain backdrop (the matte does all of
its work, and the pet is a cut-out) and scikit-image's cat in a room (the background is kept). Prints the
median job time and the median of each stage's ``timings_ms``.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from bench.timing import machine_description
from devkit.photos import pet_on_plain_background
from devkit.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedS3
from models.tiny import save_tiny_flux
from worker import DesignWorker
from worker.runtime.config import Settings
from worker.runtime.devices import Runtime

STAGES = ("validate", "load_input", "generate", "style", "mockups", "upload")


def photos(size: int) -> dict[str, Image.Image]:
    pet = pet_on_plain_background(size)[0][0].permute(1, 2, 0).numpy()
    cat = Image.fromarray(data.chelsea())
    return {
        "pet on plain": Image.fromarray((pet * 255).round().astype(np.uint8)),
        "cat in a room": cat.resize((size, round(size * cat.height / cat.width)), Image.Resampling.LANCZOS),
    }


def as_base64(photo: Image.Image) -> str:
    buffer = io.BytesIO()
    photo.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="the photo's long edge and the job's width/height")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--styles", default="photo,pop_art,watercolor,metal")
    args = parser.parse_args(argv)
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        server = SeaweedS3(Path(folder) / "s3")
        try:
            settings = Settings(
                model_id=str(save_tiny_flux(Path(folder) / "tiny", schnell=True)),
                s3_bucket="designs",
                s3_endpoint_url=server.endpoint,
                s3_path_style=True,
                bucket_access_key_id=S3_ACCESS_KEY,
                bucket_secret_access_key=S3_SECRET_KEY,
                allow_private_urls=True,
                allow_http_urls=True,
            )
            worker = DesignWorker.cold_start(settings)
            worker.fitness_check()
            device = str(Runtime.from_settings(settings).device)
            print(f"preview job ({args.size} px, six JPEG mockups, SeaweedFS on loopback), median of {args.repeats}")
            print(f"{machine_description(device)}")
            print(f"{'style':<11} {'photo':<14} {'job':>8}  " + "  ".join(f"{stage:>10}" for stage in STAGES))
            for name, photo in photos(args.size).items():
                image = as_base64(photo)
                for style in args.styles.split(","):
                    job = {"design_id": "preview", "style": style, "image": image, "generate": False, "seed": 1}
                    job |= {"width": args.size, "height": args.size}
                    runs = []
                    for _ in range(args.repeats + 1):  # the first is a warm-up
                        started = time.perf_counter()
                        result = worker.run({"id": "bench", "input": job}, lambda update: None)
                        if "error" in result:
                            raise RuntimeError(result)
                        runs.append((time.perf_counter() - started, result["timings_ms"]))
                    medians = {"job_ms": statistics.median(seconds * 1000 for seconds, _ in runs[1:])}
                    medians |= {stage: statistics.median(t.get(stage, 0.0) for _, t in runs[1:]) for stage in STAGES}
                    figures[f"{style} / {name}"] = medians
                    stage_columns = "  ".join(f"{medians[stage]:8.0f}ms" for stage in STAGES)
                    print(f"{style:<11} {name:<14} {medians['job_ms']:6.0f}ms  {stage_columns}")
        finally:
            server.stop()
    return figures


if __name__ == "__main__":
    main()
