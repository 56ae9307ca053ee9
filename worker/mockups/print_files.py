"""Print files: each product's print area at its size on the product and ``PRINT_DPI``, the design placed
on it exactly as on the mockup (the same fit, ``worker/mockups/fit.py``): what a print shop prints from.

Where the shop prints more than the mockup shows (a mug's wrap, ``print_file`` in ``template.json``), the
file is that larger area, the design on the shown part and the rest left transparent: the print is exactly
what the mockup promised. A print file is large (an adult tee's 12 x 16 in front is 17 MP), so it is drawn in bands of rows on the
device, each quantised to 8 bits before it crosses to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from worker.delivery.encode import to_host_pixels
from worker.mockups.composite import fit_designs
from worker.mockups.fit import DesignLayout, backfill_source, premultiply, sample_print, shrunk_to_fit
from worker.mockups.templates import MockupTemplate
from worker.schema import PRINT_DPI

BAND_ROWS = 512


@dataclass(frozen=True)
class PrintFile:
    product: str
    design_index: int
    pixels: np.ndarray  # (H, W, 4) straight-alpha RGBA, uint8
    size_in: tuple[float, float]  # the file's width and height on the product


def print_file_size(template: MockupTemplate) -> tuple[int, int]:
    """Width and height in pixels of ``template``'s print file."""
    width_in, height_in = template.print_file.size_in
    return round(width_in * PRINT_DPI), round(height_in * PRINT_DPI)


def print_area_coordinates(template: MockupTemplate, pixels: torch.Tensor, axis: int) -> torch.Tensor:
    """The print file's pixel columns (``axis`` 0) or rows (1) -> the shown print area's u or v (0 to 1 on it)."""
    at_in, area_in = template.print_file.area_at_in[axis], template.print_area_in[axis]
    return ((pixels + 0.5) / PRINT_DPI - at_in) / area_in


def render_print_files(
    designs: torch.Tensor, layouts: list[DesignLayout], templates: dict[str, MockupTemplate], products: list[str]
) -> list[PrintFile]:
    """``(B, 4, h, w)`` straight-alpha designs -> each product's print file of each design, product by product."""
    files = []
    with torch.inference_mode():
        premultiplied = premultiply(designs)
        for product in products:
            template = templates[product]
            width, height = print_file_size(template)
            fits = fit_designs(premultiplied, template, layouts)
            source = shrunk_to_fit(premultiplied, fits, template.print_area_in[0] * PRINT_DPI)
            blurred = backfill_source(source) if any(fit.backfill for fit in fits) else None
            pixels = np.empty((designs.shape[0], height, width, 4), dtype=np.uint8)
            u = print_area_coordinates(template, torch.arange(width, device=designs.device, dtype=torch.float32), 0)
            for top in range(0, height, BAND_ROWS):
                rows = torch.arange(top, min(top + BAND_ROWS, height), device=designs.device, dtype=torch.float32)
                uv = torch.stack(torch.meshgrid(u, print_area_coordinates(template, rows, 1), indexing="xy"), dim=-1)
                shown = ((uv >= 0) & (uv <= 1)).all(-1)
                band = sample_print(source, fits, uv, blurred) * shown
                alpha = band[:, 3:]
                straight = band[:, :3] / alpha.clamp(min=1e-6)
                pixels[:, top : top + len(rows)] = to_host_pixels(torch.cat([straight, alpha], dim=1))
            files += [PrintFile(product, i, pixels[i], template.print_file.size_in) for i in range(designs.shape[0])]
    return files
