"""Build a tiny random-weight matting model and save it as a BiRefNet-class checkpoint folder, offline.

    python -m models.tiny_matte OUT_DIR

The folder holds config.json (whose ``auto_map`` names the modelling code), the weights, and the code
itself (models/modeling_tiny_matte.py), as BiRefNet's checkpoints are laid out. So
``AutoModelForImageSegmentation.from_pretrained(OUT_DIR, trust_remote_code=True)`` loads it, the path
a real checkpoint takes with ``MATTE_MODEL=OUT_DIR``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from models.modeling_tiny_matte import TinyMatteConfig, TinyMatteNet

CODE = Path(__file__).with_name("modeling_tiny_matte.py")


def save_tiny_matte(out_dir: str | Path, seed: int = 0) -> Path:
    out = Path(out_dir)
    torch.manual_seed(seed)
    TinyMatteNet(TinyMatteConfig()).save_pretrained(out)
    shutil.copy(CODE, out / CODE.name)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["auto_map"] = {
        "AutoConfig": f"{CODE.stem}.TinyMatteConfig",
        "AutoModelForImageSegmentation": f"{CODE.stem}.TinyMatteNet",
    }
    config_path.write_text(json.dumps(config, indent=2))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    print(save_tiny_matte(parser.parse_args(argv).out_dir))


if __name__ == "__main__":
    main()
