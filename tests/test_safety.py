"""Content safety: blocked terms, and the prompt and image classifiers on tiny random-weight models.

The classifiers' scores mean nothing (random weights), so every job test forces the threshold: 0 refuses
everything the model scores at all, 1 refuses nothing. What is proven is the path: the same loading code
as a real model, the refusal before anything is stored, the ``design.failed`` webhook.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor
from transformers.models.convnext.image_processing_pil_convnext import ConvNextImageProcessorPil

from devkit.photos import colourful_detail, pet_on_plain_background
from models.tiny_safety import save_tiny_safety_models
from tests.conftest import configured, run_job, s3_settings, small_job
from tests.test_delivery import SECRET, webhook_events
from worker import DesignWorker
from worker.runtime.catalog import CatalogError
from worker.runtime.config import Settings
from worker.safety.designs import ImagePreprocess
from worker.safety.labels import UnsafeLabels
from worker.safety.screen import ContentScreen
from worker.safety.terms import load_terms, parse_terms
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles


@pytest.fixture(scope="module")
def safety_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    image, prompt = save_tiny_safety_models(tmp_path_factory.mktemp("safety"))
    return {"image": image, "prompt": prompt}


def screened(worker: DesignWorker, **overrides) -> DesignWorker:
    """The session's worker with other settings, its content screen built from them as cold start does."""
    changed = configured(worker, **overrides)
    return dataclasses.replace(changed, screen=ContentScreen.from_settings(changed.settings))


def stages(updates: list[dict]) -> list[str]:
    return list(dict.fromkeys(update["stage"] for update in updates))


def stored_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


# --- blocked terms ---------------------------------------------------------------------------------------

BUILTIN = load_terms(Settings())


