"""FLUX.1 speed as the worker serves it: the handler's own job, per configuration, each in a fresh process.

    python -m bench.speed --json speed.json              # CUDA: real-size FLUX.1 (random weights), 1024x1024
    MODEL_ID=/path/to/FLUX.1-dev python -m bench.speed   # real weights on local disk instead
    python -m bench.speed --tiny --json out.json         # the tiny model on the CPU (the test suite runs this)
    python -m bench.speed --configs defaults,recommended --families schnell

Every configuration (a set of the worker's own settings, ``CONFIGS``) runs in a process of its own, so
nothing leaks between them: it is configured through environment variables as on RunPod, cold-starts
through ``DesignWorker.cold_start`` (``load_model``, as handler.py does) and runs the handler's job:
validate, generate, style, six mockups, encode, upload to a local S3 server (SeaweedFS) and a signed
webhook to a local receiver; once cold, then ``--repeats`` times. Reported for each: cold start
(process start to ready, weights on local disk, warm-up included), the first job, the median of every
stage of the job's own ``timings_ms``, the transformer's time (timed around each of its calls) and the
job's time besides it, peak GPU memory, graphs compiled after warm-up, which settings took effect, and
the speed-up of the worker's generate stage over plain diffusers (``FluxPipeline.from_pretrained(...)
.to(device)``, defaults), measured in the same run. A compile configuration runs twice: with an empty
compile cache, then with the cache the first run saved (fresh inductor cache both times, as on a new
machine). Step-cache configurations report how far their design is from the uncached one, same seed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

JOB = {"style": "pop_art", "prompt": "a happy corgi wearing sunglasses", "seed": 42}
RECOMMENDED = {"compile": True, "attention_backend": "_native_cudnn"}


@dataclass(frozen=True)
class Config:
    """Worker settings (``Settings`` field names) for one run; ``compare_to``: the uncached twin."""

    settings: dict[str, Any]
    families: tuple[str, ...] = ("schnell", "dev")
    cuda_only: bool = False
    compile_cache: str | None = None  # None, "cold" (empty, then saved) or "warm" (the cold run's)
    compare_to: str | None = None
    notes: list[str] = field(default_factory=list)


CONFIGS = {
    "defaults": Config({}),
    "fused_qkv": Config({"fuse_qkv": True}),
    "vae_channels_last": Config({"vae_channels_last": True}),
    "cudnn": Config({"attention_backend": "_native_cudnn"}, cuda_only=True),
    "compile": Config({"compile": True}, compile_cache="cold"),
    "compile_warm_cache": Config({"compile": True}, compile_cache="warm"),
    "recommended": Config(RECOMMENDED, cuda_only=True, compile_cache="cold"),
    "recommended_warm_cache": Config(RECOMMENDED, cuda_only=True, compile_cache="warm"),
    "recommended_fp8": Config({**RECOMMENDED, "quantize": "fp8"}, cuda_only=True, compile_cache="cold"),
    "first_block_cache": Config({"step_cache": "first_block"}, families=("dev",), compare_to="defaults"),
    "taylorseer": Config({"step_cache": "taylorseer"}, families=("dev",), compare_to="defaults"),
    "recommended_first_block_cache": Config(
        {**RECOMMENDED, "step_cache": "first_block"},
        families=("dev",),
        cuda_only=True,
        compile_cache="cold",
        compare_to="recommended",
    ),
}


def environment_for(settings: dict[str, Any]) -> dict[str, str]:
    """Settings as the environment variables that configure the worker on RunPod."""
    return {
        name.upper(): ("1" if value is True else "0" if value is False else str(value))
        for name, value in settings.items()
    }


# --- child processes -------------------------------------------------------------------------------------


def child_job(spec: dict[str, Any]) -> dict[str, Any]:
    """One configuration in this fresh process: cold start, the first job, then the repeats."""
    import requests
    import torch
    from PIL import Image
    from torch._dynamo.utils import counters

    from worker import DesignWorker
    from worker.runtime.config import Settings
    from worker.runtime.devices import dtype_name

    worker = DesignWorker.cold_start(Settings())
    if worker.startup_error is not None:
        return {"error": worker.startup_error}
    ready_s = time.time() - spec["started"]
    transformer = worker.model.text_to_image.transformer
    cuda = worker.model.device.type == "cuda"
    spans: list[tuple[Any, Any]] = []

    def before(_module, _args):
        mark = torch.cuda.Event(enable_timing=True) if cuda else None
        if mark is not None:
            mark.record()
        spans.append((mark if cuda else time.perf_counter(), None))

    def after(_module, _args, _output):
        start, _ = spans[-1]
        if cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            spans[-1] = (start, end)
        else:
            spans[-1] = (start, time.perf_counter())

    transformer.register_forward_pre_hook(before)
    transformer.register_forward_hook(after)
    graphs_at_ready = counters["stats"]["unique_graphs"]
    job = {**JOB, "design_id": f"bench-{spec['name']}", "width": spec["size"], "height": spec["size"]}
    runs = []
    for index in range(spec["repeats"] + 1):
        spans.clear()
        started = time.perf_counter()
        result = worker.run({"id": f"bench-{index}", "input": job}, lambda _update: None)
        wall_s = time.perf_counter() - started
        if "error" in result:
            return {"error": result["error"]}
        if cuda:
            torch.cuda.synchronize()
            transformer_s = sum(start.elapsed_time(end) for start, end in spans) / 1000
        else:
            transformer_s = sum(end - start for start, end in spans)
        runs.append(
            {
                "wall_s": wall_s,
                "transformer_s": transformer_s,
                "timings_ms": result["timings_ms"],
                "webhook_delivered": result.get("webhook", {}).get("delivered"),
            }
        )
    design = requests.get(result["designs"][0]["url"], timeout=60).content
    np.save(spec["design_path"], np.asarray(Image.open(io.BytesIO(design)).convert("RGBA")))
    warm = runs[1:] or runs
    stages = sorted({stage for run in warm for stage in run["timings_ms"]})
    medians = {stage: statistics.median(run["timings_ms"].get(stage, 0) for run in warm) for stage in stages}
    transformer_ms = statistics.median(run["transformer_s"] for run in warm) * 1000
    return {
        "cold_start_s": ready_s,
        "first_job_s": runs[0]["wall_s"],
        "stage_ms": medians,
        "transformer_ms": transformer_ms,
        "besides_transformer_ms": medians["total"] - transformer_ms,
        "peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "graphs_compiled_after_ready": counters["stats"]["unique_graphs"] - graphs_at_ready,
        "webhooks_delivered": all(run["webhook_delivered"] for run in runs),
        "model": worker.model.describe(),
        "dtype": dtype_name(worker.model.dtype),
        "speed_settings": worker.model.speed_settings,
    }


def child_diffusers(spec: dict[str, Any]) -> dict[str, Any]:
    """Plain diffusers, as its documentation loads FLUX.1: the baseline the worker's generate is compared to."""
    import torch
    from diffusers import FluxPipeline

    from bench.timing import median_seconds
    from worker.generation.model import FAMILY_DEFAULTS, detect_family
    from worker.runtime.config import Settings
    from worker.runtime.devices import Runtime

    runtime = Runtime.from_settings(Settings())  # the worker's own device and dtype
    device, dtype = runtime.device.type, runtime.dtype
    pipe = FluxPipeline.from_pretrained(spec["model_dir"], torch_dtype=dtype, local_files_only=True).to(device)
    pipe.set_progress_bar_config(disable=True)
    family = detect_family(FluxPipeline.load_config(spec["model_dir"]).get("_class_name", ""), pipe.transformer.config)
    defaults = FAMILY_DEFAULTS[family]

    def generate() -> None:
        pipe(
            JOB["prompt"],
            width=spec["size"],
            height=spec["size"],
            num_inference_steps=defaults.steps,
            guidance_scale=defaults.guidance,
            max_sequence_length=defaults.max_sequence_length,
            generator=torch.Generator("cpu").manual_seed(JOB["seed"]),
        )

    seconds = median_seconds(generate, spec["repeats"], warmup=1, device=device)
    return {
        "generate_ms": seconds * 1000,
        "peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
    }


