"""Run ``test_input.json`` through ``handler.py`` on this machine and say where the images went.

    python -m worker.local_run

With ``MODEL_ID`` unset there are no real weights to use offline, so a tiny random-weight FLUX.1 is built
(once) under ``models/tiny-flux`` and used instead; its designs are noise, but every stage runs for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from models.tiny import save_tiny_flux
from worker.config import Settings

ROOT = Path(__file__).resolve().parent.parent
TINY_MODEL_DIR = ROOT / "models" / "tiny-flux"


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
            save_tiny_flux(TINY_MODEL_DIR, schnell=True)
        env["MODEL_ID"] = str(TINY_MODEL_DIR)
    status = subprocess.call([sys.executable, "-u", "handler.py"], cwd=ROOT, env=env)
    if status != 0:
        print(f"handler.py failed (exit {status}); its log above says why", file=sys.stderr)
        return status
    design_id = json.loads((ROOT / "test_input.json").read_text())["input"]["design_id"]
    output_dir = Settings().output_dir
    folder = output_dir if output_dir.is_absolute() else ROOT / output_dir
    print(f"\nOutputs of job {design_id!r}:")
    for path in sorted((folder / design_id).rglob("*")):
        if path.is_file():
            print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
