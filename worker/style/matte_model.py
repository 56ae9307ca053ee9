"""The learned background remover (``MATTE_MODEL``): a BiRefNet-class dichotomous segmentation network.

BiRefNet and the models built on it (``ZhengPeng7/BiRefNet``, ``ZhengPeng7/BiRefNet_HR``,
``briaai/RMBG-2.0``) ship as transformers checkpoints that carry their own modelling code, named in
config.json's ``auto_map``; ``AutoModelForImageSegmentation`` loads them with ``trust_remote_code``, from
the Hub or from a local folder holding config.json, the weights and that code (offline, as baked into the
image). They take a square, ImageNet-normalised picture (1024x1024 for BiRefNet) and return their side
outputs, the last being the final mask's logits. Loaded once at cold start, run batched on the device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from worker.runtime.config import Settings
from worker.runtime.devices import Runtime, model_source

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def final_logits(output: Any) -> torch.Tensor:
    """The final mask logits ``(B, 1, h, w)`` from what a segmentation model returns.

    BiRefNet returns a list of side outputs, finest last (a nested list in some versions); transformers'
    own models return an output object with ``logits``.
    """
    while isinstance(output, list | tuple):
        output = output[-1]
    logits = getattr(output, "logits", output)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 4 or logits.shape[1] != 1:
        raise TypeError(f"MATTE_MODEL must return one-channel mask logits (B, 1, H, W), got {type(output).__name__}")
    return logits


@dataclass
class LearnedMatte:
    """Calls the network on a batch: resize to its square input, normalise, sigmoid, resize back."""

    network: torch.nn.Module
    resolution: int
    device: torch.device
    dtype: torch.dtype
    name: str

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        square = F.interpolate(
            images.to(self.device, torch.float32),
            size=(self.resolution, self.resolution),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        with torch.inference_mode():
            logits = final_logits(self.network(((square - mean) / std).to(self.dtype)))
        alpha = F.interpolate(logits.float().sigmoid(), size=(height, width), mode="bilinear", align_corners=False)
        return alpha.clamp(0, 1).to(images.device, images.dtype)


def load_matte_model(settings: Settings, runtime: Runtime | None = None) -> LearnedMatte | None:
    """The model named by ``MATTE_MODEL`` on the worker's device, or None when none is configured."""
    if not settings.matte_model:
        return None
    from transformers import AutoModelForImageSegmentation

    runtime = runtime or Runtime.from_settings(settings)
    device, dtype = runtime.device, runtime.matte_dtype
    log.info("loading matte model %s on %s", settings.matte_model, device)
    hint = "build a tiny test matte model with `python -m models.tiny_matte OUT_DIR`, or give a Hub repo id"
    source = model_source(
        "MATTE_MODEL", settings.matte_model, settings.matte_model_revision, settings, "config.json", hint
    )
    network = AutoModelForImageSegmentation.from_pretrained(settings.matte_model, trust_remote_code=True, **source)
    network = network.to(device=device, dtype=dtype).eval()
    return LearnedMatte(network, settings.matte_resolution, device, dtype, settings.matte_model)
