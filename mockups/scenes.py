"""The six built-in products as 3D scenes: change a product, the light or the camera here and render again.

Each ``build_<product>()`` empties Blender's scene, models the product, its studio (backdrop, softboxes,
camera) and returns the print surface: the object whose ``print_uv`` map is the print area. ``PRODUCTS``
holds what the template needs beside the render: the print area's size, how a design fills it, colours.
Units are metres (print areas are stated in inches in the template, as print shops state them); flat-laid
products lie on z = 0 with the camera above them, looking down.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import bpy
import numpy as np

from mockups import studio
from mockups.studio import OUTSIDE_UV

INCH = 0.0254
CHEST_PRINT = {"mode": "contain", "align": [0.5, 0.0]}  # whole design, top centre, as garment printers place it
APPAREL_COLORS = {
    "white": "#ffffff",
    "black": "#2b2b2e",
    "heather_grey": "#b9b9bd",
    "navy": "#27304d",
    "red": "#b3262e",
}


@dataclass(frozen=True)
class Product:
    display_name: str
    build: Callable[[], bpy.types.Object]
    print_area_in: tuple[float, float]  # the print area's width and height on the product, in inches
    fill: dict
    colors: dict[str, str] = field(default_factory=dict)
    default_color: str | None = None


def inches(width_m: float, height_m: float) -> tuple[float, float]:
    """A print area's size as the template states it: inches, to 2 decimals (its aspect is the UV map's)."""
    return round(width_m / INCH, 2), round(height_m / INCH, 2)


# --- studio -------------------------------------------------------------------------------------------


def paper_backdrop(color=(0.62, 0.61, 0.59)) -> bpy.types.Material:
    return studio.material(
        "backdrop",
        color,
        0.8,
        height=studio.grain_height(180.0),
        bump_distance=0.0004,
        bump_strength=0.25,
        color_variation=studio.mottled(0.035, 3.0),
    )


def flat_lay_studio(centre: tuple[float, float], field_of_view_m: float, key_power: float = 900.0) -> None:
    """Paper on the floor, a big softbox up left, a weaker fill opposite, a camera straight above."""
    studio.ground(paper_backdrop())
    cx, cy = centre
    studio.add_area_light("key", (cx - 1.3, cy + 1.1, 1.9), (cx, cy, 0), 1.8, key_power)
    studio.add_area_light("fill", (cx + 1.6, cy - 1.2, 1.4), (cx, cy, 0), 2.5, key_power * 0.25)
    focal_mm = 70.0
    height = field_of_view_m / 2 / math.tan(math.atan(18 / focal_mm))
    studio.add_camera((cx, cy, height), (cx, cy, 0), focal_mm)


def fabric(name: str, color, *, print_surface: bool, height, bump_distance=0.0004, bump_strength=0.6):
    return studio.material(
        name,
        color,
        0.92,
        height=height,
        bump_distance=bump_distance,
        bump_strength=bump_strength,
        specular=0.25,
        print_surface=print_surface,
        dyed=True,
    )


def garment(outline, thickness, rounding, voxel, top_offset, print_area, mat) -> bpy.types.Object:
    """A flat-laid garment body: the slab displaced by ``top_offset(xy)`` on its upper side, print UV projected.

    The UV is the flat footprint's, assigned before displacing, so the print follows every fold.
    """
    body = studio.slab(mat.name, outline, thickness, rounding, voxel)
    body.data.materials.append(mat)
    positions = studio.vertex_positions(body)
    rest_xy = positions[:, :2].copy()
    upper = np.clip((positions[:, 2] - thickness * 0.2) / (thickness * 0.8), 0, 1)
    positions[:, 2] += top_offset(rest_xy) * upper
    faces_up = studio.face_normals(body.data)[:, 2] > 0.5
    studio.planar_print_uv(body, rest_xy, print_area, faces_up)
    studio.set_vertex_positions(body, positions)
    studio.shade_smooth(body)
    return body


def rolling(xy: np.ndarray, amplitude: float, wavelengths, seed: int) -> np.ndarray:
    """Low, broad undulation: fabric never lies perfectly flat."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(xy))
    for wavelength in wavelengths:
        angle, phase = rng.uniform(0, math.pi), rng.uniform(0, 2 * math.pi)
        direction = np.array([math.cos(angle), math.sin(angle)])
        out += amplitude * np.sin(xy @ direction * 2 * math.pi / wavelength + phase)
    return out / len(wavelengths)


