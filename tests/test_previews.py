"""Instant previews (``generate: false`` and the ``photo`` style: the photo is the design, no model runs) and
print files (each product's print area at 300 DPI, beside the mockups)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps
from skimage import data

from devkit.photos import pet_on_plain_background
from tests.conftest import png_data_uri, run_job, small_job
from worker.mockups.print_files import print_file_size
from worker.schema import PRINT_DPI

CAT = Image.fromarray(data.chelsea())  # 451 x 300: a real photo, wider than tall


def opened(entry: dict) -> Image.Image:
    with Image.open(Path(entry["url"].removeprefix("file://"))) as image:
        image.load()
        return image


@pytest.fixture
def no_model_may_run(worker, monkeypatch):
    """Every FLUX.1 pipeline the worker holds fails the test if it is called."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model ran")

    for pipe in worker.model.pipelines.values():
        monkeypatch.setattr(type(pipe), "__call__", refuse)
    return worker


def photo_job(**overrides) -> dict:
    return small_job(image=png_data_uri(CAT), prompt=None, width=512, height=512, **overrides)


def test_the_photo_style_prints_the_photo_as_it_is_and_runs_no_model(no_model_may_run):
    result, _ = run_job(
        no_model_may_run, photo_job(design_id="as-is", style="photo", transparent_background=False, products=["mug"])
    )
    assert "error" not in result, result
    assert result["pipeline"] == "photo" and result["designs"][0]["pipeline"] == "photo"
    design = np.asarray(opened(result["designs"][0]).convert("RGB"))
    expected = np.asarray(ImageOps.contain(CAT, (512, 512), method=Image.Resampling.LANCZOS))
    assert design.shape == expected.shape == (341, 512, 3)  # all of the photo, its aspect kept: nothing cropped
    assert np.abs(design.astype(int) - expected).max() <= 1
    assert [m["product"] for m in result["mockups"]] == ["mug"]


def test_generate_false_styles_the_photo_without_the_model(no_model_may_run):
    result, _ = run_job(no_model_may_run, photo_job(design_id="preview", generate=False, products=["tshirt"]))
    assert "error" not in result, result
    assert result["pipeline"] == "photo" and result["style"] == "pop_art"
    design = opened(result["designs"][0])
    assert design.mode == "RGBA" and design.size == (512, 341)
    photo = np.asarray(ImageOps.contain(CAT, (512, 512)), dtype=float)
    assert np.abs(np.asarray(design.convert("RGB"), dtype=float) - photo).mean() > 10  # Pop Art's filters ran
    assert result["mockups"][0]["product"] == "tshirt" and result["mockups"][0]["width"] == 2048


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"generate": False}, "image"),
        ({"style": "photo"}, "image"),
        ({"generate": False, "image": "aGVsbG8=", "num_designs": 2}, "num_designs"),
    ],
)
def test_a_job_that_runs_no_model_needs_one_photo(worker, overrides, field):
    result, _ = run_job(worker, small_job(**overrides))
    assert result["error_code"] == "invalid_input"
    assert field in [detail["field"] for detail in result["details"]], result


def test_print_files_are_each_print_area_at_300_dpi_with_an_srgb_profile(worker):
    products = ["mug", "phone_case"]
    pet = Image.fromarray((pet_on_plain_background(512)[0][0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    job = small_job(design_id="prints", style="photo", image=png_data_uri(pet), prompt=None, width=512, height=512)
    result, _ = run_job(worker, job | {"products": products, "print_files": True})
    assert "error" not in result, result
    assert [(p["product"], p["design_index"]) for p in result["print_files"]] == [("mug", 0), ("phone_case", 0)]
    for entry in result["print_files"]:
        template = worker.templates[entry["product"]]
        assert entry["print_area_in"] == list(template.print_file.size_in) and entry["dpi"] == PRINT_DPI
        image = opened(entry)
        width_in, height_in = template.print_file.size_in
        assert image.size == print_file_size(template) == (round(width_in * 300), round(height_in * 300))
        assert (entry["width"], entry["height"]) == image.size
        assert image.mode == "RGBA" and image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)
        alpha = np.asarray(image)[..., 3]
        assert alpha.max() == 255 and alpha.min() == 0  # the pet, cut out, on a transparent print area
    mug = next(entry for entry in result["print_files"] if entry["product"] == "mug")
    assert mug["print_area_in"] == [9.0, 3.5]  # an 11 oz mug's wrap, as print shops state it


def test_a_busy_photo_covers_the_mug_face_the_mockup_shows_and_nothing_else_of_its_wrap(worker):
    """A photo whose background stays (a room) is printed edge to edge on the 4.23 x 2.95 in face the mockup
    shows; the rest of the 9 x 3.5 in wrap (round the back and the handle) stays bare, as the mockup promised."""
    result, _ = run_job(worker, photo_job(design_id="room", style="photo", products=["mug"], print_files=True))
    [entry] = result["print_files"]
    alpha = np.asarray(opened(entry))[..., 3].astype(int)
    assert alpha.shape == (1050, 2700)
    (left, top), (width, height) = worker.templates["mug"].print_file.area_at_in, worker.templates["mug"].print_area_in
    rows, columns = (round(top * 300), round((top + height) * 300)), (round(left * 300), round((left + width) * 300))
    assert alpha[rows[0] + 1 : rows[1] - 1, columns[0] + 1 : columns[1] - 1].min() == 255  # blends at its edge
    outside = np.ones_like(alpha, dtype=bool)
    outside[rows[0] - 1 : rows[1] + 1, columns[0] - 1 : columns[1] + 1] = False
    assert alpha[outside].max() == 0


def test_print_files_have_their_own_bound_checked_before_anything_runs(worker):
    result, _ = run_job(worker, photo_job(generate=False, products=None, num_designs=1, print_files=True, seed=1))
    assert "error" not in result, result  # every product's print file of one design: within the bound
    result, _ = run_job(worker, small_job(num_designs=2, products=None, print_files=True))
    assert result["error_code"] == "invalid_input"
    [detail] = result["details"]
    assert detail["field"] == "print_files" and "MAX_PRINT_FILE_PIXELS" in detail["message"]
