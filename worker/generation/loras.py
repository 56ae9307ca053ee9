"""Style LoRAs: loaded once at cold start on the transformer each was trained for; a job turns on only
its own style's, so the next job, in another style, sees none of them.

Eager: every LoRA is a named PEFT adapter, switched per job with diffusers' ``set_adapters`` (a style
without LoRAs: ``disable_lora``). With ``COMPILE=1`` switching adapters would recompile the blocks, so
each transformer gets one hot-swap slot instead (diffusers' ``enable_lora_hotswap``, sized for the
largest rank), loaded before compilation; each job swaps its style's weights into the slot (a style
without a LoRA swaps in zeros, which adds nothing), with the style's weight folded into them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from diffusers import DiffusionPipeline

from worker.runtime.catalog import CatalogError
from worker.style.catalog import Style

log = logging.getLogger(__name__)

SLOT = "style"


def adapter_name(style: str, index: int) -> str:
    return f"{style}_{index}"


@dataclass
class StyleAdapters:
    """What each style turns on, per transformer (``base``, ``kontext``), and how."""

    pipelines: dict[str, DiffusionPipeline]  # target -> the pipeline whose transformer carries its LoRAs
    # target -> style -> [(adapter name, weight)]
    adapters: dict[str, dict[str, list[tuple[str, float]]]] = field(default_factory=dict)
    swaps: dict[str, dict[str, dict[str, torch.Tensor]]] | None = None  # COMPILE=1: target -> style -> weights
    empty: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)  # target -> zeros for the slot
    active: dict[str, str | None] = field(default_factory=dict)

    def activate(self, style: str) -> None:
        """Turn on ``style``'s LoRAs, and every other style's off, on every transformer that carries any."""
        for target, pipe in self.pipelines.items():
            if self.active.get(target, "") == style:
                continue
            if self.swaps is not None:
                weights = self.swaps[target].get(style, self.empty[target])
                pipe.load_lora_weights(dict(weights), adapter_name=SLOT, hotswap=True)
            else:
                mine = self.adapters[target].get(style, [])
                if mine:
                    pipe.enable_lora()
                    pipe.set_adapters([name for name, _ in mine], [weight for _, weight in mine])
                else:
                    pipe.disable_lora()
            self.active[target] = style


def lora_targets(styles: Mapping[str, Style]) -> set[str]:
    return {lora.transformer for style in styles.values() for lora in style.loras}


def load_style_loras(
    styles: Mapping[str, Style], pipelines: dict[str, DiffusionPipeline], hotswap: bool
) -> StyleAdapters | None:
    """Every style LoRA, loaded now; a file that does not load fails cold start naming its style.

    ``pipelines`` maps ``base`` (and ``kontext`` when a Kontext transformer is loaded) to the pipeline that
    owns it. ``hotswap``: compilation follows, so load one slot per transformer instead of named adapters.
    """
    targets = lora_targets(styles)
    if not targets:
        return None
    missing = targets - set(pipelines)
    if missing:
        users = sorted(s.name for s in styles.values() for lora in s.loras if lora.transformer in missing)
        raise CatalogError(f"style(s) {', '.join(users)} carry a Kontext LoRA, but no KONTEXT_MODEL_ID is loaded")
    loaded = StyleAdapters({target: pipelines[target] for target in sorted(targets)})
    for target in loaded.pipelines:
        loaded.adapters[target] = {}
    for style in styles.values():
        for index, lora in enumerate(style.loras):
            pipe = pipelines[lora.transformer]
            try:
                if hotswap:
                    weights = pipe.lora_state_dict(lora.source, weight_name=lora.weight_name)
                    weights = weights[0] if isinstance(weights, tuple) else weights
                    loaded.adapters[lora.transformer].setdefault(style.name, []).append((str(index), lora.weight))
                    loaded.swaps = loaded.swaps or {t: {} for t in loaded.pipelines}
                    if style.name in loaded.swaps[lora.transformer]:
                        raise CatalogError("with COMPILE=1 a style carries at most one LoRA per transformer")
                    loaded.swaps[lora.transformer][style.name] = scaled(weights, lora.weight)
                else:
                    name = adapter_name(style.name, index)
                    pipe.load_lora_weights(lora.source, weight_name=lora.weight_name, adapter_name=name)
                    loaded.adapters[lora.transformer].setdefault(style.name, []).append((name, lora.weight))
            except CatalogError as exc:
                raise CatalogError(f"style {style.name!r}: {exc}") from None
            except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
                raise CatalogError(f"style {style.name!r}: its LoRA {lora.source} does not load: {exc}") from None
    if hotswap:
        prepare_hotswap_slots(loaded)
    log.info("style LoRAs loaded: %s", {t: sorted(a) for t, a in loaded.adapters.items()})
    return loaded


def scaled(weights: dict[str, torch.Tensor], weight: float) -> dict[str, torch.Tensor]:
    """The style's weight folded into the up-projections (``lora_B``), so the slot's own scale never changes."""
    return {key: tensor * weight if ".lora_B." in key else tensor for key, tensor in weights.items()}


def prepare_hotswap_slots(loaded: StyleAdapters) -> None:
    """One slot per transformer for every layer any style touches, at the largest rank, loaded with zeros."""
    assert loaded.swaps is not None
    for target, pipe in loaded.pipelines.items():
        shapes: dict[str, torch.Size] = {}
        for weights in loaded.swaps[target].values():
            for key, tensor in weights.items():
                shapes[key] = max(shapes.get(key, tensor.shape), tensor.shape)
        rank = max(min(shape) for key, shape in shapes.items() if ".lora_A." in key)
        for style, weights in loaded.swaps[target].items():
            loaded.swaps[target][style] = {key: weights.get(key, torch.zeros(shape)) for key, shape in shapes.items()}
        loaded.empty[target] = {key: torch.zeros(shape) for key, shape in shapes.items()}
        pipe.enable_lora_hotswap(target_rank=rank)
        # Copies: the slot keeps the tensors it is loaded with, and every swap overwrites them in place.
        pipe.load_lora_weights({key: zeros.clone() for key, zeros in loaded.empty[target].items()}, adapter_name=SLOT)
        loaded.active[target] = None
