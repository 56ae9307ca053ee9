"""Print sizes: Lanczos-3 on premultiplied colours, and a learned upscaler (UPSCALER_MODEL) run on tiles."""

from __future__ import annotations

import importlib.util

import pytest
import torch
import torch.nn.functional as F
from skimage import data

from worker.runtime.config import Settings
from worker.style.stylize import FinishingModels, resize_long_edge
from worker.style.upscale import LearnedUpscaler, lanczos_resize, load_upscaler, premultiplied_resize

HAS_SPANDREL = importlib.util.find_spec("spandrel") is not None and importlib.util.find_spec("torchvision") is not None


def chelsea() -> torch.Tensor:
    return torch.from_numpy(data.chelsea().copy()).permute(2, 0, 1).float().unsqueeze(0)[..., :296, :448] / 255


def psnr(first: torch.Tensor, second: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (first - second).square().mean()))


def rise_width(row: torch.Tensor) -> int:
    """Pixels from 10% to 90% of a rising step: how blurred an edge is."""
    return int((row > 0.9).nonzero()[0]) - int((row > 0.1).nonzero()[0])


def test_lanczos_keeps_edges_sharper_than_bicubic():
    step = torch.zeros(1, 1, 8, 32)
    step[..., 16:] = 1
    ours = lanczos_resize(step, (32, 128))[0, 0, 16]
    bicubic = F.interpolate(step, size=(32, 128), mode="bicubic", align_corners=False)[0, 0, 16]
    assert rise_width(ours) < rise_width(bicubic)


def test_lanczos_restores_a_real_photo_at_least_as_well_as_bicubic():
    photo = chelsea()
    small = F.interpolate(photo, scale_factor=0.25, mode="area")
    ours = lanczos_resize(small, photo.shape[-2:]).clamp(0, 1)
    bicubic = F.interpolate(small, size=photo.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
    assert psnr(ours, photo) > psnr(bicubic, photo)


def test_lanczos_shrinks_without_aliasing():
    photo = chelsea()
    ours = lanczos_resize(photo, (74, 112))
    assert psnr(ours.clamp(0, 1), F.interpolate(photo, size=(74, 112), mode="area")) > 35


def test_no_rim_of_the_transparent_backdrop_bleeds_in():
    """A red subject on a transparent white backdrop stays red at its edge, grown 4x."""
    rgba = torch.ones(1, 4, 32, 32)
    rgba[:, 3] = 0
    rgba[:, :, 8:24, 8:24] = torch.tensor([0.9, 0.1, 0.1, 1.0]).view(4, 1, 1)
    grown = premultiplied_resize(rgba, (128, 128))
    visible = grown[0, 3] > 0.05
    assert (grown[0, 1][visible] - 0.1).abs().max() < 0.05  # no white mixed into the red's green channel
    straight = lanczos_resize(rgba, (128, 128)).clamp(0, 1)  # resizing colours and alpha apart: a pink rim
    assert (straight[0, 1][visible] - 0.1).abs().max() > 0.3


def test_print_size_bounds_and_aspect():
    rgba = torch.rand(1, 4, 64, 80)
    assert resize_long_edge(rgba, 200).shape == (1, 4, 160, 200)
    assert resize_long_edge(rgba, 40).shape == (1, 4, 32, 40)
    assert resize_long_edge(rgba, 80) is rgba


class PixelShuffleSR(torch.nn.Module):
    """A small x4 super-resolution network with a 5x5 receptive field, the contract ESRGAN models keep."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.Conv2d(16, 48, 3, padding=1), torch.nn.PixelShuffle(4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(x))


@pytest.mark.parametrize("tile", [24, 37, 500])
def test_tiles_blend_into_exactly_the_whole_pictures_result(tile):
    network = PixelShuffleSR().eval()
    picture = F.interpolate(chelsea(), size=(70, 101), mode="area")
    with torch.inference_mode():
        whole = network(picture)
    tiled = LearnedUpscaler(network, 4, tile, torch.device("cpu"), overlap=4)(picture)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-5


def test_the_upscaler_takes_the_colours_and_lanczos_the_alpha():
    network = PixelShuffleSR().eval()
    upscaler = LearnedUpscaler(network, 4, 64, torch.device("cpu"))
    rgba = torch.cat([torch.rand(1, 3, 40, 50), torch.ones(1, 1, 40, 50)], dim=1)
    grown = resize_long_edge(rgba, 150, FinishingModels(upscaler=upscaler).upscaler)
    assert grown.shape == (1, 4, 120, 150)
    expected = lanczos_resize(upscaler(rgba[:, :3]), (120, 150)).clamp(0, 1)
    assert torch.allclose(grown[:, :3], expected, atol=1e-5)
    assert torch.allclose(grown[:, 3], torch.ones(1, 120, 150), atol=1e-4)


def test_no_upscaler_configured_means_none():
    assert load_upscaler(Settings()) is None


@pytest.mark.skipif(not HAS_SPANDREL, reason="spandrel needs torchvision, which has no CPU build on this index")
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_random_esrgan_weights_load_through_spandrel_and_upscale(tmp_path, suffix):
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    network = ESRGAN(num_filters=8, num_blocks=1, scale=4).eval()
    path = tmp_path / f"tiny-esrgan{suffix}"
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save(state, path)

    upscaler = load_upscaler(Settings(upscaler_model=path, upscaler_tile=64))
    assert upscaler.scale == 4
    picture = F.interpolate(chelsea(), size=(100, 150), mode="area")
    grown = upscaler(picture)
    assert grown.shape == (1, 3, 400, 600)
    with torch.inference_mode():
        whole = network(picture).clamp(0, 1)
    assert (grown - whole).abs().max() < 1e-4  # the tiles add up to the network's own result
