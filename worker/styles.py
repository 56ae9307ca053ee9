"""The style catalog: one TOML file per style, so a new style is a new file, not new code.

A style file (``worker/styles/<name>.toml``, or ``STYLES_DIR``) holds::

    display_name = "Pop Art"
    prompt_template = "{prompt}, pop art screen print ..."   # {prompt}: the job's prompt or default_subject
    default_subject = "the pet in the photo"                   # used when the job has an image and no prompt
    strength = 0.75                 # image-to-image: how far the design may move away from the photo
    kontext_instruction = "Turn ..." # used instead of img2img when the model is a Kontext model
    steps = 6                       # optional overrides of the model family's defaults
    guidance = 4.0
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

BUILTIN_STYLES_DIR = Path(__file__).parent / "styles"


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

    @field_validator("prompt_template")
    @classmethod
    def _has_prompt_slot(cls, template: str) -> str:
        if "{prompt}" not in template:
            raise ValueError("must contain {prompt}")
        template.format(prompt="")  # any other brace is a mistake; fail at cold start, not mid-job
        return template

    def render_prompt(self, prompt: str | None) -> str:
        return self.prompt_template.format(prompt=prompt or self.default_subject)


class CatalogError(ValueError):
    """A style file that cannot be used; raised at cold start so the fitness check fails."""


def load_styles(*folders: Path | None) -> dict[str, Style]:
    """Read every ``*.toml`` in the folders; a later folder's style replaces an earlier one of the same name."""
    styles: dict[str, Style] = {}
    for folder in folders:
        if folder is None:
            continue
        if not folder.is_dir():
            raise CatalogError(f"styles folder {folder} does not exist")
        for path in sorted(folder.glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                styles[path.stem.lower()] = Style(name=path.stem.lower(), **data)
            except (tomllib.TOMLDecodeError, ValidationError, KeyError, ValueError, IndexError) as exc:
                raise CatalogError(f"style file {path}: {exc}") from exc
    if not styles:
        raise CatalogError("the style catalog is empty")
    return styles
