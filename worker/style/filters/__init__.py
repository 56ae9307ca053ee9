"""Post-processing filters that give each style its look, in torch on the model's device.

Every filter takes a float batch ``(B, 3, H, W)`` in [0, 1] and a ``FilterContext`` (the designs' seeds
and, when given, their matte), plus its own keyword parameters as written in a style file, and returns a
batch of the same shape. Noise is drawn on the CPU from the design's seed and then moved to the device,
so a filter gives the same result for a seed on every device. A style file names a filter by its function name.

The filters live by family in this package's modules; each registers itself in ``FILTERS`` when imported.
"""

from worker.style.filters import graphic, metal, tone, watercolor
from worker.style.filters.base import FILTERS, Filter, FilterContext, luminance, parse_color

__all__ = ["FILTERS", "Filter", "FilterContext", "graphic", "luminance", "metal", "parse_color", "tone", "watercolor"]
