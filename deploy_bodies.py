"""The request bodies deploy.sh sends to RunPod's REST API v2, and the checks made before anything runs.

deploy.sh exports its settings as environment variables and runs ``python3 deploy_bodies.py KIND``:

- ``check``: refuse bad settings (exit 2 with a message) and print what will be deployed;
- ``template``: the template body (the same for create and update);
- ``endpoint-create TEMPLATE_ID`` / ``endpoint-update TEMPLATE_ID``: the endpoint's.

The bodies follow RunPod's published schema (``tests/runpod-openapi/openapi.json``: CreateTemplateRequest,
UpdateTemplateRequest, CreateEndpointRequest, UpdateEndpointRequest), which tests/test_ship.py validates
them against. Standard library only: deploy.sh runs on a laptop that has none of the worker's packages.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DOCKERFILE = Path(__file__).with_name("Dockerfile")
FLASHBOOT_MODES = ("OFF", "FLASHBOOT", "PRIORITY_FLASHBOOT")

# The production setting recommended in README.md ("Deploy"): the fastest measured one that keeps outputs.
RECOMMENDED_ENV = {"COMPILE": "1", "ATTENTION_BACKEND": "_native_cudnn", "WARMUP_SIZES": "1024x1024"}
VOLUME_COMPILE_CACHE_DIR = "/runpod-volume/compile-cache"  # serverless workers mount a network volume here

# The worker's own defaults for the settings the endpoint timeout is derived from (worker/runtime/config.py;
# tests/test_ship.py checks that they agree).
WORKER_DEFAULTS = {"JOB_TIMEOUT_S": 600.0, "WEBHOOK_MAX_SECONDS": 60.0, "WEBHOOK_TIMEOUT_S": 10.0}
# Time for the stage that is running when JOB_TIMEOUT_S passes: the worker checks its deadline between
# stages and at every denoising step, so an upload (botocore: 5 s connect, 30 s read, retried) runs on.
STAGE_IN_FLIGHT_S = 120

SCHNELL_LICENSE = "Apache-2.0 (FLUX.1 [schnell]): outputs may be used and sold commercially"
DEV_LICENSE = (
    "FLUX.1 [dev] Non-Commercial License (FLUX.1 [dev], FLUX.1 Kontext [dev]): selling outputs needs a "
    "commercial licence from Black Forest Labs; accepted with --accept-model-license"
)


class DeployError(Exception):
    """A setting deploy.sh refuses before building or sending anything."""


@dataclass(frozen=True)
class Deployment:
    """Everything the bodies are made of, checked."""

    name: str
    image: str
    disk_gb: int
    pools: list[str]
    workers_min: int
    workers_max: int
    idle_timeout_s: int
    flashboot: str
    timeout_ms: int
    timeout_reason: str
    network_volume: str
    min_cuda_version: str
    model_id: str
    env: dict[str, str]


def dockerfile_default(pattern: str) -> str:
    """A build argument's default in the Dockerfile, so the image and the endpoint agree on it."""
    match = re.search(pattern, DOCKERFILE.read_text(), re.MULTILINE)
    if not match:
        raise DeployError(f"Dockerfile: no line matches {pattern}")
    return match.group(1)


def whole_number(name: str, value: str, low: int = 0, high: int | None = None) -> int:
    if not re.fullmatch(r"[0-9]+", value) or int(value) < low or (high is not None and int(value) > high):
        bounds = f"{low}..{high}" if high is not None else f"at least {low}"
        raise DeployError(f"{name}: expected a whole number, {bounds}, got '{value}'")
    return int(value)


def pairs(lines: str, option: str) -> dict[str, str]:
    """KEY=VALUE lines, one per --env or --secret."""
    result = {}
    for line in filter(None, lines.split("\n")):
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise DeployError(f"{option} takes KEY=VALUE, got '{line}'")
        result[key] = value
    return result


MODEL_SETTINGS = ("MODEL_ID", "KONTEXT_MODEL_ID", "REDUX_MODEL_ID")  # every model whose outputs are sold


