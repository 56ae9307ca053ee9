"""What both safety classifiers share: which of their labels count as unsafe, and where their weights come from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from worker.runtime.config import Settings
from worker.runtime.devices import model_source


def comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class UnsafeLabels:
    """Which of a classifier's labels count as unsafe, and how its logits become one score per input.

    Single-label models (softmax) score the unsafe labels' summed probability; multi-label ones (sigmoid,
    ``problem_type: multi_label_classification``) the highest unsafe label's. Refused above ``threshold``.
    """

    indices: list[int]
    names: list[str]
    multi_label: bool
    threshold: float

    @classmethod
    def from_config(cls, config: Any, wanted: str, threshold: float, setting: str, model: str) -> UnsafeLabels:
        """``wanted`` (comma-separated) checked against the model's own ``id2label``, case-insensitively."""
        labels = {str(name).casefold(): int(index) for index, name in config.id2label.items()}
        names = [name.casefold() for name in comma_list(wanted)]
        own = ", ".join(str(config.id2label[i]) for i in sorted(config.id2label))
        unknown = [name for name in names if name not in labels]
        if not names or unknown:
            raise ValueError(f"{setting}={wanted!r} must name labels of {model}, whose labels are: {own}")
        multi_label = config.problem_type == "multi_label_classification"
        if not multi_label and len(set(names)) == len(labels):
            raise ValueError(f"{setting}={wanted!r} names every label of {model}: everything would be refused")
        return cls([labels[name] for name in names], names, multi_label, threshold)

    def scores(self, logits: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """``(B,)`` unsafe scores, and the unsafe label that weighs most in each."""
        logits = logits.float()
        per_label = (logits.sigmoid() if self.multi_label else logits.softmax(dim=-1))[:, self.indices]
        score = per_label.amax(dim=-1) if self.multi_label else per_label.sum(dim=-1)
        return score, [self.names[i] for i in per_label.argmax(dim=-1).tolist()]


def classifier_source(setting: str, model_id: str, settings: Settings) -> dict[str, Any]:
    hint = "build tiny test classifiers with `python -m models.tiny_safety OUT_DIR`, or give a Hub repo id"
    return model_source(setting, model_id, None, settings, "config.json", hint)
