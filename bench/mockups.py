"""Mockup compositing speed: six products from one 1024x1024 design, worker versus plain Pillow.

    python -m bench.mockups [--repeats 5]

The worker composites on CUDA when present, else the CPU (compositing only; encoding is timed on its
own), sampling the design through each built-in template's rendered UV pass. The Pillow reference does
what one would write by hand: Image.transform with PERSPECTIVE onto each print area's bounding box (a
flat stand-in for the UV map, so it does less work than the worker), then ImageChops.multiply for
shading and screen for highlights.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageChops

from bench.timing import add_common_arguments, machine_description, median_seconds
from worker.delivery.encode import encode_image
from worker.mockups.composite import MockupRequest, composite_mockups
from worker.mockups.templates import BUILTIN_MOCKUPS_DIR, load_templates


def perspective_coefficients(output_quad: list, input_size: tuple[int, int]) -> list[float]:
    """Coefficients for Image.transform: output pixel -> input pixel, quad -> the design's rectangle."""
    w, h = input_size
    rows, rhs = [], []
    for (x, y), (u, v) in zip(output_quad, [(0, 0), (w, 0), (w, h), (0, h)], strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return list(np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


def print_quad(spec: dict, folder: Path) -> list:
    p = spec["placement"]
    if p["kind"] == "uv":
        with Image.open(folder / spec["assets"]["mask"]) as mask:
            left, top, right, bottom = mask.getbbox()
        return [[left, top], [right, top], [right, bottom], [left, bottom]]
    if p["kind"] != "cylinder":
        return p["corners"]
    half = math.radians(min(p["arc_degrees"], 180) / 2)
    left, right = p["axis_x"] - p["radius"] * math.sin(half), p["axis_x"] + p["radius"] * math.sin(half)
    return [[left, p["top"]], [right, p["top"]], [right, p["bottom"]], [left, p["bottom"]]]


class PillowMockups:
    def __init__(self) -> None:
        self.products = []
        for folder in sorted(BUILTIN_MOCKUPS_DIR.glob("*/template.json")):
            spec = json.loads(folder.read_text())
            assets = spec["assets"]
            base = Image.open(folder.parent / assets["base"]).convert("RGB")

            def load(name: str | None, fill: int, base=base, root=folder.parent) -> Image.Image:
                if name is None:
                    return Image.new("L", base.size, fill)
                return Image.open(root / name).convert("L").resize(base.size)

            self.products.append(
                (
                    base,
                    load(assets["mask"], 0),
                    load(assets.get("shading"), 255),
                    load(assets.get("highlight"), 0),
                    print_quad(spec, folder.parent),
                )
            )

    def run(self, design: Image.Image) -> list[Image.Image]:
        out = []
        for base, mask, shading, highlight, quad in self.products:
            coefficients = perspective_coefficients(quad, design.size)
            warped = design.transform(base.size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR)
            rgb, alpha = warped.convert("RGB"), warped.getchannel("A")
            ink = ImageChops.screen(ImageChops.multiply(rgb, shading.convert("RGB")), highlight.convert("RGB"))
            out.append(Image.composite(ink, base, ImageChops.multiply(alpha, mask)))
        return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    args = parser.parse_args(argv)

    templates = load_templates(BUILTIN_MOCKUPS_DIR, device=torch.device(args.device))
    requests = [MockupRequest(name, t.default_color) for name, t in templates.items()]
    design = torch.rand(1, 4, args.size, args.size, generator=torch.Generator().manual_seed(0))
    design[:, 3] = (design[:, 3] > 0.2).float()
    on_device = design.to(args.device)
    as_image = Image.fromarray((design[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8), "RGBA")
    pillow = PillowMockups()

    ours = median_seconds(lambda: composite_mockups(on_device, templates, requests), args.repeats, device=args.device)
    theirs = median_seconds(lambda: pillow.run(as_image), max(1, args.repeats // 2))
    mockups = torch.cat(composite_mockups(on_device, templates, requests)).cpu().numpy()
    encode = {
        fmt: median_seconds(lambda f=fmt: [encode_image(m, f, 90) for m in mockups], max(1, args.repeats // 2))
        for fmt in ("webp", "jpeg", "png")
    }

    sizes = sorted({f"{t.size[0]}x{t.size[1]}" for t in templates.values()})
    print(
        f"six mockups ({', '.join(sizes)}) from one {args.size}x{args.size} design, compositing only, "
        f"median of {args.repeats}"
    )
    print(f"worker on {args.device}: {machine_description(args.device)}")
    print(f"worker compositing:  {ours * 1000:8.1f} ms")
    print(f"Pillow compositing:  {theirs * 1000:8.1f} ms  ({theirs / ours:.1f}x the worker's time)")
    for fmt, seconds in encode.items():
        print(f"encoding six {fmt:<5} {seconds * 1000:8.1f} ms  (one after another, worker settings)")


if __name__ == "__main__":
    main()