def model_license(model_id: str, accepted: bool, setting: str = "MODEL_ID") -> str:
    """The licence the template records; anything but schnell needs --accept-model-license."""
    if "schnell" in model_id.lower():
        return SCHNELL_LICENSE
    if not accepted:
        raise DeployError(
            f"{setting} {model_id} is not FLUX.1 [schnell]. FLUX.1 [dev], Kontext [dev] and Redux [dev] are under the "
            "FLUX.1 [dev] Non-Commercial License: their outputs may not be sold without a commercial licence "
            "from Black Forest Labs. Pass --accept-model-license if you hold one, or the use is non-commercial."
        )
    return DEV_LICENSE


def endpoint_timeout(env: dict[str, str], explicit_ms: str) -> tuple[int, str]:
    """RunPod's execution timeout, longer than the worker's own deadline plus its design.failed webhook.

    Were RunPod to kill the job first, the app would get no ``design.failed`` and the job no ``timeout``.
    """
    seconds = {}
    for key, default in WORKER_DEFAULTS.items():
        try:
            seconds[key] = float(env.get(key, default))
        except ValueError:
            raise DeployError(f"{key}: expected a number of seconds, got '{env[key]}'") from None
        if not seconds[key] > 0:
            raise DeployError(f"{key}: must be above 0, got '{env[key]}'")
    job_s, webhook_s = seconds["JOB_TIMEOUT_S"], seconds["WEBHOOK_MAX_SECONDS"] + seconds["WEBHOOK_TIMEOUT_S"]
    floor_ms = math.ceil((job_s + webhook_s) * 1000)
    if explicit_ms:
        timeout_ms = whole_number("--execution-timeout", explicit_ms, low=1)
        if timeout_ms <= floor_ms:
            raise DeployError(
                f"--execution-timeout {timeout_ms} ms would let RunPod kill a job before the worker's own deadline "
                f"(JOB_TIMEOUT_S {job_s:g} s) and its design.failed webhook ({webhook_s:g} s) are through: "
                f"give more than {floor_ms} ms, or leave it out"
            )
        return timeout_ms, "--execution-timeout"
    timeout_ms = floor_ms + STAGE_IN_FLIGHT_S * 1000
    reason = (
        f"JOB_TIMEOUT_S {job_s:g} s + WEBHOOK_MAX_SECONDS and WEBHOOK_TIMEOUT_S {webhook_s:g} s "
        f"+ {STAGE_IN_FLIGHT_S} s for the stage in flight"
    )
    return timeout_ms, reason


