"""The local test run: ``test_input.json`` through ``handler.py`` on this machine, and a summary of where
the images went.

    python -m worker.local_run

With ``MODEL_ID`` unset there are no real weights to use offline, so a tiny random-weight FLUX.1 is built
(once, by ``python -m models.tiny``) under ``models/tiny-flux`` and used instead; its designs are noise,
but every stage runs for real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from worker.delivery.webhooks import without_signed_urls

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL_DIR = ROOT / "models" / "tiny-flux"


def runs_local_test(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """True when runpod will run one local test job (``python handler.py [--test_input ...]``), as
    ``runpod.serverless.start`` decides: no API server, not on RunPod."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    serving = "--rp_serve_api" in argv or environ.get("RUNPOD_REALTIME_PORT")
    return not serving and not environ.get("RUNPOD_WEBHOOK_GET_JOB")


def summary(result: dict[str, Any]) -> str:
    """A few readable lines: where each image is and what each stage took (presigned URLs left out)."""
    if "error" in result:
        return f"job failed: {result['error']}"
    shown = without_signed_urls(result)
    lines = [f"design {result['design_id']} ({result['style']}, seed {result['seed']}):"]
    for item in shown["designs"] + shown["mockups"]:
        what = (
            f"design {item['index']}"
            if "index" in item
            else f"{item['product']} mockup of design {item['design_index']}"
        )
        where = item.get("url") or f"key {item['key']} (presigned URL in the job result)"
        lines.append(f"  {what:<32} {item['width']}x{item['height']}  {where}")
    stages = ", ".join(f"{stage} {ms} ms" for stage, ms in result["timings_ms"].items())
    lines.append(f"  timings: {stages}")
    if "webhook" in result:
        lines.append(f"  webhook: {result['webhook']}")
    return "\n".join(lines)


def local_test_handler(
    handle: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The handler for a local test run: the job, then its summary on the terminal."""

    def handler(job: dict[str, Any]) -> dict[str, Any]:
        result = handle(job)
        print(summary(result), file=sys.stderr, flush=True)
        return result

    return handler


def main() -> int:
    env = dict(os.environ)
    if not env.get("MODEL_ID"):
        print(
            "MODEL_ID is not set: using a tiny random-weight FLUX.1 at models/tiny-flux (its pictures are noise).\n"
            "Set MODEL_ID=black-forest-labs/FLUX.1-schnell on a GPU machine for real designs.",
            flush=True,
        )
        if not (TINY_MODEL_DIR / "model_index.json").exists():
            print(f"building the tiny model in {TINY_MODEL_DIR} ...", flush=True)
            build = [sys.executable, "-m", "models.tiny", str(TINY_MODEL_DIR), "--schnell"]
            quiet = {**os.environ, "TRANSFORMERS_VERBOSITY": "error"}  # no library notices while it builds
            if subprocess.call(build, cwd=ROOT, env=quiet) != 0:
                print("building the tiny model failed; its output above says why", file=sys.stderr)
                return 1
        env["MODEL_ID"] = str(TINY_MODEL_DIR)
    status = subprocess.call([sys.executable, "-u", "handler.py"], cwd=ROOT, env=env)
    if status != 0:
        print(f"handler.py failed (exit {status}); its log above says why", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
