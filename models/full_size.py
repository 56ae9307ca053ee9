"""FLUX.1 at its real size, from the published configuration, with random weights: for GPU timings.

    python -m models.full_size OUT_DIR [--family schnell|dev]     # on a CUDA machine: ~34 GB written

Timing depends on shapes, not weight values, so this stands in for the real checkpoint where none can be
downloaded. The folder loads through ``FluxPipeline.from_pretrained`` exactly as the real one does (the
tokenizers are the tiny model's: every id they produce is a valid id of the real vocabularies, and the
sequences are padded to the same lengths). Quality cannot be judged from it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

from models.tiny import build_clip_tokenizer, build_t5_tokenizer


def build_full_size_flux(family: str, device: str, dtype: torch.dtype = torch.bfloat16) -> FluxPipeline:
    """Transformer, CLIP-L, T5-XXL encoder and VAE at FLUX.1's published sizes, random weights, on ``device``."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            transformer = FluxTransformer2DModel(
                in_channels=64,
                num_layers=19,
                num_single_layers=38,
                attention_head_dim=128,
                num_attention_heads=24,
                joint_attention_dim=4096,
                pooled_projection_dim=768,
                guidance_embeds=family == "dev",
                axes_dims_rope=(16, 56, 56),
            )
            vae = AutoencoderKL(
                down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4,
                block_out_channels=(128, 256, 512, 512),
                layers_per_block=2,
                latent_channels=16,
                norm_num_groups=32,
                sample_size=1024,
                scaling_factor=0.3611,
                shift_factor=0.1159,
                use_quant_conv=False,
                use_post_quant_conv=False,
            )
            clip = CLIPTextModel(
                CLIPTextConfig(
                    hidden_size=768,
                    intermediate_size=3072,
                    num_hidden_layers=12,
                    num_attention_heads=12,
                    vocab_size=49408,
                    projection_dim=768,
                )
            )
            t5 = T5EncoderModel(
                T5Config(
                    d_model=4096,
                    d_ff=10240,
                    d_kv=64,
                    num_heads=64,
                    num_layers=24,
                    vocab_size=32128,
                    feed_forward_proj="gated-gelu",
                    relative_attention_num_buckets=32,
                )
            )
    finally:
        torch.set_default_dtype(previous)
    if family == "dev":
        scheduler = FlowMatchEulerDiscreteScheduler(
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        )
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    return FluxPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=clip,
        tokenizer=build_clip_tokenizer(),
        text_encoder_2=t5,
        tokenizer_2=build_t5_tokenizer(),
        transformer=transformer,
    )


def save_full_size_flux(out_dir: str | Path, family: str = "schnell", device: str = "cuda") -> Path:
    """Build on ``device`` and save in diffusers layout (bf16 safetensors); an existing folder is kept."""
    out = Path(out_dir)
    if (out / "model_index.json").is_file():
        return out
    pipe = build_full_size_flux(family, device)
    pipe.save_pretrained(out, max_shard_size="10GB")
    del pipe
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--family", choices=["schnell", "dev"], default="schnell")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = save_full_size_flux(args.out_dir, args.family, args.device)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"full-size FLUX.1 ({args.family}) in {out} ({size / 1e9:.1f} GB, {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
