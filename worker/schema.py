"""The job contract: what ``job["input"]`` may hold, validated with field-level messages.

Names of styles and products come from catalogs loaded at cold start, passed in as validation context,
so adding a style file or a mockup template needs no change here.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from worker.errors import ErrorCode, WorkerError

MAX_SEED = 2**32 - 1
DESIGN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
Dimension = Annotated[int, Field(ge=256, le=2048, multiple_of=16)]
ECHO_LIMIT = 40  # the most of a caller's own text an error message repeats
MAX_REPORTED_ERRORS = 10  # an invalid job lists this many of its problems, then says how many more
PRINT_DPI = 300  # a design delivered at ``print_size`` says this resolution in its PNG


def scaled_to_long_edge(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """``(width, height)`` scaled, aspect kept, so that the longer side is ``long_edge`` pixels."""
    scale = long_edge / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shorten(text: str) -> str:
    """A caller's text as an error message quotes it: at most ``ECHO_LIMIT`` characters."""
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 3] + "..."


class JobInput(BaseModel):
    """One design job. Unknown fields are errors, and types are strict: ``"5"`` is not a number."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    design_id: str = Field(description="1-64 of A-Za-z0-9_-; becomes part of storage keys")
    style: str = Field(description="a style catalog name, case-insensitive")
    image: str | None = Field(None, min_length=1, description="https URL, data:image/...;base64 URI or base64")
    prompt: str | None = Field(None, min_length=1, max_length=1000)
    products: list[str] | None = Field(
        None, max_length=64, description="product names; default all, [] for the design only"
    )
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    steps: int | None = Field(None, ge=1, le=50)
    guidance: float | None = Field(None, ge=0, le=20)
    width: Dimension = 1024
    height: Dimension = 1024
    num_designs: int = Field(1, ge=1, le=4)
    transparent_background: bool = Field(True, description="plain background removed into an alpha matte")
    print_size: int | None = Field(None, ge=256, le=4096, description="long edge of the design PNG, at 300 DPI")
    mockup_format: Literal["jpeg", "webp", "png"] = "jpeg"
    mockup_quality: int = Field(90, ge=1, le=100, description="WebP/JPEG quality of the mockups")
    colors: dict[str, str] | None = Field(
        None, max_length=64, description="product -> colour variant, e.g. {'tshirt': 'black'}"
    )
    webhook_url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=2048)
    generate: bool = Field(True, description="false: the photo itself is the design, styled; no model runs")
    print_files: bool = Field(False, description="also store each product's print file: its print area at 300 DPI")

    @field_validator("design_id")
    @classmethod
    def _safe_design_id(cls, value: str) -> str:
        if not DESIGN_ID.fullmatch(value):
            raise PydanticCustomError("design_id", "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
        return value

    @field_validator("style")
    @classmethod
    def _known_style(cls, value: str, info: ValidationInfo) -> str:
        name = value.strip().lower()
        available = sorted((info.context or {}).get("styles", ()))
        if name not in available:
            raise PydanticCustomError(
                "unknown_style",
                "unknown style '{style}'; available: {available}",
                {"style": shorten(value), "available": ", ".join(available)},
            )
        return name

    @field_validator("products")
    @classmethod
    def _known_products(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        names = [name.strip().lower() for name in value]
        available = sorted((info.context or {}).get("products", ()))
        unknown = [name for name in names if name not in available]
        if unknown:
            raise PydanticCustomError(
                "unknown_product",
                "unknown product(s) {unknown}; available: {available}",
                {"unknown": shorten(", ".join(unknown)), "available": ", ".join(available) or "none yet"},
            )
        return list(dict.fromkeys(names))

    @field_validator("colors")
    @classmethod
    def _known_colors(cls, value: dict[str, str] | None, info: ValidationInfo) -> dict[str, str] | None:
        if value is None:
            return None
        catalog: dict[str, list[str]] = (info.context or {}).get("products", {})
        chosen = {product.strip().lower(): color.strip().lower() for product, color in value.items()}
        for product, color in chosen.items():
            if product not in catalog:
                raise PydanticCustomError(
                    "unknown_product", "unknown product '{product}'", {"product": shorten(product)}
                )
            if color not in catalog[product]:
                raise PydanticCustomError(
                    "unknown_color",
                    "{product} comes in {available}; not '{color}'",
                    {
                        "product": product,
                        "color": shorten(color),
                        "available": ", ".join(catalog[product]) or "one colour only",
                    },
                )
        return chosen

    @property
    def design_size(self) -> tuple[int, int]:
        """Width and height of each design as delivered: ``print_size`` on the long edge when asked for."""
        if self.print_size is None:
            return self.width, self.height
        return scaled_to_long_edge(self.width, self.height, self.print_size)

    @model_validator(mode="after")
    def _output_within_bounds(self, info: ValidationInfo) -> JobInput:
        limit = (info.context or {}).get("max_output_pixels")
        generated = self.width * self.height
        delivered = self.design_size[0] * self.design_size[1]
        total = self.num_designs * max(generated, delivered)
        if limit is not None and total > limit:
            raise PydanticCustomError(
                "too_many_pixels",
                "num_designs x the design size (width x height, or the print size) is {total} pixels; at most {limit}",
                {"total": total, "limit": limit},
            )
        return self

    @model_validator(mode="after")
    def _print_files_within_bounds(self, info: ValidationInfo) -> JobInput:
        context = info.context or {}
        limit, sizes = context.get("max_print_file_pixels"), context.get("print_file_pixels", {})
        if not self.print_files or limit is None:
            return self
        products = self.products if self.products is not None else list(sizes)
        total = self.num_designs * sum(sizes.get(product, 0) for product in products)
        if total > limit:
            raise PydanticCustomError(
                "too_many_print_pixels",
                "num_designs x the products' print areas at 300 DPI is {total} pixels; at most {limit}"
                " (MAX_PRINT_FILE_PIXELS): ask for fewer products or designs",
                {"total": total, "limit": limit},
            )
        return self

    @model_validator(mode="after")
    def _prompt_or_image(self, info: ValidationInfo) -> JobInput:
        photo_only = not self.generate or self.style in (info.context or {}).get("photo_styles", ())
        if photo_only and self.image is None:
            raise PydanticCustomError(
                "image_required", "required when no model runs (generate false, or a photo style)"
            )
        if photo_only and self.num_designs > 1:
            raise PydanticCustomError("one_design", "must be 1 when no model runs: the photo is the one design")
        if self.image is None and self.prompt is None:
            raise PydanticCustomError("prompt_required", "required when there is no image")
        return self


FIELD_OF_ERROR = {
    "prompt_required": "prompt",
    "image_required": "image",
    "one_design": "num_designs",
    "too_many_print_pixels": "print_files",
}


# Fields whose values an error never quotes: URLs carry signatures and tokens (a presigned image URL, a
# webhook's query string), and a field the schema does not know may be anything (an s3Config with its keys).
NEVER_QUOTED = frozenset({"image", "webhook_url"})
QUOTED_TYPES = (str, int, float, bool, type(None))  # a list or an object may hold anything
UNQUOTED_ERRORS = ("missing", "extra_forbidden", "unknown_style", "unknown_product", "unknown_color", "design_id")


def _describe(error: dict[str, Any]) -> dict[str, Any]:
    field = shorten(".".join(str(part) for part in error["loc"])) or FIELD_OF_ERROR.get(error["type"], "input")
    message = error["msg"]
    quoted = (  # the unknown-name errors quote the name themselves, shortened
        error["type"] not in (*UNQUOTED_ERRORS, *FIELD_OF_ERROR)
        and not (error["loc"] and error["loc"][0] in NEVER_QUOTED)
        and isinstance(error["input"], QUOTED_TYPES)
    )
    if quoted:
        message += f" (got {shorten(repr(error['input']))})"
    return {"field": field, "message": message}


def parse_job_input(
    raw: Any,
    styles: list[str],
    products: dict[str, list[str]],
    max_output_pixels: int | None = None,
    *,
    photo_styles: frozenset[str] = frozenset(),
    print_file_pixels: dict[str, int] | None = None,
    max_print_file_pixels: int | None = None,
) -> JobInput:
    """Validate ``job["input"]``; every problem becomes one ``invalid_input`` error listing all fields.

    ``products`` maps each product name of the mockup catalog to its colour variants, ``print_file_pixels``
    to the pixels of its print file; ``photo_styles`` are the styles that run no model.
    """
    if not isinstance(raw, dict):
        raise WorkerError(
            ErrorCode.INVALID_INPUT, "input must be a JSON object", [{"field": "input", "message": "must be an object"}]
        )
    try:
        context = {
            "styles": styles,
            "products": products,
            "max_output_pixels": max_output_pixels,
            "photo_styles": photo_styles,
            "print_file_pixels": print_file_pixels or {},
            "max_print_file_pixels": max_print_file_pixels,
        }
        return JobInput.model_validate(raw, context=context)
    except ValidationError as exc:
        details = [_describe(error) for error in exc.errors(include_url=False)[:MAX_REPORTED_ERRORS]]
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        if exc.error_count() > MAX_REPORTED_ERRORS:  # the caller's text stays bounded however many fields are bad
            summary += f"; and {exc.error_count() - MAX_REPORTED_ERRORS} more"
        raise WorkerError(ErrorCode.INVALID_INPUT, summary, details) from None
