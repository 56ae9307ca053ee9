"""Print files: each product's print area at its size on the product and ``PRINT_DPI``, the design placed
on it exactly as on the mockup (the same fit, ``worker/mockups/fit.py``): what a print shop prints from.

A print file is large (an adult tee's 12 x 16 in front is 17 MP), so it is drawn in bands of rows on the
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
    print_area_in: tuple[float, float]


def print_file_size(template: MockupTemplate) -> tuple[int, int]:
    """Width and height in pixels of ``template``'s print file."""
    width_in, height_in = template.print_area_in
    return round(width_in * PRINT_DPI), round(height_in * PRINT_DPI)


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
            source = shrunk_to_fit(premultiplied, fits, width)
            blurred = backfill_source(source) if any(fit.backfill for fit in fits) else None
            pixels = np.empty((designs.shape[0], height, width, 4), dtype=np.uint8)
            u = (torch.arange(width, device=designs.device, dtype=torch.float32) + 0.5) / width
            for top in range(0, height, BAND_ROWS):
                rows = torch.arange(top, min(top + BAND_ROWS, height), device=designs.device, dtype=torch.float32)
                v = (rows + 0.5) / height
                uv = torch.stack(torch.meshgrid(u, v, indexing="xy"), dim=-1)
                band = sample_print(source, fits, uv, blurred)
                alpha = band[:, 3:]
                straight = band[:, :3] / alpha.clamp(min=1e-6)
                pixels[:, top : top + len(rows)] = to_host_pixels(torch.cat([straight, alpha], dim=1))
            files += [PrintFile(product, i, pixels[i], template.print_area_in) for i in range(designs.shape[0])]
    return files
