"""Each built-in style shows its signature in numbers; the matte is clean; styles are data."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from devkit.photos import colourful_detail, pet_on_plain_background
from tests.conftest import ROOT, run_job, small_job, worker_env
from worker import DesignWorker
from worker.runtime.config import Settings
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles
from worker.style.filters import FILTERS, FilterContext, luminance, parse_color
from worker.style.matte import colour_matte

STYLES = load_styles(BUILTIN_STYLES_DIR)


def remove_background(image: torch.Tensor) -> torch.Tensor:
    """Alpha ``(B, 1, H, W)``: 0 on a removed background, 1 on the subject and on kept pictures."""
    return colour_matte(image).alpha


def style_params(style_name: str, filter_name: str) -> dict:
    return next(step.params for step in STYLES[style_name].filters if step.name == filter_name)


def laplacian_energy(image: torch.Tensor) -> float:
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    return torch.nn.functional.conv2d(luminance(image), kernel).pow(2).mean().item()


def chroma(image: torch.Tensor) -> torch.Tensor:
    """Colourfulness, max - min of RGB: 0 for greys (HSV saturation over-counts tints of near-black)."""
    return image.amax(dim=1) - image.amin(dim=1)


def distance_to_gradient(image: torch.Tensor, stops: list) -> torch.Tensor:
    """Per-pixel distance to the nearest colour on a sampled gradient curve."""
    probe = torch.linspace(0, 1, 2048).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    curve = FILTERS["gradient_map"](probe, FilterContext([0]), stops=stops)[0, :, 0].T  # (2048, 3)
    pixels = image[0].permute(1, 2, 0).reshape(-1, 3)
    return torch.cdist(pixels, curve).amin(dim=1)


def job_design(result: dict) -> Image.Image:
    return Image.open(io.BytesIO(Path(result["designs"][0]["url"].removeprefix("file://")).read_bytes()))


# --- Pop Art ----------------------------------------------------------------------------------------


def test_pop_art_uses_only_its_palette():
    out = STYLES["pop_art"].apply_filters(colourful_detail(), seeds=[1])
    colours = torch.unique(out[0].reshape(3, -1).T, dim=0)
    palette = style_params("pop_art", "palette_quantize")["palette"]
    assert len(colours) <= len(palette)
    allowed = torch.tensor([parse_color(c) for c in palette])
    assert torch.cdist(colours, allowed).amin(dim=1).max() < 1e-6


def test_pop_art_halftone_is_periodic_at_its_period():
    size = 256
    flat = torch.tensor(parse_color("#ff9100")).view(1, 3, 1, 1).expand(1, 3, size, size).contiguous()
    out = STYLES["pop_art"].apply_filters(flat, seeds=[1])
    spectrum = torch.fft.fftshift(torch.fft.fft2(luminance(out)[0, 0] - luminance(out).mean())).abs()
    peak = divmod(int(spectrum.argmax()), size)
    radius = ((peak[0] - size / 2) ** 2 + (peak[1] - size / 2) ** 2) ** 0.5
    period = style_params("pop_art", "halftone")["period"]
    assert abs(radius - size / period) < 1.5  # the strongest frequency is the dot lattice's


def test_pop_art_on_the_tiny_model_keeps_the_palette(worker):
    result, _ = run_job(worker, small_job(design_id="pop", style="pop_art"))
    design = job_design(result).convert("RGB")
    assert len(design.getcolors(maxcolors=4096)) <= len(style_params("pop_art", "palette_quantize")["palette"])


# --- Watercolor -------------------------------------------------------------------------------------


def test_watercolor_softens_detail():
    source = colourful_detail()
    out = STYLES["watercolor"].apply_filters(source, seeds=[1])
    assert laplacian_energy(out) < 0.5 * laplacian_energy(source)


def test_watercolor_lays_paper_texture_on_bare_paper():
    white = torch.ones(1, 3, 128, 128)
    out = STYLES["watercolor"].apply_filters(white, seeds=[1])
    assert out.std() > 0.005  # visible grain
    assert (out - white).abs().max() < 0.2  # but paper stays paper
    other_seed = STYLES["watercolor"].apply_filters(white, seeds=[2])
    assert not torch.equal(out, other_seed)


def disc_on_paper(size: int = 256, colour: tuple = (0.2, 0.35, 0.7)) -> tuple[torch.Tensor, torch.Tensor]:
    """A flat disc of colour on white, and its distance from the centre in pixels."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    radius = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2).sqrt()
    image = torch.where(radius < size / 3, torch.tensor(colour).view(3, 1, 1), torch.ones(3, 1, 1))
    return image.unsqueeze(0), radius


