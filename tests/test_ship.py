"""Shipping: the Dockerfile, scripts and workflows pass their linters; deploy.sh sends what RunPod's published
REST API v2 schema accepts; the RunPod Hub files describe a job this worker runs."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import deploy_bodies
from tests.conftest import ROOT
from worker.generation.speed import ATTENTION_BACKENDS
from worker.mockups.templates import BUILTIN_MOCKUPS_DIR, load_templates
from worker.runtime.config import Settings
from worker.schema import parse_job_input
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles

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


# --- RunPod's published REST API v2 schema (tests/runpod-openapi/) ------------------------------------

SPEC_URI = "urn:runpod-rest-v2"
SPEC = json.loads((ROOT / "tests" / "runpod-openapi" / "openapi.json").read_text())
REGISTRY = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))


def pointer(*parts: str) -> str:
    """A JSON pointer into the schema document, as a $ref."""
    return SPEC_URI + "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def operation(method: str, url: str) -> str:
    """The schema's path template that a request goes to; fails when the API has no such operation."""
    path = urlsplit(url).path
    for template, item in SPEC["paths"].items():
        if method.lower() in item and re.fullmatch(re.sub(r"\{[^}/]+\}", "[^/]+", template), path):
            return template
    raise AssertionError(f"RunPod's API v2 has no {method} {path}")


def schema_errors(ref: str, instance: object) -> list[str]:
    validator = Draft202012Validator({"$ref": ref}, registry=REGISTRY)
    return [f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}" for e in validator.iter_errors(instance)]


def request_errors(method: str, url: str, body: dict | None) -> list[str]:
    """What RunPod's schema finds wrong with a request: [] when it accepts it."""
    template = operation(method, url)
    request_body = SPEC["paths"][template][method.lower()].get("requestBody")
    if request_body is None:
        return [] if body is None else [f"{method} {template} takes no body"]
    if body is None:
        return [f"{method} {template} needs a body"]
    return schema_errors(
        pointer("paths", template, method.lower(), "requestBody", "content", "application/json", "schema"), body
    )


def documented_answer(method: str, template: str, status: str) -> dict:
    """The example answer the schema documents for an operation, checked against the operation's own schema."""
    content = SPEC["paths"][template][method]["responses"][status]["content"]["application/json"]
    example = copy.deepcopy(next(iter(content["examples"].values()))["value"])
    answer_ref = pointer("paths", template, method, "responses", status, "content", "application/json", "schema")
    assert schema_errors(answer_ref, example) == []
    return example


# --- deploy.sh --------------------------------------------------------------------------------------------

IMAGE = "ghcr.io/acme/pet-merch-worker:1.2"


def deploy(
    *args: str, api_key: str | None = "rp_key_never_printed_123", **env_vars: str
) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("RUNPOD_API_KEY", "IMAGE", "HF_TOKEN")}
    env["PATH"] = "/usr/bin:/bin"  # no docker daemon on the path: the buildah branch
    if api_key:
        env["RUNPOD_API_KEY"] = api_key
    return run("bash", "deploy.sh", *args, env=env | env_vars)


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


def dry_run_bodies(*args: str, **env_vars: str) -> dict[str, dict]:
    """The four bodies of a dry run: template-create, template-update, endpoint-create, endpoint-update."""
    result = deploy("--dry-run", "--image", IMAGE, *args, **env_vars)
    assert result.returncode == 0, result.stderr
    requests = api_requests(result.stderr)
    bodies = [body for method, _, body in requests if method in ("POST", "PATCH")]
    return dict(zip(("template-create", "template-update", "endpoint-create", "endpoint-update"), bodies, strict=True))


def test_help_documents_every_option_variable_and_licence():
    result = deploy("--help")
    assert result.returncode == 0
    for word in (
        "--image",
        "--name",
        "--gpu-pools",
        "--workers-min",
        "--workers-max",
        "--idle-timeout",
        "--flashboot",
        "PRIORITY_FLASHBOOT",
        "--execution-timeout",
        "JOB_TIMEOUT_S",
        "--min-cuda",
        "--disk",
        "--network-volume",
        "--env",
        "--secret",
        "--accept-model-license",
        "--skip-build",
        "--dry-run",
        "RUNPOD_API_KEY",
        "IMAGE",
        "HF_TOKEN",
        "COMPILE=1",
        "ATTENTION_BACKEND=_native_cudnn",
        "WARMUP_SIZES=1024x1024",
        "/runpod-volume/compile-cache",
        "compiles",
        "QUANTIZE=fp8",
        "FLUX.1-schnell",
        "Apache-2.0",
        "FLUX.1-Kontext-dev",
        "Non-Commercial",
    ):
        assert word in result.stdout, word
    assert "flash-attn" not in result.stdout and "=flash " not in result.stdout