def inflation(xy: np.ndarray, outline, height: float, reach: float) -> np.ndarray:
    """Two layers of fabric with air between them: thicker in the middle, rolling down at the edges."""
    return height * (1 - np.exp(-studio.distance_to_outline(xy, outline) / reach))


def wobble(outline, amplitude: float, seed: int):
    """Hems and side seams that are not quite straight."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * math.pi, len(outline), endpoint=False)
    offset = sum(amplitude / k * np.sin(k * t + rng.uniform(0, 2 * math.pi)) for k in (3, 7, 13))
    tangent = np.roll(outline, -1, 0) - np.roll(outline, 1, 0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], -1) / np.linalg.norm(tangent, axis=1, keepdims=True)
    return outline + normal * offset[:, None]


def surface_height(body: bpy.types.Object, xy: np.ndarray) -> np.ndarray:
    """The garment's top at each (x, y): where a collar, cord or pocket lying on it sits."""
    positions = studio.vertex_positions(body)
    result = np.empty(len(xy))
    for i, point in enumerate(xy):
        near = np.sum((positions[:, :2] - point) ** 2, axis=1) < 0.006**2
        result[i] = positions[near, 2].max() if near.any() else 0.0
    return result


# --- t-shirt ------------------------------------------------------------------------------------------

TSHIRT_NECK = (0.088, 0.362, 0.285)  # half width, shoulder height, front centre height
# The print area (left, top, width, height): an adult tee's 12 x 16 in front scaled to this tee (35% of its
# width sleeve to sleeve, as print shops' mockups show it), portrait, its top 3 cm below the collar.
TSHIRT_PRINT = (-5.25 * INCH, 0.255, 10.5 * INCH, 14.0 * INCH)


def tshirt_front_neckline(samples: int = 40) -> np.ndarray:
    half, top, front = TSHIRT_NECK
    t = np.linspace(-math.pi / 2, math.pi / 2, samples)
    return np.stack([half * np.sin(t), top - (top - front) * np.cos(t)], -1)


def build_tshirt() -> bpy.types.Object:
    studio.reset_scene()
    right = [
        (0.0, 0.347),
        (0.05, 0.352),
        (0.088, 0.362),
        (0.215, 0.33),
        (0.384, 0.2),
        (0.326, 0.104),
        (0.256, 0.155),
        (0.258, -0.05),
        (0.262, -0.348),
        (0.255, -0.363),
        (0.0, -0.366),
    ]
    outline = wobble(studio.smooth_outline(studio.mirrored(right)), 0.002, seed=3)
    neck = tshirt_front_neckline()
    half, top, front = TSHIRT_NECK

    def top_offset(xy):
        x, y = xy[:, 0], xy[:, 1]
        offset = inflation(xy, outline, 0.012, 0.05) + rolling(xy, 0.005, (0.16, 0.23, 0.31, 0.4), seed=1)
        for start, end, height, width in [
            ((0.22, 0.15), (0.04, 0.0), 0.0065, 0.02),  # armpit drag lines
            ((-0.21, 0.13), (-0.03, -0.05), 0.0055, 0.018),
            ((0.2, 0.09), (0.09, -0.06), 0.004, 0.012),
            ((-0.19, 0.04), (0.13, -0.09), 0.005, 0.028),  # a soft fold across the chest
            ((-0.06, 0.2), (0.1, 0.12), 0.003, 0.02),
            ((-0.23, -0.18), (0.22, -0.14), 0.0055, 0.022),  # the belly, where the shirt was smoothed
            ((-0.2, -0.24), (0.05, -0.27), 0.004, 0.014),
            ((0.12, -0.2), (0.24, -0.3), 0.004, 0.012),
            ((0.27, 0.24), (0.34, 0.13), 0.0045, 0.012),  # sleeve creases
            ((-0.25, 0.25), (-0.32, 0.15), 0.004, 0.012),
            ((0.3, 0.28), (0.37, 0.19), 0.003, 0.01),
        ]:
            offset += studio.ridge(xy, start, end, height, width)
        offset += 0.0028 * np.sin(x * 2 * math.pi / 0.07 + 0.8) * np.clip((-0.27 - y) / 0.07, 0, 1)  # hem ripples
        for seam in (
            [(-0.3, -0.344), (0.3, -0.344)],
            [(0.088, 0.362), (0.215, 0.33)],
            [(-0.088, 0.362), (-0.215, 0.33)],
            [(0.215, 0.33), (0.238, 0.25), (0.256, 0.16)],
            [(-0.215, 0.33), (-0.238, 0.25), (-0.256, 0.16)],
            [(0.364, 0.213), (0.307, 0.117)],
            [(-0.364, 0.213), (-0.307, 0.117)],
        ):
            offset += studio.groove(xy, seam, 0.0009, 0.0014)
        inside_neck = (np.abs(x) < half) & (y > top - (top - front) * np.sqrt(np.clip(1 - (x / half) ** 2, 0, 1)))
        return np.where(inside_neck, offset - 0.012, offset)  # the inside of the back shows through the neck

    shirt = fabric("tshirt", (0.8, 0.8, 0.8), print_surface=True, height=studio.knit_height(0.0009), bump_strength=0.3)
    body = garment(outline, 0.008, 0.0035, 0.0022, top_offset, TSHIRT_PRINT, shirt)
    rib = fabric("collar", (0.8, 0.8, 0.8), print_surface=False, height=studio.rib_height(0.0016))
    back = np.stack([np.linspace(half, -half, 20), 0.347 + (0.362 - 0.347) * (np.linspace(-1, 1, 20) ** 2)], -1)
    collar_xy = np.vstack([neck, back[1:-1]])
    collar = np.column_stack([collar_xy, surface_height(body, collar_xy) + 0.0015])
    studio.tube("collar", collar, 0.009, rib, flatten=0.3, cyclic=True)
    flat_lay_studio((0.0, 0.0), 0.98)
    return body


