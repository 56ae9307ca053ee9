"""The benchmarks run (small sizes, one repeat) so they never rot; their figures live in BENCHMARKS.md."""

from __future__ import annotations

from bench import styles as bench_styles


def test_style_benchmark_runs_and_reports_every_style(capsys):
    bench_styles.main(["--size", "128", "--repeats", "1", "--device", "cpu"])
    report = capsys.readouterr().out
    for name in ("metal", "pop_art", "watercolor"):
        assert name in report
    assert "matte alone" in report
    assert report.count("x\n") == 1  # a ratio for Pop Art, the one style the reference still implements whole


def test_mockup_benchmark_runs(capsys):
    from bench import mockups as bench_mockups

    bench_mockups.main(["--size", "256", "--repeats", "1", "--device", "cpu"])
    report = capsys.readouterr().out
    assert "worker compositing" in report and "Pillow compositing" in report
    assert report.count("encoding six") == 3


def test_upload_benchmark_runs(capsys):
    from bench import upload as bench_upload

    bench_upload.main(["--repeats", "1"])
    report = capsys.readouterr().out
    assert "parallel (worker)" in report and "sequential" in report


def test_speed_benchmark_runs_the_same_code_on_the_tiny_model(capsys):
    from bench import speed as bench_speed

    report = bench_speed.main(
        [
            "--device",
            "cpu",
            "--scale",
            "tiny",
            "--size",
            "256",
            "--repeats",
            "1",
            "--families",
            "schnell",
            "--variants",
            "baseline,fused_qkv",
        ]
    )
    assert [row["variant"] for row in report["rows"]] == ["baseline", "fused_qkv"]
    assert report["rows"][0]["ratio_to_baseline"] == 1.0
    assert all(row["total_s"] > 0 and "per_step_s" in row for row in report["rows"])
    assert "vae_decode_s" in report["rows"][0] and "text_encoding_s" in report["rows"][0]


def test_contact_sheet_shows_every_style_on_the_chosen_products(tmp_path, capsys):
    from PIL import Image

    from bench import contact_sheet
    from tests.photos import backdrop_set
    from worker.styles import BUILTIN_STYLES_DIR, load_styles

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
    from tests.photos import backdrop_set

    bench_matte.main(["--size", "128"])
    report = capsys.readouterr().out
    assert all(scene.name in report for scene in backdrop_set(128))
    assert "plain scenes pooled: cat kept" in report
