"""The background matte on a real cat over plain, gradient and textured backdrops (devkit/backdrops.py).

Plain backdrops come off without eating the cat, even a white cat on white or a black cat on black;
textured ones, and skies with clouds, are detected and the picture kept whole, with the reason in the
report: a matte removes the whole background cleanly or none of it. A learned model (MATTE_MODEL) loads
through transformers' remote-code path and takes the colour matte's place.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from devkit.backdrops import (
    Scene,
    backdrop_set,
    compose,
    flat,
    halo,
    holes,
    kept_share,
    outline_ratio,
    specks,
    white_fur,
)
from devkit.photos import pet_on_plain_background
from models.tiny_matte import save_tiny_matte
from tests.conftest import ROOT
from worker import DesignWorker
from worker.runtime.config import Settings
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles
from worker.style.matte import BACKDROP_MATCH, Matte, colour_matte, matte
from worker.style.matte_model import IMAGENET_MEAN, IMAGENET_STD, final_logits, load_matte_model
from worker.style.stylize import FinishingModels, stylize

SCENES = backdrop_set()
PLAIN = [scene for scene in SCENES if scene.plain]
TEXTURED = [scene for scene in SCENES if not scene.plain]
SKIES = [scene for scene in SCENES if "sky" in scene.name or "clouds" in scene.name]


@functools.cache
def scene_mattes(size: int) -> dict[str, tuple[Scene, Matte]]:
    """Every scene at ``size`` with its colour matte, computed once for the tests that judge them."""
    return {scene.name: (scene, colour_matte(scene.image)) for scene in backdrop_set(size)}


@pytest.mark.parametrize("size", [384, 768])
def test_plain_backdrops_come_off_and_the_cat_stays(size):
    """The issue's figures over the whole set: >= 99% of the cat at alpha >= 0.9, >= 95% of backdrop <= 0.1."""
    scenes = [scene for scene, _ in scene_mattes(size).values() if scene.plain]
    mattes = [scene_mattes(size)[scene.name][1].alpha[0, 0] for scene in scenes]
    subject_kept = sum(int((a[s.subject] >= 0.9).sum()) for s, a in zip(scenes, mattes, strict=True))
    backdrop_cleared = sum(int((a[s.backdrop] <= 0.1).sum()) for s, a in zip(scenes, mattes, strict=True))
    assert subject_kept / sum(int(s.subject.sum()) for s in scenes) >= 0.99
    assert backdrop_cleared / sum(int(s.backdrop.sum()) for s in scenes) >= 0.95
    for scene, alpha in zip(scenes, mattes, strict=True):
        # No scene loses a chunk of cat. The black cat on near-black gives up most (its forehead, fur as
        # black as the backdrop): 98.5% at 384 px, 99.2% at 768.
        assert (alpha[scene.subject] >= 0.9).float().mean() >= 0.98, scene.name
        assert (alpha[scene.backdrop] <= 0.1).float().mean() >= 0.8, scene.name


@pytest.mark.parametrize("size", [384, 768])
def test_no_halo_of_backdrop_around_the_cat(size):
    """The backdrop right next to the cat comes off too: a band of it left opaque is a light or dark
    outline round the pet on every shirt of the other colour."""
    rings = []
    for scene, result in scene_mattes(size).values():
        if not scene.plain:
            continue
        ring = halo(scene, result.alpha[0, 0])  # backdrop pixels within 2 px of the cat
        rings.append(ring)
        if scene.name in ("white", "black"):  # the studio backdrops
            assert ring.mean() <= 0.15, scene.name
    assert torch.cat(rings).mean() <= 0.2


def test_every_plain_backdrop_is_reported_removed():
    reports = colour_matte(torch.cat([scene.image for scene in PLAIN])).reports
    assert [r.removed for r in reports] == [True] * len(PLAIN)
    assert {r.method for r in reports} == {"colour"}


@pytest.mark.parametrize("scene", TEXTURED, ids=lambda scene: scene.name)
def test_textured_backdrops_are_kept_whole_and_say_why(scene):
    result = scene_mattes(384)[scene.name][1]
    assert torch.equal(result.alpha, torch.ones_like(result.alpha))
    report = result.reports[0]
    assert not report.removed and report.method == "none"
    assert "background was kept" in report.reason
    assert torch.equal(result.colours, scene.image)