# --- hoodie -------------------------------------------------------------------------------------------

# The kangaroo pocket (its top corners, then the bottom ones) and the print area (left, top, width, height):
# a chest print 34% of the hoodie's width sleeve to sleeve, nearly square (a pet portrait is), ending 2 cm
# above the pocket's seam (printers do not print over the pocket); the drawcords hang over its top corners.
HOODIE_POCKET = ((-0.139, -0.095), (0.139, -0.095), (0.205, -0.28), (-0.205, -0.28))
HOODIE_PRINT = (-7.0 * INCH, -0.075 + 12.75 * INCH, 14.0 * INCH, 12.75 * INCH)


def build_hoodie() -> bpy.types.Object:
    studio.reset_scene()
    right = [
        (0.0, 0.515),
        (0.1, 0.5),
        (0.155, 0.455),
        (0.178, 0.39),
        (0.235, 0.345),
        (0.47, -0.02),
        (0.495, -0.1),
        (0.43, -0.128),
        (0.276, 0.13),
        (0.282, -0.3),
        (0.0, -0.305),
    ]
    outline = wobble(studio.smooth_outline(studio.mirrored(right)), 0.0025, seed=5)
    hood_edge = np.array([(0.0, 0.3), (0.07, 0.335), (0.11, 0.39), (0.115, 0.44), (0.075, 0.482), (0.0, 0.492)])
    hood_loop = studio.smooth_outline(np.vstack([hood_edge, hood_edge[-2:0:-1] * (-1, 1)]), 160, 4)
    pocket = np.array(HOODIE_POCKET)

    def top_offset(xy):
        offset = inflation(xy, outline, 0.018, 0.06) + rolling(xy, 0.007, (0.17, 0.25, 0.35, 0.45), seed=2)
        for start, end, height, width in [
            ((0.24, 0.15), (0.06, 0.03), 0.007, 0.028),  # drag lines from the armpits
            ((-0.23, 0.14), (-0.05, 0.0), 0.006, 0.026),
            ((0.18, -0.02), (-0.2, 0.06), 0.004, 0.035),
            ((-0.22, -0.04), (-0.12, -0.2), 0.005, 0.02),  # the sides, where the body was smoothed out
            ((0.25, -0.08), (0.19, -0.26), 0.005, 0.018),
            ((0.38, 0.2), (0.28, 0.16), 0.004, 0.012),
        ]:
            offset += studio.ridge(xy, start, end, height, width)
        for side in (1, -1):  # fleece sleeves bunch up towards the cuffs
            axis_start, axis_end = np.array([0.27 * side, 0.25]), np.array([0.46 * side, -0.1])
            along = (axis_end - axis_start) / np.linalg.norm(axis_end - axis_start)
            across = np.array([-along[1], along[0]])
            for t, height, slant, length in (
                (0.5, 0.003, 0.5, 0.045),
                (0.74, 0.004, -0.3, 0.035),
                (0.88, 0.0045, 0.2, 0.05),
            ):
                centre = axis_start + (axis_end - axis_start) * t + across * 0.008 * side
                tilt = across + along * slant * side
                offset += studio.ridge(xy, centre - tilt * length, centre + tilt * length, height, 0.014)
        inside_hood = points_in_polygon(xy, hood_loop)
        offset = np.where(inside_hood, offset - 0.014, offset)  # the hood's lining, one layer down
        in_pocket = points_in_polygon(xy, pocket)
        offset += 0.003 * in_pocket
        for seam in (
            pocket[[3, 0, 1, 2]],
            [(-0.3, -0.302), (0.3, -0.302)],
            [(0.178, 0.39), (0.235, 0.345)],
            [(-0.178, 0.39), (-0.235, 0.345)],
            [(0.235, 0.345), (0.262, 0.24), (0.276, 0.13)],
            [(-0.235, 0.345), (-0.262, 0.24), (-0.276, 0.13)],
        ):
            offset += studio.groove(xy, seam, 0.0012, 0.0018)
        return offset

    fleece = fabric("hoodie", (0.8, 0.8, 0.8), print_surface=True, height=studio.knit_height(0.001), bump_strength=0.3)
    body = garment(outline, 0.012, 0.005, 0.0025, top_offset, HOODIE_PRINT, fleece)
    rib = fabric("rib", (0.8, 0.8, 0.8), print_surface=False, height=studio.rib_height(0.0022))
    band = studio.smooth_outline([(-0.27, -0.3), (0.27, -0.3), (0.268, -0.37), (-0.268, -0.37)], 200, 2)
    waistband = studio.slab("waistband", band, 0.011, 0.0045, 0.0025)
    waistband.data.materials.append(rib)
    studio.shade_smooth(waistband)
    for side in (1, -1):
        cuff = studio.smooth_outline(
            [(0.497 * side, -0.096), (0.428 * side, -0.127), (0.458 * side, -0.192), (0.522 * side, -0.165)], 100, 2
        )
        piece = studio.slab(f"cuff{side}", cuff, 0.011, 0.0045, 0.0025)
        piece.data.materials.append(rib)
        studio.shade_smooth(piece)
    heights = surface_height(body, hood_loop)
    studio.tube("hood_edge", np.column_stack([hood_loop, heights + 0.004]), 0.011, rib, flatten=0.45, cyclic=True)
    cord = studio.material("cord", (0.78, 0.78, 0.78), 0.8, height=studio.rib_height(0.002, "Z"), dyed=True)
    tip = studio.material("aglet", (0.7, 0.7, 0.72), 0.3, metallic=1.0)
    for side in (1, -1):
        path = np.array([(0.034, 0.318), (0.04, 0.29), (0.05, 0.26), (0.062, 0.235)]) * (side, 1)
        path_z = surface_height(body, path) + 0.003
        studio.tube(f"cord{side}", np.column_stack([path, path_z]), 0.003, cord)
        end = np.array([path[-1], path[-1] + (path[-1] - path[-2]) * 0.9])
        studio.tube(f"aglet{side}", np.column_stack([end, path_z[-1:].repeat(2)]), 0.0032, tip)
    flat_lay_studio((0.0, 0.1), 1.12)
    return body


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    inside = np.zeros(len(xy), dtype=bool)
    x, y = xy[:, 0], xy[:, 1]
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        inside ^= crosses & (x < (x1 - x0) * (y - y0) / np.where(y1 == y0, 1e-12, y1 - y0) + x0)
    return inside


