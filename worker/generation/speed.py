"""Speed settings, checked and applied once at cold start. A default is on only where a GPU measurement in
BENCHMARKS.md shows that it wins; every other setting is opt-in.

- ``ATTENTION_BACKEND`` (``native``: PyTorch SDPA, which picks a kernel itself): or one of the backends of
  ``ATTENTION_BACKENDS`` below, through diffusers' attention dispatcher. Each is checked against the device,
  the dtype and the installed packages before any weight is loaded.
- ``COMPILE=1`` (off; the recommended production setting, with ``ATTENTION_BACKEND=_native_cudnn``):
  regional compilation of the transformer's repeated blocks. The compiled artifacts (torch's portable
  cache artifacts) are saved under ``COMPILE_CACHE_DIR`` after the warm-up and loaded at the next cold
  start, so a restart with that folder (a network volume) does not recompile.
- ``QUANTIZE=fp8`` (off: it changes outputs): the transformer's linear layers in fp8 with row-wise scales,
  through torchao. Only together with ``COMPILE=1``: eager fp8 measured *slower* than bf16 (H100, schnell:
  1771 ms against 847 ms), compiled fp8 faster (578 ms).
- ``STEP_CACHE`` (``none``): ``first_block`` or ``taylorseer``, diffusers' step-cache hooks, which skip
  transformer work on steps whose result barely changes; they change outputs (meant for dev's 28 steps).
- ``FUSE_QKV`` (off: measured +4 GB and no gain) and ``VAE_CHANNELS_LAST`` (off: VAE decode measured
  158 ms against 90 ms contiguous): kept as settings so they can be measured again.
- ``WARMUP_SIZES`` (none): ``1024x1024,768x1344``: one generation per size at cold start, so the first
  customer does not pay for compilation and kernel selection.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import FluxPipeline

from worker.runtime.config import Settings
from worker.runtime.devices import dtype_name

log = logging.getLogger(__name__)

HALF = frozenset({torch.bfloat16, torch.float16})
ANY_FLOAT = frozenset({torch.bfloat16, torch.float16, torch.float32})


@dataclass(frozen=True)
class AttentionBackend:
    """What a diffusers attention backend needs to run at all."""

    dtypes: frozenset[torch.dtype]
    needs_cuda: bool
    package: str | None = None


# Only backends that run in the worker's image are offered (flash-attn, sage and hub kernels are not in it).
ATTENTION_BACKENDS = {
    "native": AttentionBackend(ANY_FLOAT, needs_cuda=False),
    "_native_math": AttentionBackend(ANY_FLOAT, needs_cuda=False),
    "_native_cudnn": AttentionBackend(HALF, needs_cuda=True),
    "_native_flash": AttentionBackend(HALF, needs_cuda=True),
    "_native_efficient": AttentionBackend(ANY_FLOAT, needs_cuda=True),
    "xformers": AttentionBackend(ANY_FLOAT, needs_cuda=True, package="xformers"),
}
STEP_CACHES = ("none", "first_block", "taylorseer")


class SpeedSettingError(ValueError):
    """A speed setting that cannot run on this device, dtype or installation: a start-up error."""


def check_speed_settings(settings: Settings, device: torch.device, dtype: torch.dtype) -> None:
    """Refuse, before any weight is loaded, a combination that would fail every job."""
    backend = ATTENTION_BACKENDS.get(settings.attention_backend)
    name = settings.attention_backend
    if backend is None:
        raise SpeedSettingError(
            f"ATTENTION_BACKEND={name!r} is not offered; use one of {', '.join(ATTENTION_BACKENDS)}"
        )
    if backend.needs_cuda and device.type != "cuda":
        raise SpeedSettingError(f"ATTENTION_BACKEND={name} needs a CUDA device (the worker runs on {device})")
    if dtype not in backend.dtypes:
        allowed = ", ".join(sorted(dtype_name(d) for d in backend.dtypes))
        raise SpeedSettingError(
            f"ATTENTION_BACKEND={name} needs DTYPE {allowed}; the model runs in {dtype_name(dtype)}"
        )
    if backend.package and importlib.util.find_spec(backend.package) is None:
        raise SpeedSettingError(f"ATTENTION_BACKEND={name} needs the {backend.package} package, which is not installed")
    if settings.quantize == "fp8":
        if importlib.util.find_spec("torchao") is None:
            raise SpeedSettingError("QUANTIZE=fp8 needs torchao (requirements-gpu.txt), which is not installed")
        if not settings.compile:
            raise SpeedSettingError("QUANTIZE=fp8 needs COMPILE=1: eager fp8 is slower than bf16 (see BENCHMARKS.md)")
    if settings.step_cache not in STEP_CACHES:
        raise SpeedSettingError(f"STEP_CACHE={settings.step_cache!r}; use one of {', '.join(STEP_CACHES)}")
    parse_sizes(settings.warmup_sizes)


def quantize_fp8(transformer: torch.nn.Module) -> None:
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    quantize_(transformer, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))


def compile_cache_file(settings: Settings, family: str) -> Path | None:
    if settings.compile_cache_dir is None:
        return None
    device = torch.cuda.get_device_name().replace(" ", "_") if torch.cuda.is_available() else "cpu"
    variant = f"-{settings.quantize}" if settings.quantize != "none" else ""
    return settings.compile_cache_dir / f"flux-{family}{variant}-{device}-torch{torch.__version__}.bin"


def step_cache_config(settings: Settings) -> object | None:
    """diffusers' cache-hook configuration for ``STEP_CACHE``; the threshold is ``STEP_CACHE_THRESHOLD``."""
    from diffusers.hooks import FirstBlockCacheConfig, TaylorSeerCacheConfig

    if settings.step_cache == "first_block":
        return FirstBlockCacheConfig(threshold=settings.step_cache_threshold)
    if settings.step_cache == "taylorseer":
        return TaylorSeerCacheConfig(cache_interval=settings.step_cache_interval, disable_cache_before_step=3)
    return None


