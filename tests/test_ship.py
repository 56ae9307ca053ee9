"""Shipping: the Dockerfile, scripts and workflows pass their linters; deploy.sh's dry run makes the right calls."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


def tool(name: str) -> str:
    candidate = BIN / name
    return str(candidate) if candidate.exists() else name


def run(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)


def test_dockerfile_is_clean_under_hadolint():
    result = run(tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_are_clean_under_shellcheck():
    result = run(tool("shellcheck"), "deploy.sh", ".ci/run", ".ci/setup", ".ci/image-test")
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_are_clean_under_actionlint():
    result = run(tool("actionlint"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_the_token_out_of_layers():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--mount=type=secret,id=hf_token" in dockerfile
    assert "ENV HF_TOKEN" not in dockerfile and "ARG HF_TOKEN" not in dockerfile
    assert 'CMD ["python", "-u", "handler.py"]' in dockerfile
    assert "HF_HUB_OFFLINE=1" in dockerfile


def test_runtime_requirements_are_all_pinned():
    for name in ("requirements.txt", "requirements-gpu.txt", "requirements-test.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r"):
                assert "==" in line, f"{name}: {line} is not pinned"


def deploy(*args: str, api_key: str | None = "rp_key_never_printed_123") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("RUNPOD_API_KEY", "IMAGE")}
    env["PATH"] = "/usr/bin:/bin"  # no docker daemon on the path: the buildah branch
    if api_key:
        env["RUNPOD_API_KEY"] = api_key
    return run("bash", "deploy.sh", *args, env=env)


def api_requests(output: str) -> list[tuple[str, str, dict | None]]:
    """(method, url, body) for every request the dry run printed."""
    lines = output.splitlines()
    requests = []
    for index, line in enumerate(lines):
        if line.startswith("> "):
            method, url = line[2:].split(" ", 1)
            body = None
            if index + 1 < len(lines) and lines[index + 1].startswith("{"):
                body = json.loads(lines[index + 1])
            requests.append((method, url, body))
    return requests


def test_help_documents_every_option_and_variable():
    result = deploy("--help")
    assert result.returncode == 0
    for word in ("--image", "--name", "--gpu-pools", "--workers-min", "--workers-max", "--idle-timeout", "--flashboot",
                 "--execution-timeout", "--disk", "--network-volume", "--env", "--secret", "--skip-build", "--dry-run",
                 "RUNPOD_API_KEY", "IMAGE"):  # fmt: skip
        assert word in result.stdout


def test_dry_run_prints_the_build_and_every_api_request_offline():
    result = deploy(
        "--dry-run", "--image", "ghcr.io/acme/pet-merch-worker:1.2", "--workers-min", "1", "--workers-max", "4",
        "--idle-timeout", "9", "--flashboot", "ON", "--execution-timeout", "300000", "--network-volume", "vol123",
        "--env", "S3_BUCKET=designs", "--secret", "WEBHOOK_SECRET=webhook_secret",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "+ buildah build --isolation chroot --tag ghcr.io/acme/pet-merch-worker:1.2 ." in output
    assert "+ buildah push ghcr.io/acme/pet-merch-worker:1.2" in output
    requests = api_requests(result.stderr)
    assert [(method, url.rsplit("/v2", 1)[1]) for method, url, _ in requests] == [
        ("GET", "/templates"), ("POST", "/templates"), ("GET", "/serverless"), ("POST", "/serverless"),
    ]  # fmt: skip
    template, endpoint = requests[1][2], requests[3][2]
    assert template["image"] == "ghcr.io/acme/pet-merch-worker:1.2"
    assert template["env"] == {"S3_BUCKET": "designs", "WEBHOOK_SECRET": "{{ RUNPOD_SECRET_webhook_secret }}"}
    assert endpoint["workers"] == {"min": 1, "max": 4, "idleTimeout": 9}
    assert endpoint["gpu"]["pools"] == ["ADA_80_PRO", "AMPERE_80"]
    assert (endpoint["flashboot"], endpoint["timeout"], endpoint["networkVolumes"]) == ("ON", 300000, ["vol123"])
    assert "rp_key_never_printed_123" not in output
    assert "nothing was built, pushed or sent" in output


def test_skip_build_deploys_the_image_as_it_is():
    result = deploy("--dry-run", "--skip-build", "--image", "ghcr.io/acme/w:1")
    assert "buildah" not in result.stdout


@pytest.mark.parametrize(
    ("args", "api_key", "message"),
    [
        ((), "key", "--image"),
        (("--image", "x"), None, "RUNPOD_API_KEY is not set"),
        (("--image", "x", "--flashboot", "maybe"), "key", "ON or OFF"),
        (("--image", "x", "--workers-min", "5", "--workers-max", "2"), "key", "larger than"),
        (("--image", "x", "--bogus"), "key", "unknown option"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(args, api_key, message):
    result = deploy(*args, api_key=api_key)
    assert result.returncode == 2
    assert message in result.stderr


def deploy_against(httpserver, *, existing: bool) -> tuple[subprocess.CompletedProcess, list]:
    """deploy.sh for real, against a loopback server answering as RunPod's v2 API would."""
    from werkzeug import Response

    templates = [{"id": "tpl1", "name": "pet-merch-worker"}] if existing else []
    endpoints = [{"id": "ep1", "name": "pet-merch-worker"}] if existing else []
    httpserver.expect_request("/v2/templates", method="GET").respond_with_json({"templates": templates})
    httpserver.expect_request("/v2/serverless", method="GET").respond_with_json({"endpoints": endpoints})
    for path in ("/v2/templates", "/v2/serverless", "/v2/templates/tpl1", "/v2/serverless/ep1"):
        new_id = "tpl9" if "templates" in path else "ep9"
        httpserver.expect_request(path, method="POST").respond_with_response(Response(json.dumps({"id": new_id}), 201))
        httpserver.expect_request(path, method="PATCH").respond_with_json({"id": path.rsplit("/", 1)[-1]})
    env = {
        "PATH": os.environ["PATH"],
        "RUNPOD_API_KEY": "rp_secret_key_42",
        "RUNPOD_API_URL": httpserver.url_for("/v2"),
    }
    result = run("bash", "deploy.sh", "--skip-build", "--image", "ghcr.io/acme/w:2", env=env)
    calls = [(request.method, request.path, request.get_json(silent=True), request.headers.get("Authorization"))
             for request, _ in httpserver.log]  # fmt: skip
    return result, calls


