"""Tiny random-weight safety classifiers, built offline and saved like real ones, for tests.

    python -m models.tiny_safety OUT_DIR     # OUT_DIR/image-classifier and OUT_DIR/prompt-classifier

The image classifier is the class and layout of an NSFW ViT such as Falconsai/nsfw_image_detection
(``ViTForImageClassification``, labels normal/nsfw, a ViT preprocessor config); the prompt classifier that
of a toxicity BERT such as unitary/toxic-bert (``BertForSequenceClassification``, multi-label, its six
labels, a WordPiece tokenizer). Both load through ``from_pretrained`` exactly as the real ones do, so
``SAFETY_MODEL=OUT_DIR/image-classifier`` exercises the worker's loading code; their scores mean nothing,
which is why the tests force the threshold.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer, ViTConfig, ViTForImageClassification
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

IMAGE_SIZE = 32
IMAGE_LABELS = {0: "normal", 1: "nsfw"}
PROMPT_LABELS = {0: "toxic", 1: "severe_toxic", 2: "obscene", 3: "threat", 4: "insult", 5: "identity_hate"}


def save_tiny_image_classifier(out_dir: str | Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=IMAGE_SIZE,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        id2label=IMAGE_LABELS,
        label2id={name: index for index, name in IMAGE_LABELS.items()},
        problem_type="single_label_classification",
    )
    out = Path(out_dir)
    ViTForImageClassification(config).save_pretrained(out)
    processor = ViTImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=[0.5] * 3, image_std=[0.5] * 3, resample=2
    )
    processor.save_pretrained(out)
    # As a real repo records it: the processor's base name, whatever backend saved it.
    config_path = out / "preprocessor_config.json"
    saved = json.loads(config_path.read_text())
    saved["image_processor_type"] = "ViTImageProcessor"
    config_path.write_text(json.dumps(saved, indent=2))
    return out


def build_wordpiece_tokenizer() -> BertTokenizer:
    """BERT's special tokens, a few whole words, and every character alone and as a ``##`` continuation."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    whole = ["a", "the", "dog", "cat", "pet", "corgi", "happy", "photo", "of", "in", "style", "art", "as"]
    characters = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens = specials + whole + characters + ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    return BertTokenizer(vocab=vocab, model_max_length=64)


def save_tiny_prompt_classifier(out_dir: str | Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    tokenizer = build_wordpiece_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        id2label=PROMPT_LABELS,
        label2id={name: index for index, name in PROMPT_LABELS.items()},
        problem_type="multi_label_classification",
        pad_token_id=tokenizer.pad_token_id,
    )
    out = Path(out_dir)
    BertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def save_tiny_safety_models(out_dir: str | Path) -> tuple[Path, Path]:
    """``(image classifier folder, prompt classifier folder)`` under ``out_dir``."""
    out = Path(out_dir)
    return save_tiny_image_classifier(out / "image-classifier"), save_tiny_prompt_classifier(out / "prompt-classifier")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="folder to write image-classifier/ and prompt-classifier/ to")
    args = parser.parse_args(argv)
    for folder in save_tiny_safety_models(args.out_dir):
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"{folder} ({size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