DRY_RUNS = {
    "defaults": "",
    "volume, env and secrets": "--network-volume vol123 --env S3_BUCKET=designs --secret WEBHOOK_SECRET=ws",
    "48 GB pools, priority FlashBoot, always-on": "--gpu-pools ADA_48_PRO,AMPERE_48 --flashboot PRIORITY_FLASHBOOT "
    "--workers-min 1 --workers-max 4 --idle-timeout 3600",
    "FlashBoot off, explicit timeout and CUDA": "--flashboot OFF --execution-timeout 900000 --min-cuda 12.9",
    "dev, licence accepted": "--env MODEL_ID=black-forest-labs/FLUX.1-dev --accept-model-license",
}


@pytest.mark.parametrize("args", DRY_RUNS.values(), ids=DRY_RUNS.keys())
def test_every_request_of_a_dry_run_is_one_runpods_published_schema_accepts(args):
    result = deploy("--dry-run", "--image", IMAGE, *args.split())
    assert result.returncode == 0, result.stderr
    requests = api_requests(result.stderr)
    assert [(method, urlsplit(url).path) for method, url, _ in requests] == [
        ("GET", "/v2/templates"),
        ("POST", "/v2/templates"),
        ("PATCH", "/v2/templates/<template-id>"),
        ("GET", "/v2/serverless"),
        ("POST", "/v2/serverless"),
        ("PATCH", "/v2/serverless/<endpoint-id>"),
    ]
    for method, url, body in requests:
        assert request_errors(method, url, body) == [], f"{method} {url}"
    for _, _, body in requests[4:]:
        # A non-empty exact set beside a floor is a 400 at RunPod, which the schema only says in words.
        assert not (body["gpu"].get("allowedCudaVersions") and body["gpu"].get("minCudaVersion"))


def test_the_schema_refuses_the_bodies_first_contact_found_wrong():
    """The endpoint body the first deploy.sh sent: flashboot "ON", and a `type` in the update."""
    old = {
        "name": "pet-merch-worker",
        "templateId": "tpl1",
        "type": "QUEUE",
        "gpu": {"pools": ["AMPERE_80"], "count": 1},
        "workers": {"min": 0, "max": 3, "idleTimeout": 5},
        "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
        "timeout": 600000,
        "flashboot": "ON",
    }
    url = "https://api.runpod.io/v2/serverless"
    assert any("'ON' is not one of" in error for error in request_errors("POST", url, old))
    update = request_errors("PATCH", url + "/ep1", old | {"flashboot": "FLASHBOOT"})
    assert update == ["body: Unevaluated properties are not allowed ('type' was unexpected)"]


