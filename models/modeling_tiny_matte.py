"""A tiny dichotomous-segmentation network, shipped as a checkpoint's own code, as BiRefNet's is.

BiRefNet-class checkpoints (ZhengPeng7/BiRefNet, briaai/RMBG-2.0) carry their modelling code beside the
weights and name it in config.json's ``auto_map``; transformers' AutoModelForImageSegmentation loads it
with ``trust_remote_code``. This file plays that part for the tests: the same contract (an ImageNet-
normalised square picture in, a list of side-output logits out, the last the final mask at full input
size), a real encoder-decoder with skip connections and deep supervision, only tiny and randomly
initialised. It imports nothing but torch and transformers, as remote code must.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel


class TinyMatteConfig(PretrainedConfig):
    model_type = "tiny_matte"

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32), **kwargs) -> None:
        self.channels = list(channels)
        super().__init__(**kwargs)


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class TinyMatteNet(PreTrainedModel):
    config_class = TinyMatteConfig
    main_input_name = "pixel_values"

    def __init__(self, config: TinyMatteConfig) -> None:
        super().__init__(config)
        widths = [3, *config.channels]
        self.encoder = nn.ModuleList(
            conv_block(widths[i], widths[i + 1], stride=2) for i in range(len(config.channels))
        )
        self.decoder = nn.ModuleList(
            conv_block(widths[i + 1] + widths[i + 2], widths[i + 1]) for i in reversed(range(len(config.channels) - 1))
        )
        self.sides = nn.ModuleList(nn.Conv2d(widths[i + 1], 1, 1) for i in reversed(range(len(config.channels) - 1)))
        self.post_init()

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = pixel_values
        for stage in self.encoder:
            x = stage(x)
            features.append(x)
        outputs = []
        for block, side, skip in zip(self.decoder, self.sides, reversed(features[:-1]), strict=True):
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear"), skip], dim=1))
            outputs.append(F.interpolate(side(x), size=pixel_values.shape[-2:], mode="bilinear"))
        return outputs
