"""FLUX.1 speed: the plain diffusers baseline and each worker speed setting, alone and combined, in one run.

    python -m bench.speed                                  # CUDA: real-size FLUX.1, random weights, 1024x1024
    MODEL_ID=/path/to/FLUX.1-dev python -m bench.speed     # real weights instead
    python -m bench.speed --scale tiny --size 256          # the tiny model on the CPU (CI's smoke run)
    python -m bench.speed --cold-start                     # also: process start to ready, with/without compile cache

Timing depends on shapes, not weight values, so the real-size model is built from FLUX.1's published
configuration with random weights directly on the GPU (no download). Each variant gets a fresh pipeline;
one warm-up generation first (compilation happens there), then the median of ``--repeats``, synchronised
on CUDA. Reported per variant: prompt-to-decoded-image time for schnell (4 steps) and dev (28 steps) and
the ratio to the plain diffusers baseline (``FluxPipeline(...).to("cuda")``, bf16, defaults); per-step
transformer time; for the baseline and the combined settings, VAE decode, text encoding and peak GPU
memory; for fp8, the relative L2 error of the transformer output against bf16 on the same inputs; and
the job's work besides denoising (style, six mockups, encoding, upload to a local S3 server).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

from bench.timing import machine_description, median_seconds
from models.tiny import build_clip_tokenizer, build_t5_tokenizer, build_tiny_flux
from worker.config import Settings
from worker.speed import apply_speed_settings

STEPS = {"schnell": 4, "dev": 28}
GUIDANCE = {"schnell": 0.0, "dev": 3.5}
SEQUENCE = {"schnell": 256, "dev": 512}
NO_SETTINGS = {"fuse_qkv": False, "vae_channels_last": False}


def variants(device: str) -> dict[str, dict[str, Any]]:
    """Worker settings per variant; the baseline is the pipeline exactly as diffusers builds it."""
    table: dict[str, dict[str, Any]] = {
        "baseline": NO_SETTINGS,
        "fused_qkv": {**NO_SETTINGS, "fuse_qkv": True},
        "vae_channels_last": {**NO_SETTINGS, "vae_channels_last": True},
        "compile": {**NO_SETTINGS, "compile": True},
    }
    if device.startswith("cuda"):
        table["attention_cudnn"] = {**NO_SETTINGS, "attention_backend": "_native_cudnn"}
        table["combined"] = {
            "fuse_qkv": True,
            "vae_channels_last": True,
            "attention_backend": "_native_cudnn",
            "compile": True,
        }
        try:
            import torchao  # noqa: F401

            table["fp8"] = {**NO_SETTINGS, "quantize": "fp8"}
            table["combined+fp8"] = {**table["combined"], "quantize": "fp8"}
        except ImportError:
            pass
    else:
        table["combined"] = {"fuse_qkv": True, "vae_channels_last": True, "compile": True}
    return table


def full_size_flux(family: str, device: str, dtype: torch.dtype) -> FluxPipeline:
    """FLUX.1's published architecture (transformer, CLIP-L, T5-XXL encoder, VAE), random weights, on ``device``."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            transformer = FluxTransformer2DModel(
                in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
                joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=family == "dev", axes_dims_rope=(16, 56, 56),
            )  # fmt: skip
            vae = AutoencoderKL(
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=16, norm_num_groups=32,
                sample_size=1024, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False,
            )  # fmt: skip
            clip = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                                num_attention_heads=12, vocab_size=49408, projection_dim=768))  # fmt: skip
            t5 = T5EncoderModel(T5Config(d_model=4096, d_ff=10240, d_kv=64, num_heads=64, num_layers=24, vocab_size=32128,
                                         feed_forward_proj="gated-gelu", relative_attention_num_buckets=32))  # fmt: skip
    finally:
        torch.set_default_dtype(previous)
    scheduler = FlowMatchEulerDiscreteScheduler(
        shift=1.0, use_dynamic_shifting=family == "dev", base_shift=0.5, max_shift=1.15
    )
    return FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=clip, tokenizer=build_clip_tokenizer(),
                        text_encoder_2=t5, tokenizer_2=build_t5_tokenizer(), transformer=transformer)  # fmt: skip


