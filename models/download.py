"""Fetch real FLUX.1 weights into the Hugging Face cache (used when the image is built).

    python models/download.py black-forest-labs/FLUX.1-schnell [--revision REV]

Reads ``HF_TOKEN`` from the environment for gated repos (FLUX.1-dev); never prints it. Only the files a
diffusers FluxPipeline loads are fetched (no original single-file checkpoint, which doubles the size).
"""

from __future__ import annotations

import argparse
import sys

from huggingface_hub import snapshot_download

# The diffusers layout of a FLUX.1 repo, without the duplicate single-file weights at its top level.
PIPELINE_FILES = ["model_index.json", "*/*.json", "*/*.safetensors", "*/*.txt", "*/*.model"]


def download(model_id: str, revision: str | None = None) -> str:
    return snapshot_download(model_id, revision=revision, allow_patterns=PIPELINE_FILES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_id", help="Hugging Face repo id, e.g. black-forest-labs/FLUX.1-schnell")
    parser.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    args = parser.parse_args(argv)
    print(f"{args.model_id} cached at {download(args.model_id, args.revision)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