def test_dry_run_prints_the_build_and_the_settings_in_every_body():
    result = deploy(
        "--dry-run",
        "--image",
        IMAGE,
        "--workers-min",
        "1",
        "--workers-max",
        "4",
        "--idle-timeout",
        "9",
        "--flashboot",
        "PRIORITY_FLASHBOOT",
        "--network-volume",
        "vol123",
        "--env",
        "S3_BUCKET=designs",
        "--env",
        "WARMUP_SIZES=768x1024",
        "--secret",
        "WEBHOOK_SECRET=webhook_secret",
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert f"+ buildah build --isolation chroot --platform linux/amd64 --tag {IMAGE} ." in output
    assert f"+ buildah push {IMAGE}" in output
    template, template_update, endpoint, endpoint_update = (body for _, _, body in api_requests(result.stderr) if body)
    assert template == template_update
    assert (template["image"], template["serverless"]) == (IMAGE, True)
    assert template["env"] == {
        "COMPILE": "1",
        "ATTENTION_BACKEND": "_native_cudnn",
        "WARMUP_SIZES": "768x1024",  # --env wins
        "COMPILE_CACHE_DIR": "/runpod-volume/compile-cache",
        "S3_BUCKET": "designs",
        "WEBHOOK_SECRET": "{{ RUNPOD_SECRET_webhook_secret }}",
        "MODEL_LICENSE": deploy_bodies.SCHNELL_LICENSE,
    }
    assert endpoint["type"] == "QUEUE" and "type" not in endpoint_update
    for body in (endpoint, endpoint_update):
        assert body["templateId"] == "<template-id>"
        assert body["workers"] == {"min": 1, "max": 4, "idleTimeout": 9}
        assert (body["gpu"]["pools"], body["gpu"]["minCudaVersion"]) == (["ADA_80_PRO", "AMPERE_80"], "12.8")
        assert (body["flashboot"], body["networkVolumes"]) == ("PRIORITY_FLASHBOOT", ["vol123"])
    assert endpoint_update["gpu"]["allowedCudaVersions"] == []
    assert "rp_key_never_printed_123" not in output
    assert "nothing was built, pushed or sent" in output


def test_the_cuda_floor_is_the_images_cuda_base():
    base = re.search(r"^ARG BASE_IMAGE=nvidia/cuda:(\d+\.\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert dry_run_bodies()["endpoint-create"]["gpu"]["minCudaVersion"] == base.group(1)


def test_without_a_volume_the_compile_cache_is_not_pointed_at_one():
    env = dry_run_bodies()["template-create"]["env"]
    assert "COMPILE_CACHE_DIR" not in env and env["COMPILE"] == "1"
    assert dry_run_bodies()["endpoint-update"]["networkVolumes"] == []  # a re-run without a volume detaches it


def test_the_endpoint_timeout_leaves_the_worker_its_deadline_and_its_failure_webhook():
    defaults = dry_run_bodies()["endpoint-create"]["timeout"]
    assert defaults == (600 + 60 + 10 + deploy_bodies.STAGE_IN_FLIGHT_S) * 1000
    shorter = dry_run_bodies("--env", "JOB_TIMEOUT_S=300", "--env", "WEBHOOK_MAX_SECONDS=30")["endpoint-update"]
    assert shorter["timeout"] == (300 + 30 + 10 + deploy_bodies.STAGE_IN_FLIGHT_S) * 1000
    assert dry_run_bodies("--execution-timeout", "700000")["endpoint-create"]["timeout"] == 700000


def test_an_execution_timeout_the_worker_cannot_beat_is_refused():
    result = deploy("--dry-run", "--image", IMAGE, "--execution-timeout", "600000")  # = JOB_TIMEOUT_S
    assert result.returncode == 2
    assert "JOB_TIMEOUT_S" in result.stderr and "design.failed" in result.stderr
    assert "buildah" not in result.stdout


def test_the_timeout_arithmetic_uses_the_workers_own_defaults():
    fields = Settings.model_fields
    worker_defaults = {
        "JOB_TIMEOUT_S": fields["job_timeout_s"].default,
        "WEBHOOK_MAX_SECONDS": fields["webhook_max_seconds"].default,
        "WEBHOOK_TIMEOUT_S": fields["webhook_timeout_s"].default,
    }
    assert worker_defaults == deploy_bodies.WORKER_DEFAULTS


@pytest.mark.parametrize(
    "model_id", ["black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-Kontext-dev", "/runpod-volume/models/flux"]
)
def test_a_model_that_is_not_schnell_needs_its_licence_accepted(model_id):
    refused = deploy("--dry-run", "--image", IMAGE, "--env", f"MODEL_ID={model_id}")
    assert refused.returncode == 2
    assert "Non-Commercial License" in refused.stderr and "--accept-model-license" in refused.stderr
    assert "buildah" not in refused.stdout and "> POST" not in refused.stderr

    accepted = deploy("--dry-run", "--image", IMAGE, "--env", f"MODEL_ID={model_id}", "--accept-model-license")
    assert accepted.returncode == 0, accepted.stderr
    assert f"--build-arg MODEL_ID={model_id}" in accepted.stdout  # the image bakes the model the template names
    template = api_requests(accepted.stderr)[1][2]
    assert template["env"]["MODEL_ID"] == model_id
    assert template["env"]["MODEL_LICENSE"] == deploy_bodies.DEV_LICENSE


@pytest.mark.parametrize("setting", ["KONTEXT_MODEL_ID", "REDUX_MODEL_ID"])
def test_a_dev_model_beside_schnell_needs_its_licence_accepted_too(setting):
    env = f"{setting}=black-forest-labs/FLUX.1-{'Kontext' if 'KONTEXT' in setting else 'Redux'}-dev"
    refused = deploy("--dry-run", "--image", IMAGE, "--env", env)
    assert refused.returncode == 2 and setting in refused.stderr and "--accept-model-license" in refused.stderr
    accepted = deploy("--dry-run", "--image", IMAGE, "--env", env, "--accept-model-license")
    assert accepted.returncode == 0, accepted.stderr
    assert api_requests(accepted.stderr)[1][2]["env"]["MODEL_LICENSE"] == deploy_bodies.DEV_LICENSE


def test_schnell_is_recorded_as_apache_2():
    assert dry_run_bodies()["template-create"]["env"]["MODEL_LICENSE"].startswith("Apache-2.0")


def test_a_gated_models_token_is_a_build_secret_never_printed():
    result = deploy("--dry-run", "--image", IMAGE, HF_TOKEN="hf_token_never_printed_77")
    assert result.returncode == 0, result.stderr
    assert "--secret id=hf_token,env=HF_TOKEN" in result.stdout
    assert "hf_token_never_printed_77" not in result.stdout + result.stderr


def test_with_a_docker_daemon_docker_builds_for_amd64(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    docker = fake_bin / "docker"
    docker.write_text('#!/bin/sh\n[ "$1" = info ]\n')  # a daemon that answers `docker info`, and nothing else
    docker.chmod(0o755)
    result = deploy("--dry-run", "--image", IMAGE, PATH=f"{fake_bin}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    assert f"+ docker build --platform linux/amd64 --tag {IMAGE} ." in result.stdout
    assert f"+ docker push {IMAGE}" in result.stdout


def test_skip_build_deploys_the_image_as_it_is():
    result = deploy("--dry-run", "--skip-build", "--image", "ghcr.io/acme/w:1")
    assert result.returncode == 0, result.stderr
    assert "buildah" not in result.stdout


@pytest.mark.parametrize(
    ("args", "api_key", "message"),
    [
        (("--dry-run",), "key", "--image"),
        (("--image", "x"), None, "RUNPOD_API_KEY is not set"),
        (("--dry-run", "--image", "x", "--flashboot", "ON"), "key", "OFF, FLASHBOOT, PRIORITY_FLASHBOOT"),
        (("--dry-run", "--image", "x", "--workers-min", "5", "--workers-max", "2"), "key", "larger than"),
        (("--dry-run", "--image", "x", "--idle-timeout", "0"), "key", "--idle-timeout"),
        (("--dry-run", "--image", "x", "--env", "S3_BUCKET"), "key", "--env takes KEY=VALUE"),
        (("--dry-run", "--image", "x", "--min-cuda", "12"), "key", "MAJOR.MINOR"),
        (("--dry-run", "--image", "x", "--env", "JOB_TIMEOUT_S=soon"), "key", "JOB_TIMEOUT_S"),
        (("--dry-run", "--image", "x", "--bogus"), "key", "unknown option"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(args, api_key, message):
    result = deploy(*args, api_key=api_key)
    assert result.returncode == 2
    assert message in result.stderr
    assert "+ " not in result.stdout and "> " not in result.stderr


def deploy_against(
    httpserver, *, existing: bool, refuse: str | None = None
) -> tuple[subprocess.CompletedProcess, list]:
    """deploy.sh for real, against a loopback server answering with the examples of RunPod's own schema.

    ``refuse`` names a path whose POST is answered with the schema's 400 example.
    """
    templates = documented_answer("get", "/v2/templates", "200")
    endpoints = documented_answer("get", "/v2/serverless", "200")
    if existing:  # the schema's example item, renamed to ours, beside the example's own
        templates["templates"].append(templates["templates"][0] | {"id": "tpl1", "name": "pet-merch-worker"})
        endpoints["endpoints"].append(endpoints["endpoints"][0] | {"id": "ep1", "name": "pet-merch-worker"})
    answers = {
        ("GET", "/v2/templates"): (templates, 200),
        ("GET", "/v2/serverless"): (endpoints, 200),
        ("POST", "/v2/templates"): (documented_answer("post", "/v2/templates", "201"), 201),
        ("POST", "/v2/serverless"): (documented_answer("post", "/v2/serverless", "201"), 201),
        ("PATCH", "/v2/templates/tpl1"): (documented_answer("patch", "/v2/templates/{id}", "200"), 200),
        ("PATCH", "/v2/serverless/ep1"): (documented_answer("patch", "/v2/serverless/{id}", "200"), 200),
    }
    for (method, path), (answer, status) in answers.items():
        if method == "POST" and path == refuse:
            problem = SPEC["components"]["responses"]["BadRequestError"]["content"]["application/problem+json"]
            answer, status = problem["examples"]["badRequest"]["value"], 400
        httpserver.expect_request(path, method=method).respond_with_json(answer, status=status)
    env = {
        "PATH": os.environ["PATH"],
        "RUNPOD_API_KEY": "rp_secret_key_42",
        "RUNPOD_API_URL": httpserver.url_for("/v2"),
    }
    result = run("bash", "deploy.sh", "--skip-build", "--image", "ghcr.io/acme/w:2", env=env)
    calls = [
        (request.method, request.path, request.get_json(silent=True), request.headers.get("Authorization"))
        for request, _ in httpserver.log
    ]
    for method, path, body, _ in calls:
        assert request_errors(method, httpserver.url_for(path), body) == [], f"{method} {path}"
    return result, calls


def test_first_deploy_creates_and_binds_the_endpoint_to_the_new_template(httpserver):
    result, calls = deploy_against(httpserver, existing=False)
    assert result.returncode == 0, result.stderr
    assert [(method, path) for method, path, _, _ in calls] == [
        ("GET", "/v2/templates"),
        ("POST", "/v2/templates"),
        ("GET", "/v2/serverless"),
        ("POST", "/v2/serverless"),
    ]
    new_template = documented_answer("post", "/v2/templates", "201")["id"]
    new_endpoint = documented_answer("post", "/v2/serverless", "201")["id"]
    assert calls[3][2]["templateId"] == new_template
    assert all(auth == "Bearer rp_secret_key_42" for *_, auth in calls)
    assert "rp_secret_key_42" not in result.stdout + result.stderr
    assert f"endpoint pet-merch-worker: {new_endpoint}" in result.stdout


def test_a_rerun_updates_in_place(httpserver):
    result, calls = deploy_against(httpserver, existing=True)
    assert result.returncode == 0, result.stderr
    assert [(method, path) for method, path, _, _ in calls] == [
        ("GET", "/v2/templates"),
        ("PATCH", "/v2/templates/tpl1"),
        ("GET", "/v2/serverless"),
        ("PATCH", "/v2/serverless/ep1"),
    ]
    assert calls[1][2]["image"] == "ghcr.io/acme/w:2"
    assert calls[3][2]["templateId"] == "tpl1"


def test_a_refused_request_stops_the_deploy_with_runpods_error(httpserver):
    result, calls = deploy_against(httpserver, existing=False, refuse="/v2/serverless")
    assert result.returncode != 0
    assert "RunPod refused POST /serverless" in result.stderr and "request could not be processed" in result.stderr
    assert [(method, path) for method, path, _, _ in calls][-1] == ("POST", "/v2/serverless")
    assert "endpoint pet-merch-worker:" not in result.stdout


# --- the RunPod Hub listing (.runpod/) ----------------------------------------------------------------------

# Serverless GPU pools and types with their memory, from RunPod's "GPU types" reference
# (docs.runpod.io/references/gpu-types). FLUX.1 in bf16 needs about 35 GB.
POOL_MEMORY_GB = {
    "AMPERE_16": 16,
    "AMPERE_24": 24,
    "ADA_24": 24,
    "AMPERE_48": 48,
    "ADA_48_PRO": 48,
    "AMPERE_80": 80,
    "ADA_80_PRO": 80,
    "HOPPER_141": 141,
}
GPU_TYPE_MEMORY_GB = {
    "NVIDIA A40": 48,
    "NVIDIA RTX A6000": 48,
    "NVIDIA L40": 48,
    "NVIDIA L40S": 48,
    "NVIDIA RTX 6000 Ada Generation": 48,
    "NVIDIA A100 80GB PCIe": 80,
    "NVIDIA A100-SXM4-80GB": 80,
    "NVIDIA H100 80GB HBM3": 80,
    "NVIDIA H200": 141,
}
FLUX_BF16_GB = 35


def hub_file(name: str) -> dict:
    return json.loads((ROOT / ".runpod" / name).read_text())


def hub_env() -> dict[str, dict]:
    return {item["key"]: item["input"] for item in hub_file("hub.json")["config"]["env"]}


def env_value(hub_input: dict, value: object) -> str:
    """The environment variable's text for a Hub input's value (a boolean input maps to its true/false text)."""
    if hub_input["type"] == "boolean":
        return hub_input["trueValue"] if value else hub_input["falseValue"]
    return str(value)


@functools.cache
def configuration_table() -> dict[str, str]:
    """README's Configuration table: each variable a row names -> the row's meaning, without backticks."""
    section = (ROOT / "README.md").read_text().split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
                table[name] = cells[2].replace("`", "")
    return table


def test_hub_listing_has_what_runpods_publishing_guide_requires():
    hub = hub_file("hub.json")
    assert hub["title"] and hub["type"] == "serverless" and hub["category"] == "image"
    assert "FLUX.1-schnell" in hub["description"] and "Apache-2.0" in hub["description"]
    config = hub["config"]
    assert (config["runsOn"], config["gpuCount"]) == ("GPU", 1)
    assert config["containerDiskInGb"] == dry_run_bodies()["template-create"]["disk"]  # as deploy.sh sets it
    assert all(POOL_MEMORY_GB[pool] >= FLUX_BF16_GB for pool in config["gpuIds"].split(","))


def test_hub_and_its_test_run_on_drivers_that_can_run_the_image():
    base = re.search(r"^ARG BASE_IMAGE=nvidia/cuda:(\d+)\.(\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    floor = tuple(map(int, base.groups()))
    for versions in (
        hub_file("hub.json")["config"]["allowedCudaVersions"],
        hub_file("tests.json")["config"]["allowedCudaVersions"],
    ):
        assert versions and all(tuple(map(int, version.split("."))) >= floor for version in versions)


def test_hub_env_vars_are_worker_settings_described_as_in_the_readme():
    table = configuration_table()
    for key, hub_input in hub_env().items():
        assert key in table, f"{key} is not in README's Configuration table"
        assert hub_input["description"] == table[key], key
        if "options" in hub_input:
            assert hub_input["default"] in [option["value"] for option in hub_input["options"]], key


def test_hub_offers_only_attention_backends_the_image_has():
    offered = {option["value"] for option in hub_env()["ATTENTION_BACKEND"]["options"]}
    documented = set(re.findall(r"\b(_?native[a-z_]*|xformers)\b", configuration_table()["ATTENTION_BACKEND"]))
    assert offered == documented == set(ATTENTION_BACKENDS)  # what the worker accepts: all run in the image
    assert deploy_bodies.RECOMMENDED_ENV["ATTENTION_BACKEND"] in offered


def test_hub_defaults_its_first_preset_and_its_test_are_the_recommended_production_setting():
    env = hub_env()
    defaults = {key: env_value(hub_input, hub_input.get("default", "")) for key, hub_input in env.items()}
    first_preset = hub_file("hub.json")["config"]["presets"][0]["defaults"]
    test_env = {item["key"]: item["value"] for item in hub_file("tests.json")["config"]["env"]}
    for key, value in deploy_bodies.RECOMMENDED_ENV.items():
        assert defaults[key] == env_value(env[key], first_preset[key]) == test_env[key] == value, key
    assert defaults["QUANTIZE"] == "none"  # fp8 is opt-in


def test_hub_job_timeout_fits_runpods_default_execution_timeout():
    """A Hub deploy keeps RunPod's default execution timeout, 600 s: the worker's deadline must fire first."""
    job_timeout = env_value(hub_env()["JOB_TIMEOUT_S"], hub_env()["JOB_TIMEOUT_S"]["default"])
    needed_ms, _ = deploy_bodies.endpoint_timeout({"JOB_TIMEOUT_S": job_timeout}, "")
    assert needed_ms <= 600_000


def test_hub_test_job_is_a_job_this_worker_accepts_on_a_gpu_that_fits_it():
    styles = load_styles(BUILTIN_STYLES_DIR)
    templates = load_templates(BUILTIN_MOCKUPS_DIR, device=torch.device("cpu"))
    colors = {name: list(template.colors) for name, template in templates.items()}
    tests = hub_file("tests.json")
    assert tests["tests"]
    for test in tests["tests"]:
        request = parse_job_input(
            test["input"], list(styles), colors, Settings.model_fields["max_output_pixels"].default
        )
        assert request.style in styles and test["timeout"] > 0
    config = tests["config"]
    assert GPU_TYPE_MEMORY_GB[config["gpuTypeId"]] >= FLUX_BF16_GB and config["gpuCount"] == 1
