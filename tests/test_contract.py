"""The job contract: each field's bounds give a clear, field-level invalid_input error."""

from __future__ import annotations

import pytest

from tests.conftest import run_job, small_job

INVALID = [
    ("design_id", {"design_id": "../etc"}),
    ("design_id", {"design_id": ""}),
    ("design_id", {"design_id": "x" * 65}),
    ("design_id", {"design_id": "a/b"}),
    ("design_id", {"design_id": 12}),
    ("style", {"style": "cubism"}),
    ("style", {"style": 3}),
    ("prompt", {"prompt": "x" * 1001}),
    ("prompt", {"prompt": ""}),
    ("seed", {"seed": -1}),
    ("seed", {"seed": 2**32}),
    ("seed", {"seed": "42"}),
    ("steps", {"steps": 0}),
    ("steps", {"steps": 500}),
    ("steps", {"steps": 2.5}),
    ("guidance", {"guidance": -0.1}),
    ("guidance", {"guidance": 20.5}),
    ("width", {"width": 255}),
    ("width", {"width": 2064}),
    ("width", {"width": 1000}),
    ("height", {"height": 4096}),
    ("num_designs", {"num_designs": 0}),
    ("num_designs", {"num_designs": 5}),
    ("mockup_format", {"mockup_format": "gif"}),
    ("products", {"products": ["teapot"]}),
    ("colors", {"colors": {"tshirt": "plaid"}}),
    ("colors", {"colors": {"teapot": "white"}}),
    ("colors", {"colors": {"poster": "black"}}),
    ("mockup_quality", {"mockup_quality": 0}),
    ("print_size", {"print_size": 8192}),
    ("transparent_background", {"transparent_background": "yes"}),
    ("products", {"products": "tshirt"}),
    ("webhook_url", {"webhook_url": "ftp://example.com/hook"}),
    ("surprise", {"surprise": True}),
]


@pytest.mark.parametrize(("field", "overrides"), INVALID, ids=[f"{f}-{i}" for i, (f, _) in enumerate(INVALID)])
def test_out_of_bounds_field_is_invalid_input(worker, field, overrides):
    result, _ = run_job(worker, small_job(**overrides))
    assert result["error_code"] == "invalid_input"
    assert result["error"].startswith("invalid_input: ")
    assert [detail["field"] for detail in result["details"]] == [field]
    assert field in result["error"]


def test_steps_error_names_the_bound_and_the_value(worker):
    result, _ = run_job(worker, small_job(steps=500))
    assert "steps" in result["error"] and "50" in result["error"] and "500" in result["error"]


def test_unknown_style_lists_the_available_ones(worker):
    result, _ = run_job(worker, small_job(style="cubism"))
    assert "metal, photo, pop_art, watercolor" in result["error"]


@pytest.mark.parametrize("missing", ["design_id", "style"])
def test_required_fields(worker, missing):
    job = small_job()
    del job[missing]
    result, _ = run_job(worker, job)
    assert result["error_code"] == "invalid_input"
    assert result["details"] == [{"field": missing, "message": "Field required"}]


def test_prompt_required_without_image(worker):
    job = small_job()
    del job["prompt"]
    result, _ = run_job(worker, job)
    assert result["error_code"] == "invalid_input"
    assert result["details"][0]["field"] == "prompt"


@pytest.mark.parametrize("job_input", [None, [], "design", 5])
def test_input_must_be_an_object(worker, job_input):
    result, _ = run_job(worker, job_input)
    assert result["error_code"] == "invalid_input"


def test_every_error_is_reported_at_once(worker):
    result, _ = run_job(worker, small_job(steps=0, width=100, style="nope"))
    assert sorted(detail["field"] for detail in result["details"]) == ["steps", "style", "width"]


def test_style_is_case_insensitive(worker):
    result, _ = run_job(worker, small_job(style="POP_ART"))
    assert "error" not in result, result
    assert result["style"] == "pop_art"
    assert result["mockups"] == []  # products: [] asks for the design only


def test_bad_base64_image_is_invalid_input(worker):
    result, _ = run_job(worker, small_job(image="not base64!!"))
    assert result["error_code"] == "invalid_input"
    assert result["details"][0]["field"] == "image"


def test_undecodable_image_is_invalid_input(worker):
    result, _ = run_job(worker, small_job(image="data:image/png;base64,aGVsbG8gd29ybGQ="))
    assert result["error_code"] == "invalid_input"
    assert "PNG, JPEG or WebP" in result["error"]


def test_http_url_refused_unless_allowed(worker, monkeypatch):
    monkeypatch.setattr(worker.settings, "allow_http_urls", False)
    result, _ = run_job(worker, small_job(image="http://127.0.0.1:9/pet.png"))
    assert result["error_code"] == "invalid_input"
    assert "https" in result["error"]


def test_unreachable_url_is_input_fetch_failed(worker):
    result, _ = run_job(worker, small_job(image="http://127.0.0.1:9/pet.png"))
    assert result["error_code"] == "input_fetch_failed"


def test_worker_serves_a_valid_job_after_errors(worker):
    for bad in ({"steps": 500}, {"style": "nope"}, {"design_id": "../x"}):
        assert run_job(worker, small_job(**bad))[0]["error_code"] == "invalid_input"
    result, _ = run_job(worker, small_job())
    assert "error" not in result
    assert len(result["designs"]) == 1


def test_an_invalid_job_lists_ten_problems_then_counts_the_rest(worker):
    """However many fields are bad, the error quotes a bounded amount of the caller's text (the same text goes
    into the design.failed webhook): ten problems, then how many more; a huge list fails on its length alone."""
    job = small_job() | {f"{'k' * 37}{i}": 1 for i in range(300)}
    result, _ = run_job(worker, job)
    assert result["error_code"] == "invalid_input"
    assert len(result["details"]) == 10 and result["error"].endswith("; and 290 more")
    assert len(result["error"]) < 1000
    result, _ = run_job(worker, small_job(products=[1234567] * 100_000))
    assert [detail["field"] for detail in result["details"]] == ["products"] and len(result["error"]) < 200
