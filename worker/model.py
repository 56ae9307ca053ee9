"""Cold start: load FLUX.1 once, and derive every pipeline the worker needs from the same weights."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline, FluxImg2ImgPipeline, FluxKontextPipeline, FluxPipeline

from worker.config import Settings
from worker.speed import apply_speed_settings, check_speed_settings, warm_up

log = logging.getLogger(__name__)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass(frozen=True)
class FamilyDefaults:
    """What the model family was distilled for: schnell for 4 steps without guidance, dev for 28 with."""

    steps: int
    guidance: float
    max_sequence_length: int


FAMILY_DEFAULTS = {
    "schnell": FamilyDefaults(steps=4, guidance=0.0, max_sequence_length=256),
    "dev": FamilyDefaults(steps=28, guidance=3.5, max_sequence_length=512),
    "kontext": FamilyDefaults(steps=28, guidance=3.5, max_sequence_length=512),
}


@dataclass
class LoadedModel:
    """One set of weights on one device; the three pipelines share every module."""

    text_to_image: FluxPipeline
    image_to_image: FluxImg2ImgPipeline
    kontext: FluxKontextPipeline | None
    model_id: str
    revision: str | None
    family: str
    device: torch.device
    dtype: torch.dtype
    speed_settings: list[str]

    @property
    def pipelines(self) -> dict[str, DiffusionPipeline]:
        """Every pipeline this model serves, by name (they share their modules)."""
        named = {"text_to_image": self.text_to_image, "image_to_image": self.image_to_image, "kontext": self.kontext}
        return {name: pipe for name, pipe in named.items() if pipe is not None}

    @property
    def defaults(self) -> FamilyDefaults:
        return FAMILY_DEFAULTS[self.family]

    def describe(self) -> dict[str, Any]:
        return {"id": self.model_id, "revision": self.revision, "family": self.family}


def resolve_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"DEVICE={setting} but no CUDA GPU is available to this process")
    return device


def resolve_dtype(setting: str, device: torch.device) -> torch.dtype:
    if setting == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if setting not in DTYPES:
        raise ValueError(f"DTYPE must be one of auto, {', '.join(DTYPES)} (got {setting!r})")
    return DTYPES[setting]


def detect_family(pipeline_class: str, transformer_config: Any) -> str:
    """Kontext repos declare FluxKontextPipeline; dev is guidance-distilled (a guidance embedding), schnell is not."""
    if pipeline_class == "FluxKontextPipeline":
        return "kontext"
    return "dev" if transformer_config.guidance_embeds else "schnell"


def check_local_model_folder(model_id: str) -> None:
    """An id that names a local path (absolute, ``./``, ``~``, or whose first part is a local folder) must be a
    diffusers folder: said at once, instead of being tried as a Hub repo id for half a minute."""
    path = Path(model_id).expanduser()
    parts = Path(model_id).parts
    names_a_path = model_id.startswith(("/", ".", "~")) or (len(parts) > 1 and Path(parts[0]).is_dir())
    if names_a_path and not (path / "model_index.json").is_file():
        what = "does not exist" if not path.exists() else "has no model_index.json (not a diffusers model folder)"
        raise FileNotFoundError(
            f"MODEL_ID={model_id} names a local folder, and {path} {what}; "
            "build a tiny test model there with `python -m models.tiny PATH --schnell`, or give a Hub repo id"
        )


def load_model(settings: Settings) -> LoadedModel:
    """Load the weights once (a local folder or ``HF_HUB_OFFLINE=1`` never touches the network).

    Every pipeline is derived from the first in the same dtype and shares its modules: ``from_pipe``
    would otherwise cast the shared modules to its own default, float32, behind the loader's back.
    """
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    check_speed_settings(settings, device, dtype)
    check_local_model_folder(settings.model_id)
    local_files_only = Path(settings.model_id).is_dir() or settings.hf_hub_offline
    source = {"revision": settings.model_revision, "local_files_only": local_files_only}
    started = time.perf_counter()
    log.info("loading model %s on %s (%s)", settings.model_id, device, str(dtype).removeprefix("torch."))

    model_index = FluxPipeline.load_config(settings.model_id, **source)
    # device_map places weights straight onto the GPU instead of staging them in host memory first.
    device_map = str(device) if str(device) in ("cpu", "cuda") else None
    text_to_image = FluxPipeline.from_pretrained(settings.model_id, dtype=dtype, device_map=device_map, **source)
    text_to_image.to(device)
    family = detect_family(model_index.get("_class_name", ""), text_to_image.transformer.config)
    image_to_image = FluxImg2ImgPipeline.from_pipe(text_to_image, dtype=dtype)
    kontext = FluxKontextPipeline.from_pipe(text_to_image, dtype=dtype) if family == "kontext" else None
    for pipe in (text_to_image, image_to_image, kontext):
        if pipe is not None:
            pipe.set_progress_bar_config(disable=True)
    speedups = apply_speed_settings(text_to_image, settings, family)

    warm_up(text_to_image, settings, family, FAMILY_DEFAULTS[family].max_sequence_length)
    log.info(
        "model ready in %.1f s: family %s, %s, %s",
        time.perf_counter() - started,
        family,
        str(dtype).removeprefix("torch."),
        ", ".join(speedups) or "no speed settings",
    )
    return LoadedModel(
        text_to_image=text_to_image,
        image_to_image=image_to_image,
        kontext=kontext,
        model_id=settings.model_id,
        revision=settings.model_revision,
        family=family,
        device=device,
        dtype=dtype,
        speed_settings=speedups,
    )