def build_pipeline(scale: str, family: str, device: str, dtype: torch.dtype) -> FluxPipeline:
    if os.environ.get("MODEL_ID"):
        pipe = FluxPipeline.from_pretrained(os.environ["MODEL_ID"], dtype=dtype, local_files_only=True).to(device)
    elif scale == "full":
        pipe = full_size_flux(family, device, dtype)
    else:
        pipe = build_tiny_flux(schnell=family == "schnell").to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe: FluxPipeline, family: str, size: int, steps: int) -> torch.Tensor:
    with torch.inference_mode():
        return pipe("a corgi wearing sunglasses, pop art", width=size, height=size, num_inference_steps=steps,
                    guidance_scale=GUIDANCE[family], max_sequence_length=SEQUENCE[family],
                    generator=torch.Generator("cpu").manual_seed(0), output_type="pt").images  # fmt: skip


def transformer_inputs(pipe: FluxPipeline, family: str, size: int) -> dict[str, Any]:
    """The transformer's inputs at the first denoising step, captured from a real call."""
    captured: dict[str, Any] = {}

    def grab(_module, args, kwargs):
        if not captured:
            captured.update({k: v.clone() if torch.is_tensor(v) else v for k, v in kwargs.items()})

    handle = pipe.transformer.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        generate(pipe, family, size, 1)
    finally:
        handle.remove()
    return captured