def fullwidth(text: str) -> str:
    """ASCII letters as their fullwidth forms (U+FF01..), which NFKC folds back."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


EVASIONS = [
    "a corgi, porn",
    "A CORGI, PoRn",
    "a corgi, " + fullwidth("porn"),
    "a corgi, pörn",  # an accent
    "a corgi, p\u200born",  # a zero-width space inside the word
    "a corgi, p o r n",  # spaced-out letters
    "a corgi, p.o.r.n",
    "a corgi, p0rn",  # a digit for a letter
    "a corgi, \u0440orn",  # a Cyrillic er for the p
    "pornographic corgi",  # the wildcard porn*
    "corgi at a neo-nazi rally",  # punctuation between words
    "corgi with a white-power flag",
    "corgi giving a sieg   heil",
    "a $ex corgi",
]


@pytest.mark.parametrize("prompt", EVASIONS)
def test_blocked_terms_are_found_through_the_usual_evasions(prompt):
    assert BUILTIN.find(prompt) is not None, prompt


INNOCENT = [
    "a corgi eating a grape",  # rape inside a word
    "an Essex terrier",  # sex inside a word
    "a Sussex spaniel with its therapist",
    "a naked mole rat",  # the pet meanings left out of the list
    "a Maine Coon kitten",
    "a blue tit on a branch",
    "a murder of crows around a black cat",
    "in loving memory of our dead dog Rex",
    "a husky in a Gore-Tex raincoat",  # an exception phrase
    "Nazir the tabby cat",  # not the word nazi
    "a sexy poodle",  # taste, not a refusal: left to the classifier or BLOCKED_TERMS
    "a, b, c: a dog learning letters",  # single letters that join into nothing blocked
]


@pytest.mark.parametrize("prompt", INNOCENT)
def test_innocent_prompts_pass_the_built_in_list(prompt):
    assert BUILTIN.find(prompt) is None, BUILTIN.find(prompt)


def test_no_built_in_style_refuses_its_own_prompt():
    for style in load_styles(BUILTIN_STYLES_DIR).values():
        for plain_background in (True, False):
            rendered = style.render_prompt("a happy corgi wearing sunglasses", plain_background=plain_background)
            assert BUILTIN.find(rendered) is None, (style.name, BUILTIN.find(rendered))
            assert BUILTIN.find(style.render_prompt(None, plain_background=plain_background)) is None


def test_the_terms_file_format():
    terms = parse_terms(
        "# a comment\nstray\n[violence]\nSevered Head  # a phrase\nstab*\n!stable boy\n[]\nlast", "test.txt"
    )
    assert terms.categories == {
        "stray": "blocked terms",
        "severed head": "violence",
        "stab*": "violence",
        "last": "blocked terms",
    }
    assert terms.find("a cat and a SEVERED-head").category == "violence"
    assert terms.find("a stabbing").term == "stabbing"
    assert terms.find("a stable boy with his horse") is None
    assert terms.find("a stable boy stabbed") is not None
    assert terms.find("severed heads") is None  # whole words: a plural is its own term


@pytest.mark.parametrize(
    ("text", "message"),
    [("***", "has no letters or digits"), ("ab*", "at least 3 letters"), ("!-", "has no letters or digits")],
)
def test_a_bad_term_names_its_line(text, message):
    with pytest.raises(CatalogError, match=rf"terms.txt:2: .*{message}"):
        parse_terms(f"fine\n{text}", "terms.txt")


def test_blocked_terms_add_to_the_list_and_the_file_replaces_it(tmp_path):
    extra = load_terms(Settings(blocked_terms="Bad Dog, rotten*"))
    assert extra.find("a BAD-DOG") is not None and extra.find("rottenest") is not None
    assert extra.find("porn") is not None  # the built-in list still applies
    own = tmp_path / "terms.txt"
    own.write_text("[house rules]\ncats\n")
    replaced = load_terms(Settings(blocked_terms_file=own))
    assert replaced.find("porn") is None and replaced.find("two cats").category == "house rules"
    assert len(load_terms(Settings(blocked_terms_file=Path("/dev/null")))) == 0


# --- a refused prompt in a job ----------------------------------------------------------------------------


def test_a_refused_prompt_stops_before_the_gpu_stores_nothing_and_says_so(worker, httpserver, tmp_path):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    hooked = screened(worker, output_dir=tmp_path, webhook_url=httpserver.url_for("/hook"), webhook_secret=SECRET)
    result, updates = run_job(
        hooked, small_job(design_id="refused-prompt", prompt=f"a corgi at a {fullwidth('Nazi')} rally")
    )
    assert result["error_code"] == "content_refused"
    assert result["error"] == "content_refused: the prompt was refused by the content rules (hate symbols and slurs)"
    assert result["details"] == [{"field": "prompt", "message": result["error"].removeprefix("content_refused: ")}]
    assert "nazi" not in json.dumps(result).casefold()  # the offending text is not echoed back
    assert stages(updates) == ["validate"]  # no photo fetched, no step of the model
    assert stored_files(tmp_path) == []
    [(_, event)] = webhook_events(httpserver)
    assert event["type"] == "design.failed"
    assert event["data"] == {
        "design_id": "refused-prompt",
        "job_id": "test-job",
        "error": result["error"],
        "error_code": "content_refused",
    }


def test_a_blocked_term_in_the_style_template_is_caught_in_the_rendered_prompt(worker, tmp_path):
    hooked = screened(worker, output_dir=tmp_path, blocked_terms="screen print")
    result, updates = run_job(hooked, small_job(design_id="refused-style", style="pop_art"))
    assert result["error_code"] == "content_refused"
    assert "the prompt as the style renders it" in result["error"]
    assert stages(updates) == ["validate"] and stored_files(tmp_path) == []


# --- the prompt classifier --------------------------------------------------------------------------------


def prompt_screen(worker, models, tmp_path, threshold, **extra) -> DesignWorker:
    return screened(
        worker,
        output_dir=tmp_path,
        prompt_safety_model=str(models["prompt"]),
        prompt_safety_labels="toxic,obscene,identity_hate",
        prompt_safety_threshold=threshold,
        **extra,
    )


def test_the_prompt_classifier_refuses_above_its_threshold_before_generation(worker, safety_models, tmp_path):
    strict = prompt_screen(worker, safety_models, tmp_path, threshold=0.0)
    result, updates = run_job(strict, small_job(design_id="classified-prompt"))
    assert result["error_code"] == "content_refused"
    assert "refused by the prompt safety classifier (" in result["error"]
    assert "corgi" not in result["error"]
    assert stages(updates) == ["validate"] and stored_files(tmp_path) == []


def test_the_prompt_classifier_at_threshold_one_lets_the_job_through(worker, safety_models, tmp_path):
    lenient = prompt_screen(worker, safety_models, tmp_path, threshold=1.0)
    result, _ = run_job(lenient, small_job(design_id="classified-prompt"))
    assert "error" not in result, result
    assert len(result["designs"]) == 1 and len(stored_files(tmp_path)) == 1


def test_prompt_scores_are_per_text_and_multi_label(safety_models):
    screen = ContentScreen.from_settings(
        Settings(prompt_safety_model=str(safety_models["prompt"]), prompt_safety_labels="toxic,threat")
    )
    classifier = screen.prompt_classifier
    assert classifier.labels.multi_label  # as unitary/toxic-bert declares itself
    texts = ["a corgi", "a happy corgi wearing sunglasses as pop art"]
    scores, labels = classifier.scores(texts)
    batch = classifier.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        probabilities = classifier.model(**batch).logits.sigmoid()[:, [0, 3]]  # toxic, threat
    torch.testing.assert_close(scores, probabilities.amax(dim=1))
    assert labels == [["toxic", "threat"][i] for i in probabilities.argmax(dim=1).tolist()]


# --- the image classifier ---------------------------------------------------------------------------------


def image_screen(worker, models, threshold, **extra) -> DesignWorker:
    return screened(worker, safety_model=str(models["image"]), safety_threshold=threshold, **extra)


def test_a_refused_design_stores_nothing_in_the_bucket_and_sends_design_failed(
    worker, safety_models, s3_server, httpserver
):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    strict = image_screen(
        worker,
        safety_models,
        0.0,
        webhook_url=httpserver.url_for("/hook"),
        webhook_secret=SECRET,
        **s3_settings(s3_server, s3_prefix="safety"),
    )
    job = small_job(design_id="refused-design", num_designs=2, products=["mug"])
    result, updates = run_job(strict, job)
    assert result["error_code"] == "content_refused"
    assert result["error"].startswith("content_refused: design(s) [0, 1] were refused by the image safety classifier")
    assert "partial_output" not in result
    assert stages(updates) == ["validate", "load_input", "generate", "style"]  # no mockup, no upload
    assert s3_server.keys("designs", "safety/refused-design/") == []
    [(_, event)] = webhook_events(httpserver)
    assert event["type"] == "design.failed" and event["data"]["error_code"] == "content_refused"
    assert event["data"]["design_id"] == "refused-design"


def test_a_design_below_the_threshold_is_stored_with_its_mockups(worker, safety_models, tmp_path):
    lenient = image_screen(worker, safety_models, 1.0, output_dir=tmp_path)
    result, _ = run_job(lenient, small_job(design_id="allowed-design", num_designs=2, products=["mug"]))
    assert "error" not in result, result
    assert len(result["designs"]) == 2 and len(result["mockups"]) == 2
    assert len(stored_files(tmp_path / "allowed-design")) == 4


def test_the_image_classifier_runs_in_the_workers_dtype_on_its_device(worker, safety_models):
    screen = image_screen(worker, safety_models, 0.5).screen
    classifier = screen.image_classifier
    assert classifier.model.device == worker.model.device and classifier.model.dtype == worker.model.dtype
    assert classifier.labels.names == ["nsfw"] and not classifier.labels.multi_label


PROCESSORS = {
    "vit-exact-size-bilinear": {"size": {"height": 64, "width": 48}},
    "clip-shortest-edge-centre-crop-bicubic": {
        "size": {"shortest_edge": 40},
        "crop_size": {"height": 32, "width": 32},
        "do_center_crop": True,
        "resample": 3,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    },
}


@pytest.mark.parametrize("overrides", PROCESSORS.values(), ids=PROCESSORS.keys())
def test_preprocessing_on_the_device_matches_the_models_own_processor(safety_models, overrides):
    """The worker resizes, crops and normalises in torch; transformers' own (Pillow) processor is the reference."""
    processor = AutoImageProcessor.from_pretrained(safety_models["image"], backend="pil", **overrides)
    preprocess = ImagePreprocess.from_processor(processor, "tiny")
    std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
    pictures = [pet_on_plain_background(300)[0], colourful_detail(256)[..., :200], torch.rand(1, 3, 90, 200)]
    for picture in pictures:
        pixels = (picture[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        reference = processor(images=Image.fromarray(pixels), return_tensors="pt")["pixel_values"]
        ours = preprocess(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255)
        assert ours.shape == reference.shape
        assert ((ours - reference).abs() * std).max() < 1.5 / 255  # Pillow rounds to 8 bits: 1/255 apart


def test_a_preprocessing_step_the_worker_does_not_do_is_refused():
    with pytest.raises(ValueError, match="crop_pct is not supported"):  # ConvNeXt's resize-then-crop ratio
        ImagePreprocess.from_processor(ConvNextImageProcessorPil(), "convnext")


def test_transparent_parts_are_scored_as_the_white_they_print_as(worker, safety_models):
    classifier = image_screen(worker, safety_models, 0.5).screen.image_classifier
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    invisible = torch.cat([noise, torch.zeros(1, 1, 64, 64)], dim=1)
    white = torch.ones(1, 4, 64, 64)
    torch.testing.assert_close(classifier.scores(invisible)[0], classifier.scores(white)[0])
    assert not torch.allclose(
        classifier.scores(torch.cat([noise, torch.ones(1, 1, 64, 64)], 1))[0], classifier.scores(white)[0]
    )


def test_single_label_scores_sum_the_unsafe_probabilities():
    config = type("Config", (), {"id2label": {0: "neutral", 1: "porn", 2: "hentai"}, "problem_type": None})()
    labels = UnsafeLabels.from_config(config, "Porn, HENTAI", 0.5, "SAFETY_UNSAFE_LABELS", "m")
    scores, names = labels.scores(torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]]))
    expected = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]]).softmax(dim=1)[:, 1:].sum(dim=1)
    torch.testing.assert_close(scores, expected)
    assert names == ["porn", "hentai"]


