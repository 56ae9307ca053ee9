"""The design screen, after the style stage and before anything is stored.

The optional image classifier (``SAFETY_MODEL``) runs on every design of the job, batched, on the worker's
device, with the model's own preprocessing done in torch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F

from worker.errors import content_refused
from worker.runtime.config import Settings
from worker.safety.labels import UnsafeLabels, classifier_source

if TYPE_CHECKING:
    from worker.safety.screen import ContentScreen

log = logging.getLogger(__name__)


def _size_fields(size: Any) -> dict[str, int]:
    """A processor's size, a plain dict or transformers' ``SizeDict`` (which iterates as its set pairs)."""
    pairs = size.items() if isinstance(size, dict) else size
    return {key: value for key, value in pairs if value is not None}


@dataclass(frozen=True)
class ImagePreprocess:
    """The model's own preprocessor configuration, applied in torch on the device (no Pillow round trip).

    Pixels come in as floats in [0, 1], which is what ``do_rescale`` with 1/255 makes of 8-bit pixels.
    """

    resize: tuple[int, int] | int | None  # (height, width), or the shortest edge
    crop: tuple[int, int] | None
    mode: str
    scale: float
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    # PIL resampling filter -> torch interpolation mode (torch has no Lanczos, box or Hamming: bicubic)
    MODES: ClassVar[dict[int, str]] = {0: "nearest", 2: "bilinear", 3: "bicubic"}

    @classmethod
    def from_processor(cls, processor: Any, model: str) -> ImagePreprocess:
        """Exact sizes, or the shortest edge and an optional centre crop; anything else fails at cold start."""
        unsupported = [name for name in ("crop_pct", "do_pad") if getattr(processor, name, None)]
        if unsupported:
            raise ValueError(f"SAFETY_MODEL {model}: preprocessor setting {', '.join(unsupported)} is not supported")
        size = _size_fields(processor.size) if processor.do_resize else None
        resize: tuple[int, int] | int | None = None
        if size is not None:
            if set(size) == {"height", "width"}:
                resize = (int(size["height"]), int(size["width"]))
            elif set(size) == {"shortest_edge"}:
                resize = int(size["shortest_edge"])
            else:
                raise ValueError(f"SAFETY_MODEL {model}: a preprocessor size {size} is not supported")
        crop = None
        if getattr(processor, "do_center_crop", False):
            crop_size = _size_fields(processor.crop_size)
            crop = (int(crop_size["height"]), int(crop_size["width"]))
        scale = 255.0 * float(processor.rescale_factor) if processor.do_rescale else 255.0
        normalize = bool(processor.do_normalize)
        return cls(
            resize=resize,
            crop=crop,
            mode=cls.MODES.get(int(processor.resample), "bicubic"),
            scale=scale,
            mean=tuple(float(v) for v in processor.image_mean) if normalize else None,
            std=tuple(float(v) for v in processor.image_std) if normalize else None,
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> the model's ``pixel_values`` (float32)."""
        images = images.float()
        if self.resize is not None:
            height, width = images.shape[-2:]
            if isinstance(self.resize, int):  # the long edge truncated, as transformers does
                short = min(height, width)
                size = (int(self.resize * height / short), int(self.resize * width / short))
            else:
                size = self.resize
            antialias = self.mode != "nearest" and (size[0] < height or size[1] < width)
            images = F.interpolate(images, size=size, mode=self.mode, antialias=antialias)
        if self.crop is not None:
            top = max(0, (images.shape[-2] - self.crop[0]) // 2)
            left = max(0, (images.shape[-1] - self.crop[1]) // 2)
            images = images[..., top : top + self.crop[0], left : left + self.crop[1]]
        images = images * self.scale
        if self.mean is not None and self.std is not None:
            mean = images.new_tensor(self.mean).view(1, -1, 1, 1)
            std = images.new_tensor(self.std).view(1, -1, 1, 1)
            images = (images - mean) / std
        return images


def printed(design: torch.Tensor) -> torch.Tensor:
    """``(1, 3 or 4, H, W)`` -> ``(1, 3, H, W)``: RGBA over white."""
    rgb = design[:, :3].float()
    if design.shape[1] == 4:
        alpha = design[:, 3:4].float()
        rgb = rgb * alpha + (1 - alpha)
    return rgb


@dataclass
class ImageClassifier:
    model: Any  # a transformers AutoModelForImageClassification
    preprocess: ImagePreprocess
    labels: UnsafeLabels
    model_id: str

    @classmethod
    def load(cls, settings: Settings, device: torch.device, dtype: torch.dtype) -> ImageClassifier:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        model_id = str(settings.safety_model)
        source = classifier_source("SAFETY_MODEL", model_id, settings)
        # The PIL backend only to read the configuration (with its class defaults): no torchvision needed.
        processor = AutoImageProcessor.from_pretrained(model_id, backend="pil", **source)
        model = AutoModelForImageClassification.from_pretrained(model_id, dtype=dtype, **source).to(device).eval()
        labels = UnsafeLabels.from_config(
            model.config, settings.safety_unsafe_labels, settings.safety_threshold, "SAFETY_UNSAFE_LABELS", model_id
        )
        return cls(model, ImagePreprocess.from_processor(processor, model_id), labels, model_id)

    def scores(self, designs: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """What would be printed: RGBA designs composited over white, as the transparent parts show no ink.

        Composited and resized one design at a time (a print-size design is 4096 px), classified as a batch.
        """
        with torch.inference_mode():
            pixel_values = torch.cat([self.preprocess(printed(design[None])) for design in designs])
            pixel_values = pixel_values.to(device=self.model.device, dtype=self.model.dtype)
            return self.labels.scores(self.model(pixel_values=pixel_values).logits)


def check_designs(screen: ContentScreen, designs: torch.Tensor) -> None:
    """Every design of the job in one batch; any refused one ends the job before anything is stored."""
    if screen.image_classifier is None:
        return
    scores, labels = screen.image_classifier.scores(designs)
    threshold = screen.image_classifier.labels.threshold
    values = scores.tolist()
    log.info("design safety scores %s (refused above %g)", [round(s, 3) for s in values], threshold)
    flagged = [i for i, score in enumerate(values) if score > threshold]
    if flagged:
        worst = max(flagged, key=lambda i: values[i])
        raise content_refused(
            f"design(s) {flagged} were refused by the image safety classifier "
            f"({labels[worst]} {values[worst]:.2f} > {threshold:g}); nothing was stored"
        )