def test_first_deploy_creates_and_binds_the_endpoint_to_the_new_template(httpserver):
    result, calls = deploy_against(httpserver, existing=False)
    assert result.returncode == 0, result.stderr
    assert [(method, path) for method, path, _, _ in calls] == [
        ("GET", "/v2/templates"), ("POST", "/v2/templates"), ("GET", "/v2/serverless"), ("POST", "/v2/serverless"),
    ]  # fmt: skip
    assert calls[3][2]["templateId"] == "tpl9"
    assert all(auth == "Bearer rp_secret_key_42" for *_, auth in calls)
    assert "rp_secret_key_42" not in result.stdout + result.stderr
    assert "endpoint pet-merch-worker: ep9" in result.stdout


def test_a_rerun_updates_in_place(httpserver):
    result, calls = deploy_against(httpserver, existing=True)
    assert result.returncode == 0, result.stderr
    assert [(method, path) for method, path, _, _ in calls] == [
        ("GET", "/v2/templates"), ("PATCH", "/v2/templates/tpl1"), ("GET", "/v2/serverless"), ("PATCH", "/v2/serverless/ep1"),
    ]  # fmt: skip
    assert calls[1][2]["image"] == "ghcr.io/acme/w:2"
    assert calls[3][2]["templateId"] == "tpl1"