def deployment(environ: dict[str, str]) -> Deployment:
    """Read and check deploy.sh's exported settings."""
    flashboot = environ["FLASHBOOT"]
    if flashboot not in FLASHBOOT_MODES:
        raise DeployError(f"--flashboot takes {', '.join(FLASHBOOT_MODES)}; got '{flashboot}'")
    workers_min = whole_number("--workers-min", environ["WORKERS_MIN"])
    workers_max = whole_number("--workers-max", environ["WORKERS_MAX"])
    if workers_min > workers_max:
        raise DeployError("--workers-min is larger than --workers-max")
    pools = [pool.strip() for pool in environ["GPU_POOLS"].split(",") if pool.strip()]
    if not pools:
        raise DeployError("--gpu-pools names no pool")
    min_cuda = environ.get("MIN_CUDA_VERSION") or dockerfile_default(r"^ARG BASE_IMAGE=nvidia/cuda:(\d+\.\d+)")
    if not re.fullmatch(r"\d+\.\d+", min_cuda):
        raise DeployError(f"--min-cuda takes MAJOR.MINOR, got '{min_cuda}'")

    user_env = pairs(environ.get("ENV_LIST", ""), "--env")
    secrets = pairs(environ.get("SECRET_LIST", ""), "--secret")
    volume = environ.get("NETWORK_VOLUME", "")
    model_id = user_env.get("MODEL_ID") or dockerfile_default(r"^ARG MODEL_ID=(\S+)")
    env = dict(RECOMMENDED_ENV)
    if volume:
        env["COMPILE_CACHE_DIR"] = VOLUME_COMPILE_CACHE_DIR
    env |= user_env
    env |= {key: "{{ RUNPOD_SECRET_" + name + " }}" for key, name in secrets.items()}
    accepted = environ.get("ACCEPT_MODEL_LICENSE") == "1"
    models = {"MODEL_ID": model_id, **{key: user_env[key] for key in MODEL_SETTINGS[1:] if user_env.get(key)}}
    licenses = {model_license(value, accepted, key) for key, value in models.items()}
    env["MODEL_LICENSE"] = DEV_LICENSE if DEV_LICENSE in licenses else SCHNELL_LICENSE
    timeout_ms, timeout_reason = endpoint_timeout(env, environ.get("EXECUTION_TIMEOUT_MS", ""))

    return Deployment(
        name=environ["NAME"],
        image=environ["IMAGE"],
        disk_gb=whole_number("--disk", environ["DISK_GB"], low=1),
        pools=pools,
        workers_min=workers_min,
        workers_max=workers_max,
        idle_timeout_s=whole_number("--idle-timeout", environ["IDLE_TIMEOUT"], low=1, high=3600),
        flashboot=flashboot,
        timeout_ms=timeout_ms,
        timeout_reason=timeout_reason,
        network_volume=volume,
        min_cuda_version=min_cuda,
        model_id=model_id,
        env=env,
    )


def template_body(d: Deployment) -> dict:
    """POST /v2/templates and PATCH /v2/templates/{id}: a PATCH replaces the env as a whole."""
    return {"name": d.name, "image": d.image, "disk": d.disk_gb, "env": d.env, "serverless": True}


def endpoint_body(d: Deployment, template_id: str, *, create: bool) -> dict:
    """POST /v2/serverless, or PATCH /v2/serverless/{id} (which takes no ``type``).

    The template is applied once, at request time, with no link kept: every run sends ``templateId`` again.
    The CUDA floor is the image's (its base is CUDA ``min_cuda_version``): a host whose driver is older
    cannot run it. An update also clears any exact ``allowedCudaVersions`` set the endpoint carries, which
    the API refuses beside a floor.
    """
    gpu = {"pools": d.pools, "count": 1, "minCudaVersion": d.min_cuda_version}
    body = {
        "name": d.name,
        "templateId": template_id,
        "gpu": gpu if create else gpu | {"allowedCudaVersions": []},
        "workers": {"min": d.workers_min, "max": d.workers_max, "idleTimeout": d.idle_timeout_s},
        "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4},
        "timeout": d.timeout_ms,
        "flashboot": d.flashboot,
        "networkVolumes": [d.network_volume] if d.network_volume else [],
    }
    return {"type": "QUEUE", **body} if create else body


def summary(d: Deployment) -> str:
    return "\n".join(
        [
            f"model: {d.model_id}; MODEL_LICENSE: {d.env['MODEL_LICENSE']}",
            f"endpoint timeout: {d.timeout_ms} ms ({d.timeout_reason})",
            f"GPU pools: {','.join(d.pools)}; hosts whose driver runs CUDA {d.min_cuda_version} or newer",
        ]
    )


def main(argv: list[str]) -> int:
    try:
        d = deployment(dict(os.environ))
    except DeployError as exc:
        print(f"deploy.sh: {exc}", file=sys.stderr)
        return 2
    kind, *args = argv
    if kind == "check":
        print(summary(d))
    elif kind == "template":
        print(json.dumps(template_body(d), sort_keys=True))
    elif kind in ("endpoint-create", "endpoint-update"):
        print(json.dumps(endpoint_body(d, args[0], create=kind == "endpoint-create"), sort_keys=True))
    else:
        raise SystemExit(f"deploy_bodies.py: unknown kind {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
