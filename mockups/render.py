"""Render the built-in product templates with Blender's Cycles path tracer (a development step, run once).

    python3.11 -m venv .venv-render && .venv-render/bin/pip install -r mockups/requirements-render.txt
    nice -n 10 .venv-render/bin/python -m mockups.render [tshirt mug ...] [--size 2048] [--samples 64]

Each product's scene (``mockups/scenes.py``) is rendered once, and every layer the compositor needs is taken
from that render's own passes, written to ``mockups/<product>/``:

- ``base.jpg``: the Combined pass, denoised: the blank product photographed.
- ``mask.png``: the ``print`` AOV's coverage: the print surface as rendered, 0 wherever it is not seen.
- ``uv-u.png``, ``uv-v.png`` (16 bit): the ``print`` AOV's UV, for every pixel the point of the print area
  it shows (coverage-weighted at the area's edge, so partly covered pixels get the UV of the part inside).
- ``shading.png``: the diffuse passes (direct + indirect light times colour), denoised: the light the
  print surface receives, which multiplies the ink.
- ``highlight.png``: the glossy passes, denoised: reflections of the softboxes, as the screen over the
  diffuse light that gives the rendered diffuse + glossy light; the compositor screens it over the ink.
- ``tint.png``: the ``tint`` AOV: the dyed material, where a colour variant applies.

All layers go through the same exposure and sRGB encoding, so the compositor's multiply and screen
reproduce the base where the print is white. ``render.json`` records the render's settings and the
landmarks: print-area points projected through the camera from the mesh itself (not from the UV pass),
which the tests use to check that designs land where the geometry says.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector
from PIL import Image

from mockups import scenes, studio

OUT = Path(__file__).resolve().parent
WHITE_LEVEL = 0.8  # linear diffuse of the brightest print surface after exposure (0.91 once sRGB encoded)


def configure(scene: bpy.types.Scene, size: int, samples: int) -> None:
    scene.render.engine = "CYCLES"
    cycles = scene.cycles
    cycles.device = "CPU"
    cycles.samples = samples
    cycles.use_adaptive_sampling = True
    cycles.adaptive_threshold = 0.02
    cycles.use_denoising = True
    cycles.denoiser = "OPENIMAGEDENOISE"
    cycles.denoising_prefilter = "ACCURATE"
    cycles.max_bounces, cycles.diffuse_bounces, cycles.glossy_bounces = 6, 3, 3
    cycles.transmission_bounces = cycles.transparent_max_bounces = 2
    cycles.use_light_tree = True
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.threads_mode = "AUTO"
    scene.view_settings.view_transform = "Standard"
    layer = scene.view_layers[0]
    for name in (
        "diffuse_direct",
        "diffuse_indirect",
        "diffuse_color",
        "glossy_direct",
        "glossy_indirect",
        "glossy_color",
    ):
        setattr(layer, f"use_pass_{name}", True)
    layer.cycles.denoising_store_passes = True
    for name, kind in (("print", "COLOR"), ("tint", "VALUE")):
        aov = layer.aovs.add()
        aov.name, aov.type = name, kind


def compositor(scene: bpy.types.Scene, folder: Path) -> None:
    """Light passes summed and denoised (OpenImageDenoise, guided by albedo and normal), all written as EXR."""
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()
    layers = tree.nodes.new("CompositorNodeRLayers")
    out = layers.outputs

    def mix(blend: str, a, b):
        node = tree.nodes.new("CompositorNodeMixRGB")
        node.blend_type = blend
        tree.links.new(a, node.inputs[1])
        tree.links.new(b, node.inputs[2])
        return node.outputs[0]

    def denoised(image, albedo=None):
        node = tree.nodes.new("CompositorNodeDenoise")
        node.prefilter = "ACCURATE"
        tree.links.new(image, node.inputs["Image"])
        tree.links.new(out["Denoising Normal"], node.inputs["Normal"])
        if albedo is not None:
            tree.links.new(albedo, node.inputs["Albedo"])
        return node.outputs[0]

    diffuse = denoised(mix("MULTIPLY", mix("ADD", out["DiffDir"], out["DiffInd"]), out["DiffCol"]), out["DiffCol"])
    glossy = denoised(mix("MULTIPLY", mix("ADD", out["GlossDir"], out["GlossInd"]), out["GlossCol"]))
    files = tree.nodes.new("CompositorNodeOutputFile")
    files.base_path = str(folder)
    files.format.file_format = "OPEN_EXR"
    files.format.color_depth = "32"
    files.file_slots.clear()
    for name, socket in (
        ("combined", out["Image"]),
        ("diffuse", diffuse),
        ("glossy", glossy),
        ("print", out["print"]),
        ("tint", out["tint"]),
    ):
        files.file_slots.new(name)
        tree.links.new(socket, files.inputs[name])
    composite = tree.nodes.new("CompositorNodeComposite")
    tree.links.new(out["Image"], composite.inputs["Image"])


def read_exr(path: Path) -> np.ndarray:
    """An EXR written by the compositor as ``(H, W, 4)`` float32, top row first, values as rendered."""
    image = bpy.data.images.load(str(path))
    image.colorspace_settings.name = "Non-Color"
    width, height = image.size
    pixels = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    bpy.data.images.remove(image)
    return pixels.reshape(height, width, 4)[::-1]


def srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3] @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def to8(values: np.ndarray) -> np.ndarray:
    return np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)


def write_layers(passes: dict[str, np.ndarray], folder: Path) -> dict:
    """The compositor's layers from the render's passes; returns what ``render.json`` records about them."""
    coverage = np.clip(passes["print"][..., 2], 0, 1)
    mask = to8(coverage)
    seen = mask > 0
    diffuse = luminance(passes["diffuse"])
    exposure = WHITE_LEVEL / np.percentile(diffuse[coverage > 0.99], 99.5)
    shading = srgb(diffuse * exposure)
    # The gloss as the screen that takes the diffuse light to diffuse + glossy: screen(shading, highlight)
    # is then the rendered light exactly, which is how the compositor lays ink under the gloss.
    lit = srgb((diffuse + luminance(passes["glossy"])) * exposure)
    highlight = np.where(shading < 0.999, 1 - (1 - lit) / np.maximum(1 - shading, 1e-3), 0.0)
    Image.fromarray(to8(srgb(passes["combined"][..., :3] * exposure))).save(folder / "base.jpg", quality=92)
    Image.fromarray(mask).save(folder / "mask.png", optimize=True)
    Image.fromarray(to8(shading)).save(folder / "shading.png", optimize=True)
    Image.fromarray(to8(highlight)).save(folder / "highlight.png", optimize=True)
    if passes["tint"][..., 0].max() > 0:
        Image.fromarray(to8(passes["tint"][..., 0])).save(folder / "tint.png", optimize=True)
    for axis, name in ((0, "uv-u.png"), (1, "uv-v.png")):
        uv = np.where(seen, passes["print"][..., axis] / np.maximum(coverage, 1e-6), 0.0)
        Image.fromarray(np.round(np.clip(uv, 0, 1) * 65535).astype(np.uint16)).save(folder / name, optimize=True)
    return {"exposure": float(exposure), "print_pixels": int(seen.sum())}


def landmarks(scene: bpy.types.Scene, surface: bpy.types.Object, grid: int = 5) -> list[dict]:
    """Points of the print area, found on the mesh by their UV and projected through the camera.

    Only points the camera sees (the first surface a ray from the camera meets) are kept.
    """
    mesh = surface.data
    mesh.calc_loop_triangles()
    triangles = np.empty(len(mesh.loop_triangles) * 3, dtype=np.int64)
    mesh.loop_triangles.foreach_get("loops", triangles)
    triangles = triangles.reshape(-1, 3)
    uv = np.empty(len(mesh.loops) * 2, dtype=np.float64)
    mesh.uv_layers[studio.PRINT_UV].data.foreach_get("uv", uv)
    uv = uv.reshape(-1, 2)[triangles]  # (T, 3, 2)
    positions = studio.vertex_positions(surface)[studio.loop_vertex_indices(mesh)][triangles]  # (T, 3, 3)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    camera = scene.camera
    size = scene.render.resolution_x, scene.render.resolution_y
    found = []
    for target in np.linspace(0.1, 0.9, grid)[np.indices((grid, grid)).reshape(2, -1)].T:
        a, b, c = uv[:, 0], uv[:, 1], uv[:, 2]
        v0, v1, v2 = b - a, c - a, target - a
        det = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        ok = np.abs(det) > 1e-14
        beta = np.where(ok, (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / np.where(ok, det, 1), -1)
        gamma = np.where(ok, (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / np.where(ok, det, 1), -1)
        inside = (beta >= 0) & (gamma >= 0) & (beta + gamma <= 1)
        for t in np.flatnonzero(inside)[:1]:
            local = positions[t, 0] * (1 - beta[t] - gamma[t]) + positions[t, 1] * beta[t] + positions[t, 2] * gamma[t]
            point = surface.matrix_world @ Vector(local)
            origin = camera.matrix_world.translation
            direction = point - origin
            hit, location, *_ = scene.ray_cast(
                depsgraph, origin, direction.normalized(), distance=direction.length + 0.01
            )
            if not hit or (location - point).length > 2e-4:
                continue
            x, y, _ = world_to_camera_view(scene, camera, point)
            found.append({"uv": [round(float(v), 4) for v in target], "pixel": [x * size[0], (1 - y) * size[1]]})
    return found


def template_spec(product: scenes.Product, has_tint: bool) -> dict:
    assets = {"base": "base.jpg", "mask": "mask.png", "shading": "shading.png", "highlight": "highlight.png"}
    if has_tint:
        assets["tint"] = "tint.png"
    spec = {
        "display_name": product.display_name,
        "assets": assets,
        "placement": {"kind": "uv", "u": "uv-u.png", "v": "uv-v.png"},
        "print_area_in": list(product.print_area_in),
        "fill": product.fill,
    }
    if product.colors:
        spec |= {"colors": product.colors, "default_color": product.default_color}
    return spec


PASSES = ("combined", "diffuse", "glossy", "print", "tint")


def render_product(name: str, size: int, samples: int, out: Path, keep_passes: Path | None) -> None:
    product = scenes.PRODUCTS[name]
    surface = product.build()
    scene = bpy.context.scene
    configure(scene, size, samples)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        exr_folder = keep_passes / name if keep_passes else Path(scratch)
        compositor(scene, exr_folder)
        started = time.monotonic()
        bpy.ops.render.render(write_still=False)
        seconds = time.monotonic() - started
        frame = f"{scene.frame_current:04d}"
        passes = {p: read_exr(exr_folder / f"{p}{frame}.exr") for p in PASSES}
    record = write_layers(passes, folder)
    has_tint = (folder / "tint.png").is_file()
    (folder / "template.json").write_text(json.dumps(template_spec(product, has_tint), indent=2) + "\n")
    record |= {
        "blender": bpy.app.version_string,
        "engine": "Cycles (CPU), OpenImageDenoise",
        "size": [size, size],
        "samples": samples,
        "render_seconds": round(seconds, 1),
        "landmarks": landmarks(scene, surface),
    }
    (folder / "render.json").write_text(json.dumps(record, indent=1) + "\n")
    print(
        f"{name}: {size}x{size}, {samples} samples, {seconds:.0f} s, {len(record['landmarks'])} landmarks", flush=True
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("products", nargs="*", default=sorted(scenes.PRODUCTS), choices=sorted(scenes.PRODUCTS))
    parser.add_argument("--size", type=int, default=2048, help="long edge in pixels (templates need >= 2048)")
    parser.add_argument("--samples", type=int, default=16, help="path-traced samples per pixel, before denoising")
    parser.add_argument("--out", type=Path, default=OUT, help="where the <product>/ folders go (default: mockups/)")
    parser.add_argument("--keep-passes", type=Path, help="also keep the raw passes (EXR) in this folder")
    args = parser.parse_args(argv)
    for name in args.products:
        render_product(name, args.size, args.samples, args.out, args.keep_passes)


if __name__ == "__main__":
    main()
