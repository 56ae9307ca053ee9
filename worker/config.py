"""Every setting of the worker, read once from the environment (see README.md, "Configuration")."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_ID = "black-forest-labs/FLUX.1-schnell"


class Settings(BaseSettings):
    """Environment variables map to fields by name, case-insensitively (``MODEL_ID`` -> ``model_id``)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", protected_namespaces=())

    model_id: str = Field(DEFAULT_MODEL_ID, description="Hugging Face repo id or local folder of a FLUX.1 model")
    model_revision: str | None = Field(None, description="branch, tag or commit of MODEL_ID on the Hub")
    hf_hub_offline: bool = Field(False, description="load from the local cache only, as huggingface_hub does")
    device: str = Field("auto", description="auto (CUDA when present, else CPU), cuda, cuda:N or cpu")
    dtype: str = Field("auto", description="auto (bfloat16 on CUDA, float32 on CPU), bfloat16, float16, float32")

    output_dir: Path = Field(Path("outputs"), description="where images go when no bucket is configured")
    styles_dir: Path | None = Field(None, description="extra style files (*.toml) beside the built-in ones")
    mockups_dir: Path | None = Field(None, description="extra mockup templates (<product>/template.json)")

    allow_http_urls: bool = Field(False, description="accept http:// image URLs (local development and tests)")
    max_input_bytes: int = Field(20 * 1024 * 1024, gt=0, description="largest accepted input image, encoded")
    input_fetch_timeout_s: float = Field(15.0, gt=0, description="connect and read timeout for image URLs")

    progress_interval_s: float = Field(1.0, ge=0, description="least time between two denoising progress updates")

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
