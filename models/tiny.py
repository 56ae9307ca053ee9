"""Build a tiny random-weight FLUX.1 pipeline, offline, and save it like a real one.

The result loads with ``FluxPipeline.from_pretrained(OUT_DIR, local_files_only=True)``, so tests and
local runs exercise exactly the loading code the real model goes through; only the folder differs.

    python -m models.tiny OUT_DIR            # dev-like (guidance-distilled, guidance_embeds=True)
    python -m models.tiny OUT_DIR --schnell  # schnell-like (timestep-distilled, no guidance embedding)
    python -m models.tiny OUT_DIR --kontext  # a Kontext-like model (FluxKontextPipeline in model_index)
    python -m models.tiny OUT_DIR --redux    # a Redux image encoder for the tiny model (REDUX_MODEL_ID)

Shape constraints mirrored from the real model: transformer ``in_channels == 4 * latent_channels``
(16 latent channels, packed 2x2), ``joint_attention_dim == T5 d_model``, ``pooled_projection_dim ==
CLIP hidden_size``, ``sum(axes_dims_rope) == attention_head_dim``, and a 4-block VAE (scale factor 8).
"""

from __future__ import annotations

import argparse
import json
import string
import sys
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer, T5Config, T5EncoderModel, T5TokenizerFast
from transformers.convert_slow_tokenizer import bytes_to_unicode

LATENT_CHANNELS = 16
TEXT_DIM = 32  # CLIP hidden size and T5 d_model alike
VOCAB_SIZE = 640


def build_clip_tokenizer() -> CLIPTokenizer:
    """A byte-level BPE vocabulary (every byte, alone and word-final) with a few merges."""
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars]
    merges = [("a", "t</w>"), ("d", "o"), ("c", "at</w>"), ("do", "g</w>")]
    tokens += ["at</w>", "do", "cat</w>", "dog</w>", "<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_t5_tokenizer() -> T5TokenizerFast:
    """A Unigram model (as the real T5 SentencePiece vocabulary) over words and characters."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    words = ["a", "the", "pet", "dog", "cat", "photo", "of", "in", "style", "metal", "pop", "art", "watercolor"]
    pieces += [("\u2581" + w, -5.0) for w in words]
    pieces += [(c, -10.0) for c in string.ascii_letters + string.digits + string.punctuation]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=512)


def build_tiny_flux(schnell: bool = False, seed: int = 0) -> FluxPipeline:
    """Random weights, real architecture: every module is the class the real checkpoint uses."""
    torch.manual_seed(seed)
    clip_tokenizer = build_clip_tokenizer()
    t5_tokenizer = build_t5_tokenizer()
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * LATENT_CHANNELS,
        num_layers=1,
        num_single_layers=2,  # two, so a block sees the previous block's sliced (non-contiguous) output
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        guidance_embeds=not schnell,
        axes_dims_rope=(4, 6, 6),
    )
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=4,
        sample_size=64,
        scaling_factor=0.3611,
        shift_factor=0.1159,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    clip_config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=TEXT_DIM,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        projection_dim=TEXT_DIM,
        bos_token_id=clip_tokenizer.bos_token_id,
        eos_token_id=clip_tokenizer.eos_token_id,
        pad_token_id=clip_tokenizer.pad_token_id,
    )
    t5_config = T5Config(
        vocab_size=VOCAB_SIZE,
        d_model=TEXT_DIM,
        d_ff=37,
        d_kv=8,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=t5_tokenizer.pad_token_id,
        eos_token_id=t5_tokenizer.eos_token_id,
        decoder_start_token_id=t5_tokenizer.pad_token_id,
    )
    if schnell:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=False)
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(
            shift=3.0,
            use_dynamic_shifting=True,
            base_shift=0.5,
            max_shift=1.15,
            base_image_seq_len=256,
            max_image_seq_len=4096,
        )
    return FluxPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=CLIPTextModel(clip_config),
        tokenizer=clip_tokenizer,
        text_encoder_2=T5EncoderModel(t5_config),
        tokenizer_2=t5_tokenizer,
        transformer=transformer,
    )


def save_tiny_flux(out_dir: str | Path, schnell: bool = False, kontext: bool = False) -> Path:
    """Build and save; with ``kontext`` the folder declares itself a FluxKontextPipeline, as Kontext repos do."""
    out = Path(out_dir)
    build_tiny_flux(schnell=schnell).save_pretrained(out)
    if kontext:
        index_path = out / "model_index.json"
        index = json.loads(index_path.read_text())
        index["_class_name"] = "FluxKontextPipeline"
        index_path.write_text(json.dumps(index, indent=2))
    return out


def save_tiny_redux(out_dir: str | Path, seed: int = 0) -> Path:
    """A tiny FLUX.1-Redux (SigLIP image encoder and Redux embedder, random weights) whose image tokens fit the
    tiny FLUX's T5 width, saved as a ``FluxPriorReduxPipeline`` folder; its text encoders come from MODEL_ID."""
    from diffusers import FluxPriorReduxPipeline
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
    from transformers import SiglipVisionConfig, SiglipVisionModel
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    torch.manual_seed(seed)
    encoder = SiglipVisionModel(
        SiglipVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        )
    )
    processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    redux = FluxPriorReduxPipeline(
        image_encoder=encoder,
        feature_extractor=processor,
        image_embedder=ReduxImageEncoder(redux_dim=16, txt_in_features=TEXT_DIM),
    )
    out = Path(out_dir)
    redux.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", help="folder to write the pipeline to")
    family = parser.add_mutually_exclusive_group()
    family.add_argument("--schnell", action="store_true", help="schnell-like: no guidance embedding")
    family.add_argument("--kontext", action="store_true", help="Kontext-like: FluxKontextPipeline model_index")
    family.add_argument("--redux", action="store_true", help="a Redux image encoder (FluxPriorReduxPipeline)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.redux:
        out = save_tiny_redux(args.out_dir)
    else:
        out = save_tiny_flux(args.out_dir, schnell=args.schnell, kontext=args.kontext)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"tiny FLUX.1 written to {out} ({size / 1e6:.2f} MB, {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