@pytest.mark.parametrize("size", [384, 768])
def test_skies_with_clouds_are_kept_whole_though_their_edge_matches(size):
    """The real-photo trial: a sky's gradient with clouds, its edge matching a smooth backdrop (one at 70%,
    just over BACKDROP_MATCH) lost its upper sky and kept a ragged block of the rest. Clouds and a horizon
    would stay standing beside the pet: the whole sky is kept, and the report says so."""
    skies = [scene_mattes(size)[scene.name] for scene in SKIES]
    assert len(skies) == 4
    passing_edge = [(scene, result) for scene, result in skies if result.reports[0].backdrop_match >= BACKDROP_MATCH]
    assert {scene.name for scene, _ in passing_edge} >= {"clouds", "cloudy-sky", "dusk-sky"}
    for scene, result in skies:
        assert torch.equal(result.alpha, torch.ones_like(result.alpha)), scene.name
        assert not result.reports[0].removed and "the background was kept" in result.reports[0].reason
    for _, result in passing_edge:
        assert result.reports[0].reason.startswith("the cut would leave")


@pytest.mark.parametrize("size", [384, 768])
def test_every_scene_is_cut_cleanly_or_kept_whole(size):
    """Never half a background: a removal clears nearly all of the backdrop and leaves no specks beside the
    cat; anything less is kept whole."""
    for scene, result in scene_mattes(size).values():
        alpha = result.alpha[0, 0]
        if result.reports[0].removed:
            assert (alpha[scene.backdrop] <= 0.1).float().mean() >= 0.95, scene.name
            assert specks(scene, alpha) == 0, scene.name
        else:
            assert torch.equal(alpha, torch.ones_like(alpha)), scene.name


@pytest.mark.parametrize("size", [384, 768])
def test_a_white_cat_on_white_is_cut_out_whole(size):
    """White fur on a white backdrop with a soft shadow: the fur's shading is a shadow's colour and its
    brightest fur the backdrop's, yet the backdrop is plain, so it comes off, and the cat stays whole:
    >= 99% of it, no hole eaten into it, no speck beside it, an outline no more ragged than the true one."""
    scene, result = scene_mattes(size)["white-cat"]
    alpha = result.alpha[0, 0]
    assert result.reports[0].removed
    assert kept_share(scene, alpha) >= 0.99
    assert holes(scene, alpha) == 0
    assert specks(scene, alpha) == 0
    assert outline_ratio(scene, alpha) <= 1.1
    assert (alpha[scene.backdrop] <= 0.1).float().mean() >= 0.95


@pytest.mark.parametrize("size", [384, 768])
def test_a_black_cat_on_near_black_is_cut_out(size):
    """The dark twin: black fur on a near-black backdrop comes off with the cat whole but for its forehead
    (fur exactly the backdrop's black, bitten along the outline: 98.5% kept at 384 px, 99.2% at 768)."""
    scene, result = scene_mattes(size)["black-cat"]
    alpha = result.alpha[0, 0]
    assert result.reports[0].removed
    assert kept_share(scene, alpha) >= 0.98
    assert specks(scene, alpha) == 0
    assert outline_ratio(scene, alpha) <= 1.3


def test_a_white_cat_cut_by_the_edge_is_never_half_removed():
    """A white cat's chest cut by the bottom edge, on white: where its fur meets the frame it is the
    backdrop's own colour. Either the cut is clean (the cat whole) or the picture is kept whole, saying why."""
    scene = compose("white-portrait", flat((0.96, 0.96, 0.95)), True, seed=14, fur=white_fur)
    result = colour_matte(scene.image)
    alpha = result.alpha[0, 0]
    if result.reports[0].removed:
        assert kept_share(scene, alpha) >= 0.99 and holes(scene, alpha) == 0
    else:
        assert torch.equal(alpha, torch.ones_like(alpha)) and "the background was kept" in result.reports[0].reason


def test_a_batch_is_decided_per_design():
    plain, textured = PLAIN[0], TEXTURED[0]
    together = colour_matte(torch.cat([plain.image, textured.image]))
    assert [r.removed for r in together.reports] == [True, False]
    assert torch.allclose(together.alpha[:1], colour_matte(plain.image).alpha, atol=1e-5)


def test_a_noise_free_backdrop_like_a_generated_one():
    scene = compose("clean-white", flat((1.0, 1.0, 1.0)), True, noise=0.0)
    alpha = colour_matte(scene.image).alpha[0, 0]
    assert (alpha[scene.subject] >= 0.9).float().mean() >= 0.99
    assert (alpha[scene.backdrop] <= 0.1).float().mean() >= 0.97


