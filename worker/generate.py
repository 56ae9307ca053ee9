"""Generate the designs with FLUX.1: text-to-image, image-to-image (optionally conditioned on the photo through
Redux), or Kontext editing of the photo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from PIL import Image

from worker.model import LoadedModel

StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerationPlan:
    """Everything one call of the pipeline needs; design ``i`` uses ``seeds[i]``."""

    prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seeds: list[int]
    pipeline: str = "text_to_image"  # which of LoadedModel's pipelines: see LoadedModel.pipeline_for
    max_sequence_length: int = 256
    photo: Image.Image | None = None
    strength: float = 0.75
    kontext_instruction: str | None = None


def generate_designs(model: LoadedModel, plan: GenerationPlan, on_step: StepCallback | None = None) -> torch.Tensor:
    """Return a float batch ``(N, 3, H, W)`` in [0, 1] on the model's device, one design per seed.

    Each design has its own CPU generator, so a design is reproduced by its own seed whatever the batch,
    and the same seed gives the same noise on every device.
    """
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in plan.seeds]
    common = {
        "width": plan.width,
        "height": plan.height,
        "num_inference_steps": plan.steps,
        "guidance_scale": plan.guidance,
        "max_sequence_length": plan.max_sequence_length,
        "num_images_per_prompt": len(plan.seeds),
        "generator": generators,
        "output_type": "pt",
    }
    if plan.pipeline == "kontext":
        pipe, args = model.kontext, {"image": plan.photo, "prompt": plan.kontext_instruction, "_auto_resize": False}
    elif plan.pipeline == "redux":
        with torch.inference_mode():
            embeds = model.redux(image=plan.photo, prompt=plan.prompt)
        pipe, args = model.image_to_image, {"image": plan.photo, "prompt_embeds": embeds.prompt_embeds,
                                            "pooled_prompt_embeds": embeds.pooled_prompt_embeds, "strength": plan.strength}  # fmt: skip
    elif plan.pipeline == "image_to_image":
        pipe, args = model.image_to_image, {"image": plan.photo, "prompt": plan.prompt, "strength": plan.strength}
    else:
        pipe, args = model.text_to_image, {"prompt": plan.prompt}

    def step_end(pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
        if on_step is not None:
            on_step(step + 1, pipeline.num_timesteps)
        return callback_kwargs

    with torch.inference_mode():
        images = pipe(**args, **common, callback_on_step_end=step_end).images
        return images.float().clamp(0, 1)
