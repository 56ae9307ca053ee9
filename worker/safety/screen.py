"""The content screen, built once at cold start from the settings.

The prompt is screened before the GPU runs (``worker.safety.prompts``), and every design before anything
is stored (``worker.safety.designs``).

A refusal raises ``WorkerError(CONTENT_REFUSED)``; the job's failure path reports it (``design.failed``)
and nothing is stored. A refusal names the rule that refused, never the offending text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from worker.runtime.config import Settings
from worker.runtime.devices import Runtime
from worker.safety.designs import ImageClassifier
from worker.safety.prompts import TextClassifier
from worker.safety.terms import TermList, load_terms

log = logging.getLogger(__name__)


@dataclass
class ContentScreen:
    """Built once at cold start; ``check_prompt`` (worker/safety/prompts.py) runs in the validate stage,
    ``check_designs`` (worker/safety/designs.py) after the style stage."""

    terms: TermList = field(default_factory=TermList)
    prompt_classifier: TextClassifier | None = None
    image_classifier: ImageClassifier | None = None

    @classmethod
    def from_settings(cls, settings: Settings, runtime: Runtime | None = None) -> ContentScreen:
        """A bad terms file, model folder or label setting raises here, which makes the worker unfit."""
        terms = load_terms(settings)
        runtime = runtime or Runtime.from_settings(settings)
        device, dtype = runtime.device, runtime.dtype
        prompt_classifier = TextClassifier.load(settings, device, dtype) if settings.prompt_safety_model else None
        image_classifier = ImageClassifier.load(settings, device, dtype) if settings.safety_model else None
        screen = cls(terms, prompt_classifier, image_classifier)
        log.info("content screen: %s", screen.describe())
        return screen

    def describe(self) -> str:
        parts = [f"{len(self.terms)} blocked terms"]
        for what, classifier in (("prompt", self.prompt_classifier), ("image", self.image_classifier)):
            if classifier is not None:
                labels = classifier.labels
                parts.append(
                    f"{what} classifier {classifier.model_id} ({'/'.join(labels.names)} > {labels.threshold:g})"
                )
        return ", ".join(parts)
