"""The prompt screen, in the validate stage before the GPU runs.

Blocked terms, then the optional text classifier (``PROMPT_SAFETY_MODEL``). A refusal names the rule that
refused, never the offending text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from worker.errors import content_refused
from worker.runtime.config import Settings
from worker.safety.labels import UnsafeLabels, classifier_source
from worker.schema import shorten

if TYPE_CHECKING:
    from worker.safety.screen import ContentScreen

log = logging.getLogger(__name__)


@dataclass
class TextClassifier:
    model: Any  # a transformers AutoModelForSequenceClassification
    tokenizer: Any
    labels: UnsafeLabels
    model_id: str
    max_length: int

    @classmethod
    def load(cls, settings: Settings, device: torch.device, dtype: torch.dtype) -> TextClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model_id = str(settings.prompt_safety_model)
        source = classifier_source("PROMPT_SAFETY_MODEL", model_id, settings)
        tokenizer = AutoTokenizer.from_pretrained(model_id, **source)
        model = AutoModelForSequenceClassification.from_pretrained(model_id, dtype=dtype, **source)
        model = model.to(device).eval()
        labels = UnsafeLabels.from_config(
            model.config,
            settings.prompt_safety_labels,
            settings.prompt_safety_threshold,
            "PROMPT_SAFETY_LABELS",
            model_id,
        )
        positions = getattr(model.config, "max_position_embeddings", None) or 512
        return cls(model, tokenizer, labels, model_id, min(tokenizer.model_max_length, positions))

    def scores(self, texts: list[str]) -> tuple[torch.Tensor, list[str]]:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            return self.labels.scores(self.model(**batch.to(self.model.device)).logits)


def check_prompt(screen: ContentScreen, prompt: str | None, rendered: str) -> None:
    """The job's own prompt, then the prompt as the style renders it (template text and default subject)."""
    texts = {"the prompt": prompt, "the prompt as the style renders it": rendered}
    texts = {where: text for where, text in texts.items() if text}
    for where, text in texts.items():
        match = screen.terms.find(text)
        if match is not None:
            log.info("%s refused: blocked term %r (%s)", where, shorten(match.term), match.category)
            raise content_refused(f"{where} was refused by the content rules ({match.category})", "prompt")
    if screen.prompt_classifier is None or not texts:
        return
    scores, labels = screen.prompt_classifier.scores(list(texts.values()))
    threshold = screen.prompt_classifier.labels.threshold
    log.info("prompt safety scores %s (refused above %g)", [round(s, 3) for s in scores.tolist()], threshold)
    for where, score, label in zip(texts, scores.tolist(), labels, strict=True):
        if score > threshold:
            message = f"{where} was refused by the prompt safety classifier ({label} {score:.2f} > {threshold:g})"
            raise content_refused(message, "prompt")
