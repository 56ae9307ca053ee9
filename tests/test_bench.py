"""The benchmarks run (small sizes, one repeat) so they never rot; their figures live in BENCHMARKS.md."""

from __future__ import annotations

from bench import styles as bench_styles


def test_style_benchmark_runs_and_reports_every_style(capsys):
    bench_styles.main(["--size", "128", "--repeats", "1", "--device", "cpu"])
    report = capsys.readouterr().out
    for name in ("metal", "pop_art", "watercolor"):
        assert name in report
    assert report.count("x\n") == 3  # a speed-up ratio per style


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
