"""The generate stage: the designs made by FLUX.1, and checked (a model can fail without raising).

Text-to-image, image-to-image (optionally conditioned on the photo through Redux), or Kontext editing of
the photo, as the plan says; or, for the ``photo`` pipeline, the photo itself, and no model runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from worker.errors import ErrorCode, WorkerError
from worker.generation.model import LoadedModel
from worker.generation.plan import GenerationPlan

StepCallback = Callable[[int, int], None]


def generate_designs(model: LoadedModel, plan: GenerationPlan, on_step: StepCallback | None = None) -> torch.Tensor:
    """Return a float batch ``(N, 3, H, W)`` in [0, 1] on the model's device, one design per seed.

    Each design has its own CPU generator, so a design is reproduced by its own seed whatever the batch,
    and the same seed gives the same noise on every device.
    """
    if not plan.runs_model:
        return photo_design(plan.photo, model.device)
    if plan.style is not None:
        model.use_style(plan.style)
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
        pipe, args = (
            model.image_to_image,
            {
                "image": plan.photo,
                "prompt_embeds": embeds.prompt_embeds,
                "pooled_prompt_embeds": embeds.pooled_prompt_embeds,
                "strength": plan.strength,
            },
        )
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


def photo_design(photo: Image.Image | None, device: torch.device) -> torch.Tensor:
    """The photo as a ``(1, 3, H, W)`` design in [0, 1] on ``device``."""
    if photo is None:
        raise ValueError("the photo pipeline needs the job's photo")
    pixels = torch.from_numpy(np.array(photo.convert("RGB"))).to(device)
    return pixels.permute(2, 0, 1).unsqueeze(0).float().div_(255)


def check_designs(designs: torch.Tensor) -> None:
    """NaN or all-black output is a model failure (fp16 overflow, a broken checkpoint), not a design."""
    if not torch.isfinite(designs).all():
        raise WorkerError(ErrorCode.MODEL_ERROR, "the model produced invalid (NaN) pixels; nothing was uploaded")
    black = (designs.flatten(1).amax(dim=1) < 2 / 255).nonzero().flatten().tolist()
    if black:
        raise WorkerError(ErrorCode.MODEL_ERROR, f"design(s) {black} came out all black; nothing was uploaded")
