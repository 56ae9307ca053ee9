"""Jobs end to end on the tiny model: outputs on disk, image-to-image, determinism, progress, load once."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlparse

from diffusers import FluxPipeline
from PIL import Image

from tests.conftest import png_data_uri, run_job, small_job
from worker.progress import STAGES


def read_output(url: str) -> bytes:
    assert url.startswith("file://")
    return Path(urlparse(url).path).read_bytes()


def test_text_to_image_writes_designs_under_content_keys(worker, output_dir):
    result, _ = run_job(worker, small_job(design_id="t2i", num_designs=2, width=320, height=256, seed=100))
    assert "error" not in result, result
    assert result["seed"] == 100
    assert [(d["index"], d["seed"]) for d in result["designs"]] == [(0, 100), (1, 101)]
    for index, design in enumerate(result["designs"]):
        assert re.fullmatch(rf"t2i/design-{index}-[0-9a-f]{{12}}\.png", design["key"])
        path = Path(urlparse(design["url"]).path)
        assert path == output_dir / design["key"]
        image = Image.open(path)
        assert image.format == "PNG" and image.size == (320, 256) == (design["width"], design["height"])
        assert design["bytes"] == path.stat().st_size
    assert result["model"]["family"] == "schnell"
    assert set(result["timings_ms"]) >= {"validate", "load_input", "generate", "style", "upload", "total"}


def test_another_seed_never_replaces_a_design_and_a_retry_rewrites_the_same_one(worker, output_dir):
    first, _ = run_job(worker, small_job(design_id="reseed", seed=1))
    retry, _ = run_job(worker, small_job(design_id="reseed", seed=1))
    other, _ = run_job(worker, small_job(design_id="reseed", seed=2))
    assert first["designs"][0]["key"] == retry["designs"][0]["key"]
    assert other["designs"][0]["key"] != first["designs"][0]["key"]
    assert other["designs"][0]["url"] != first["designs"][0]["url"]
    assert len(list((output_dir / "reseed").glob("design-0-*.png"))) == 2
    assert read_output(first["designs"][0]["url"]) != read_output(other["designs"][0]["url"])


def test_random_seed_is_returned_and_reproduces(worker):
    job = small_job(design_id="seedless")
    del job["seed"]
    first, _ = run_job(worker, job)
    again, _ = run_job(worker, {**job, "design_id": "seeded", "seed": first["seed"]})
    assert 0 <= first["seed"] < 2**32
    assert read_output(first["designs"][0]["url"]) == read_output(again["designs"][0]["url"])


def test_same_seed_same_bytes_other_seed_other_bytes(worker):
    first, _ = run_job(worker, small_job(design_id="det-a", seed=5))
    same, _ = run_job(worker, small_job(design_id="det-b", seed=5))
    other, _ = run_job(worker, small_job(design_id="det-c", seed=6))
    bytes_a, bytes_b, bytes_c = (read_output(r["designs"][0]["url"]) for r in (first, same, other))
    assert bytes_a == bytes_b
    assert bytes_a != bytes_c


def test_image_to_image_from_base64_follows_the_photo(worker):
    red = Image.new("RGB", (300, 200), (255, 0, 0))
    blue = Image.new("RGB", (300, 200), (0, 0, 255))
    result_red, _ = run_job(worker, small_job(design_id="i2i-red", image=png_data_uri(red), prompt=None, steps=4))
    result_blue, _ = run_job(worker, small_job(design_id="i2i-blue", image=png_data_uri(blue), prompt=None, steps=4))
    assert "error" not in result_red, result_red
    design_red = Image.open(io.BytesIO(read_output(result_red["designs"][0]["url"]))).convert("RGB")
    design_blue = Image.open(io.BytesIO(read_output(result_blue["designs"][0]["url"]))).convert("RGB")
    assert design_red.size == (256, 256)
    assert design_red.tobytes() != design_blue.tobytes()  # the photo conditions the design


def test_image_from_url(worker, httpserver):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, format="JPEG")
    httpserver.expect_request("/pet.jpg").respond_with_data(buffer.getvalue(), content_type="image/jpeg")
    result, _ = run_job(worker, small_job(design_id="url", image=httpserver.url_for("/pet.jpg")))
    assert "error" not in result, result
    assert len(httpserver.log) == 1


def test_progress_reports_each_stage_in_order_and_each_step(worker):
    _, updates = run_job(worker, small_job(design_id="progress", steps=3))
    stages = [u["stage"] for u in updates if "step" not in u]
    assert stages == ["validate", "load_input", "generate", "style", "mockups", "upload", "webhook"]
    steps = [u for u in updates if "step" in u]
    assert [u["step"] for u in steps] == [1, 2, 3]  # progress_interval_s=0 in the fixture: every step
    percents = [u["percent"] for u in updates]
    assert percents == sorted(percents)
    assert steps[-1]["percent"] == STAGES["generate"][1]


def test_model_is_loaded_once_not_per_job(worker, monkeypatch):
    loads = []
    original = FluxPipeline.from_pretrained.__func__

    def counting_from_pretrained(cls, *args, **kwargs):
        loads.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(FluxPipeline, "from_pretrained", classmethod(counting_from_pretrained))
    for index in range(2):
        result, _ = run_job(worker, small_job(design_id=f"once-{index}"))
        assert "error" not in result
    assert loads == []
