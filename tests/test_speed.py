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
from worker.config import Settings
from worker.generate import GenerationPlan, generate_designs
from worker.model import load_model
from worker.speed import parse_sizes

PLAN = GenerationPlan(prompt="a dog", width=256, height=256, steps=2, guidance=0.0, seeds=[3])


def test_fused_qkv_and_channels_last_keep_the_output(tiny_model):
    plain = load_model(Settings(model_id=str(tiny_model), fuse_qkv=False, vae_channels_last=False))
    fast = load_model(Settings(model_id=str(tiny_model)))
    assert fast.text_to_image.transformer.transformer_blocks[0].attn.fused_projections
    conv = fast.text_to_image.vae.decoder.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert (generate_designs(plain, PLAN) - generate_designs(fast, PLAN)).abs().max() < 1e-4


def test_shared_modules_carry_the_settings_to_every_pipeline(tiny_model):
    model = load_model(Settings(model_id=str(tiny_model)))
    assert model.image_to_image.transformer.transformer_blocks[0].attn.fused_projections


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"attention_backend": "warp-drive"}, "warp-drive"),
        ({"warmup_sizes": "large"}, "ValueError"),
    ],
)
def test_bad_speed_settings_fail_the_fitness_check(tiny_model, tmp_path, overrides, message):
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), output_dir=tmp_path, **overrides))
    with pytest.raises(RuntimeError, match="cold start failed") as failure:
        worker.fitness_check()
    assert message in str(failure.value)


def test_fp8_without_torchao_says_what_is_missing(tiny_model, tmp_path):
    pytest.importorskip("torch")  # always there; torchao is the point
    try:
        import torchao  # noqa: F401

        pytest.skip("torchao is installed here")
    except ImportError:
        pass
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), output_dir=tmp_path, quantize="fp8"))
    with pytest.raises(RuntimeError, match="needs torchao"):
        worker.fitness_check()


def test_warmup_sizes_parse():
    assert parse_sizes("1024x1024, 768X1344") == [(1024, 1024), (768, 1344)]
    assert parse_sizes("") == []


COLD_START = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from torch._dynamo.utils import counters
    from worker.config import Settings
    from worker.model import load_model
    load_model(Settings(model_id=sys.argv[1], compile=True, compile_cache_dir=Path(sys.argv[2]), warmup_sizes="256x256"))
    print(json.dumps(dict(counters["inductor"])))
    """
)


def cold_start_counters(model_dir, cache_dir, inductor_dir) -> dict:
    """A cold start in a new process whose inductor cache is empty, as on a fresh machine."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(inductor_dir)}
    completed = subprocess.run(
        [sys.executable, "-c", COLD_START, str(model_dir), str(cache_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_warm_restart_does_not_recompile(tiny_model, tmp_path):
    first = cold_start_counters(tiny_model, tmp_path / "cache", tmp_path / "inductor-1")
    assert first.get("fxgraph_cache_miss", 0) > 0  # compiled from nothing
    assert list((tmp_path / "cache").glob("flux-schnell-*.bin"))
    second = cold_start_counters(tiny_model, tmp_path / "cache", tmp_path / "inductor-2")
    assert second.get("fxgraph_cache_miss", 0) == 0  # every graph came from the saved cache
    assert second.get("fxgraph_cache_hit", 0) >= first["fxgraph_cache_miss"]
