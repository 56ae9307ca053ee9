"""Kontext beside the fast model: photo jobs edited by Kontext, text jobs on schnell, one set of text
encoders and one VAE for both (tiny random-weight models of both, through the real loading code)."""

from __future__ import annotations

import pytest
from PIL import Image

from models.tiny import save_tiny_flux
from tests.conftest import png_data_uri, run_job, small_job
from worker import DesignWorker
from worker.generation.model import load_model
from worker.runtime.config import Settings

SHARED = ("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "vae")


@pytest.fixture(scope="module")
def kontext_folder(tmp_path_factory):
    return save_tiny_flux(tmp_path_factory.mktemp("models") / "tiny-kontext", kontext=True)


@pytest.fixture(scope="module")
def paired(tiny_model, kontext_folder, tmp_path_factory):
    worker = DesignWorker.cold_start(
        Settings(
            model_id=str(tiny_model),
            kontext_model_id=str(kontext_folder),
            output_dir=tmp_path_factory.mktemp("paired-out"),
        )
    )
    assert worker.startup_error is None, worker.startup_error
    return worker


def test_kontext_shares_the_text_encoders_tokenizers_and_vae(paired):
    model = paired.model
    for name in SHARED:
        assert getattr(model.kontext, name) is getattr(model.text_to_image, name), name
    assert model.kontext.transformer is not model.text_to_image.transformer
    assert model.kontext.transformer.config.guidance_embeds  # Kontext is guidance-distilled, schnell is not
    assert not model.text_to_image.transformer.config.guidance_embeds
    # Kontext's own scheduler: timesteps shifted by image size; schnell's are not.
    assert model.kontext.scheduler.config.use_dynamic_shifting
    assert not model.text_to_image.scheduler.config.use_dynamic_shifting
    assert model.describe()["kontext_id"] == paired.settings.kontext_model_id


def test_one_t5_in_memory_for_both_pipelines(paired, tiny_model, kontext_folder):
    """Parameters held by the worker: one of each shared module, two transformers."""
    model = paired.model
    held = {
        id(p): p.numel()
        for pipe in model.pipelines.values()
        for c in pipe.components.values()
        if hasattr(c, "parameters")
        for p in c.parameters()
    }
    text_and_vae = sum(
        p.numel()
        for name in ("text_encoder", "text_encoder_2", "vae")
        for p in getattr(model.text_to_image, name).parameters()
    )
    transformers = sum(
        p.numel() for pipe in (model.text_to_image, model.kontext) for p in pipe.transformer.parameters()
    )
    assert sum(held.values()) == text_and_vae + transformers


def test_photo_jobs_go_to_kontext_and_text_jobs_to_the_fast_model(paired):
    photo = png_data_uri(Image.new("RGB", (256, 256), (200, 120, 40)))
    edited, _ = run_job(paired, small_job(design_id="k-photo", image=photo, steps=2))
    drawn, _ = run_job(paired, small_job(design_id="k-text", steps=2))
    assert "error" not in edited and "error" not in drawn, (edited, drawn)
    assert [d["pipeline"] for d in edited["designs"]] == ["kontext"]
    assert [d["pipeline"] for d in drawn["designs"]] == ["text_to_image"]


def test_a_style_without_a_kontext_instruction_redraws_the_photo(paired, tmp_path):
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "plain.toml").write_text('display_name = "Plain"\nprompt_template = "{prompt}, flat colours"\n')
    worker = DesignWorker.cold_start(paired.settings.model_copy(update={"styles_dir": styles}))
    photo = png_data_uri(Image.new("RGB", (256, 256), (20, 120, 200)))
    result, _ = run_job(worker, small_job(design_id="k-plain", style="plain", image=photo, steps=2))
    assert [d["pipeline"] for d in result["designs"]] == ["image_to_image"], result


def test_without_kontext_photo_jobs_are_image_to_image(worker):
    photo = png_data_uri(Image.new("RGB", (256, 256), (200, 120, 40)))
    result, _ = run_job(worker, small_job(design_id="no-kontext", image=photo, steps=2))
    assert [d["pipeline"] for d in result["designs"]] == ["image_to_image"]


def test_a_kontext_model_id_that_is_no_kontext_model_stops_the_worker(tiny_model, tmp_path):
    with pytest.raises(ValueError, match=r"is not a FLUX\.1-Kontext model"):
        load_model(Settings(model_id=str(tiny_model), kontext_model_id=str(tiny_model)))
    unfit = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), kontext_model_id=str(tmp_path / "nope"), output_dir=tmp_path)
    )
    with pytest.raises(RuntimeError, match="names a local folder"):
        unfit.fitness_check()


def test_no_built_in_style_redraws_a_photo_from_pure_noise(worker):
    """diffusers starts image-to-image at step int(steps - steps x strength): with schnell's 4 steps a
    strength of 0.8 or more starts at sigma 1.0 and keeps nothing of the photo (Metal once did)."""
    pipe = worker.model.image_to_image
    for style in worker.styles.values():
        pipe.scheduler.set_timesteps(worker.model.defaults.steps)
        _, steps_run = pipe.get_timesteps(worker.model.defaults.steps, style.strength, "cpu")
        assert steps_run < worker.model.defaults.steps, style.name


# --- Redux: the photo as prompt embeddings, where no Kontext is loaded -----------------------------------


@pytest.fixture(scope="module")
def with_redux(tiny_model, tmp_path_factory):
    from models.tiny import save_tiny_redux

    redux = save_tiny_redux(tmp_path_factory.mktemp("models") / "tiny-redux")
    worker = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), redux_model_id=str(redux), output_dir=tmp_path_factory.mktemp("redux-out"))
    )
    assert worker.startup_error is None, worker.startup_error
    return worker


def test_redux_shares_the_text_encoders_and_conditions_photo_jobs_on_the_photo(with_redux, worker):
    for name in ("text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"):
        assert getattr(with_redux.model.redux, name) is getattr(with_redux.model.text_to_image, name)
    red = png_data_uri(Image.new("RGB", (256, 256), (220, 40, 40)))
    conditioned, _ = run_job(with_redux, small_job(design_id="redux", image=red, steps=4, transparent_background=False))
    plain, _ = run_job(worker, small_job(design_id="no-redux", image=red, steps=4, transparent_background=False))
    assert [d["pipeline"] for d in conditioned["designs"]] == ["redux"], conditioned
    assert [d["pipeline"] for d in plain["designs"]] == ["image_to_image"]
    read = [Image.open(r["designs"][0]["url"].removeprefix("file://")).tobytes() for r in (conditioned, plain)]
    assert read[0] != read[1]  # the photo's image tokens changed the design
    text_only, _ = run_job(with_redux, small_job(design_id="redux-text", steps=2))
    assert [d["pipeline"] for d in text_only["designs"]] == ["text_to_image"]
    assert conditioned["model"]["redux_id"] == with_redux.settings.redux_model_id


def test_a_redux_model_id_that_is_no_redux_model_stops_the_worker(tiny_model, tmp_path):
    unfit = DesignWorker.cold_start(
        Settings(model_id=str(tiny_model), redux_model_id=str(tiny_model), output_dir=tmp_path)
    )
    with pytest.raises(RuntimeError, match=r"is not a FLUX\.1-Redux model"):
        unfit.fitness_check()
