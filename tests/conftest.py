"""Shared fixtures: the tiny FLUX.1 (built once per run), a cold-started worker, and job helpers."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from devkit.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, SeaweedS3, stop_process
from models.tiny import save_tiny_flux
from worker import DesignWorker
from worker.delivery.routes import DeliveryRoutes
from worker.runtime.config import Settings
from worker.runtime.faults import FaultPlan

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the suite may reach the Hub


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A schnell-like tiny FLUX.1 saved with save_pretrained: loaded by the real from_pretrained path."""
    return save_tiny_flux(tmp_path_factory.mktemp("models") / "tiny-schnell", schnell=True)


@pytest.fixture(scope="session")
def output_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="session")
def worker(tiny_model: Path, output_dir: Path) -> DesignWorker:
    settings = Settings(
        model_id=str(tiny_model),
        output_dir=output_dir,
        allow_http_urls=True,
        allow_private_urls=True,
        progress_interval_s=0,
    )
    loaded = DesignWorker.cold_start(settings)
    assert loaded.startup_error is None, loaded.startup_error
    return loaded


def run_job(worker: DesignWorker, job_input: Any, job_id: str = "test-job") -> tuple[dict[str, Any], list[dict]]:
    """Run one job in process; returns the handler's result and every progress update it sent."""
    updates: list[dict] = []
    result = worker.run({"id": job_id, "input": job_input}, updates.append)
    return result, updates


def small_job(**overrides: Any) -> dict[str, Any]:
    """A valid, fast text-to-image job on the tiny model (no mockups unless asked for)."""
    job = {
        "design_id": "design-1",
        "style": "pop_art",
        "prompt": "a corgi",
        "seed": 7,
        "width": 256,
        "height": 256,
        "products": [],
    }
    job.update(overrides)
    return job


def png_data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_env(model_dir: Path, output_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RUNPOD_")}
    env.update(
        {"MODEL_ID": str(model_dir), "OUTPUT_DIR": str(output_dir), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    )
    env.update(extra)
    return env


class ApiServer:
    """``python handler.py --rp_serve_api`` as a real process on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "handler.py",
                "--rp_serve_api",
                "--rp_api_host",
                "127.0.0.1",
                "--rp_api_port",
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"API server exited early:\n{log_path.read_text()}")
            try:
                requests.get(f"{self.url}/docs", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.3)
        raise RuntimeError(f"API server did not start:\n{log_path.read_text()}")

    def runsync(self, job_input: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/runsync", json={"input": job_input}, timeout=300)
        response.raise_for_status()
        return response.json()

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        stop_process(self.process, timeout_s=10)
        self._log.close()


@pytest.fixture(scope="session")
def api_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    folder = tmp_path_factory.mktemp("api")
    server = ApiServer(worker_env(tiny_model, folder / "outputs"), folder / "server.log")
    yield server
    server.stop()


# --- real servers for delivery tests --------------------------------------------------------------------

os.environ.setdefault("PYTEST_HTTPSERVER_HOST", "127.0.0.1")  # the webhook receiver binds loopback only


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A real S3-compatible server for the whole test run."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


def configured(worker: DesignWorker, **overrides: Any) -> DesignWorker:
    """The session's worker (same loaded model and templates) with other settings and storage."""
    settings = Settings(**{**worker.settings.model_dump(), **overrides})
    delivery, faults = DeliveryRoutes.from_settings(settings), FaultPlan(settings.fault_injection)
    return dataclasses.replace(worker, settings=settings, delivery=delivery, faults=faults)


def s3_settings(server: SeaweedS3, **extra: Any) -> dict[str, Any]:
    return {
        "s3_bucket": "designs",
        "s3_endpoint_url": server.endpoint,
        "s3_path_style": True,
        "s3_region": "us-east-1",
        "bucket_access_key_id": S3_ACCESS_KEY,
        "bucket_secret_access_key": S3_SECRET_KEY,
        **extra,
    }
