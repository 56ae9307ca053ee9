"""Fetch real FLUX.1 weights into the Hugging Face cache, or a safety classifier into a folder (image builds).

    python models/download.py black-forest-labs/FLUX.1-schnell [--revision REV]
    python models/download.py Falconsai/nsfw_image_detection --classifier-dir /models/safety/image

Reads ``HF_TOKEN`` from the environment for gated repos (FLUX.1-dev); never prints it. Only the files a
diffusers FluxPipeline loads are fetched (no original single-file checkpoint, which doubles the size).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huggingface_hub import snapshot_download

# The diffusers layout of a FLUX.1 repo, without the duplicate single-file weights at its top level.
PIPELINE_FILES = ["model_index.json", "*/*.json", "*/*.safetensors", "*/*.txt", "*/*.model"]
# A transformers classifier: configs, weights and tokenizer files; no optimizer state, ONNX, Flax or TF copies.
CLASSIFIER_FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]


def download(model_id: str, revision: str | None = None) -> str:
    return snapshot_download(model_id, revision=revision, allow_patterns=PIPELINE_FILES)


def download_classifier(model_id: str, folder: str, revision: str | None = None) -> str:
    """Into a plain folder that ``SAFETY_MODEL`` / ``PROMPT_SAFETY_MODEL`` then name; PyTorch ``.bin``
    weights only for a repo without safetensors (unitary/toxic-bert's main branch, for one)."""
    path = snapshot_download(model_id, revision=revision, allow_patterns=CLASSIFIER_FILES, local_dir=folder)
    if not any(Path(path).glob("*.safetensors")):
        snapshot_download(model_id, revision=revision, allow_patterns=["pytorch_model.bin"], local_dir=folder)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_id", help="Hugging Face repo id, e.g. black-forest-labs/FLUX.1-schnell")
    parser.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    parser.add_argument("--classifier-dir", default=None, help="a transformers classifier, into this folder")
    args = parser.parse_args(argv)
    if args.classifier_dir:
        print(f"{args.model_id} written to {download_classifier(args.model_id, args.classifier_dir, args.revision)}")
    else:
        print(f"{args.model_id} cached at {download(args.model_id, args.revision)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