# --- tote ---------------------------------------------------------------------------------------------


TOTE_PRINT = (-0.14, 0.135, 0.28, 0.30)  # left, top, width, height


def build_tote() -> bpy.types.Object:
    studio.reset_scene()
    outline = wobble(
        studio.smooth_outline([(-0.19, -0.21), (0.19, -0.21), (0.19, 0.21), (-0.19, 0.21)], 400, 2), 0.0015, seed=7
    )

    def top_offset(xy):
        offset = inflation(xy, outline, 0.004, 0.04) + rolling(xy, 0.0025, (0.2, 0.3, 0.5), seed=4)
        offset += studio.ridge(xy, (-0.17, 0.08), (0.1, -0.19), 0.0025, 0.035)
        offset += studio.ridge(xy, (0.16, 0.19), (0.19, -0.05), 0.002, 0.02)
        offset += studio.groove(xy, [(-0.19, 0.178), (0.19, 0.178)], 0.0008, 0.0014)  # the top hem
        return offset

    canvas = studio.material(
        "canvas",
        (0.83, 0.8, 0.72),
        0.95,
        height=studio.weave_height(0.0014),
        bump_distance=0.0005,
        bump_strength=0.8,
        specular=0.2,
        print_surface=True,
        dyed=True,
    )
    body = garment(outline, 0.005, 0.002, 0.002, top_offset, TOTE_PRINT, canvas)
    strap = studio.material("strap", (0.83, 0.8, 0.72), 0.95, height=studio.weave_height(0.0011), dyed=True)
    # The two straps lie as they fell: one leaning left, one right and a little higher, not quite round.
    for lift, lean, height, seed in ((0.0, -0.018, 0.16, 1), (0.0055, 0.022, 0.185, 2)):
        t = np.linspace(0, math.pi, 60)
        sway = 0.006 * np.sin(3 * t + seed)
        arc = np.column_stack([-0.09 * np.cos(t) + lean * np.sin(t) ** 2 + sway, 0.2 + height * np.sin(t) ** 0.8])
        arc = np.vstack([[(-0.09, 0.15)], arc, [(0.09, 0.15)]])
        z = np.where(arc[:, 1] < 0.211, 0.0085, 0.0022) + lift
        studio.tube("handle", np.column_stack([arc, z]), 0.0125, strap, flatten=0.16)
    flat_lay_studio((0.0, 0.08), 0.78)
    return body