def test_watercolor_pools_pigment_at_the_edge_of_a_wash():
    image, radius = disc_on_paper()
    tone = luminance(STYLES["watercolor"].apply_filters(image, seeds=[1]))[0, 0]
    rim = tone[(radius > 256 / 3 - 6) & (radius < 256 / 3 - 1)].mean()
    centre = tone[radius < 256 / 6].mean()
    assert rim < centre - 0.05  # the dark rim a drying wash leaves


def test_watercolor_pigment_is_transparent_and_paper_stays_white():
    image, radius = disc_on_paper()
    out = STYLES["watercolor"].apply_filters(image, seeds=[1])
    centre = radius < 256 / 6
    assert luminance(out)[0, 0][centre].mean() > luminance(image)[0, 0][centre].mean() + 0.05  # thinned pigment
    assert luminance(out)[0, 0][radius > 256 / 3 + 24].mean() > 0.9  # bare paper


def test_watercolor_on_the_tiny_model(worker):
    result, _ = run_job(worker, small_job(design_id="wc", style="watercolor", transparent_background=False))
    assert "error" not in result
    assert job_design(result).size == (256, 256)


# --- Metal ------------------------------------------------------------------------------------------


def test_metal_is_desaturated_and_gradient_mapped():
    out = STYLES["metal"].apply_filters(colourful_detail(), seeds=[1])
    assert chroma(colourful_detail()).mean() > 0.3
    assert chroma(out).mean() < 0.06
    stops = style_params("metal", "gradient_map")["stops"]
    assert distance_to_gradient(out, stops).max() < 0.01  # every pixel lies on the chrome curve


def test_metal_chrome_curve_is_not_a_plain_grey_ramp():
    ramp = torch.linspace(0, 1, 256).view(1, 1, 1, -1).expand(1, 3, 4, -1)
    stops = style_params("metal", "gradient_map")["stops"]
    tone = luminance(FILTERS["gradient_map"](ramp, FilterContext([0]), stops=stops))[0, 0, 0]
    rises, falls = (tone.diff() > 1e-4).sum(), (tone.diff() < -1e-4).sum()
    assert rises > 0 and falls > 0  # the chrome horizon: brighter, darker, brighter again


def test_metal_mirrors_a_horizon_along_the_edges_of_the_relief():
    image, radius = disc_on_paper(colour=(0.6, 0.6, 0.6))
    tone = luminance(STYLES["metal"].apply_filters(image, seeds=[1]))[0, 0]
    edge = tone[(radius > 256 / 3 - 8) & (radius < 256 / 3 + 8)]
    assert edge.max() > 0.85 and edge.min() < 0.15  # bright horizon and dark ground in the bevel
    assert tone[radius < 256 / 6].std() < edge.std()  # flat metal is calmer than its bevelled edge


def test_metal_is_brushed_along_one_direction():
    flat = torch.full((1, 3, 128, 128), 0.6)
    tone = luminance(STYLES["metal"].apply_filters(flat, seeds=[1]))[0, 0]
    along = (tone[:, 1:] - tone[:, :-1]).abs().mean()
    across = (tone[1:] - tone[:-1]).abs().mean()
    assert across > 3 * along > 0  # streaks run horizontally


def test_metal_on_the_tiny_model(worker):
    result, _ = run_job(worker, small_job(design_id="metal", style="metal"))
    design = torch.tensor(list(job_design(result).convert("RGB").getdata()), dtype=torch.float32) / 255
    assert chroma(design.T.reshape(1, 3, 256, 256)).mean() < 0.06


# --- all styles -------------------------------------------------------------------------------------


def test_styles_differ_from_each_other():
    source = colourful_detail()
    outputs = {name: style.apply_filters(source, seeds=[1]) for name, style in STYLES.items()}
    names = sorted(outputs)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert (outputs[first] - outputs[second]).abs().mean() > 0.05, (first, second)


