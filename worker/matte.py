"""The matte of any picture, as the worker would cut it out, to check it on your own photos.

    python -m worker.matte IN OUT.png            # the cutout, RGBA
    python -m worker.matte IN OUT.png --alpha    # the alpha alone, greyscale

``MATTE_MODEL``, ``DEVICE`` and the other settings are read from the environment, as the worker reads them.
What the matte did (removed or kept, and why) is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from worker.runtime.config import Settings
from worker.runtime.devices import Runtime
from worker.style.matte import matte
from worker.style.matte_model import load_matte_model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, help="any picture Pillow reads")
    parser.add_argument("output", type=Path, help="where the PNG goes")
    parser.add_argument("--alpha", action="store_true", help="write the alpha as a greyscale PNG, not the cutout")
    args = parser.parse_args(argv)

    settings = Settings()
    runtime = Runtime.from_settings(settings)
    picture = ImageOps.exif_transpose(Image.open(args.input)).convert("RGB")
    pixels = torch.from_numpy(np.asarray(picture).copy()).permute(2, 0, 1).unsqueeze(0).float() / 255
    with torch.inference_mode():
        result = matte(pixels.to(runtime.device), load_matte_model(settings, runtime))
    alpha = result.alpha[0].cpu()
    layers = alpha if args.alpha else torch.cat([result.colours[0].cpu(), alpha])
    array = (layers.permute(1, 2, 0).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(array[..., 0] if args.alpha else array).save(args.output)
    print(json.dumps(result.reports[0].as_dict()))


if __name__ == "__main__":
    main()
