"""Speed settings at cold start: same outputs where promised, clear failures, and a compile cache that holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.conftest import ROOT
from worker import DesignWorker
from worker.generation.generate import generate_designs
from worker.generation.model import load_model
from worker.generation.plan import GenerationPlan
from worker.generation.speed import SpeedSettingError, check_speed_settings, parse_sizes
from worker.runtime.config import Settings

PLAN = GenerationPlan(prompt="a dog", width=256, height=256, steps=2, guidance=0.0, seeds=[3])


def test_defaults_apply_no_speed_setting_that_measured_slower(tiny_model):
    """Fused QKV and channels-last VAE lost on the GPU (BENCHMARKS.md): off unless asked for."""
    model = load_model(Settings(model_id=str(tiny_model)))
    assert not model.text_to_image.transformer.transformer_blocks[0].attn.fused_projections
    assert model.text_to_image.vae.decoder.conv_in.weight.is_contiguous()
    assert (
        model.text_to_image.transformer.transformer_blocks[0].attn.processor.__class__.__name__ == "FluxAttnProcessor"
    )


def test_fused_qkv_and_channels_last_keep_the_output(tiny_model):
    plain = load_model(Settings(model_id=str(tiny_model)))
    fast = load_model(Settings(model_id=str(tiny_model), fuse_qkv=True, vae_channels_last=True))
    assert fast.text_to_image.transformer.transformer_blocks[0].attn.fused_projections
    conv = fast.text_to_image.vae.decoder.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert (generate_designs(plain, PLAN) - generate_designs(fast, PLAN)).abs().max() < 1e-4


def test_shared_modules_carry_the_settings_to_every_pipeline(tiny_model):
    model = load_model(Settings(model_id=str(tiny_model), fuse_qkv=True))
    assert model.image_to_image.transformer.transformer_blocks[0].attn.fused_projections


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attention_backend": "warp-drive"}, "warp-drive"),
        ({"warmup_sizes": "large"}, "WARMUP_SIZES"),
    ],
)
def test_bad_speed_settings_fail_the_fitness_check(tiny_model, tmp_path, overrides, message):
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), output_dir=tmp_path, **overrides))
    with pytest.raises(RuntimeError, match="cold start failed") as failure:
        worker.fitness_check()
    assert message in str(failure.value)


@pytest.mark.parametrize(
    ("overrides", "device", "dtype", "message"),
    [
        ({"attention_backend": "flash"}, "cuda", torch.bfloat16, "not offered"),
        ({"attention_backend": "_native_cudnn"}, "cpu", torch.float32, "needs a CUDA device"),
        ({"attention_backend": "_native_cudnn"}, "cuda", torch.float32, "needs DTYPE bfloat16, float16"),
        ({"attention_backend": "_native_flash"}, "cuda", torch.float32, "needs DTYPE"),
        ({"quantize": "fp8"}, "cuda", torch.bfloat16, "needs COMPILE=1|needs torchao"),
        ({"step_cache": "magic"}, "cuda", torch.bfloat16, "STEP_CACHE"),
        ({"warmup_sizes": "1024"}, "cuda", torch.bfloat16, "WIDTHxHEIGHT"),
    ],
)
def test_settings_that_cannot_run_are_refused_before_loading(overrides, device, dtype, message):
    """The decision the GPU would make, taken on the CPU: a combination that fails every job is a start-up error."""
    with pytest.raises(SpeedSettingError, match=message):
        check_speed_settings(Settings(**overrides), torch.device(device), dtype)


def test_cudnn_attention_in_bfloat16_is_accepted():
    check_speed_settings(
        Settings(attention_backend="_native_cudnn", compile=True), torch.device("cuda"), torch.bfloat16
    )


def test_a_cpu_worker_with_a_cuda_only_backend_is_unfit(tiny_model, tmp_path):
    worker = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), output_dir=tmp_path, attention_backend="_native_cudnn")
    )
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        worker.fitness_check()


def test_warmup_sizes_parse():
    assert parse_sizes("1024x1024, 768X1344") == [(1024, 1024), (768, 1344)]
    assert parse_sizes("") == []


COLD_START = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from torch._dynamo.utils import counters
    from worker.runtime.config import Settings
    from worker.generation.model import load_model
    load_model(Settings(model_id=sys.argv[1], compile=True, compile_cache_dir=Path(sys.argv[2]), warmup_sizes="256x256"))
    print(json.dumps(dict(counters["inductor"])))
    """
)


def cold_start_counters(model_dir, cache_dir, inductor_dir) -> dict:
    """A cold start in a new process whose inductor cache is empty, as on a fresh machine."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(inductor_dir)}
    completed = subprocess.run(
        [sys.executable, "-c", COLD_START, str(model_dir), str(cache_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_warm_restart_does_not_recompile(tiny_model, tmp_path):
    first = cold_start_counters(tiny_model, tmp_path / "cache", tmp_path / "inductor-1")
    assert first.get("fxgraph_cache_miss", 0) > 0  # compiled from nothing
    assert list((tmp_path / "cache").glob("flux-schnell-*.bin"))
    second = cold_start_counters(tiny_model, tmp_path / "cache", tmp_path / "inductor-2")
    assert second.get("fxgraph_cache_miss", 0) == 0  # every graph came from the saved cache
    assert second.get("fxgraph_cache_hit", 0) >= first["fxgraph_cache_miss"]


def test_no_recompile_after_warm_up(tiny_model):
    """Compiled once at warm-up, the blocks serve img2img, other sizes and sliced inputs without recompiling."""
    from PIL import Image
    from torch._dynamo.utils import counters

    model = load_model(Settings(model_id=str(tiny_model), compile=True, warmup_sizes="256x256"))
    compiled = counters["stats"]["unique_graphs"]
    photo = Image.new("RGB", (256, 256), (200, 120, 40))
    for plan in (
        PLAN,
        GenerationPlan("a cat", 256, 256, 2, 0.0, [4], photo=photo),
        GenerationPlan("a dog", 320, 256, 2, 0.0, [5]),
        GenerationPlan("a dog", 512, 384, 3, 0.0, [6, 7]),
    ):
        generate_designs(model, plan)
    assert counters["stats"]["unique_graphs"] == compiled


@pytest.mark.parametrize("step_cache", ["first_block", "taylorseer"])
def test_step_caches_are_hooks_on_the_shared_transformer(tiny_model, step_cache):
    model = load_model(Settings(model_id=str(tiny_model), step_cache=step_cache))
    assert model.image_to_image.transformer.is_cache_enabled
    plan = GenerationPlan(prompt="a dog", width=256, height=256, steps=8, guidance=0.0, seeds=[3])
    first = generate_designs(model, plan)
    generate_designs(model, GenerationPlan("a cat", 256, 256, 8, 0.0, [9]))
    assert torch.equal(first, generate_designs(model, plan))  # no state leaks from one job into the next