def test_white_fur_inside_the_subject_is_not_background():
    image, mask, white_patch = pet_on_plain_background()
    alpha = colour_matte(image).alpha[0, 0]
    assert alpha[white_patch].min() > 0.9
    predicted = alpha > 0.5
    assert (predicted & mask).sum() / (predicted | mask).sum() >= 0.98


def test_outline_pixels_lose_the_old_backdrop_colour():
    """A white backdrop must not leave a white rim: outline pixels take the subject's colour."""
    scene = PLAIN[0]
    result = colour_matte(scene.image)
    partial = (result.alpha[0, 0] > 0.05) & (result.alpha[0, 0] < 0.95)
    assert partial.sum() > 100
    assert result.colours[0][:, partial].mean() < scene.image[0][:, partial].mean() - 0.05


def test_style_stage_reports_the_background_per_design():
    style = load_styles(BUILTIN_STYLES_DIR)["pop_art"]
    batch = torch.cat([PLAIN[0].image, TEXTURED[0].image])
    styled = stylize(batch, style, [1, 2], transparent_background=True, print_size=None)
    assert styled.images.shape == (2, 4, *batch.shape[-2:])
    assert [r.removed for r in styled.backgrounds] == [True, False]
    assert styled.images[1, 3].min() == 1
    opaque = stylize(batch, style, [1, 2], transparent_background=False, print_size=None)
    assert [r.reason for r in opaque.backgrounds] == ["transparent_background is off"] * 2


def test_the_matte_command_writes_a_cutout(tmp_path):
    source = tmp_path / "cat.png"
    Image.fromarray((PLAIN[1].image[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(source)
    out = tmp_path / "cat-matte.png"
    completed = subprocess.run(
        [sys.executable, "-m", "worker.matte", str(source), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["removed"] is True and report["method"] == "colour"
    cutout = Image.open(out)
    assert cutout.mode == "RGBA" and cutout.size == source_size(source)
    alpha = torch.tensor(list(cutout.getchannel("A").getdata())).view(cutout.height, cutout.width)
    assert (alpha[PLAIN[1].subject] >= 230).float().mean() > 0.99
    assert (alpha[PLAIN[1].backdrop] <= 25).float().mean() > 0.9


def source_size(path) -> tuple[int, int]:
    return Image.open(path).size


# --- the learned model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_matte(tmp_path_factory) -> str:
    return str(save_tiny_matte(tmp_path_factory.mktemp("models") / "tiny-matte"))


def test_the_matte_model_loads_through_remote_code_and_runs_batched(tiny_matte):
    model = load_matte_model(Settings(matte_model=tiny_matte, matte_resolution=64))
    images = torch.stack([PLAIN[0].image[0], TEXTURED[0].image[0]])
    alpha = model(images)
    assert alpha.shape == (2, 1, *images.shape[-2:])
    # Exactly the network's last side output, on the ImageNet-normalised square, sigmoid, back to size.
    square = F.interpolate(images, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    normalised = (square - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        expected = F.interpolate(
            final_logits(model.network(normalised)).sigmoid(), size=images.shape[-2:], mode="bilinear"
        )
    assert torch.allclose(alpha, expected, atol=1e-5)
    assert torch.allclose(model(images[1:]), alpha[1:], atol=1e-5)  # each design alone gives the same


def test_the_matte_model_takes_the_colour_mattes_place(tiny_matte):
    model = load_matte_model(Settings(matte_model=tiny_matte, matte_resolution=64))
    style = load_styles(BUILTIN_STYLES_DIR)["watercolor"]
    styled = stylize(TEXTURED[0].image, style, [0], True, None, FinishingModels(matte=model))
    assert styled.backgrounds[0].removed and styled.backgrounds[0].method == "model"
    assert torch.allclose(styled.images[:, 3:], model(TEXTURED[0].image), atol=1e-5)
    assert matte(TEXTURED[0].image, model).reports[0].method == "model"


def test_a_worker_with_matte_model_loads_it_at_cold_start(tiny_model, tiny_matte, tmp_path):
    worker = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), output_dir=tmp_path, matte_model=tiny_matte, matte_resolution=64)
    )
    worker.fitness_check()
    assert worker.finishing.matte is not None and worker.finishing.matte.name == tiny_matte


def test_a_matte_model_that_cannot_load_fails_the_fitness_check(tiny_model, tmp_path):
    worker = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), output_dir=tmp_path, matte_model=str(tmp_path / "missing"))
    )
    with pytest.raises(RuntimeError, match="cold start failed"):
        worker.fitness_check()
