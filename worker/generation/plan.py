"""What one job asks of FLUX.1, decided in the validate stage.

Which pipeline, the prompt as the style renders it, steps, guidance and a seed per design. Job values win
over the style's overrides, which win over the model family's defaults. A job with ``generate: false``, or
in a style that generates nothing (``photo``), gets the ``photo`` pipeline: the photo is the design.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from PIL import Image

from worker.generation.model import LoadedModel
from worker.schema import MAX_SEED, JobInput
from worker.style.catalog import Style

PHOTO = "photo"  # the pipeline of a job that runs no model


@dataclass(frozen=True)
class GenerationPlan:
    """Everything one call of the pipeline needs; design ``i`` uses ``seeds[i]``."""

    prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seeds: list[int]
    pipeline: str = "text_to_image"  # which of LoadedModel's pipelines (LoadedModel.pipeline_for), or PHOTO
    max_sequence_length: int = 256
    photo: Image.Image | None = None  # set once the photo is loaded (``with_photo``)
    strength: float = 0.75
    kontext_instruction: str | None = None
    style: str | None = None  # whose LoRAs are turned on; None leaves them as they are

    def with_photo(self, photo: Image.Image | None) -> GenerationPlan:
        return replace(self, photo=photo)

    @property
    def runs_model(self) -> bool:
        return self.pipeline != PHOTO


def plan_generation(request: JobInput, style: Style, model: LoadedModel) -> GenerationPlan:
    seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
    if not (request.generate and style.generate):
        return GenerationPlan("", request.width, request.height, 0, 0.0, [seed], pipeline=PHOTO)
    instruction = style.render_instruction(plain_background=request.transparent_background)
    pipeline = model.pipeline_for(request.image is not None, instruction is not None)
    defaults = model.defaults_for(pipeline)
    return GenerationPlan(
        prompt=style.render_prompt(request.prompt, plain_background=request.transparent_background),
        width=request.width,
        height=request.height,
        steps=request.steps or style.steps or defaults.steps,
        guidance=next(g for g in (request.guidance, style.guidance, defaults.guidance) if g is not None),
        seeds=[(seed + i) % (MAX_SEED + 1) for i in range(request.num_designs)],
        pipeline=pipeline,
        max_sequence_length=defaults.max_sequence_length,
        strength=style.strength,
        kontext_instruction=instruction,
        style=style.name,
    )