# --- mug ----------------------------------------------------------------------------------------------

MUG_RADIUS, MUG_HEIGHT = 0.041, 0.096
MUG_PRINT = (math.radians(150), 0.012, 0.087)  # arc centred on the camera, bottom and top of the print


def lathe(profile: np.ndarray, segments: int) -> tuple[np.ndarray, list]:
    """Revolve an (r, z) profile about the z axis: a ring of quads per profile segment."""
    angles = np.linspace(0, 2 * math.pi, segments, endpoint=False)
    vertices = np.array([(r * math.cos(a), r * math.sin(a), z) for r, z in profile for a in angles])
    faces = []
    for i in range(len(profile) - 1):
        for j in range(segments):
            k = (j + 1) % segments
            faces.append((i * segments + j, i * segments + k, (i + 1) * segments + k, (i + 1) * segments + j))
    return vertices, faces


def mug_profile() -> np.ndarray:
    outer = [(0.0005, 0.0002), (0.03, 0.0002), (0.036, 0.0006), (0.0395, 0.002), (0.0407, 0.0045)]
    outer += [(MUG_RADIUS, z) for z in np.linspace(0.008, 0.093, 40)]
    rim_centre, rim_radius = (MUG_RADIUS - 0.00175, 0.0942), 0.00175
    rim = [
        (rim_centre[0] + rim_radius * math.cos(a), rim_centre[1] + rim_radius * math.sin(a))
        for a in np.linspace(0.15, math.pi - 0.15, 10)
    ]
    inner_r = MUG_RADIUS - 0.0035
    inner = [(inner_r, z) for z in np.linspace(0.092, 0.014, 12)]
    inner += [(inner_r - 0.003, 0.0095), (inner_r - 0.008, 0.0085), (0.0005, 0.0085)]
    return np.array(outer + rim + inner)


def build_mug() -> bpy.types.Object:
    studio.reset_scene()
    ceramic = studio.material("ceramic", (0.86, 0.86, 0.85), 0.07, specular=0.6, print_surface=True, dyed=True)
    vertices, faces = lathe(mug_profile(), 256)
    mug = studio.mesh_object("mug", vertices, faces, ceramic)
    studio.shade_smooth(mug)
    arc, bottom, top = MUG_PRINT
    mesh = mug.data
    loops, owner = studio.loop_vertex_indices(mesh), studio.loop_face_indices(mesh)
    centres = np.array([p.center[:] for p in mesh.polygons])
    co = vertices[loops]
    # Angle from the camera's side (-y), unwrapped next to each face's own angle so no face straddles the seam.
    face_angle = np.arctan2(centres[owner, 0], -centres[owner, 1])
    angle = face_angle + np.angle(np.exp(1j * (np.arctan2(co[:, 0], -co[:, 1]) - face_angle)))
    uv = np.stack([0.5 + angle / arc, (top - co[:, 2]) / (top - bottom)], -1)
    on_outer_wall = np.abs(np.hypot(centres[:, 0], centres[:, 1]) - MUG_RADIUS) < 0.0003
    uv[~on_outer_wall[owner]] = OUTSIDE_UV
    studio.set_print_uv(mug, uv)

    t = np.linspace(0, 1, 40)
    reach, span = 0.033, (0.078, 0.024)
    handle_x = MUG_RADIUS - 0.003 + reach * np.sin(np.pi * t) ** 0.75
    handle_z = span[0] + (span[1] - span[0]) * (t - 0.12 * np.sin(2 * np.pi * t))
    handle = studio.tube("handle", np.column_stack([handle_x, np.zeros_like(t), handle_z]), 0.0062, ceramic)
    positions = studio.vertex_positions(handle)
    positions[:, 1] *= 1.35  # an oval section, wider than deep
    studio.set_vertex_positions(handle, positions)

    backdrop = paper_backdrop((0.66, 0.64, 0.61))
    studio.sweep(backdrop, width=2.0, depth=1.0, height=1.2, radius=0.25, y_wall=0.35)
    studio.add_area_light("key", (-0.55, -0.45, 0.55), (0, 0, 0.05), 0.7, 140.0)
    studio.add_area_light("fill", (0.6, -0.5, 0.25), (0, 0, 0.05), 0.9, 35.0)
    studio.add_area_light("rim", (0.25, 0.45, 0.5), (0, 0, 0.05), 0.4, 40.0, shape="RECTANGLE")
    # A strip box 60 degrees to the camera's left: its reflection runs down the mug's front, over the print.
    studio.add_area_light("strip", (-0.42, -0.26, 0.07), (0, 0, 0.05), 0.06, 18.0, height=0.45)
    studio.add_camera((0.0, -0.6, 0.16), (0.012, 0.0, 0.046), 100.0)
    return mug


