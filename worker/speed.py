"""Speed settings, applied once at cold start; each is an environment variable with a safe default.

- ``FUSE_QKV`` (on): one matmul for query, key and value in every attention block; the same math.
- ``VAE_CHANNELS_LAST`` (on): the VAE's convolutions in channels-last memory layout.
- ``ATTENTION_BACKEND`` (``native``, PyTorch SDPA): or ``flash``, ``_native_cudnn``, ``xformers``, ... through
  diffusers' attention dispatcher.
- ``QUANTIZE=fp8`` (off: it changes outputs): the transformer's linear layers in fp8 with row-wise scales,
  through torchao.
- ``COMPILE=1`` (off): regional compilation of the transformer's repeated blocks; the compiled artifacts
  (torch's portable cache artifacts) are saved under ``COMPILE_CACHE_DIR`` after the warm-up and loaded
  at the next cold start, so a restart on a fresh machine with that folder (a network volume, or baked
  into the image) does not recompile.
- ``WARMUP_SIZES`` (none): ``1024x1024,768x1344``: one generation per size at cold start, so the first
  customer does not pay for compilation and kernel selection.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from diffusers import FluxPipeline

from worker.config import Settings

log = logging.getLogger(__name__)


def quantize_fp8(transformer: torch.nn.Module) -> None:
    try:
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_
    except ImportError as exc:
        raise RuntimeError("QUANTIZE=fp8 needs torchao (requirements-gpu.txt), which is not installed") from exc
    quantize_(transformer, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))


def compile_cache_file(settings: Settings, family: str) -> Path | None:
    if settings.compile_cache_dir is None:
        return None
    device = torch.cuda.get_device_name().replace(" ", "_") if torch.cuda.is_available() else "cpu"
    return settings.compile_cache_dir / f"flux-{family}-{device}-torch{torch.__version__}.bin"


def apply_speed_settings(pipe: FluxPipeline, settings: Settings, family: str) -> list[str]:
    """Apply the configured settings to the pipeline's modules (shared by every derived pipeline)."""
    applied = []
    transformer = pipe.transformer
    if settings.fuse_qkv:
        transformer.fuse_qkv_projections()
        applied.append("fused_qkv")
    if settings.attention_backend != "native":
        transformer.set_attention_backend(settings.attention_backend)
        applied.append(f"attention={settings.attention_backend}")
    if settings.vae_channels_last:
        pipe.vae.to(memory_format=torch.channels_last)
        applied.append("vae_channels_last")
    if settings.quantize == "fp8":
        quantize_fp8(transformer)
        applied.append("fp8")
    if settings.compile:
        if settings.compile_cache_dir is not None:
            settings.compile_cache_dir.mkdir(parents=True, exist_ok=True)
        cache = compile_cache_file(settings, family)
        if cache is not None and cache.is_file():
            torch.compiler.load_cache_artifacts(cache.read_bytes())
            applied.append("compile_cache_loaded")
        transformer.compile_repeated_blocks(fullgraph=True)
        applied.append("compile")
    return applied


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        width, _, height = item.lower().partition("x")
        sizes.append((int(width), int(height)))
    return sizes


def warm_up(pipe: FluxPipeline, settings: Settings, family: str, max_sequence_length: int) -> None:
    """One short generation per configured size; then save the compile cache for the next cold start."""
    for width, height in parse_sizes(settings.warmup_sizes):
        started = time.perf_counter()
        with torch.inference_mode():
            pipe("warm-up", width=width, height=height, num_inference_steps=2, max_sequence_length=max_sequence_length,
                 generator=torch.Generator("cpu").manual_seed(0), output_type="pt")  # fmt: skip
        log.info("warm-up %dx%d took %.1f s", width, height, time.perf_counter() - started)
    cache = compile_cache_file(settings, family)
    if settings.compile and cache is not None and not cache.is_file():
        artifacts = torch.compiler.save_cache_artifacts()
        if artifacts is not None:
            cache.write_bytes(artifacts[0])
            log.info("compile cache saved to %s", cache)
