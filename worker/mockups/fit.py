"""Where a design goes on a product's print area, decided once and used for the mockup and the print file.

The rules are a print shop's:

- a design is trimmed to its opaque part before it is fitted, so transparent margins never shrink the pet;
- a cut-out (its background removed) is always printed whole: ``contain``, at the template's ``align``;
- ``cover`` (phone case, poster, mug) fills the print area edge to edge only as far as that crops nothing of
  the subject; where the design then stops short of an edge, the template's ``backfill`` says what shows:
  ``photo``, a colour field made from the design (its colours, blurred to a wash) into which the design's
  edge dissolves, so the product is still printed edge to edge; or ``none``: the design whole and centred
  with an even margin of the product itself all round (a poster's paper, as a mat round a framed print);
- proportions come from the print area's size on the product (``print_area_in``), never from the photo.

A fit is, per design, the window of the design that is fitted (fractions of its width and height), its
``extent`` in print-area units (1 = the print area's width or height) and its ``offset`` there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worker.mockups.templates import Fill

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of a design's width and height
WHOLE: Box = (0.0, 0.0, 1.0, 1.0)
INK = 0.02  # the least alpha that counts as printed when a design is trimmed
SUBJECT_MARGIN = 0.03  # of the design's size, kept around the subject so no edge touches it
BACKFILL_EDGE = 6  # the blurred fill is the design at this many pixels on its long edge, enlarged: a colour field
MAT = 0.07  # with ``backfill: none``: the margin round a print that cannot fill its area, of the area's short side
FEATHER = 0.08  # of the design's width or height: how far in from its edge it dissolves into the colour field


@dataclass(frozen=True)
class DesignLayout:
    """What fitting needs to know of one design."""

    opaque: Box  # the part with ink: the window that is fitted
    subject: Box  # the part no product may crop
    cut_out: bool  # the background was removed: printed whole, on the product's own colour


def premultiply(designs: torch.Tensor) -> torch.Tensor:
    """``(B, 4, H, W)`` straight alpha -> premultiplied, what the fit samples (edges then blend cleanly)."""
    return torch.cat([designs[:, :3] * designs[:, 3:], designs[:, 3:]], dim=1)


def opaque_box(alpha: torch.Tensor) -> Box:
    """The bounding box of ``(H, W)`` alpha above ``INK``, as fractions; the whole design when nothing is."""
    height, width = alpha.shape
    inked = alpha > INK
    columns, rows = inked.any(0).nonzero(), inked.any(1).nonzero()
    if len(columns) == 0:
        return WHOLE
    return (
        int(columns[0]) / width,
        int(rows[0]) / height,
        (int(columns[-1]) + 1) / width,
        (int(rows[-1]) + 1) / height,
    )


def design_layouts(designs: torch.Tensor, subjects: list[Box] | None = None) -> list[DesignLayout]:
    """Each ``(B, 4, H, W)`` design's layout: a design with any transparency is a cut-out, its subject all it
    inks; an opaque design's subject is ``subjects[i]`` (what the matte found), else all of it."""
    layouts = []
    for i, alpha in enumerate(designs[:, 3]):
        opaque = opaque_box(alpha)
        cut_out = bool((alpha < 1 - INK).any())
        subject = opaque if cut_out or subjects is None else subjects[i]
        layouts.append(DesignLayout(opaque, subject, cut_out))
    return layouts


@dataclass(frozen=True)
class PrintFit:
    """One design on one print area, in print-area units (u, v in [0, 1])."""

    window: Box  # the part of the design that is fitted
    extent: tuple[float, float]  # the window's width and height on the print area
    offset: tuple[float, float]  # where the window's top-left corner lands
    backfill: tuple[float, float, float, float] | None  # (extent, offset) of the blurred fill, when needed
    feather: tuple[float, float] = (0.0, 0.0)  # per axis, in window fractions: the edge dissolving into the fill

    def grid(self, uv: torch.Tensor) -> torch.Tensor:
        """Print ``(..., 2)`` u, v -> the design's coordinates in ``grid_sample``'s [-1, 1]."""
        x0, y0, x1, y1 = self.window
        return window_grid(uv, (x0, y0), (x1 - x0, y1 - y0), self.extent, self.offset)

    def backfill_grid(self, uv: torch.Tensor) -> torch.Tensor:
        assert self.backfill is not None
        width, height, left, top = self.backfill
        return window_grid(uv, (0.0, 0.0), (1.0, 1.0), (width, height), (left, top))