@pytest.mark.parametrize("name", sorted(STYLES))
def test_styles_are_deterministic_for_a_seed(name):
    source = colourful_detail()
    assert torch.equal(STYLES[name].apply_filters(source, [3]), STYLES[name].apply_filters(source, [3]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", sorted(STYLES))
def test_styles_match_between_cpu_and_cuda(name):
    source = colourful_detail()
    on_cpu = STYLES[name].apply_filters(source, [3])
    on_gpu = STYLES[name].apply_filters(source.cuda(), [3]).cpu()
    assert (on_cpu - on_gpu).abs().mean() < 0.01


def test_batched_styles_use_each_designs_seed():
    batch = colourful_detail().repeat(2, 1, 1, 1)
    together = STYLES["watercolor"].apply_filters(batch, seeds=[4, 5])
    alone = STYLES["watercolor"].apply_filters(batch[1:], seeds=[5])
    assert (together[1:] - alone).abs().max() < 1e-5


# --- matte, print size ------------------------------------------------------------------------------


def test_matte_is_clean_on_a_plain_background():
    image, mask, white_patch = pet_on_plain_background()
    alpha = remove_background(image)[0, 0]
    predicted = alpha > 0.5
    iou = (predicted & mask).sum() / (predicted | mask).sum()
    assert iou >= 0.95
    assert alpha[white_patch].min() > 0.9  # white fur inside the subject is not background
    edge = (alpha > 0.02) & (alpha < 0.98)
    assert 0 < edge.sum() < 0.05 * alpha.numel()  # soft edges, only at the edge


def test_print_size_upscales_and_writes_300_dpi(worker):
    result, _ = run_job(worker, small_job(design_id="print", print_size=1024, width=320, height=256))
    assert "error" not in result, result
    design = job_design(result)
    assert design.size == (1024, 819) == (result["designs"][0]["width"], result["designs"][0]["height"])
    assert design.mode == "RGBA"
    assert tuple(round(v) for v in design.info["dpi"]) == (300, 300)
    assert "style" in result["timings_ms"]


def test_opaque_design_when_transparency_is_off(worker):
    result, _ = run_job(worker, small_job(design_id="opaque", transparent_background=False))
    assert job_design(result).getchannel("A").getextrema() == (255, 255)


# --- the catalog as data ----------------------------------------------------------------------------

SEPIA = """
display_name = "Sepia"
prompt_template = "{prompt}, an old sepia photograph"
strength = 0.6

[[filters]]
name = "gradient_map"
stops = [[0.0, "#2b1a0e"], [1.0, "#f3e2c4"]]
"""


def test_a_style_added_as_a_file_works_through_the_handler(tiny_model, tmp_path):
    styles_dir = tmp_path / "styles"
    styles_dir.mkdir()
    (styles_dir / "sepia.toml").write_text(SEPIA)
    job = {"input": {**small_job(design_id="sepia-job", style="Sepia", transparent_background=False)}}
    completed = subprocess.run(
        [sys.executable, "handler.py", "--test_input", json.dumps(job)],
        cwd=ROOT,
        env=worker_env(tiny_model, tmp_path / "out", STYLES_DIR=str(styles_dir)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [path] = (tmp_path / "out" / "sepia-job").glob("design-0-*.png")
    design = Image.open(path).convert("RGB")
    pixels = torch.tensor(list(design.getdata()), dtype=torch.float32).T.reshape(1, 3, 256, 256) / 255
    assert distance_to_gradient(pixels, [[0.0, "#2b1a0e"], [1.0, "#f3e2c4"]]).max() < 0.01


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            'display_name = "X"\nprompt_template = "{prompt}"\n[[filters]]\nname = "sparkle"\n',
            "unknown filter 'sparkle'",
        ),
        ('display_name = "X"\nprompt_template = "{prompt}"\n[[filters]]\nname = "halftone"\ndots = 3\n', "dots"),
        ('display_name = "X"\nprompt_template = "{prompt}"\n[[filters]]\nname = "outline"\ncolor = "#12"\n', "#rrggbb"),
        ('display_name = "X"\nprompt_template = "no slot"\n', "{prompt}"),
        ('display_name = "X"\nprompt_template = "{prompt}"\nstrength = 3\n', "strength"),
    ],
)
def test_a_broken_style_file_fails_the_fitness_check(tiny_model, tmp_path, content, message):
    (tmp_path / "broken.toml").write_text(content)
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), styles_dir=tmp_path, output_dir=tmp_path))
    with pytest.raises(RuntimeError, match=r"broken\.toml") as failure:
        worker.fitness_check()
    assert message in str(failure.value)
