"""The style stage: background matte, the style's filter chain, and the print size, all on the device.

``stylize`` returns the print-ready designs and, per design, a ``BackgroundReport``: whether the
background was removed, by what, and why not when it was kept (for the job result).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worker.mockups.fit import WHOLE, Box, opaque_box
from worker.runtime.config import Settings
from worker.runtime.devices import Runtime
from worker.schema import scaled_to_long_edge
from worker.style.catalog import Style
from worker.style.matte import BackgroundReport, MatteModel, matte
from worker.style.matte_model import load_matte_model
from worker.style.upscale import LearnedUpscaler, load_upscaler, premultiplied_resize

TRANSPARENCY_OFF = BackgroundReport(False, "none", "transparent_background is off")


@dataclass(frozen=True)
class FinishingModels:
    """The optional learned models of the style stage, loaded once at cold start."""

    matte: MatteModel | None = None
    upscaler: LearnedUpscaler | None = None


def load_finishing_models(settings: Settings, runtime: Runtime) -> FinishingModels:
    """``MATTE_MODEL`` and ``UPSCALER_MODEL``, each None when unset."""
    return FinishingModels(matte=load_matte_model(settings, runtime), upscaler=load_upscaler(settings, runtime))


@dataclass(frozen=True)
class StyledDesigns:
    images: torch.Tensor  # (B, 4, H', W') RGBA in [0, 1]
    backgrounds: list[BackgroundReport]  # one per design
    subjects: list[Box]  # one per design: where the pet is, so no product crops it (all of it when unknown)


def resize_long_edge(rgba: torch.Tensor, long_edge: int, upscaler: LearnedUpscaler | None = None) -> torch.Tensor:
    """Resize so the longer side is ``long_edge``, keeping the aspect ratio: the learned upscaler when one
    is loaded and the design grows, else Lanczos-3 (on premultiplied colours; alpha always by Lanczos)."""
    height, width = rgba.shape[-2:]
    new_width, new_height = scaled_to_long_edge(width, height, long_edge)
    size = (new_height, new_width)
    if size == (height, width):
        return rgba
    grows = size[0] > height
    return premultiplied_resize(rgba, size, upscaler if grows and upscaler is not None else None)


def stylize(
    designs: torch.Tensor,
    style: Style,
    seeds: list[int],
    transparent_background: bool,
    print_size: int | None,
    models: FinishingModels | None = None,
) -> StyledDesigns:
    """``(B, 3, H, W)`` generated designs to ``(B, 4, H', W')`` print-ready RGBA designs and their reports.

    The matte is taken from the generated picture (its plain background), before the filters add texture;
    the filters run on its colours (outline pixels unmixed from the removed backdrop). When the background is
    kept, the matte still says where the pet is, so the mockups can fill a product without cropping it.
    """
    models = models or FinishingModels()
    with torch.inference_mode():
        cut = matte(designs, models.matte)
        subjects = [opaque_box(a[0]) if r.removed else WHOLE for a, r in zip(cut.alpha, cut.reports, strict=True)]
        if transparent_background:
            colours, alpha, reports = cut.colours, cut.alpha, cut.reports
        else:
            colours, alpha = designs, torch.ones_like(designs[:, :1])
            reports = [TRANSPARENCY_OFF] * designs.shape[0]
        styled = torch.cat([style.apply_filters(colours, seeds, cut.alpha), alpha], dim=1)
        if print_size is not None:
            styled = resize_long_edge(styled, print_size, models.upscaler)
        return StyledDesigns(styled, reports, subjects)
