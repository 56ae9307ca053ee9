"""Where every model runs and in what precision, decided once; and where its weights come from.

``DEVICE`` and ``DTYPE`` are resolved here, and nowhere else.

Cold start and the command-line entry points build one ``Runtime`` and pass it to every loader: FLUX.1,
the safety classifiers, the matte model and the upscaler. Each model's dtype is chosen here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worker.runtime.config import Settings

MARKERS = {"model_index.json": "not a diffusers model folder", "config.json": "not a transformers model folder"}
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``bfloat16``, as ``DTYPE`` spells it."""
    return str(dtype).removeprefix("torch.")


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


@dataclass(frozen=True)
class Runtime:
    """The device, and the dtype of each model on it."""

    device: torch.device
    dtype: torch.dtype  # FLUX.1 and the safety classifiers: DTYPE
    matte_dtype: torch.dtype  # MATTE_MODEL: half precision on the GPU (BiRefNet's own guidance), else float32
    upscaler_half: bool  # UPSCALER_MODEL in float16, where its architecture supports it: on the GPU only

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        device = resolve_device(settings.device)
        cuda = device.type == "cuda"
        return cls(
            device=device,
            dtype=resolve_dtype(settings.dtype, device),
            matte_dtype=torch.float16 if cuda else torch.float32,
            upscaler_half=cuda,
        )


def names_a_folder(model_id: str) -> bool:
    """An id that names a local path: absolute, ``./``, ``~``, or whose first part is a local folder."""
    parts = Path(model_id).parts
    return (
        model_id.startswith(("/", ".", "~"))
        or Path(model_id).expanduser().is_dir()
        or (len(parts) > 1 and Path(parts[0]).is_dir())
    )


def model_source(
    setting: str, model_id: str, revision: str | None, settings: Settings, marker: str, hint: str
) -> dict[str, Any]:
    """The ``from_pretrained`` source arguments of the model that ``setting`` names.

    An id naming a local folder must hold ``marker`` (``model_index.json`` for diffusers, ``config.json`` for
    transformers): said at once, with ``hint``, instead of being tried as a Hub repo id for half a minute. A
    local folder, or ``HF_HUB_OFFLINE=1``, never touches the network.
    """
    path = Path(model_id).expanduser()
    if names_a_folder(model_id) and not (path / marker).is_file():
        what = "does not exist" if not path.exists() else f"has no {marker} ({MARKERS[marker]})"
        raise FileNotFoundError(f"{setting}={model_id} names a local folder, and {path} {what}; {hint}")
    return {"revision": revision, "local_files_only": path.is_dir() or settings.hf_hub_offline}
