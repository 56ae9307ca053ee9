"""Content screening cost per job, at the real classifiers' sizes (random weights: time and memory depend on
shapes, not weight values).

    python -m bench.safety [--size 1024] [--designs 4] [--repeats 5] [--device cuda] [--dtype bfloat16]
    python -m bench.safety --tiny    # the tests' tiny shapes: checks the script runs, measures nothing real

Image classifier: ViT-B/16 at 224 px with two labels, the architecture and preprocessor settings of
Falconsai/nsfw_image_detection. Prompt classifier: BERT-base with six sigmoid labels, the architecture of
unitary/toxic-bert (its prompt tokenised by the tiny test WordPiece, one token per character or short
word, so sequences are longer than the real tokenizer's: an upper bound). Both run through the worker's
own ``ImageClassifier.scores`` / ``TextClassifier.scores``, and the term list is the built-in one.
"""

from __future__ import annotations

import argparse

import torch
from transformers import BertConfig, BertForSequenceClassification, ViTConfig, ViTForImageClassification
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

from bench.timing import add_common_arguments, machine_description, median_seconds
from models.tiny_safety import PROMPT_LABELS, build_wordpiece_tokenizer
from worker.runtime.config import Settings
from worker.runtime.devices import DTYPES, Runtime, dtype_name
from worker.safety.designs import ImageClassifier, ImagePreprocess
from worker.safety.labels import UnsafeLabels
from worker.safety.prompts import TextClassifier
from worker.safety.terms import load_terms

PROMPT = "a happy corgi wearing sunglasses as a pop art screen print, flat bold colours, thick black outlines"


TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37}


def build_image_classifier(device: str, dtype: torch.dtype, tiny: bool = False) -> ImageClassifier:
    shape = {**TINY, "image_size": 32, "patch_size": 8} if tiny else {}  # else ViT-B/16 at 224 px
    config = ViTConfig(id2label={0: "normal", 1: "nsfw"}, label2id={"normal": 0, "nsfw": 1}, **shape)
    model = ViTForImageClassification(config).to(device=device, dtype=dtype).eval()
    size = {"height": config.image_size, "width": config.image_size}
    processor = ViTImageProcessorPil(size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    labels = UnsafeLabels.from_config(config, "nsfw", 0.5, "SAFETY_UNSAFE_LABELS", "bench")
    return ImageClassifier(model, ImagePreprocess.from_processor(processor, "bench"), labels, "ViT-B/16 (random)")


def build_prompt_classifier(device: str, dtype: torch.dtype, tiny: bool = False) -> TextClassifier:
    config = BertConfig(
        id2label=PROMPT_LABELS,
        label2id={name: index for index, name in PROMPT_LABELS.items()},
        problem_type="multi_label_classification",
        **(TINY if tiny else {}),
    )  # else BERT-base: 12 layers, 768 wide, vocabulary 30522
    model = BertForSequenceClassification(config).to(device=device, dtype=dtype).eval()
    labels = UnsafeLabels.from_config(config, "toxic,obscene,identity_hate", 0.5, "PROMPT_SAFETY_LABELS", "bench")
    return TextClassifier(model, build_wordpiece_tokenizer(), labels, "BERT-base (random)", max_length=512)


def parameter_bytes(model: torch.nn.Module) -> tuple[int, int]:
    params = sum(p.numel() for p in model.parameters())
    return params, sum(p.numel() * p.element_size() for p in model.parameters())


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--designs", type=int, default=4, help="designs per job (default 4, the most a job asks)")
    parser.add_argument("--dtype", choices=list(DTYPES), default=None, help="default: the worker's for the device")
    parser.add_argument("--tiny", action="store_true", help="tiny classifiers: a check that the script runs")
    args = parser.parse_args(argv)
    dtype = Runtime.from_settings(Settings(device=args.device, dtype=args.dtype or "auto")).dtype  # as the worker

    terms = load_terms(Settings())
    image = build_image_classifier(args.device, dtype, args.tiny)
    prompt = build_prompt_classifier(args.device, dtype, args.tiny)
    designs = torch.rand(args.designs, 4, args.size, args.size, device=args.device)
    texts = [PROMPT, PROMPT + ", isolated on a plain white background"]

    figures = {
        "terms_ms": median_seconds(lambda: [terms.find(text) for text in texts], args.repeats) * 1000,
        "prompt_classifier_ms": median_seconds(lambda: prompt.scores(texts), args.repeats, device=args.device) * 1000,
        "image_classifier_ms": median_seconds(lambda: image.scores(designs), args.repeats, device=args.device) * 1000,
    }
    print(f"content screening on {args.device} ({dtype_name(dtype)}): {machine_description(args.device)}")
    print(f"blocked terms ({len(terms)}), two prompts:       {figures['terms_ms']:8.2f} ms")
    print(f"prompt classifier, two prompts:            {figures['prompt_classifier_ms']:8.2f} ms")
    print(
        f"image classifier, {args.designs} RGBA {args.size}x{args.size} designs: {figures['image_classifier_ms']:8.2f} ms"
    )
    for name, classifier in (("image", image), ("prompt", prompt)):
        params, size = parameter_bytes(classifier.model)
        figures[f"{name}_params_m"], figures[f"{name}_weights_mb"] = params / 1e6, size / 1e6
        print(f"{name} classifier weights: {params / 1e6:.1f} M parameters, {size / 1e6:.0f} MB")
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        figures["peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 1e6
        print(f"peak GPU memory allocated (weights + the designs + activations): {figures['peak_allocated_mb']:.0f} MB")
    return figures


if __name__ == "__main__":
    main()
