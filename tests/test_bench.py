"""The benchmarks run (small sizes, one repeat) so they never rot; their figures live in BENCHMARKS.md."""

from __future__ import annotations

import json

import pytest

from bench import styles as bench_styles


def test_style_benchmark_runs_and_reports_every_style(capsys):
    bench_styles.main(["--size", "128", "--repeats", "1", "--device", "cpu"])
    report = capsys.readouterr().out
    for name in ("metal", "pop_art", "watercolor"):
        assert name in report
    assert "matte alone" in report
    assert report.count("x\n") == 1  # one ratio: the guided filter against the Pillow + numpy reference


def test_mockup_benchmark_runs(capsys):
    from bench import mockups as bench_mockups

    bench_mockups.main(["--size", "256", "--repeats", "1", "--device", "cpu"])
    report = capsys.readouterr().out
    assert "worker compositing" in report and "Pillow compositing" in report
    assert report.count("encoding six") == 3


def test_upload_benchmark_runs(capsys):
    from bench import upload as bench_upload

    figures = bench_upload.main(["--repeats", "1"])
    report = capsys.readouterr().out
    assert "worker (fpng, JPEG, pipelined)" in report and "previous (PNG 6, WebP m4)" in report
    assert figures["worker_s"] > 0 and figures["previous_s"] > 0 and "ratio_to_previous" in figures


def test_speed_benchmark_runs_the_handlers_job_on_the_tiny_model(tmp_path):
    """``--tiny`` loads through load_model and runs the real job: every stage, cold start, the baseline ratio."""
    from bench import speed as bench_speed

    out = tmp_path / "speed.json"
    report = bench_speed.main(
        ["--tiny", "--families", "schnell", "--configs", "defaults", "--repeats", "1", "--json", str(out)]
    )
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    [row] = report["rows"]
    assert "error" not in row, row["error"]
    assert set(row["stage_ms"]) >= {
        "validate",
        "load_input",
        "generate",
        "style",
        "mockups",
        "upload",
        "webhook",
        "total",
    }
    assert row["cold_start_s"] > 0 and row["first_job_s"] > 0 and row["transformer_ms"] > 0
    assert row["speedup_vs_diffusers"] > 0 and report["diffusers_baseline"]["schnell"]["generate_ms"] > 0
    assert row["model"]["family"] == "schnell" and row["dtype"] == "float32"
    assert row["webhooks_delivered"] and report["webhooks_received"] == 2  # one design.completed per job


def test_contact_sheet_shows_every_style_on_the_chosen_products(tmp_path, capsys):
    from PIL import Image

    from bench import contact_sheet
    from devkit.backdrops import backdrop_set
    from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles

    rows = len(load_styles(BUILTIN_STYLES_DIR))
    photo = tmp_path / "cat.png"
    Image.fromarray((backdrop_set(192)[0].image[0].permute(1, 2, 0).numpy() * 255).astype("uint8")).save(photo)
    out = tmp_path / "sheet.jpg"
    contact_sheet.main([str(photo), "--size", "96", "--cell", "48", "--products", "poster,mug", "--out", str(out)])
    sheet = Image.open(out)
    assert sheet.size == (contact_sheet.LABEL_WIDTH + 48 * 3, contact_sheet.HEADER + 48 * rows)
    cells = [
        sheet.crop(
            (
                contact_sheet.LABEL_WIDTH,
                contact_sheet.HEADER + 48 * row,
                contact_sheet.LABEL_WIDTH + 48,
                contact_sheet.HEADER + 48 * (row + 1),
            )
        )
        for row in range(rows)
    ]
    pixels = [list(cell.convert("L").getdata()) for cell in cells]
    assert len({tuple(p) for p in pixels}) == rows  # each style's design looks different
    assert str(out) in capsys.readouterr().out


def test_matte_benchmark_reports_every_scene_and_the_pooled_figures(capsys):
    from bench import matte as bench_matte
    from devkit.backdrops import backdrop_set

    bench_matte.main(["--size", "128"])
    report = capsys.readouterr().out
    assert all(scene.name in report for scene in backdrop_set(128))
    assert "plain scenes pooled: cat kept" in report


def test_safety_benchmark_runs_the_workers_screens(capsys):
    from bench import safety as bench_safety

    figures = bench_safety.main(["--tiny", "--size", "64", "--designs", "2", "--repeats", "1", "--device", "cpu"])
    report = capsys.readouterr().out
    assert "image classifier, 2 RGBA 64x64 designs" in report and "prompt classifier, two prompts" in report
    assert figures["image_classifier_ms"] > 0 and figures["prompt_classifier_ms"] > 0 and figures["terms_ms"] > 0
    assert figures["image_weights_mb"] == pytest.approx(figures["image_params_m"] * 4)  # float32 on the CPU


def test_preview_benchmark_runs_whole_jobs_without_the_model(capsys):
    from bench import preview as bench_preview

    figures = bench_preview.main(["--size", "256", "--repeats", "1", "--styles", "photo,pop_art"])
    report = capsys.readouterr().out
    assert set(figures) == {
        f"{style} / {photo}" for style in ("photo", "pop_art") for photo in bench_preview.photos(64)
    }
    for row in figures.values():
        assert row["job_ms"] > 0 and row["mockups"] > 0 and row["upload"] > 0
    assert "pop_art" in report and "cat in a room" in report
