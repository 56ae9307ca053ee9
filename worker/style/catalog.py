"""The style catalog: one TOML file per style, so a new style is a new file, not new code.

A style file (``worker/style/presets/<name>.toml``, or ``STYLES_DIR``) holds::

    display_name = "Pop Art"
    prompt_template = "{prompt}, pop art screen print ..."   # {prompt}: the job's prompt or default_subject
    default_subject = "the pet in the photo"                   # used when the job has an image and no prompt
    strength = 0.75                 # image-to-image: how far the design may move away from the photo
    kontext_instruction = "Turn ..." # used instead of img2img when the model is a Kontext model
    steps = 6                       # optional overrides of the model family's defaults
    guidance = 4.0
    background_prompt = "isolated on a plain white background"  # added when the job wants transparency
    generate = false                # the photo itself is the design: no model runs (the built-in ``photo``)

    [[filters]]                     # post-processing, in order: a function of worker/style/filters.py
    name = "palette_quantize"       # and its keyword parameters
    palette = ["#000000", "#ffffff", "#ff1744"]

    [[loras]]                       # optional: LoRA weights this style turns on (worker/generation/loras.py)
    source = "loras/ink.safetensors" # a file (relative to this one), a folder or a Hub repo id
    weight = 0.8
    transformer = "base"            # base: MODEL_ID's transformer; kontext: KONTEXT_MODEL_ID's

The catalog is checked at cold start: unknown filters or parameters, and any filter that fails on a
small test image, make the worker unfit (fitness check) rather than failing a customer's job.
"""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from worker.runtime.catalog import CatalogError, load_catalog
from worker.style.filters import FILTERS, FilterContext

BUILTIN_STYLES_DIR = Path(__file__).with_name("presets")
PLAIN_BACKGROUND = "isolated on a plain white background"


class FilterStep(BaseModel):
    """One filter of a style's chain: ``name`` plus the filter's keyword parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def apply(self, images: torch.Tensor, ctx: FilterContext) -> torch.Tensor:
        return FILTERS[self.name](images, ctx, **self.params)


class StyleLora(BaseModel):
    """LoRA weights a style turns on (``[[loras]]`` in its file), loaded once at cold start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="a .safetensors file (relative to the style file), a folder or a Hub repo id")
    weight_name: str | None = Field(None, description="the file inside a folder or Hub repo")
    weight: float = Field(1.0, ge=-4, le=4)
    transformer: Literal["base", "kontext"] = Field(
        "base", description="base: MODEL_ID's transformer (schnell/dev LoRAs); kontext: KONTEXT_MODEL_ID's"
    )


class Style(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    display_name: str
    prompt_template: str
    default_subject: str = "the pet in the photo"
    strength: float = Field(0.75, gt=0, le=1)
    kontext_instruction: str | None = None
    steps: int | None = Field(None, ge=1, le=50)
    guidance: float | None = Field(None, ge=0, le=20)
    background_prompt: str = PLAIN_BACKGROUND
    generate: bool = True  # false: the photo itself is the design and no model runs (the ``photo`` style)
    filters: list[FilterStep] = Field(default_factory=list)
    loras: list[StyleLora] = Field(default_factory=list)

    @field_validator("filters")
    @classmethod
    def _known_filters(cls, steps: list[FilterStep]) -> list[FilterStep]:
        for step in steps:
            if step.name not in FILTERS:
                raise ValueError(f"unknown filter {step.name!r}; available: {', '.join(sorted(FILTERS))}")
            try:
                inspect.signature(FILTERS[step.name]).bind(None, None, **step.params)
            except TypeError as exc:
                raise ValueError(f"filter {step.name!r}: {exc}") from None
        return steps

    @field_validator("prompt_template")
    @classmethod
    def _has_prompt_slot(cls, template: str) -> str:
        if "{prompt}" not in template:
            raise ValueError("must contain {prompt}")
        template.format(prompt="")  # any other brace is a mistake; fail at cold start, not mid-job
        return template

    def render_prompt(self, prompt: str | None, plain_background: bool) -> str:
        text = self.prompt_template.format(prompt=prompt or self.default_subject)
        return f"{text}, {self.background_prompt}" if plain_background else text

    def render_instruction(self, plain_background: bool) -> str | None:
        if self.kontext_instruction is None or not plain_background:
            return self.kontext_instruction
        return f"{self.kontext_instruction} Place it {self.background_prompt}."

    def apply_filters(self, images: torch.Tensor, seeds: list[int], alpha: torch.Tensor | None = None) -> torch.Tensor:
        """The filter chain on ``(B, 3, H, W)`` colours; ``alpha`` (the matte) tells the filters where the pet is."""
        ctx = FilterContext(seeds=seeds, alpha=alpha)
        for step in self.filters:
            images = step.apply(images, ctx)
        return images

    def dry_run(self) -> None:
        """Run the chain on a small image, so a bad parameter value fails at cold start."""
        probe = torch.linspace(0, 1, 3 * 32 * 32).reshape(1, 3, 32, 32)
        result = self.apply_filters(probe, seeds=[0])
        if result.shape != probe.shape or not torch.isfinite(result).all():
            raise ValueError("the filter chain does not return a finite image of the input's shape")


def load_style(path: Path) -> Style:
    """One style file, its filter chain dry-run on a small image."""
    try:
        style = Style(name=path.stem.lower(), **tomllib.loads(path.read_text(encoding="utf-8")))
        style.dry_run()
        local = [(lora, path.parent / lora.source) for lora in style.loras]
        resolved = [
            lora.model_copy(update={"source": str(file.resolve())}) if file.exists() else lora for lora, file in local
        ]
        style = style.model_copy(update={"loras": resolved})
    except (tomllib.TOMLDecodeError, ValidationError, KeyError, ValueError, IndexError, TypeError, RuntimeError) as exc:
        raise CatalogError(str(exc)) from exc
    return style


def load_styles(*folders: Path | None) -> dict[str, Style]:
    """Every ``*.toml`` in the folders; a later folder's style replaces an earlier one of the same name."""
    styles = load_catalog(folders, "*.toml", load_style, lambda path: path.stem.lower(), "style file")
    if not styles:
        raise CatalogError("the style catalog is empty")
    return styles