def measure_variant(name: str, overrides: dict, args: argparse.Namespace, family: str, dtype: torch.dtype) -> dict:
    pipe = build_pipeline(args.scale, family, args.device, dtype)
    reference_inputs = transformer_inputs(pipe, family, args.size) if "quantize" in overrides else None
    reference_output = None
    if reference_inputs is not None:
        with torch.inference_mode():
            reference_output = pipe.transformer(**reference_inputs)[0].float()
    apply_speed_settings(pipe, Settings(**overrides), family)
    steps = STEPS[family]
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    total = median_seconds(lambda: generate(pipe, family, args.size, steps), args.repeats, warmup=1, device=args.device)
    one_step = median_seconds(lambda: generate(pipe, family, args.size, 1), args.repeats, warmup=1, device=args.device)
    row = {"variant": name, "family": family, "steps": steps, "total_s": total,
           "per_step_s": (total - one_step) / max(steps - 1, 1)}  # fmt: skip
    if name in ("baseline", "combined"):
        latents = torch.randn(1, 16, args.size // 8, args.size // 8, device=args.device, dtype=dtype)
        with torch.inference_mode():
            row["vae_decode_s"] = median_seconds(lambda: pipe.vae.decode(latents), args.repeats, device=args.device)
            row["text_encoding_s"] = median_seconds(
                lambda: pipe.encode_prompt("a corgi", "a corgi", max_sequence_length=SEQUENCE[family]),
                args.repeats,
                device=args.device,
            )
    if cuda:
        row["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    if reference_inputs is not None and reference_output is not None:
        with torch.inference_mode():
            quantized = pipe.transformer(**reference_inputs)[0].float()
        row["fp8_relative_l2"] = ((quantized - reference_output).norm() / reference_output.norm()).item()
    return row  # the pipeline goes with this frame; the next variant starts from a fresh one


def job_besides_denoising(device: str) -> dict[str, float]:
    """Style, six mockups, encoding and upload to SeaweedFS for one 1024x1024 design, on ``device``."""
    from bench.seaweed import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedS3
    from tests.synthetic import pet_on_plain_background
    from worker.encode import encode_batch
    from worker.products import BUILTIN_MOCKUPS_DIR, MockupRequest, composite_mockups, load_templates
    from worker.storage import Artifact, S3Storage, S3Target
    from worker.styles import BUILTIN_STYLES_DIR, load_styles
    from worker.stylize import style_designs

    picture = pet_on_plain_background(1024)[0].to(device)
    style = load_styles(BUILTIN_STYLES_DIR)["pop_art"]
    templates = load_templates(BUILTIN_MOCKUPS_DIR, device=torch.device(device))
    requests = [MockupRequest(name, t.default_color) for name, t in templates.items()]
    design = style_designs(picture, style, [0], True, None)
    mockups = torch.cat(composite_mockups(design, templates, requests))
    times = {
        "style_s": median_seconds(lambda: style_designs(picture, style, [0], True, None), 3, device=device),
        "mockups_s": median_seconds(lambda: composite_mockups(design, templates, requests), 3, device=device),
        "encode_s": median_seconds(lambda: (encode_batch(design, "png"), encode_batch(mockups, "webp")), 3),
    }
    artifacts = [Artifact(f"bench/{i}", data, "image/webp") for i, data in enumerate(encode_batch(mockups, "webp"))]
    artifacts.append(Artifact("bench/design.png", encode_batch(design, "png")[0], "image/png"))
    with tempfile.TemporaryDirectory() as folder:
        server = SeaweedS3(Path(folder))
        try:
            target = S3Target("designs", server.endpoint, "us-east-1", S3_ACCESS_KEY, S3_SECRET_KEY)
            storage = S3Storage(target, Settings(s3_bucket="designs", s3_path_style=True))
            times["upload_s"] = median_seconds(lambda: storage.put_all(artifacts), 3)
        finally:
            server.stop()
    times["total_s"] = sum(times.values())
    return times


COLD_START = textwrap.dedent(
    """
    import sys, time
    started = float(sys.argv[3])
    from pathlib import Path
    from worker.config import Settings
    from worker.model import load_model
    load_model(Settings(model_id=sys.argv[1], compile=True, compile_cache_dir=Path(sys.argv[2]), warmup_sizes=sys.argv[4]))
    print(time.time() - started)
    """
)


def cold_start(model_dir: str, size: int) -> dict[str, float]:
    """Process start to ready with COMPILE=1: without the compile cache, then with it (fresh inductor dir each)."""
    import time

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for label in ("without_cache_s", "with_cache_s"):
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(Path(folder) / label)}
            out = subprocess.run([sys.executable, "-c", COLD_START, model_dir, str(Path(folder) / "cache"), str(time.time()), f"{size}x{size}"],
                                 capture_output=True, text=True, env=env, check=True)  # fmt: skip
            results[label] = float(out.stdout.strip().splitlines()[-1])
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--scale", choices=["full", "tiny"], default=None, help="default: full on CUDA, tiny on the CPU"
    )
    parser.add_argument("--size", type=int, default=None, help="default: 1024 (full), 256 (tiny)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--families", default="schnell,dev")
    parser.add_argument("--variants", default=None, help="comma-separated subset (default: all that apply)")
    parser.add_argument("--job", action="store_true", help="also time the job's work besides denoising")
    parser.add_argument("--cold-start", action="store_true", help="also time cold start with and without compile cache")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args(argv)
    diffusers.utils.logging.set_verbosity_error()
    args.scale = args.scale or ("full" if args.device.startswith("cuda") else "tiny")
    args.size = args.size or (1024 if args.scale == "full" else 256)
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    table = variants(args.device)
    chosen = args.variants.split(",") if args.variants else list(table)

    print(
        f"FLUX.1 ({args.scale}) at {args.size}x{args.size}, batch 1, median of {args.repeats}, on {machine_description(args.device)}"
    )
    rows = []
    for family in args.families.split(","):
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        baseline = None
        for name in chosen:
            row = measure_variant(name, table[name], args, family, dtype)
            baseline = baseline or row["total_s"]
            row["ratio_to_baseline"] = baseline / row["total_s"]
            rows.append(row)
            extras = " ".join(
                f"{k}={v:.4g}"
                for k, v in row.items()
                if k.endswith(("_s", "_gb", "_l2")) and k not in ("total_s", "per_step_s")
            )
            print(f"{family:<8} {name:<18} {row['total_s'] * 1000:9.1f} ms  {row['ratio_to_baseline']:5.2f}x  "
                  f"per step {row['per_step_s'] * 1000:8.2f} ms  {extras}")  # fmt: skip
    report: dict[str, Any] = {
        "device": machine_description(args.device),
        "scale": args.scale,
        "size": args.size,
        "rows": rows,
    }
    if args.job:
        report["job_besides_denoising"] = job_besides_denoising(args.device)
        print(
            "job besides denoising:",
            {k: round(v * 1000, 1) for k, v in report["job_besides_denoising"].items()},
            "(ms)",
        )
    if args.cold_start:
        model_dir = os.environ.get("MODEL_ID")
        if not model_dir:
            from models.tiny import save_tiny_flux

            model_dir = str(save_tiny_flux(Path(tempfile.mkdtemp()) / "tiny", schnell=True))
        report["cold_start"] = cold_start(model_dir, args.size)
        print("cold start to ready (COMPILE=1):", {k: round(v, 1) for k, v in report["cold_start"].items()}, "(s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