# --- phone case ---------------------------------------------------------------------------------------

CASE_SIZE, CASE_DEPTH, CASE_EDGE, CASE_CORNER = (0.078, 0.158), 0.011, 0.0035, 0.012
# The printed back sits in the bumper, sunk CASE_RECESS below its flat lip, which is CASE_LIP wide inside the
# rounded edge (CASE_EDGE) all round and round the camera cut-out: the print area runs up to that rim.
CASE_LIP, CASE_RECESS = 0.0007, 0.0005
CASE_PRINT = (CASE_SIZE[0] - 2 * (CASE_EDGE + CASE_LIP), CASE_SIZE[1] - 2 * (CASE_EDGE + CASE_LIP))
CAMERA_HOLE, CAMERA_HOLE_EDGE, CAMERA_LIP = 0.035, 0.0012, 0.002  # the cut-out's size, its rounding, its rim


def rounded_rectangle(width: float, height: float, radius: float, centre=(0.0, 0.0), per_corner: int = 16):
    points = []
    for cx, cy, start in ((1, 1, 0), (-1, 1, 90), (-1, -1, 180), (1, -1, 270)):
        for a in np.radians(np.linspace(start, start + 90, per_corner)):
            points.append(
                (
                    cx * (width / 2 - radius) + radius * math.cos(a) + centre[0],
                    cy * (height / 2 - radius) + radius * math.sin(a) + centre[1],
                )
            )
    return np.array(points)


