"""Every setting of the worker, read once from the environment (see README.md, "Configuration")."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL_ID = "black-forest-labs/FLUX.1-schnell"


class Settings(BaseSettings):
    """Environment variables map to fields by name, case-insensitively (``MODEL_ID`` -> ``model_id``)."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", protected_namespaces=(), env_ignore_empty=True
    )

    model_id: str = Field(DEFAULT_MODEL_ID, description="Hugging Face repo id or local folder of a FLUX.1 model")
    model_revision: str | None = Field(None, description="branch, tag or commit of MODEL_ID on the Hub")
    kontext_model_id: str | None = Field(
        None, description="a FLUX.1-Kontext repo id or folder loaded beside MODEL_ID for photo jobs"
    )
    kontext_model_revision: str | None = Field(None, description="branch, tag or commit of KONTEXT_MODEL_ID")
    redux_model_id: str | None = Field(
        None, description="a FLUX.1-Redux repo id or folder: photo jobs without Kontext are conditioned on the photo"
    )
    redux_model_revision: str | None = Field(None, description="branch, tag or commit of REDUX_MODEL_ID")
    hf_hub_offline: bool = Field(False, description="load from the local cache only, as huggingface_hub does")
    device: str = Field("auto", description="auto (CUDA when present, else CPU), cuda, cuda:N or cpu")
    dtype: str = Field("auto", description="auto (bfloat16 on CUDA, float32 on CPU), bfloat16, float16, float32")

    output_dir: Path = Field(Path("outputs"), description="where images go when no bucket is configured")
    styles_dir: Path | None = Field(None, description="extra style files (*.toml) beside the built-in ones")
    mockups_dir: Path | None = Field(None, description="extra mockup templates (<product>/template.json)")

    allow_http_urls: bool = Field(False, description="accept http:// image URLs (local development and tests)")
    allow_private_urls: bool = Field(False, description="allow URLs to private/loopback addresses (local dev)")
    max_input_bytes: int = Field(20 * 1024 * 1024, gt=0, description="largest accepted input image, encoded")
    max_input_pixels: int = Field(40_000_000, gt=0, description="largest accepted input image, decoded pixels")
    max_output_pixels: int = Field(4 * 1024 * 1024 * 2, gt=0, description="num_designs x width x height, at most")
    max_print_file_pixels: int = Field(
        100_000_000, gt=0, description="print_files: num_designs x the products' print areas at 300 DPI, at most"
    )
    job_timeout_s: float = Field(600.0, gt=0, description="a job still running after this ends with 'timeout'")
    fault_injection: str = Field("", description="tests only: comma-separated faults (oom, nan, black, cuda_error)")
    input_fetch_timeout_s: float = Field(15.0, gt=0, description="connect and read timeout for image URLs")

    progress_interval_s: float = Field(1.0, ge=0, description="least time between two denoising progress updates")

    # --- speed (worker/generation/speed.py), checked and applied at cold start; defaults chosen by GPU measurement ---
    attention_backend: str = Field(
        "native", description="native, _native_cudnn, _native_flash, _native_efficient, _native_math or xformers"
    )
    compile: bool = Field(False, description="regional torch.compile of the transformer's repeated blocks")
    compile_cache_dir: Path | None = Field(None, description="where compiled artifacts are kept across restarts")
    quantize: Literal["none", "fp8"] = Field(
        "none", description="fp8: transformer in fp8 via torchao (changes outputs; needs COMPILE=1)"
    )
    step_cache: str = Field("none", description="none, first_block or taylorseer: diffusers' step-cache hooks")
    step_cache_threshold: float = Field(0.08, gt=0, le=1, description="first_block: relative change that recomputes")
    step_cache_interval: int = Field(4, ge=2, le=20, description="taylorseer: steps between full computations")
    fuse_qkv: bool = Field(False, description="fuse the attention's query/key/value projections (measured no gain)")
    vae_channels_last: bool = Field(False, description="VAE convolutions in channels-last layout (measured slower)")
    warmup_sizes: str = Field("", description="WIDTHxHEIGHT,... generated once at cold start")

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    # --- S3-compatible storage (enabled by a bucket name) ---
    s3_bucket: str | None = Field(None, validation_alias=AliasChoices("s3_bucket", "s3_bucket_name"))
    s3_endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("s3_endpoint_url", "bucket_endpoint_url"), description="R2, MinIO, ..."
    )
    s3_region: str | None = Field(None, description="the bucket's region; boto3's default chain when unset")
    s3_prefix: str = Field("", description="key prefix, e.g. 'designs' -> designs/<design_id>/design-0.png")
    s3_path_style: bool = Field(False, description="path-style addressing (MinIO, SeaweedFS)")
    s3_url_expires_s: int = Field(7 * 24 * 3600, gt=0, le=7 * 24 * 3600, description="presigned URL lifetime")
    s3_public_base_url: str | None = Field(None, description="CDN base URL: results link base + key, unsigned")
    s3_cache_control: str = Field(
        "public, max-age=31536000, immutable",
        description="Cache-Control of uploaded images (keys carry a content hash)",
    )
    s3_max_attempts: int = Field(5, ge=1, le=20, description="botocore retry attempts for transient errors")
    bucket_access_key_id: SecretStr | None = Field(None, description="RunPod's bucket credentials (optional)")
    bucket_secret_access_key: SecretStr | None = None

    # --- signed webhooks (Standard Webhooks) ---
    webhook_url: str | None = Field(None, description="where design events go when a job names no webhook_url")
    webhook_secret: SecretStr | None = Field(None, description="whsec_...; no secret, no webhooks")
    webhook_allowed_hosts: str = Field("", description="comma-separated hosts a job's own webhook_url may use")
    webhook_progress: bool = Field(False, description="also send design.progress events (at most one a second)")
    webhook_max_attempts: int = Field(5, ge=1, le=20)
    webhook_max_seconds: float = Field(60.0, gt=0, description="give up retrying a webhook after this long")
    webhook_timeout_s: float = Field(10.0, gt=0, description="connect and read timeout of one webhook attempt")

    # --- background matte and print upscaling (worker/style/), loaded at cold start ---
    matte_model: str | None = Field(
        None, description="BiRefNet-class background remover (hub id or local folder); unset: the colour matte"
    )
    matte_model_revision: str | None = Field(None, description="branch, tag or commit of MATTE_MODEL on the Hub")
    matte_resolution: int = Field(1024, ge=64, le=4096, description="the square size MATTE_MODEL runs at")
    upscaler_model: Path | None = Field(
        None, description="ESRGAN-class weights (.pth/.safetensors) for print sizes, via spandrel; unset: Lanczos"
    )
    upscaler_tile: int = Field(512, ge=64, le=2048, description="tile edge (input pixels) UPSCALER_MODEL runs on")

    @property
    def allowed_webhook_hosts(self) -> set[str]:
        return {host.strip().lower() for host in self.webhook_allowed_hosts.split(",") if host.strip()}

    # --- content safety (worker/safety/): the prompt before the GPU runs, every design before it is stored ---
    blocked_terms: str = Field("", description="comma-separated words or phrases refused in prompts, beside the list")
    blocked_terms_file: Path | None = Field(None, description="replaces the built-in list worker/safety/terms.txt")
    prompt_safety_model: str | None = Field(None, description="text-classification model (repo id or folder)")
    prompt_safety_labels: str = Field("toxic", description="comma-separated labels of it that count as unsafe")
    prompt_safety_threshold: float = Field(0.5, ge=0, le=1, description="a prompt scoring above this is refused")
    safety_model: str | None = Field(None, description="image-classification model for every design")
    safety_unsafe_labels: str = Field("nsfw", description="comma-separated labels of it that count as unsafe")
    safety_threshold: float = Field(0.5, ge=0, le=1, description="a design scoring above this is refused")
