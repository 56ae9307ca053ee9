"""How well the colour matte cuts a real cat out of plain backdrops, and whether it leaves textured ones.

    python -m bench.matte [--size 384] [--device cpu]

For every scene of devkit/backdrops.py (scikit-image's chelsea cut along a known outline, on plain, gradient,
shadowed, fur-coloured and textured backdrops): the share of the cat that keeps alpha >= 0.9, the share
of the backdrop that goes to alpha <= 0.1, the halo (the mean alpha of the backdrop within 2 px of the cat:
0 is a clean outline), what the matte reported, and its time; then the pooled figures over the plain
scenes (the issue's goal: >= 99% and >= 95%).
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from bench.timing import machine_description, median_seconds
from devkit.backdrops import backdrop_set
from worker.style.matte import colour_matte


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=384, help="scene edge in pixels (default 384)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    print(f"colour matte on {args.size}x{args.size} scenes, {args.device}: {machine_description(args.device)}")
    print(
        f"{'scene':<18} {'plain':>5} {'removed':>7} {'cat kept':>8} {'backdrop off':>12} {'halo':>5} {'ms':>6}  reason"
    )
    totals = {"cat": [0, 0], "backdrop": [0, 0]}
    halos = []
    for scene in backdrop_set(args.size):
        image = scene.image.to(args.device)
        result = colour_matte(image)
        alpha = result.alpha[0, 0].cpu()
        cat, backdrop = alpha[scene.subject] >= 0.9, alpha[scene.backdrop] <= 0.1
        near = F.max_pool2d((~scene.backdrop).float()[None, None], 5, stride=1, padding=2)[0, 0] > 0
        halo = alpha[near & scene.backdrop]
        if scene.plain:
            totals["cat"] = [totals["cat"][0] + int(cat.sum()), totals["cat"][1] + cat.numel()]
            totals["backdrop"] = [totals["backdrop"][0] + int(backdrop.sum()), totals["backdrop"][1] + backdrop.numel()]
            halos.append(halo)
        seconds = median_seconds(lambda image=image: colour_matte(image), 3, device=args.device)
        report = result.reports[0]
        print(
            f"{scene.name:<18} {'yes' if scene.plain else 'no':>5} {'yes' if report.removed else 'no':>7} "
            f"{cat.float().mean():>8.2%} {backdrop.float().mean():>12.2%} {halo.mean():>5.2f} {seconds * 1000:>6.0f}  {report.reason or ''}"
        )
    cat_share = totals["cat"][0] / totals["cat"][1]
    backdrop_share = totals["backdrop"][0] / totals["backdrop"][1]
    print(
        f"plain scenes pooled: cat kept {cat_share:.2%} (goal >= 99%), backdrop off {backdrop_share:.2%} (goal >= 95%), "
        f"halo {torch.cat(halos).mean():.2f}"
    )


if __name__ == "__main__":
    main()