def compile_repeated_blocks(transformer: torch.nn.Module) -> None:
    """Regional compilation that compiles each block once for every size and input layout.

    Every single-stream block but the first receives slices of the previous block's output, whose strides
    differ from a contiguous tensor's, and every image size changes the sequence length: plain
    ``compile_repeated_blocks`` recompiles on both (a stride guard, then a size guard). Here each block's
    inputs are made contiguous outside the graph, and their batch and sequence dimensions are marked dynamic.
    Torch always specialises a dimension of size 1, so a batch of one and a larger batch are two graphs:
    the warm-up compiles both.
    """
    for block in [*transformer.transformer_blocks, *transformer.single_transformer_blocks]:
        block.forward = functools.partial(call_with_contiguous_inputs, torch.compile(block.forward, fullgraph=True))


def row_major(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` with exactly the strides of a fresh one of its shape (``contiguous()`` keeps the stride of a
    size-1 batch dimension, which the compiled graph guards on too)."""
    strides, step = [], 1
    for size in reversed(tensor.shape):
        strides.append(step)
        step *= size
    if tensor.stride() == tuple(reversed(strides)):
        return tensor
    return tensor.clone(memory_format=torch.contiguous_format)


def call_with_contiguous_inputs(
    compiled: Callable,
    hidden_states: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    temb: torch.Tensor,
    image_rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    joint_attention_kwargs: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    hidden_states, encoder_hidden_states = row_major(hidden_states), row_major(encoder_hidden_states)
    for tensor in (hidden_states, encoder_hidden_states, temb):
        torch._dynamo.maybe_mark_dynamic(tensor, 0)  # designs per job; 1 is always its own graph
    torch._dynamo.maybe_mark_dynamic(hidden_states, 1)
    torch._dynamo.maybe_mark_dynamic(encoder_hidden_states, 1)  # 256 or 512 tokens, more with Redux's image tokens
    if image_rotary_emb is not None:
        for table in image_rotary_emb:
            torch._dynamo.maybe_mark_dynamic(table, 0)
    return compiled(hidden_states, encoder_hidden_states, temb, image_rotary_emb, joint_attention_kwargs)


def apply_speed_settings(pipe: FluxPipeline, settings: Settings, family: str) -> list[str]:
    """Apply the checked settings to the pipeline's modules, which every derived pipeline shares."""
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
        compile_repeated_blocks(transformer)
        applied.append("compile")
    cache_config = step_cache_config(settings)
    if cache_config is not None:  # after compiling: the cache's per-step decisions stay outside the graphs
        transformer.enable_cache(cache_config)
        applied.append(f"step_cache={settings.step_cache}")
    return applied


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        width, _, height = item.lower().partition("x")
        if not (width.isdigit() and height.isdigit()):
            raise SpeedSettingError(f"WARMUP_SIZES: {item!r} is not WIDTHxHEIGHT")
        sizes.append((int(width), int(height)))
    return sizes


def warm_up(pipe: FluxPipeline, settings: Settings, family: str, max_sequence_length: int) -> None:
    """Short generations at every configured size (the first also with two designs, the other graph a
    batch compiles to); then the compile cache is saved for the next cold start."""
    for index, (width, height) in enumerate(parse_sizes(settings.warmup_sizes)):
        for batch in (1, 2) if index == 0 else (1,):
            started = time.perf_counter()
            with torch.inference_mode():
                pipe(
                    "warm-up",
                    width=width,
                    height=height,
                    num_inference_steps=2,
                    num_images_per_prompt=batch,
                    max_sequence_length=max_sequence_length,
                    generator=torch.Generator("cpu").manual_seed(0),
                    output_type="pt",
                )
            log.info("warm-up %dx%d x%d took %.1f s", width, height, batch, time.perf_counter() - started)
    cache = compile_cache_file(settings, family)
    if settings.compile and cache is not None and not cache.is_file():
        artifacts = torch.compiler.save_cache_artifacts()
        if artifacts is not None:
            cache.write_bytes(artifacts[0])
            log.info("compile cache saved to %s", cache)
