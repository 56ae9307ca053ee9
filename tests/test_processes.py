"""The worker as a real process: RunPod's local API server, ``python handler.py``, and the fitness check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, small_job, worker_env


def test_runsync_jobs_errors_and_recovery(api_server):
    ok = api_server.runsync(small_job(design_id="api-1"))
    assert ok["status"] == "COMPLETED", ok
    design_path = Path(ok["output"]["designs"][0]["url"].removeprefix("file://"))
    assert design_path.is_file()

    for bad, needle in (
        ({"steps": 500}, "steps"),
        ({"style": "cubism"}, "cubism"),
        ({"design_id": "../x"}, "design_id"),
    ):
        failed = api_server.runsync(small_job(**bad))
        assert failed["status"] == "FAILED"
        assert failed["error"].startswith("invalid_input: ")
        assert needle in failed["error"]
        assert "Traceback" not in failed["error"]

    again = api_server.runsync(small_job(design_id="api-2"))
    assert again["status"] == "COMPLETED", again
    # One cold start for the whole server life, however many jobs it ran.
    assert api_server.log().count("loading model") == 1


def test_python_handler_runs_test_input_json(tiny_model, tmp_path):
    completed = subprocess.run(
        [sys.executable, "handler.py"],
        cwd=ROOT,
        env=worker_env(tiny_model, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [design] = (tmp_path / "local-test").glob("design-0-*.png")
    assert design.stat().st_size > 1000
    # test_input.json names no products: every product of the catalog, all six.
    mockups = sorted(path.name for path in (tmp_path / "local-test" / "mockups").iterdir())
    assert [name.rsplit("-", 1)[0] for name in mockups] == [
        f"{p}-0" for p in ("hoodie", "mug", "phone_case", "poster", "tote", "tshirt")
    ]
    assert all(name.endswith(".jpg") for name in mockups)  # the default mockup format


def test_fitness_check_stops_an_unfit_worker_on_runpod(tmp_path):
    # With RUNPOD_WEBHOOK_GET_JOB set, runpod runs the fitness checks before taking any job; the address is
    # a closed loopback port that is never reached, because the check fails first.
    env = worker_env(tmp_path / "no-model", tmp_path, RUNPOD_WEBHOOK_GET_JOB="http://127.0.0.1:9/job-take")
    completed = subprocess.run(
        [sys.executable, "handler.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert "Fitness check failed: fitness_check" in completed.stdout + completed.stderr
