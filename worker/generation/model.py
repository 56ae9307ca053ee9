"""Cold start: load FLUX.1 once, and derive every pipeline the worker needs from the same weights.

With ``KONTEXT_MODEL_ID`` a FLUX.1-Kontext transformer (and its own scheduler: Kontext shifts its
timesteps by image size, schnell does not) is loaded beside ``MODEL_ID`` and shares its text encoders,
tokenizers and VAE: one worker serves text jobs on schnell and photo jobs on Kontext with one T5.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import (
    DiffusionPipeline,
    FlowMatchEulerDiscreteScheduler,
    FluxImg2ImgPipeline,
    FluxKontextPipeline,
    FluxPipeline,
    FluxPriorReduxPipeline,
    FluxTransformer2DModel,
)

from worker.generation.loras import StyleAdapters, load_style_loras, lora_targets
from worker.generation.speed import apply_speed_settings, check_speed_settings, warm_up
from worker.runtime.config import Settings
from worker.runtime.devices import Runtime, dtype_name, model_source
from worker.style.catalog import Style

log = logging.getLogger(__name__)


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
    """The weights on one device; the pipelines share their text encoders, tokenizers and VAE (and, without
    ``KONTEXT_MODEL_ID``, every module)."""

    text_to_image: FluxPipeline
    image_to_image: FluxImg2ImgPipeline
    kontext: FluxKontextPipeline | None
    model_id: str
    revision: str | None
    family: str
    device: torch.device
    dtype: torch.dtype
    speed_settings: list[str]
    kontext_model_id: str | None = None  # a Kontext transformer loaded beside MODEL_ID
    redux: FluxPriorReduxPipeline | None = None  # REDUX_MODEL_ID: the photo as prompt embeddings
    redux_model_id: str | None = None
    adapters: StyleAdapters | None = None  # the styles' LoRAs, when any style has one

    def use_style(self, style: str) -> None:
        """Turn on ``style``'s LoRAs and every other style's off (nothing to do when no style has any)."""
        if self.adapters is not None:
            self.adapters.activate(style)

    def pipeline_for(self, photo: bool, kontext_instruction: bool) -> str:
        """Which pipeline makes a design: a photo with a Kontext instruction is edited by Kontext when it is
        loaded, else redrawn image-to-image (conditioned on the photo through Redux when that is loaded); a
        prompt alone is text-to-image."""
        if photo and kontext_instruction and self.kontext is not None:
            return "kontext"
        if photo:
            return "redux" if self.redux is not None else "image_to_image"
        return "text_to_image"

    def defaults_for(self, pipeline: str) -> FamilyDefaults:
        return FAMILY_DEFAULTS["kontext"] if pipeline == "kontext" else self.defaults

    @property
    def pipelines(self) -> dict[str, DiffusionPipeline]:
        """Every pipeline this model serves, by name."""
        named = {"text_to_image": self.text_to_image, "image_to_image": self.image_to_image, "kontext": self.kontext}
        return {name: pipe for name, pipe in named.items() if pipe is not None}

    @property
    def defaults(self) -> FamilyDefaults:
        return FAMILY_DEFAULTS[self.family]

    def describe(self) -> dict[str, Any]:
        described = {"id": self.model_id, "revision": self.revision, "family": self.family}
        if self.kontext_model_id is not None:
            described["kontext_id"] = self.kontext_model_id
        if self.redux is not None:
            described["redux_id"] = self.redux_model_id
        return described


def detect_family(pipeline_class: str, transformer_config: Any) -> str:
    """Kontext repos declare FluxKontextPipeline; dev is guidance-distilled (a guidance embedding), schnell is not."""
    if pipeline_class == "FluxKontextPipeline":
        return "kontext"
    return "dev" if transformer_config.guidance_embeds else "schnell"


def flux_source(setting: str, model_id: str, revision: str | None, settings: Settings) -> dict[str, Any]:
    hint = "build a tiny test model there with `python -m models.tiny PATH --schnell`, or give a Hub repo id"
    return model_source(setting, model_id, revision, settings, "model_index.json", hint)


def check_before_loading(settings: Settings, styles: Mapping[str, Style], runtime: Runtime) -> None:
    """Refuse, before any weight is loaded, settings that could not serve a job."""
    check_speed_settings(settings, runtime.device, runtime.dtype)
    if lora_targets(styles) and (settings.fuse_qkv or settings.quantize != "none"):
        raise ValueError(
            "style LoRAs need the transformer's own linear layers: FUSE_QKV=1 would silently drop their "
            "query/key/value parts, QUANTIZE=fp8 replaces the layers they attach to; turn those off"
        )


def load_base(settings: Settings, runtime: Runtime) -> tuple[FluxPipeline, str]:
    """``MODEL_ID`` as a text-to-image pipeline on the device, and its family."""
    source = flux_source("MODEL_ID", settings.model_id, settings.model_revision, settings)
    log.info("loading model %s on %s (%s)", settings.model_id, runtime.device, dtype_name(runtime.dtype))
    model_index = FluxPipeline.load_config(settings.model_id, **source)
    # device_map places weights straight onto the GPU instead of staging them in host memory first.
    device_map = str(runtime.device) if str(runtime.device) in ("cpu", "cuda") else None
    pipe = FluxPipeline.from_pretrained(settings.model_id, dtype=runtime.dtype, device_map=device_map, **source)
    pipe.to(runtime.device)
    return pipe, detect_family(model_index.get("_class_name", ""), pipe.transformer.config)


def kontext_pipeline(
    settings: Settings, base: FluxPipeline, family: str, runtime: Runtime
) -> FluxKontextPipeline | None:
    """Kontext: ``MODEL_ID`` itself when it is a Kontext model, or ``KONTEXT_MODEL_ID`` beside it, or none."""
    if settings.kontext_model_id:
        if family == "kontext":
            raise ValueError("KONTEXT_MODEL_ID is set, but MODEL_ID is a Kontext model already")
        return load_kontext_beside(settings, base, runtime)
    return FluxKontextPipeline.from_pipe(base, dtype=runtime.dtype) if family == "kontext" else None


def load_model(
    settings: Settings, styles: Mapping[str, Style] | None = None, runtime: Runtime | None = None
) -> LoadedModel:
    """Load the weights once (a local folder or ``HF_HUB_OFFLINE=1`` never touches the network).

    Every pipeline is derived from the first in the same dtype and shares its modules: ``from_pipe``
    would otherwise cast the shared modules to its own default, float32, behind the loader's back.
    """
    runtime = runtime or Runtime.from_settings(settings)
    device, dtype = runtime.device, runtime.dtype
    check_before_loading(settings, styles or {}, runtime)
    started = time.perf_counter()
    text_to_image, family = load_base(settings, runtime)
    image_to_image = FluxImg2ImgPipeline.from_pipe(text_to_image, dtype=dtype)
    kontext = kontext_pipeline(settings, text_to_image, family, runtime)
    redux = load_redux(settings, text_to_image, runtime) if settings.redux_model_id else None
    for pipe in (text_to_image, image_to_image, kontext, redux):
        if pipe is not None:
            pipe.set_progress_bar_config(disable=True)
    owners = {"base": text_to_image, **({"kontext": kontext} if settings.kontext_model_id and kontext else {})}
    # Before compilation: under COMPILE=1 the LoRA hot-swap slots must exist when the blocks are compiled.
    adapters = load_style_loras(styles or {}, owners, hotswap=settings.compile)
    speedups = apply_speed_settings(text_to_image, settings, family)
    if settings.kontext_model_id and kontext is not None:
        speedups += [f"kontext:{name}" for name in apply_speed_settings(kontext, settings, "kontext")]

    warm_up(text_to_image, settings, family, FAMILY_DEFAULTS[family].max_sequence_length)
    log.info(
        "model ready in %.1f s: family %s, %s, %s",
        time.perf_counter() - started,
        family,
        dtype_name(dtype),
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
        kontext_model_id=settings.kontext_model_id,
        redux=redux,
        redux_model_id=settings.redux_model_id,
        adapters=adapters,
    )


def model_beside_source(
    setting: str, model_id: str, revision: str | None, pipeline_class: str, family: str, settings: Settings
) -> dict:
    """The ``from_pretrained`` source arguments of a model loaded beside ``MODEL_ID``, once its folder or repo
    is known to hold a ``pipeline_class``: a wrong id fails cold start naming ``setting``."""
    source = flux_source(setting, model_id, revision, settings)
    found = FluxPipeline.load_config(model_id, **source).get("_class_name")
    if found != pipeline_class:
        raise ValueError(f"{setting}={model_id} is not a {family} model ({found})")
    return source


def load_redux(settings: Settings, base: FluxPipeline, runtime: Runtime) -> FluxPriorReduxPipeline:
    """FLUX.1-Redux's image encoder and embedder from ``REDUX_MODEL_ID``, with ``base``'s text encoders, so the
    style's prompt and the photo's image tokens go to the transformer together."""
    device, dtype = runtime.device, runtime.dtype
    model_id = settings.redux_model_id
    source = model_beside_source(
        "REDUX_MODEL_ID", model_id, settings.redux_model_revision, "FluxPriorReduxPipeline", "FLUX.1-Redux", settings
    )
    redux = FluxPriorReduxPipeline.from_pretrained(
        model_id,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        text_encoder_2=base.text_encoder_2,
        tokenizer_2=base.tokenizer_2,
        dtype=dtype,
        **source,
    )
    redux.image_encoder.to(device=device, dtype=dtype)
    redux.image_embedder.to(device=device, dtype=dtype)
    width = redux.image_embedder.config.txt_in_features
    if width != base.transformer.config.joint_attention_dim:
        raise ValueError(f"REDUX_MODEL_ID={model_id}: its image tokens ({width}) do not fit MODEL_ID's transformer")
    return redux


def load_kontext_beside(settings: Settings, base: FluxPipeline, runtime: Runtime) -> FluxKontextPipeline:
    """FLUX.1-Kontext's transformer and scheduler from ``KONTEXT_MODEL_ID``; everything else is ``base``'s."""
    device, dtype = runtime.device, runtime.dtype
    model_id = settings.kontext_model_id
    source = model_beside_source(
        "KONTEXT_MODEL_ID", model_id, settings.kontext_model_revision, "FluxKontextPipeline", "FLUX.1-Kontext", settings
    )
    transformer = FluxTransformer2DModel.from_pretrained(model_id, subfolder="transformer", dtype=dtype, **source)
    shared = base.transformer.config
    for name in ("joint_attention_dim", "pooled_projection_dim", "in_channels"):
        if transformer.config[name] != shared[name]:
            raise ValueError(
                f"KONTEXT_MODEL_ID={model_id}: its transformer's {name} ({transformer.config[name]}) does not fit "
                f"MODEL_ID's text encoders and VAE ({shared[name]})"
            )
    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(model_id, subfolder="scheduler", **source)
    log.info("Kontext transformer from %s beside %s, sharing its text encoders and VAE", model_id, settings.model_id)
    return FluxKontextPipeline(
        scheduler=scheduler,
        vae=base.vae,
        text_encoder=base.text_encoder,
        tokenizer=base.tokenizer,
        text_encoder_2=base.text_encoder_2,
        tokenizer_2=base.tokenizer_2,
        transformer=transformer.to(device),
    )
