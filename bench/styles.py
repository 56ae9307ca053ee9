"""Style post-processing: speed, and what each style keeps of the pet.

    python -m bench.styles [--size 1024] [--repeats 5]

Per built-in style, on one design at ``--size``, on CUDA when present, else the CPU: the whole style stage
(matte + filter chain: the real cat of devkit/backdrops.py on a plain backdrop with a shadow, so the matte
does its full work); the filter chain alone (the cat of devkit/pets.py with its matte, as the worker gives
the filters it); and the structure kept and the tone levels (devkit/structure.py) on the plain, dark
(black cat), white and busy subjects of devkit/pets.py. Then the matte alone, and the guided filter (the
smoothing every style starts from) against a Pillow/numpy implementation on the CPU in the same run.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench import reference_styles
from bench.timing import add_common_arguments, machine_description, median_seconds
from devkit.backdrops import compose, flat
from devkit.pets import PETS, pet
from devkit.structure import run_chain, structure_kept, tone_levels
from worker.style.catalog import BUILTIN_STYLES_DIR, load_styles
from worker.style.filters import FILTERS, FilterContext
from worker.style.matte import colour_matte
from worker.style.stylize import stylize

GUIDED = {"kernel_size": 9, "eps": 0.01, "subsample": 1}  # the reference solves at full resolution: so does this


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    args = parser.parse_args(argv)

    styles = load_styles(BUILTIN_STYLES_DIR)
    design = compose("white-shadow", flat((0.95, 0.94, 0.92)), True, args.size, shadow=0.35, grounded=False).image
    on_device = design.to(args.device)
    subjects = {name: pet(name, args.size) for name in PETS}
    plain = subjects["plain"]
    plain_image, plain_alpha = plain.image.to(args.device), plain.alpha.to(args.device)

    print(f"style post-processing, {args.size}x{args.size}, median of {args.repeats}")
    print(f"worker on {args.device}: {machine_description(args.device)}; reference on the CPU (Pillow + numpy)")
    print("structure kept (0..1) and tone levels in the eyes and nose, per subject: " + ", ".join(PETS))
    print(f"{'style':<12} {'stage ms':>9} {'filters ms':>11}   {'structure':<27} {'tone levels'}")
    for name, style in styles.items():
        stage = median_seconds(
            lambda s=style: stylize(on_device, s, [0], True, None).images, args.repeats, device=args.device
        )
        chain = median_seconds(lambda s=style: run_chain(s, plain_image, plain_alpha), args.repeats, device=args.device)
        kept, levels = [], []
        for subject in subjects.values():
            out = run_chain(style, subject.image.to(args.device), subject.alpha.to(args.device)).cpu()
            kept.append(f"{structure_kept(subject.image, out, subject.subject):.2f}")
            levels.append(str(tone_levels(out, subject.features)))
        print(f"{name:<12} {stage * 1000:>9.1f} {chain * 1000:>11.1f}   {' '.join(kept):<27} {' '.join(levels)}")

    matte_s = median_seconds(lambda: colour_matte(on_device), args.repeats, device=args.device)
    print(f"{'matte alone':<12} {matte_s * 1000:>9.1f}")
    as_array = design[0].permute(1, 2, 0).numpy().astype(np.float32)
    ours = median_seconds(
        lambda: FILTERS["smooth"](on_device, FilterContext([0]), **GUIDED), args.repeats, device=args.device
    )
    theirs = median_seconds(lambda: reference_styles.smooth(as_array, **GUIDED), max(1, args.repeats // 2))
    print(
        f"guided filter {GUIDED}: worker {ours * 1000:.1f} ms, reference {theirs * 1000:.1f} ms, {theirs / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