# --- bad settings fail the fitness check -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"blocked_terms_file": "/nonexistent/terms.txt"}, "BLOCKED_TERMS_FILE /nonexistent/terms.txt cannot be read"),
        ({"blocked_terms": "ok, x*"}, "BLOCKED_TERMS:2: 'x*': a wildcard needs"),
        ({"safety_model": "/nonexistent/classifier"}, "SAFETY_MODEL=/nonexistent/classifier names a local folder"),
        ({"safety_model": "{image}", "safety_unsafe_labels": "porn"}, "whose labels are: normal, nsfw"),
        ({"safety_model": "{image}", "safety_unsafe_labels": "normal,nsfw"}, "everything would be refused"),
        ({"prompt_safety_model": "{image}/.."}, "has no config.json"),
        ({"prompt_safety_model": "{prompt}", "prompt_safety_labels": ""}, "toxic, severe_toxic, obscene"),
    ],
)
def test_a_bad_safety_setting_makes_the_worker_unfit_before_flux_loads(worker, safety_models, overrides, message):
    values = {
        key: value.format(**safety_models) if isinstance(value, str) else value for key, value in overrides.items()
    }
    settings = Settings(**{**worker.settings.model_dump(), "model_id": "/nonexistent/flux", **values})
    unfit = DesignWorker.cold_start(settings)
    assert unfit.startup_error is not None and unfit.model is None
    assert "MODEL_ID" not in unfit.startup_error  # failed on the safety setting, before FLUX was tried
    assert message in unfit.startup_error
    with pytest.raises(RuntimeError, match="cold start failed"):
        unfit.fitness_check()


def test_cold_start_builds_the_screen_from_the_settings(tiny_model, safety_models, tmp_path):
    settings = Settings(
        model_id=str(tiny_model), output_dir=tmp_path, safety_model=str(safety_models["image"]), safety_threshold=0.0
    )
    loaded = DesignWorker.cold_start(settings)
    assert loaded.startup_error is None, loaded.startup_error
    assert loaded.screen.image_classifier is not None and len(loaded.screen.terms) > 50
    result, _ = run_job(loaded, small_job(design_id="cold-started"))
    assert result["error_code"] == "content_refused" and stored_files(tmp_path) == []
