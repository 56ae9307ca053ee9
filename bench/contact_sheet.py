"""The whole catalogue at a glance: photos through every style and onto every product, in one image.

    python -m bench.contact_sheet PHOTO [PHOTO ...] [--out contact-sheet.png] [--size 768] [--cell 256]
                                  [--products a,b] [--styles a,b]

Each photo stands in for the generated design, as in a ``generate: false`` preview job: each style's
stage runs on it as on a design (background matte, then the filter chain), and the result is placed and
composited onto every product template the worker loads (``mockups/`` and ``MOCKUPS_DIR``), in each
product's default colour, through the same fit as a job's. One row per photo and style; the first column
is the design itself over a checkerboard (what is transparent shows), its row label says whether the
background was removed or why it was kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont, ImageOps

from worker.mockups.composite import MockupRequest, composite_mockups
from worker.mockups.fit import design_layouts
from worker.mockups.templates import BUILTIN_MOCKUPS_DIR, load_templates
from worker.runtime.config import Settings
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles
from worker.style.stylize import stylize

LABEL_WIDTH = 200
HEADER = 28
INK = (30, 30, 30)


def read_photo(path: Path, long_edge: int) -> torch.Tensor:
    picture = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    picture.thumbnail((long_edge, long_edge), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1).unsqueeze(0).float() / 255


def checkerboard(height: int, width: int, square: int = 12) -> torch.Tensor:
    ys, xs = torch.arange(height).view(-1, 1) // square, torch.arange(width).view(1, -1) // square
    return torch.where((ys + xs) % 2 == 0, 0.82, 0.97).expand(3, height, width)


def fit_cell(image: torch.Tensor, cell: int) -> torch.Tensor:
    """``(3, H, W)`` scaled to fit a ``cell`` square (aspect kept), centred on white."""
    height, width = image.shape[-2:]
    scale = cell / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = F.interpolate(image.unsqueeze(0), size=size, mode="area")[0]
    canvas = torch.ones(3, cell, cell)
    top, left = (cell - size[0]) // 2, (cell - size[1]) // 2
    canvas[:, top : top + size[0], left : left + size[1]] = small
    return canvas


def over_checkerboard(rgba: torch.Tensor) -> torch.Tensor:
    alpha = rgba[3:]
    return rgba[:3] * alpha + checkerboard(*rgba.shape[-2:]) * (1 - alpha)


def to_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray((image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def wrap(text: str, width: int = 26) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def render_sheet(
    photos: list[torch.Tensor],
    cell: int = 256,
    products: list[str] | None = None,
    settings: Settings | None = None,
    style_names: list[str] | None = None,
) -> Image.Image:
    """Every photo in every style (rows) by the design and every product (columns; ``products`` picks some)."""
    settings = settings or Settings()
    styles = load_styles(BUILTIN_STYLES_DIR, settings.styles_dir)
    templates = load_templates(BUILTIN_MOCKUPS_DIR, settings.mockups_dir, device=torch.device("cpu"))
    products = products or sorted(templates)
    requests = [MockupRequest(name, templates[name].default_color) for name in products]
    rows = [(photo, name) for photo in photos for name in (style_names or sorted(styles))]

    sheet = Image.new("RGB", (LABEL_WIDTH + cell * (1 + len(products)), HEADER + cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    small_font = ImageFont.load_default(size=12)
    for column, title in enumerate(["design", *products]):
        draw.text((LABEL_WIDTH + column * cell + 8, 6), title, fill=INK, font=font)
    for row, (photo, name) in enumerate(rows):
        styled = stylize(photo, styles[name], seeds=[row], transparent_background=True, print_size=None)
        layouts = design_layouts(styled.images, styled.subjects)
        mockups = composite_mockups(styled.images, templates, requests, layouts)
        top = HEADER + row * cell
        sheet.paste(to_pil(fit_cell(over_checkerboard(styled.images[0]), cell)), (LABEL_WIDTH, top))
        for column, mockup in enumerate(mockups, start=1):
            photo_floats = mockup[0].permute(2, 0, 1).float() / 255  # (H, W, 3) uint8 as the worker stores it
            sheet.paste(to_pil(fit_cell(photo_floats, cell)), (LABEL_WIDTH + column * cell, top))
        report = styled.backgrounds[0]
        note = "background removed" if report.removed else f"background kept: {report.reason}"
        draw.text((10, top + 10), styles[name].display_name, fill=INK, font=font)
        for i, line in enumerate(wrap(note)):
            draw.text((10, top + 36 + 16 * i), line, fill=(90, 90, 90), font=small_font)
    return sheet


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("contact-sheet.png"), help="PNG or JPEG (by suffix)")
    parser.add_argument("--size", type=int, default=768, help="the design's long edge in pixels (default 768)")
    parser.add_argument("--cell", type=int, default=256, help="each picture's square on the sheet (default 256)")
    parser.add_argument("--products", default="", help="comma-separated products (default: every template)")
    parser.add_argument("--styles", default="", help="comma-separated styles (default: every style)")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.products.split(",") if name.strip()] or None
    styles = [name.strip() for name in args.styles.split(",") if name.strip()] or None
    photos = [read_photo(path, args.size) for path in args.photos]
    sheet = render_sheet(photos, args.cell, chosen, style_names=styles)
    sheet.save(args.out, quality=85) if args.out.suffix.lower() in (".jpg", ".jpeg") else sheet.save(args.out)
    print(f"{args.out}: {sheet.width}x{sheet.height}")


if __name__ == "__main__":
    main()
