"""Style post-processing speed: the worker's torch/kornia filters versus a Pillow/numpy implementation.

    python -m bench.styles [--size 1024] [--repeats 5]

Times each built-in style's whole stage (matte + filter chain) on one design (the real cat of
devkit/backdrops.py on a plain backdrop with a shadow, so the matte does its full work), on CUDA when present,
else the CPU; the matte alone; and, for the styles whose every filter it implements, the Pillow/numpy
reference on the CPU in the same run, with the ratio.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench import reference_styles
from bench.timing import add_common_arguments, machine_description, median_seconds
from devkit.backdrops import compose, flat
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles
from worker.style.matte import colour_matte
from worker.style.stylize import stylize


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    args = parser.parse_args(argv)

    styles = load_styles(BUILTIN_STYLES_DIR)
    design = compose("white-shadow", flat((0.95, 0.94, 0.92)), True, args.size, shadow=0.35, grounded=False).image
    on_device = design.to(args.device)
    as_array = design[0].permute(1, 2, 0).numpy().astype(np.float32)

    print(f"style stage (matte + filters), {args.size}x{args.size}, median of {args.repeats}")
    print(f"worker on {args.device}: {machine_description(args.device)}; reference on the CPU (Pillow + numpy)")
    matte_s = median_seconds(lambda: colour_matte(on_device), args.repeats, device=args.device)
    print(f"{'matte alone':<12} {matte_s * 1000:>10.1f}")
    print(f"{'style':<12} {'worker ms':>10} {'reference ms':>13} {'speed-up':>9}")
    for name, style in styles.items():
        ours = median_seconds(
            lambda s=style: stylize(on_device, s, [0], True, None).images, args.repeats, device=args.device
        )
        steps = [(step.name, step.params) for step in style.filters]
        if not all(hasattr(reference_styles, step_name) for step_name, _ in steps):
            print(f"{name:<12} {ours * 1000:>10.1f} {'-':>13} {'-':>9}")
            continue
        theirs = median_seconds(lambda st=steps: reference_styles.apply_style(as_array, st), max(1, args.repeats // 2))
        print(f"{name:<12} {ours * 1000:>10.1f} {theirs * 1000:>13.1f} {theirs / ours:>8.1f}x")


if __name__ == "__main__":
    main()