def window_grid(
    uv: torch.Tensor,
    start: tuple[float, float],
    size: tuple[float, float],
    extent: tuple[float, float],
    offset: tuple[float, float],
) -> torch.Tensor:
    """u, v -> design fraction ``start + (uv - offset) * size / extent`` -> ``2 * fraction - 1``: one
    multiply-add per pixel."""
    stretch = torch.tensor([2 * size[0] / extent[0], 2 * size[1] / extent[1]], device=uv.device, dtype=uv.dtype)
    shift = torch.tensor(
        [2 * start[i] - offset[i] * (2 * size[i] / extent[i]) - 1 for i in (0, 1)], device=uv.device, dtype=uv.dtype
    )
    return torch.addcmul(shift, uv, stretch)


def fit_design(
    layout: DesignLayout, design_size: tuple[int, int], print_area: tuple[float, float], fill: Fill
) -> PrintFit:
    """Where one design of ``design_size`` (width, height in pixels) goes on a print area of that size."""
    x0, y0, x1, y1 = layout.opaque
    window_w, window_h = (x1 - x0) * design_size[0], (y1 - y0) * design_size[1]
    area_w, area_h = print_area
    contain = min(area_w / window_w, area_h / window_h)  # print-area units per design pixel
    cover = max(area_w / window_w, area_h / window_h)
    edge_to_edge = fill.mode == "cover" and not layout.cut_out
    subject = padded(layout.subject, layout.opaque)
    if edge_to_edge:
        subject_w, subject_h = (subject[2] - subject[0]) * design_size[0], (subject[3] - subject[1]) * design_size[1]
        scale = min(max(min(area_w / subject_w, area_h / subject_h), contain), cover)
    else:
        scale = contain
    extent = (window_w * scale / area_w, window_h * scale / area_h)
    if edge_to_edge and fill.backfill == "none" and min(extent) < 1 - 1e-6:
        return matted(layout.opaque, (window_w, window_h), print_area)
    if not edge_to_edge:
        offset = tuple(fill.align[i] * (1 - extent[i]) for i in (0, 1))
        return PrintFit(layout.opaque, extent, offset, None)
    focus = centre(subject) if fill.focus == "subject" else fill.focus
    offset = []
    for i in (0, 1):  # in the window's own fractions, then print-area units
        start, size = layout.opaque[i], layout.opaque[i + 2] - layout.opaque[i]
        focus_at, first, last = ((value - start) / size * extent[i] for value in (focus[i], subject[i], subject[i + 2]))
        covering = min(max(0.5 - focus_at, 1 - extent[i]), 0.0) if extent[i] >= 1 else (1 - extent[i]) / 2
        offset.append(min(max(covering, -first), 1 - last))  # the subject's edges stay on the print area
    if min(extent) >= 1 - 1e-6 or fill.backfill == "none":
        return PrintFit(layout.opaque, extent, (offset[0], offset[1]), None)
    whole_w, whole_h = design_size
    fill_scale = max(area_w / whole_w, area_h / whole_h)
    fill_extent = (whole_w * fill_scale / area_w, whole_h * fill_scale / area_h)
    fill_offset = [min(max(0.5 - focus[i] * fill_extent[i], 1 - fill_extent[i]), 0.0) for i in (0, 1)]
    feather = tuple(edge_feather(layout, i) if extent[i] < 1 - 1e-6 else 0.0 for i in (0, 1))
    return PrintFit(layout.opaque, extent, (offset[0], offset[1]), (*fill_extent, *fill_offset), feather)


def matted(window: Box, window_size: tuple[float, float], print_area: tuple[float, float]) -> PrintFit:
    """The whole window, centred, with a margin of ``MAT`` of the print area's short side all round: a print
    on a larger sheet, as framed photographs are, where it cannot fill the area without cropping its subject."""
    margin = MAT * min(print_area)
    scale = min((print_area[i] - 2 * margin) / window_size[i] for i in (0, 1))
    extent = (window_size[0] * scale / print_area[0], window_size[1] * scale / print_area[1])
    return PrintFit(window, extent, ((1 - extent[0]) / 2, (1 - extent[1]) / 2), None)