def build_phone_case() -> bpy.types.Object:
    studio.reset_scene()
    width, height = CASE_SIZE
    plastic = studio.material(
        "case",
        (0.86, 0.86, 0.86),
        0.22,
        specular=0.5,
        height=studio.grain_height(2500.0),
        bump_distance=0.00005,
        bump_strength=0.3,
        print_surface=True,
        dyed=True,
    )
    # A bevelled slab's footprint is its outline grown by the bevel: the flat back is the outline itself.
    back = rounded_rectangle(width - 2 * CASE_EDGE, height - 2 * CASE_EDGE, CASE_CORNER - CASE_EDGE)
    case = studio.slab("case", back, CASE_DEPTH, CASE_EDGE, 0.0006)
    case.data.materials.append(plastic)
    lip_z = studio.vertex_positions(case)[:, 2].max()
    hole_centre = (-width / 2 + 0.0045 + CAMERA_HOLE / 2, height / 2 - 0.0045 - CAMERA_HOLE / 2)

    # The recess for the printed back: the back inset by the lip, less the camera cut-out and its rim. Cut with
    # exact prisms (not remeshed), so the print's edge is the rounded outline itself, not the voxel grid's steps.
    print_width, print_height = CASE_PRINT
    recess = studio.prism(
        "recess",
        rounded_rectangle(print_width, print_height, CASE_CORNER - CASE_EDGE - CASE_LIP, per_corner=64),
        lip_z - CASE_RECESS,
        lip_z + 0.003,
    )
    hole_outer = CAMERA_HOLE + 2 * CAMERA_HOLE_EDGE  # a bevelled cutter's footprint: grown by its bevel
    rim = hole_outer + 2 * CAMERA_LIP
    corner = 0.009 + CAMERA_HOLE_EDGE + CAMERA_LIP
    island = studio.prism(
        "camera_rim", rounded_rectangle(rim, rim, corner, hole_centre, 48), lip_z - 0.005, lip_z + 0.005
    )
    studio.boolean(recess, island, "DIFFERENCE")
    studio.boolean(case, recess, "DIFFERENCE")
    hole = rounded_rectangle(CAMERA_HOLE, CAMERA_HOLE, 0.009, hole_centre)
    cutter = studio.slab("cutter", hole, 0.01, CAMERA_HOLE_EDGE, 0.0006, 0)
    cutter.location.z = CASE_DEPTH - 0.0028
    studio.boolean(case, cutter, "DIFFERENCE")
    studio.shade_smooth(case)
    case.data.set_sharp_from_angle(angle=math.radians(35))  # the cut edges crisp, the bumper's curves smooth

    floor = studio.face_normals(case.data)[:, 2] > 0.999
    centres = np.array([p.center[:] for p in case.data.polygons])
    floor &= np.abs(centres[:, 2] - (lip_z - CASE_RECESS)) < 0.0001
    studio.planar_print_uv(
        case,
        studio.vertex_positions(case)[:, :2],
        (-print_width / 2, print_height / 2, print_width, print_height),
        floor,
    )

    glass = studio.material("camera_glass", (0.02, 0.02, 0.025), 0.04, specular=0.8)
    metal = studio.material("lens_ring", (0.55, 0.55, 0.58), 0.25, metallic=1.0)
    plate = studio.slab("camera_plate", rounded_rectangle(0.033, 0.033, 0.008, hole_centre), 0.0012, 0.0005, 0.0005, 0)
    plate.location.z = CASE_DEPTH - 0.0027
    plate.data.materials.append(glass)
    studio.shade_smooth(plate)
    for dx, dy in ((-0.0075, 0.0075), (-0.0075, -0.0075), (0.0075, 0.0)):
        cx, cy = hole_centre[0] + dx, hole_centre[1] + dy
        t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        ring = np.column_stack([cx + 0.0058 * np.cos(t), cy + 0.0058 * np.sin(t), np.full_like(t, CASE_DEPTH - 0.0009)])
        studio.tube("lens_ring", ring, 0.0009, metal, cyclic=True)
        lens = studio.slab("lens", rounded_rectangle(0.0112, 0.0112, 0.0056, (cx, cy)), 0.0016, 0.0006, 0.0004, 0)
        lens.location.z = CASE_DEPTH - 0.0026
        lens.data.materials.append(glass)
        studio.shade_smooth(lens)
    flash = studio.material("flash", (0.9, 0.85, 0.7), 0.3)
    dot = studio.slab(
        "flash",
        rounded_rectangle(0.004, 0.004, 0.002, (hole_centre[0] + 0.008, hole_centre[1] + 0.0095)),
        0.001,
        0.0003,
        0.0003,
        0,
    )
    dot.location.z = CASE_DEPTH - 0.0022
    dot.data.materials.append(flash)

    for obj in [o for o in bpy.context.scene.objects if o.type == "MESH"]:
        obj.rotation_euler.z = math.radians(9)  # laid down at a slight angle, as a person would
    studio.ground(paper_backdrop((0.6, 0.6, 0.6)))
    studio.add_area_light("key", (-0.35, 0.3, 0.55), (0, 0, 0), 0.6, 110.0)
    studio.add_area_light("fill", (0.45, -0.35, 0.35), (0, 0, 0), 0.8, 25.0)
    studio.add_camera((0.03, -0.17, 0.5), (0.0, -0.004, 0.0), 85.0)
    return case


# --- poster -------------------------------------------------------------------------------------------

POSTER_SIZE, FRAME_WIDTH, FRAME_DEPTH, FRAME_LIP = (0.5, 0.7), 0.03, 0.028, 0.005


def box(name: str, size, centre, mat=None) -> bpy.types.Object:
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=centre)
    obj = bpy.context.active_object
    obj.name = name
    obj.scale = size
    bpy.ops.object.transform_apply(scale=True)
    if mat is not None:
        obj.data.materials.append(mat)
    return obj


