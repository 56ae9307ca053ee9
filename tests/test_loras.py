"""Styles that carry a LoRA: loaded once at cold start, on for their own jobs only, recompile-free under
COMPILE=1 (hot-swap), and a bad file stops the worker naming its style. Tiny random LoRAs made with peft."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from models.tiny_lora import save_tiny_lora
from tests.conftest import run_job, small_job
from worker import DesignWorker
from worker.runtime.config import Settings

PLAIN = 'display_name = "Plain"\nprompt_template = "{prompt}, flat colours"\n'


def lora_style(source: str, weight: float = 1.0, transformer: str = "base") -> str:
    return PLAIN.replace('"Plain"', '"Inked"') + (
        f'\n[[loras]]\nsource = "{source}"\nweight = {weight}\ntransformer = "{transformer}"\n'
    )


@pytest.fixture(scope="module")
def styles_dir(tiny_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lora-styles")
    save_tiny_lora(tiny_model, folder / "loras" / "ink.safetensors", rank=4, seed=1)
    (folder / "plain.toml").write_text(PLAIN)
    (folder / "inked.toml").write_text(lora_style("loras/ink.safetensors", weight=0.9))
    return folder


def design_pixels(result: dict) -> bytes:
    assert "error" not in result, result
    return Image.open(result["designs"][0]["url"].removeprefix("file://")).tobytes()


def job(style: str, design_id: str) -> dict:
    return small_job(design_id=design_id, style=style, seed=5, steps=3, transparent_background=False)


def plain_inked_plain(worker: DesignWorker, tag: str) -> tuple[bytes, bytes, bytes]:
    return tuple(
        design_pixels(run_job(worker, job(style, f"{tag}-{i}-{style}"))[0])
        for i, style in enumerate(("plain", "inked", "plain"))
    )


def test_a_lora_style_changes_the_output_and_does_not_leak_into_the_next_job(
    tiny_model, styles_dir, tmp_path, monkeypatch
):
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), styles_dir=styles_dir, output_dir=tmp_path))
    assert worker.startup_error is None, worker.startup_error
    loads = []
    monkeypatch.setattr(type(worker.model.text_to_image), "load_lora_weights", lambda *a, **k: loads.append(a))
    before, inked, after = plain_inked_plain(worker, "eager")
    assert inked != before  # the LoRA is on for its style
    assert after == before  # and off again for the next style, to the pixel
    assert loads == []  # loaded once at cold start, never per job


def test_under_compile_styles_swap_loras_without_recompiling(tiny_model, styles_dir, tmp_path):
    from torch._dynamo.utils import counters

    worker = DesignWorker.cold_start(
        Settings(
            model_id=str(tiny_model), styles_dir=styles_dir, output_dir=tmp_path, compile=True, warmup_sizes="256x256"
        )
    )
    assert worker.startup_error is None, worker.startup_error
    compiled = counters["stats"]["unique_graphs"]
    before, inked, after = plain_inked_plain(worker, "hotswap")
    assert counters["stats"]["unique_graphs"] == compiled  # switching LoRAs is no recompile
    assert inked != before and after == before


def test_a_lora_that_does_not_load_stops_the_worker_naming_its_style(tiny_model, tmp_path):
    (tmp_path / "broken.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "smudged.toml").write_text(lora_style("broken.safetensors"))
    unfit = DesignWorker.cold_start(Settings(model_id=str(tiny_model), styles_dir=tmp_path, output_dir=tmp_path))
    with pytest.raises(RuntimeError, match=r"style 'smudged'.*does not load"):
        unfit.fitness_check()


def test_fused_qkv_is_refused_under_a_lora(tiny_model, styles_dir, tmp_path):
    unfit = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), styles_dir=styles_dir, output_dir=tmp_path, fuse_qkv=True)
    )
    with pytest.raises(RuntimeError, match="FUSE_QKV=1 would silently drop"):
        unfit.fitness_check()


def test_a_kontext_lora_needs_a_kontext_model(tiny_model, styles_dir, tmp_path):
    (tmp_path / "edited.toml").write_text(
        lora_style(str(styles_dir / "loras" / "ink.safetensors"), transformer="kontext")
    )
    unfit = DesignWorker.cold_start(Settings(model_id=str(tiny_model), styles_dir=tmp_path, output_dir=tmp_path))
    with pytest.raises(RuntimeError, match="carry a Kontext LoRA, but no KONTEXT_MODEL_ID"):
        unfit.fitness_check()