def edge_feather(layout: DesignLayout, axis: int) -> float:
    """How far in from the window's edges (a fraction of it, along ``axis``) the design dissolves into the fill:
    ``FEATHER``, but never into a subject the matte found (a design whose subject is all of it, unknown, has
    its outermost ``FEATHER`` dissolve: a soft edge, nothing cut)."""
    if layout.subject == layout.opaque:
        return FEATHER
    start, end = layout.opaque[axis], layout.opaque[axis + 2]
    subject = padded(layout.subject, layout.opaque)
    room = min(subject[axis] - start, end - subject[axis + 2]) / (end - start)
    return max(0.0, min(FEATHER, room))


def padded(subject: Box, window: Box) -> Box:
    """The subject with ``SUBJECT_MARGIN`` around it, inside the window."""
    m = SUBJECT_MARGIN
    return (
        max(subject[0] - m, window[0]),
        max(subject[1] - m, window[1]),
        min(subject[2] + m, window[2]),
        min(subject[3] + m, window[3]),
    )


def centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def sample_print(premultiplied: torch.Tensor, fits: list[PrintFit], uv: torch.Tensor, blurred: torch.Tensor | None):
    """``(B, 4, h, w)`` premultiplied designs seen through ``(H, W, 2)`` print-area u, v: ``(B, 4, H, W)``.

    ``blurred`` is ``backfill_source(premultiplied)`` when any fit needs a fill, drawn under the design.
    """
    grid = torch.stack([fit.grid(uv) for fit in fits])
    # align_corners: the design's outermost pixel centres sit on its edges, so a cover fill stays opaque right
    # up to the print area's edge; beyond the design's edge, the zero padding fades it out within a pixel.
    placed = F.grid_sample(premultiplied, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    for i, fit in enumerate(fits):
        if fit.backfill is not None and blurred is not None:
            placed[i : i + 1] *= dissolve(grid[i], fit)
            under = F.grid_sample(
                blurred[i : i + 1],
                fit.backfill_grid(uv)[None],
                mode="bilinear",
                padding_mode="zeros",
                align_corners=True,
            )
            placed[i : i + 1] += under * (1 - placed[i : i + 1, 3:])
    return placed


def dissolve(grid: torch.Tensor, fit: PrintFit) -> torch.Tensor:
    """``(1, 1, H, W)``: 1 inside the window, falling to 0 at its edges over ``fit.feather`` of it."""
    weight = torch.ones_like(grid[..., 0])
    for axis in (0, 1):
        if fit.feather[axis] > 0:
            low, high = 2 * fit.window[axis] - 1, 2 * fit.window[axis + 2] - 1  # the window in grid units
            inside = torch.minimum(grid[..., axis] - low, high - grid[..., axis])
            weight = weight * (inside / (fit.feather[axis] * (high - low))).clamp(0, 1)
    return weight[None, None]


def shrunk_to_fit(premultiplied: torch.Tensor, fits: list[PrintFit], area_width_px: float) -> torch.Tensor:
    """The designs resized (with anti-aliasing) when the print area shows them at fewer pixels than they
    have, so bilinear sampling does not alias; unchanged when none shrinks."""
    height, width = premultiplied.shape[-2:]
    shown = max(fit.extent[0] * area_width_px / ((fit.window[2] - fit.window[0]) * width) for fit in fits)
    if shown >= 1:
        return premultiplied
    size = (max(2, round(height * shown)), max(2, round(width * shown)))
    return F.interpolate(premultiplied, size=size, mode="bilinear", antialias=True, align_corners=False)


def backfill_source(premultiplied: torch.Tensor) -> torch.Tensor:
    """The designs at ``BACKFILL_EDGE`` pixels: enlarged by bilinear sampling, a soft blur of their colours."""
    height, width = premultiplied.shape[-2:]
    scale = BACKFILL_EDGE / max(height, width)
    size = (max(2, round(height * scale)), max(2, round(width * scale)))
    return F.interpolate(premultiplied, size=size, mode="bilinear", antialias=True, align_corners=False)