def build_poster() -> bpy.types.Object:
    studio.reset_scene()
    width, height = POSTER_SIZE
    centre_z = 1.5
    plaster = studio.material(
        "wall",
        (0.74, 0.72, 0.68),
        0.9,
        height=studio.grain_height(90.0),
        bump_distance=0.0008,
        bump_strength=0.35,
        color_variation=studio.mottled(0.025, 2.0),
    )
    box("wall", (4.0, 0.05, 3.2), (0, 0.025, 1.6), plaster)
    floor = studio.material("floor", (0.36, 0.27, 0.2), 0.5, height=studio.grain_height(40.0), bump_strength=0.2)
    box("floor", (4.0, 3.0, 0.05), (0, -1.5, -0.025), floor)
    skirting = studio.material("skirting", (0.76, 0.74, 0.7), 0.4)
    box("skirting", (4.0, 0.015, 0.1), (0, -0.0075, 0.05), skirting)

    wood = studio.material(
        "frame",
        (0.025, 0.023, 0.022),
        0.42,
        height=studio.grain_height(300.0),
        bump_distance=0.0002,
        bump_strength=0.3,
        specular=0.5,
    )
    outer = (width - 2 * FRAME_LIP + 2 * FRAME_WIDTH, height - 2 * FRAME_LIP + 2 * FRAME_WIDTH)
    frame = box("frame", (outer[0], FRAME_DEPTH, outer[1]), (0, -FRAME_DEPTH / 2, centre_z), wood)
    opening = box("opening", (width - 2 * FRAME_LIP, 0.1, height - 2 * FRAME_LIP), (0, 0, centre_z))
    boolean = frame.modifiers.new("opening", "BOOLEAN")
    boolean.operation, boolean.object = "DIFFERENCE", opening
    bevel = frame.modifiers.new("bevel", "BEVEL")
    bevel.width, bevel.segments = 0.0025, 3
    studio.apply_modifiers(frame)
    bpy.data.objects.remove(opening)

    paper = studio.material(
        "paper",
        (0.86, 0.86, 0.85),
        0.85,
        height=studio.grain_height(1500.0),
        bump_distance=0.00008,
        bump_strength=0.3,
        print_surface=True,
    )
    columns, rows = 50, 70
    xs, zs = (
        np.linspace(-width / 2, width / 2, columns + 1),
        np.linspace(centre_z + height / 2, centre_z - height / 2, rows + 1),
    )
    vertices = np.array([(x, -0.012, z) for z in zs for x in xs])  # in the frame's rebate
    faces = [
        (r * (columns + 1) + c, (r + 1) * (columns + 1) + c, (r + 1) * (columns + 1) + c + 1, r * (columns + 1) + c + 1)
        for r in range(rows)
        for c in range(columns)
    ]  # counter-clockwise seen from the camera
    poster = studio.mesh_object("poster", vertices, faces, paper)
    loops = studio.loop_vertex_indices(poster.data)
    co = vertices[loops]
    studio.set_print_uv(
        poster, np.stack([(co[:, 0] + width / 2) / width, (centre_z + height / 2 - co[:, 2]) / height], -1)
    )

    studio.add_area_light("window", (-2.2, -2.0, 2.6), (0, 0, centre_z), 2.6, 3000.0, shape="RECTANGLE")
    studio.add_area_light("fill", (1.8, -2.2, 1.6), (0, 0, centre_z), 2.5, 300.0)
    studio.add_camera((-0.3, -2.05, 1.42), (-0.015, 0.0, centre_z - 0.01), 80.0)
    return poster


PRODUCTS: dict[str, Product] = {
    "tshirt": Product("T-shirt", build_tshirt, inches(*TSHIRT_PRINT[2:]), CHEST_PRINT, APPAREL_COLORS, "white"),
    "hoodie": Product("Hoodie", build_hoodie, inches(*HOODIE_PRINT[2:]), CHEST_PRINT, APPAREL_COLORS, "white"),
    "tote": Product(
        "Tote bag",
        build_tote,
        inches(*TOTE_PRINT[2:]),
        {"mode": "contain"},
        {"natural": "#ffffff", "black": "#3a3a3c"},
        "natural",
    ),
    "mug": Product(
        "Mug",
        build_mug,
        inches(MUG_RADIUS * MUG_PRINT[0], MUG_PRINT[2] - MUG_PRINT[1]),
        {"mode": "cover", "focus": "subject"},
        {"white": "#ffffff", "black": "#2a2a2d", "sky": "#9fc5e8"},
        "white",
    ),
    "phone_case": Product(
        "Phone case",
        build_phone_case,
        inches(*CASE_PRINT),
        {"mode": "cover", "focus": "subject"},
        {"clear": "#ffffff", "black": "#26262a", "pink": "#f4b6c8"},
        "clear",
    ),
    "poster": Product("Poster", build_poster, inches(*POSTER_SIZE), {"mode": "cover", "focus": "subject"}),
}