def run_child(kind: str, spec: dict[str, Any], env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    spec = {**spec, "started": time.time()}
    completed = subprocess.run(
        [sys.executable, "-m", "bench.speed", "--child", kind, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if completed.returncode != 0:
        return {"error": f"exit {completed.returncode}: {completed.stderr[-2000:]}"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- the parent --------------------------------------------------------------------------------------------


def design_difference(path_a: Path, path_b: Path) -> dict[str, float]:
    a, b = (np.load(path).astype(np.float64) for path in (path_a, path_b))
    mse = float(np.mean((a - b) ** 2))
    return {
        "mean_abs_diff_0_255": float(np.mean(np.abs(a - b))),
        "psnr_db": 10 * np.log10(255**2 / mse) if mse else float("inf"),
    }


def prepare_model(args: argparse.Namespace, family: str, workdir: Path) -> str:
    if os.environ.get("MODEL_ID"):
        return os.environ["MODEL_ID"]
    folder = workdir / f"model-{family}"
    if args.tiny:
        from models.tiny import save_tiny_flux

        return str(save_tiny_flux(folder, schnell=family == "schnell"))
    build = [sys.executable, "-m", "models.full_size", str(folder), "--family", family]
    subprocess.run(build, check=True, cwd=Path(__file__).resolve().parent.parent)
    return str(folder)


def print_row(family: str, name: str, row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"{family:<8} {name:<30} FAILED: {row['error'].strip().splitlines()[-1][:200]}", flush=True)
        return
    stages = row["stage_ms"]
    extra = f"  vs uncached: {row['difference']['mean_abs_diff_0_255']:.2f}/255" if "difference" in row else ""
    peak = f"{row['peak_gpu_gb']:5.1f} GB" if row["peak_gpu_gb"] is not None else "   -    "
    print(
        f"{family:<8} {name:<30} {row['cold_start_s']:6.1f} s {row['first_job_s']:7.2f} s "
        f"{stages['generate']:8.0f} {row['transformer_ms']:8.0f} {row['besides_transformer_ms']:8.0f} "
        f"{stages.get('style', 0):6.0f} {stages.get('mockups', 0):6.0f} {stages.get('upload', 0):6.0f} "
        f"{stages.get('webhook', 0):6.0f} {stages['total']:7.0f} {row['speedup_vs_diffusers']:5.2f}x {peak} "
        f"{row['graphs_compiled_after_ready']:3d}{extra}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the tiny random-weight model on the CPU")
    parser.add_argument("--size", type=int, default=None, help="design edge in pixels (default 1024; --tiny 256)")
    parser.add_argument("--repeats", type=int, default=3, help="timed jobs after the first (default 3)")
    parser.add_argument("--families", default="schnell,dev", help="with the random-weight models (default both)")
    parser.add_argument("--configs", default=None, help=f"comma-separated subset of: {', '.join(CONFIGS)}")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here (after every configuration)")
    parser.add_argument("--child-timeout", type=float, default=1800, help="seconds one configuration may take")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, spec = args.child
        print(json.dumps((child_job if kind == "job" else child_diffusers)(json.loads(spec))))
        return {}

    import torch

    from bench.timing import machine_description
    from devkit.receiver import WebhookReceiver
    from devkit.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedS3

    cuda = torch.cuda.is_available() and not args.tiny
    size = args.size or (256 if args.tiny else 1024)
    chosen = args.configs.split(",") if args.configs else [n for n, c in CONFIGS.items() if cuda or not c.cuda_only]
    unknown = set(chosen) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    families = ["real"] if os.environ.get("MODEL_ID") else args.families.split(",")
    device = machine_description("cuda" if cuda else "cpu")
    report: dict[str, Any] = {"device": device, "size": size, "repeats": args.repeats, "rows": []}
    print(f"the worker's own job at {size}x{size} with six mockups, {args.repeats} timed after the first, on {device}")
    print(
        f"{'family':<8} {'configuration':<30} {'cold':>8} {'1st job':>9} {'generate':>8} {'transf.':>8} "
        f"{'besides':>8} {'style':>6} {'mockup':>6} {'upload':>6} {'hook':>6} {'total':>7} {'vs dif':>6} "
        f"{'peak':>8} new graphs (ms unless said)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as temp, WebhookReceiver() as receiver:
        workdir = Path(temp)
        server = SeaweedS3(workdir / "s3")
        try:
            base_env = {
                **os.environ,
                "HF_HUB_OFFLINE": "1",
                "LOG_LEVEL": "WARNING",
                "S3_BUCKET": "designs",
                "S3_ENDPOINT_URL": server.endpoint,
                "S3_PATH_STYLE": "1",
                "S3_REGION": "us-east-1",
                "BUCKET_ACCESS_KEY_ID": S3_ACCESS_KEY,
                "BUCKET_SECRET_ACCESS_KEY": S3_SECRET_KEY,
                "WEBHOOK_URL": receiver.url,
                "WEBHOOK_SECRET": "whsec_" + "YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldA==",
                "ALLOW_HTTP_URLS": "1",
                "ALLOW_PRIVATE_URLS": "1",
                "WARMUP_SIZES": f"{size}x{size}",
            }
            if not cuda:
                base_env["DEVICE"] = "cpu"
            for family in families:
                names = [n for n in chosen if family == "real" or family in CONFIGS[n].families]
                if not names:
                    continue
                model_dir = prepare_model(args, family, workdir)
                spec = {"size": size, "repeats": args.repeats, "model_dir": model_dir}
                env = {**base_env, "MODEL_ID": model_dir}
                baseline = run_child("diffusers", spec, env, args.child_timeout)
                report.setdefault("diffusers_baseline", {})[family] = baseline
                for name in names:
                    config = CONFIGS[name]
                    child_env = {
                        **env,
                        **environment_for(config.settings),
                        "TORCHINDUCTOR_CACHE_DIR": str(workdir / f"inductor-{family}-{name}"),
                    }
                    if config.compile_cache:
                        child_env["COMPILE_CACHE_DIR"] = str(
                            workdir / f"compile-{family}-{name.removesuffix('_warm_cache')}"
                        )
                    design_path = workdir / f"design-{family}-{name}.npy"
                    row = run_child(
                        "job", {**spec, "name": name, "design_path": str(design_path)}, child_env, args.child_timeout
                    )
                    row.update({"family": family, "configuration": name, "settings": config.settings})
                    if "error" not in row:
                        row["speedup_vs_diffusers"] = (
                            baseline.get("generate_ms", float("nan")) / row["stage_ms"]["generate"]
                        )
                        twin = workdir / f"design-{family}-{config.compare_to}.npy"
                        if config.compare_to and twin.is_file():
                            row["difference"] = {"to": config.compare_to, **design_difference(design_path, twin)}
                    report["rows"].append(row)
                    print_row(family, name, row)
                    if args.json:
                        args.json.write_text(json.dumps(report, indent=2))
                print(
                    f"{family:<8} {'plain diffusers':<30} generate {baseline.get('generate_ms', float('nan')):.0f} ms"
                    f"{'' if 'error' not in baseline else ' FAILED: ' + baseline['error'][-300:]}",
                    flush=True,
                )
                if not os.environ.get("MODEL_ID") and not args.tiny:
                    shutil.rmtree(model_dir, ignore_errors=True)  # the disk holds one real-size model at a time
        finally:
            server.stop()
        report["webhooks_received"] = receiver.received
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
