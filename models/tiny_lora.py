"""A random LoRA for the tiny FLUX.1 transformer, made with peft and saved as diffusers saves LoRAs.

    python -m models.tiny_lora MODEL_DIR OUT_FILE.safetensors [--rank 4] [--seed 0]

Tests give it to a style (``[[loras]] source = ...``) to prove the whole path on the CPU: loaded once at
cold start, turned on for its style's jobs only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from diffusers import FluxPipeline, FluxTransformer2DModel
from peft import LoraConfig, get_peft_model_state_dict

TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def save_tiny_lora(
    model_dir: str | Path, out_file: str | Path, rank: int = 4, seed: int = 0, scale: float = 0.5
) -> Path:
    """A LoRA of ``rank`` on the attention projections of ``model_dir``'s transformer, with random (not zero)
    up-projections, so it changes the output."""
    transformer = FluxTransformer2DModel.from_pretrained(model_dir, subfolder="transformer", local_files_only=True)
    transformer.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, target_modules=list(TARGETS), init_lora_weights="gaussian")
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    out = Path(out_file)
    FluxPipeline.save_lora_weights(
        out.parent, transformer_lora_layers=get_peft_model_state_dict(transformer), weight_name=out.name
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("out_file")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"LoRA written to {save_tiny_lora(args.model_dir, args.out_file, args.rank, args.seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
