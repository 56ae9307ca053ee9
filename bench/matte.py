"""How well the colour matte cuts a real cat out of plain backdrops, and whether it leaves the rest whole.

    python -m bench.matte [--size 384] [--device cpu]

For every scene of devkit/backdrops.py (scikit-image's chelsea cut along a known outline, on plain, gradient,
shadowed, fur-coloured and textured backdrops and skies with clouds, and tone-mapped into a white cat on white
and a black cat on near-black): the share of the cat that keeps alpha >= 0.9, the share of the backdrop that
goes to alpha <= 0.1, the halo (the mean alpha of the backdrop within 2 px of the cat: 0 is a clean
outline), specks (opaque bits apart from the cat), holes (see-through pixels eaten into the cat clear of its
outline), the outline's length over the cat's own (about 1: clean; well above: frayed), what the matte
reported, and its time; then the pooled figures over the plain scenes (the issue's goal: >= 99% and >= 95%)
and how many of the others were kept whole.
"""

from __future__ import annotations

import argparse

import torch

from bench.timing import machine_description, median_seconds
from devkit.backdrops import backdrop_set, halo, holes, kept_share, outline_ratio, specks
from worker.style.matte import colour_matte


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=384, help="scene edge in pixels (default 384)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    print(f"colour matte on {args.size}x{args.size} scenes, {args.device}: {machine_description(args.device)}")
    print(
        f"{'scene':<18} {'plain':>5} {'removed':>7} {'cat kept':>8} {'backdrop off':>12} {'halo':>5} "
        f"{'specks':>6} {'holes':>5} {'outline':>7} {'ms':>6}  reason"
    )
    totals = {"cat": [0, 0], "backdrop": [0, 0]}
    halos, kept_whole, others = [], 0, 0
    for scene in backdrop_set(args.size):
        image = scene.image.to(args.device)
        result = colour_matte(image)
        alpha = result.alpha[0, 0].cpu()
        cat, backdrop = alpha[scene.subject] >= 0.9, alpha[scene.backdrop] <= 0.1
        ring = halo(scene, alpha)
        if scene.plain:
            totals["cat"] = [totals["cat"][0] + int(cat.sum()), totals["cat"][1] + cat.numel()]
            totals["backdrop"] = [totals["backdrop"][0] + int(backdrop.sum()), totals["backdrop"][1] + backdrop.numel()]
            halos.append(ring)
        else:
            others += 1
            kept_whole += int(bool((alpha == 1).all()))
        seconds = median_seconds(lambda image=image: colour_matte(image), 3, device=args.device)
        report = result.reports[0]
        print(
            f"{scene.name:<18} {'yes' if scene.plain else 'no':>5} {'yes' if report.removed else 'no':>7} "
            f"{kept_share(scene, alpha):>8.2%} {backdrop.float().mean():>12.2%} {ring.mean():>5.2f} "
            f"{specks(scene, alpha):>6} {holes(scene, alpha):>5} {outline_ratio(scene, alpha):>7.2f} "
            f"{seconds * 1000:>6.0f}  {report.reason or ''}"
        )
    cat_share = totals["cat"][0] / totals["cat"][1]
    backdrop_share = totals["backdrop"][0] / totals["backdrop"][1]
    print(
        f"plain scenes pooled: cat kept {cat_share:.2%} (goal >= 99%), backdrop off {backdrop_share:.2%} (goal >= 95%), "
        f"halo {torch.cat(halos).mean():.2f}; the others kept whole: {kept_whole} of {others}"
    )


if __name__ == "__main__":
    main()
