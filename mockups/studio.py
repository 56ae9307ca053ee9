"""Building blocks of the product scenes: meshes, materials, lights and camera, in Blender's Python API.

Only ``mockups/render.py`` and ``mockups/scenes.py`` use this (a development tool: the worker, the tests and
CI never import Blender). Units are metres. Every print surface carries a UV map named ``print_uv`` that is
the print area's (u, v), [0, 1] on the area and -5 everywhere else on the object, and its material writes
that UV and the print mask to the ``print`` AOV, so the compositor's UV pass and mask come from the render.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import bpy
import numpy as np
from mathutils import Vector

PRINT_UV = "print_uv"
OUTSIDE_UV = -5.0  # the UV of object surface that is not print area
Outline = np.ndarray  # (N, 2) closed polygon, counter-clockwise, metres


# --- scene --------------------------------------------------------------------------------------------


def reset_scene() -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.unit_settings.system = "METRIC"
    world = bpy.data.worlds.new("studio")
    world.use_nodes = True
    background = world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (0.55, 0.56, 0.58, 1)
    background.inputs["Strength"].default_value = 0.25
    scene.world = world
    return scene


def look_at(obj: bpy.types.Object, target: Sequence[float], roll_degrees: float = 0.0) -> None:
    direction = Vector(target) - obj.location
    rotation = direction.to_track_quat("-Z", "Y").to_euler()
    obj.rotation_euler = rotation
    if roll_degrees:
        obj.rotation_euler.rotate_axis("Z", math.radians(roll_degrees))


def add_camera(location: Sequence[float], target: Sequence[float], focal_mm: float, roll_degrees: float = 0.0):
    data = bpy.data.cameras.new("camera")
    data.lens = focal_mm
    data.sensor_width = 36
    camera = bpy.data.objects.new("camera", data)
    bpy.context.scene.collection.objects.link(camera)
    camera.location = location
    look_at(camera, target, roll_degrees)
    bpy.context.scene.camera = camera
    return camera


def add_area_light(
    name: str,
    location: Sequence[float],
    target: Sequence[float],
    size: float,
    power: float,
    shape: str = "DISK",
    height: float | None = None,
):
    """A softbox: a large area light aimed at ``target``; its size sets how soft the shadows are.

    With ``height``, a rectangular strip box ``size`` wide and ``height`` tall (the long reflections
    along a glazed mug).
    """
    data = bpy.data.lights.new(name, "AREA")
    data.shape = "RECTANGLE" if height else shape
    data.size = size
    if height:
        data.size_y = height
    data.energy = power
    data.color = (1.0, 0.98, 0.96)
    light = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(light)
    light.location = location
    look_at(light, target)
    return light


def link(obj: bpy.types.Object) -> bpy.types.Object:
    bpy.context.scene.collection.objects.link(obj)
    return obj


# --- shader nodes -------------------------------------------------------------------------------------


def node(tree, kind: str, inputs: dict | None = None, **properties):
    """A new node with its properties set and its inputs linked (a socket) or given (a value)."""
    created = tree.nodes.new(kind)
    for key, value in properties.items():
        setattr(created, key, value)
    for key, value in (inputs or {}).items():
        if isinstance(value, bpy.types.NodeSocket):
            tree.links.new(value, created.inputs[key])
        else:
            created.inputs[key].default_value = value
    return created


def math_node(tree, operation: str, a, b=0.0):
    return node(tree, "ShaderNodeMath", {0: a, 1: b}, operation=operation).outputs[0]


def material(
    name: str,
    color: Sequence[float],
    roughness: float,
    *,
    height: Callable | None = None,
    bump_distance: float = 0.0005,
    bump_strength: float = 1.0,
    coat: float = 0.0,
    specular: float = 0.5,
    metallic: float = 0.0,
    print_surface: bool = False,
    dyed: bool = False,
    color_variation: Callable | None = None,
) -> bpy.types.Material:
    """A Principled BSDF material; ``height(tree)`` returns a socket for the bump (weave, grain, ...).

    ``print_surface`` writes the print area's UV and mask to the ``print`` AOV; ``dyed`` writes 1 to the
    ``tint`` AOV (where a colour variant applies).
    """
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    tree = mat.node_tree
    bsdf = tree.nodes["Principled BSDF"]
    bsdf.inputs["Base Color"].default_value = (*color, 1)
    bsdf.inputs["Roughness"].default_value = roughness
    bsdf.inputs["Specular IOR Level"].default_value = specular
    bsdf.inputs["Metallic"].default_value = metallic
    if coat:
        bsdf.inputs["Coat Weight"].default_value = coat
        bsdf.inputs["Coat Roughness"].default_value = 0.03
    if color_variation is not None:
        tree.links.new(color_variation(tree, color), bsdf.inputs["Base Color"])
    if height is not None:
        bump = node(tree, "ShaderNodeBump", {"Height": height(tree), "Distance": bump_distance})
        bump.inputs["Strength"].default_value = bump_strength
        tree.links.new(bump.outputs["Normal"], bsdf.inputs["Normal"])
    if print_surface:
        uv = node(tree, "ShaderNodeUVMap", uv_map=PRINT_UV)
        parts = node(tree, "ShaderNodeSeparateXYZ", {"Vector": uv.outputs["UV"]})
        u, v = parts.outputs["X"], parts.outputs["Y"]
        inside = None
        for coordinate in (u, v):
            band = math_node(
                tree,
                "MULTIPLY",
                math_node(tree, "GREATER_THAN", coordinate, 0.0),
                math_node(tree, "LESS_THAN", coordinate, 1.0),
            )
            inside = band if inside is None else math_node(tree, "MULTIPLY", inside, band)
        premultiplied = node(
            tree,
            "ShaderNodeCombineXYZ",
            {"X": math_node(tree, "MULTIPLY", u, inside), "Y": math_node(tree, "MULTIPLY", v, inside), "Z": inside},
        )
        node(tree, "ShaderNodeOutputAOV", {"Color": premultiplied.outputs["Vector"]}, aov_name="print")
    if dyed:
        node(tree, "ShaderNodeOutputAOV", {"Value": 1.0}, aov_name="tint")
    return mat


def object_coordinates(tree):
    return node(tree, "ShaderNodeTexCoord").outputs["Object"]


def coordinate(tree, axis: str, vector=None):
    return node(tree, "ShaderNodeSeparateXYZ", {"Vector": vector or object_coordinates(tree)}).outputs[axis]


def noise(tree, scale: float, detail: float = 2.0, vector=None):
    inputs = {"Scale": scale, "Detail": detail}
    if vector is not None:
        inputs["Vector"] = vector
    return node(tree, "ShaderNodeTexNoise", inputs).outputs["Fac"]


def knit_height(period: float, irregularity: float = 0.45) -> Callable:
    """Jersey knit: wavering columns of loops along y, rows faint, the yarn uneven (no regular grid)."""

    def build(tree):
        x, y = coordinate(tree, "X"), coordinate(tree, "Y")
        waver = math_node(tree, "MULTIPLY", math_node(tree, "SUBTRACT", noise(tree, 0.3 / period, 2.0), 0.5), period)
        phase = math_node(tree, "MULTIPLY", math_node(tree, "ADD", x, waver), math.pi / period)
        columns = math_node(tree, "ABSOLUTE", math_node(tree, "SINE", phase))
        rows = math_node(tree, "SINE", math_node(tree, "MULTIPLY", y, 2 * math.pi / (period * 0.8)))
        loops = math_node(tree, "ADD", columns, math_node(tree, "MULTIPLY", rows, 0.12))
        return math_node(tree, "ADD", loops, math_node(tree, "MULTIPLY", noise(tree, 0.4 / period, 3.0), irregularity))

    return build


def weave_height(period: float, irregularity: float = 0.35) -> Callable:
    """Plain-weave canvas: warp and weft threads passing over and under each other."""

    def build(tree):
        x, y = coordinate(tree, "X"), coordinate(tree, "Y")
        sx = math_node(tree, "SINE", math_node(tree, "MULTIPLY", x, math.pi / period))
        sy = math_node(tree, "SINE", math_node(tree, "MULTIPLY", y, math.pi / period))
        threads = math_node(tree, "MULTIPLY", sx, sy)
        slub = noise(tree, 60.0, 3.0)  # thicker and thinner stretches of yarn
        return math_node(tree, "ADD", threads, math_node(tree, "MULTIPLY", slub, irregularity))

    return build


def rib_height(period: float, along: str = "X") -> Callable:
    """Ribbed knit (cuffs, collars): raised lines across ``along``."""

    def build(tree):
        wave = math_node(tree, "SINE", math_node(tree, "MULTIPLY", coordinate(tree, along), 2 * math.pi / period))
        return math_node(tree, "ADD", wave, math_node(tree, "MULTIPLY", noise(tree, 900.0), 0.3))

    return build


def grain_height(scale: float) -> Callable:
    """Fine irregular grain: paper, plaster, powder-coated plastic."""

    def build(tree):
        return math_node(
            tree, "ADD", noise(tree, scale, 6.0), math_node(tree, "MULTIPLY", noise(tree, scale * 8, 2.0), 0.3)
        )

    return build


def mottled(amount: float, scale: float) -> Callable:
    """A base colour that varies a little (paper backdrop, plaster), so large areas do not look flat."""

    def build(tree, color):
        ramp = node(tree, "ShaderNodeMix", {"Factor": noise(tree, scale, 3.0)}, data_type="RGBA")
        ramp.inputs["A"].default_value = (*(c * (1 - amount) for c in color), 1)
        ramp.inputs["B"].default_value = (*(min(1.0, c * (1 + amount)) for c in color), 1)
        return ramp.outputs["Result"]

    return build


# --- meshes -------------------------------------------------------------------------------------------


def mesh_object(name: str, vertices: np.ndarray, faces: Sequence[Sequence[int]], mat=None) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in vertices], [], [tuple(f) for f in faces])
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    if mat is not None:
        mesh.materials.append(mat)
    link(obj)
    return obj


def prism(name: str, outline: Outline, bottom: float, top: float) -> bpy.types.Object:
    """``outline`` extruded straight from z = bottom to top, with the outline's own edges (no remeshing).

    A boolean cutter whose cut is as clean as the outline: a recess, a print area's edge.
    """
    n = len(outline)
    ring = np.asarray(outline, dtype=np.float64)
    vertices = np.vstack([np.column_stack([ring, np.full(n, bottom)]), np.column_stack([ring, np.full(n, top)])])
    sides = [(i, (i + 1) % n, n + (i + 1) % n, n + i) for i in range(n)]
    return mesh_object(name, vertices, [tuple(reversed(range(n))), tuple(range(n, 2 * n)), *sides])


def boolean(obj: bpy.types.Object, cutter: bpy.types.Object, operation: str = "DIFFERENCE") -> None:
    """Apply an exact boolean of ``cutter`` to ``obj``, then delete the cutter."""
    modifier = obj.modifiers.new(cutter.name, "BOOLEAN")
    modifier.operation, modifier.object, modifier.solver = operation, cutter, "EXACT"
    apply_modifiers(obj)
    bpy.data.objects.remove(cutter)


def apply_modifiers(obj: bpy.types.Object) -> None:
    bpy.context.view_layer.objects.active = obj
    for modifier in list(obj.modifiers):
        bpy.ops.object.modifier_apply(modifier=modifier.name)


def shade_smooth(obj: bpy.types.Object) -> None:
    obj.data.polygons.foreach_set("use_smooth", np.ones(len(obj.data.polygons), dtype=bool))
    obj.data.update()


def slab(name: str, outline: Outline, thickness: float, rounding: float, voxel: float, subdivide: int = 1):
    """A soft slab with ``outline`` as its footprint, resting on z = 0: the body of a flat-laid garment or bag.

    A filled, extruded and bevelled curve, remeshed into even quads (so displacement has vertices to move
    everywhere) and subdivided once for smooth folds.
    """
    curve = bpy.data.curves.new(name, "CURVE")
    curve.dimensions = "2D"
    curve.fill_mode = "BOTH"
    curve.extrude = max(thickness / 2 - rounding, 0.0)
    curve.bevel_depth = rounding
    curve.bevel_resolution = 4
    spline = curve.splines.new("POLY")
    spline.points.add(len(outline) - 1)
    for point, (x, y) in zip(spline.points, outline, strict=True):
        point.co = (x, y, 0, 1)
    spline.use_cyclic_u = True
    obj = link(bpy.data.objects.new(name, curve))
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.convert(target="MESH")
    obj = bpy.context.view_layer.objects.active
    remesh = obj.modifiers.new("remesh", "REMESH")
    remesh.mode = "VOXEL"
    remesh.voxel_size = voxel
    if subdivide:
        smooth = obj.modifiers.new("subdivide", "SUBSURF")
        smooth.levels = smooth.render_levels = subdivide
    apply_modifiers(obj)
    positions = vertex_positions(obj)
    positions[:, 2] -= positions[:, 2].min()
    set_vertex_positions(obj, positions)
    obj.select_set(False)
    return obj


def vertex_positions(obj: bpy.types.Object) -> np.ndarray:
    positions = np.empty(len(obj.data.vertices) * 3, dtype=np.float64)
    obj.data.vertices.foreach_get("co", positions)
    return positions.reshape(-1, 3)


def set_vertex_positions(obj: bpy.types.Object, positions: np.ndarray) -> None:
    obj.data.vertices.foreach_set("co", positions.astype(np.float32).ravel())
    obj.data.update()


def loop_vertex_indices(mesh: bpy.types.Mesh) -> np.ndarray:
    indices = np.empty(len(mesh.loops), dtype=np.int64)
    mesh.loops.foreach_get("vertex_index", indices)
    return indices


def loop_face_indices(mesh: bpy.types.Mesh) -> np.ndarray:
    starts = np.empty(len(mesh.polygons), dtype=np.int64)
    totals = np.empty(len(mesh.polygons), dtype=np.int64)
    mesh.polygons.foreach_get("loop_start", starts)
    mesh.polygons.foreach_get("loop_total", totals)
    return np.repeat(np.arange(len(starts)), totals)


def face_normals(mesh: bpy.types.Mesh) -> np.ndarray:
    normals = np.empty(len(mesh.polygons) * 3, dtype=np.float64)
    mesh.polygons.foreach_get("normal", normals)
    return normals.reshape(-1, 3)


def set_print_uv(obj: bpy.types.Object, loop_uv: np.ndarray) -> None:
    """Write the print area's UV per face corner (loop); -5 marks object surface outside the print area."""
    mesh = obj.data
    layer = mesh.uv_layers.new(name=PRINT_UV)
    layer.data.foreach_set("uv", loop_uv.astype(np.float32).ravel())
    mesh.uv_layers.active = layer


def planar_print_uv(obj: bpy.types.Object, rest_xy: np.ndarray, area: tuple[float, float, float, float], faces_up):
    """Print UV by projecting the rest (flat) footprint: ``area`` = (left, top, width, height) in metres.

    Assigned before the folds are displaced, so the UV moves with the fabric. ``faces_up`` selects the
    faces that can carry print (the upper side); all others get the outside UV.
    """
    left, top, width, height = area
    mesh = obj.data
    loops = loop_vertex_indices(mesh)
    faces = loop_face_indices(mesh)
    uv = np.stack([(rest_xy[loops, 0] - left) / width, (top - rest_xy[loops, 1]) / height], axis=-1)
    uv[~faces_up[faces]] = OUTSIDE_UV
    set_print_uv(obj, uv)


def distance_to_outline(points: np.ndarray, outline: Outline) -> np.ndarray:
    """Distance of each 2D point to the closed polygon's boundary (unsigned), in chunks to bound memory."""
    a = outline
    b = np.roll(outline, -1, axis=0)
    ab = b - a
    length2 = np.maximum((ab**2).sum(-1), 1e-12)
    out = np.empty(len(points))
    for start in range(0, len(points), 20000):
        p = points[start : start + 20000, None, :]
        t = np.clip(((p - a) * ab).sum(-1) / length2, 0, 1)
        closest = a + t[..., None] * ab
        out[start : start + 20000] = np.sqrt(((p - closest) ** 2).sum(-1)).min(-1)
    return out


def smooth_outline(points: Sequence[Sequence[float]], samples: int = 600, smoothing: int = 3) -> Outline:
    """A closed polygon through ``points`` resampled evenly and rounded (so corners are sewn, not cut)."""
    pts = np.asarray(points, dtype=np.float64)
    closed = np.vstack([pts, pts[:1]])
    lengths = np.r_[0, np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))]
    t = np.linspace(0, lengths[-1], samples, endpoint=False)
    resampled = np.stack([np.interp(t, lengths, closed[:, i]) for i in range(2)], axis=-1)
    kernel = np.ones(2 * smoothing + 1) / (2 * smoothing + 1)
    for _ in range(2):
        padded = np.vstack([resampled[-smoothing:], resampled, resampled[:smoothing]])
        resampled = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(2)], axis=-1)
    return resampled


def mirrored(right_half: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    """A symmetric outline from its right half, listed from the top centre clockwise to the bottom centre."""
    right = [tuple(p) for p in right_half]
    left = [(-x, y) for x, y in right if x > 0]
    return list(reversed(right)) + left  # counter-clockwise: bottom centre, up the right side, down the left


def ridge(xy: np.ndarray, start, end, height: float, width: float) -> np.ndarray:
    """A fold: a soft ridge (negative height: a crease) along the segment start-end, tapered at its ends."""
    a, b = np.asarray(start, float), np.asarray(end, float)
    ab = b - a
    length = np.linalg.norm(ab)
    t = ((xy - a) @ ab) / length**2
    perpendicular = np.abs((xy - a) @ np.array([-ab[1], ab[0]]) / length)
    taper = np.sin(np.pi * np.clip(t, 0, 1)) ** 0.7
    return height * taper * np.exp(-((perpendicular / width) ** 2))


def groove(xy: np.ndarray, polyline, depth: float, width: float) -> np.ndarray:
    """A stitched seam pressed into the fabric along an open polyline."""
    pts = np.asarray(polyline, float)
    best = np.full(len(xy), np.inf)
    for a, b in itertools.pairwise(pts):
        ab = b - a
        t = np.clip(((xy - a) @ ab) / (ab @ ab), 0, 1)
        best = np.minimum(best, np.linalg.norm(xy - (a + t[:, None] * ab), axis=1))
    return -depth * np.exp(-((best / width) ** 2))


def tube(name: str, polyline, radius: float, mat, flatten: float = 1.0, cyclic: bool = False, resolution: int = 6):
    """A cord, strap or rolled edge: a curve with a round (or flattened) profile, converted to a mesh."""
    curve = bpy.data.curves.new(name, "CURVE")
    curve.dimensions = "3D"
    curve.bevel_depth = radius
    curve.bevel_resolution = resolution
    curve.use_fill_caps = True
    spline = curve.splines.new("POLY")
    pts = np.asarray(polyline, float)
    spline.points.add(len(pts) - 1)
    for point, p in zip(spline.points, pts, strict=True):
        point.co = (*p, 1)
    spline.use_cyclic_u = cyclic
    obj = link(bpy.data.objects.new(name, curve))
    obj.data.materials.append(mat)
    bpy.context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.convert(target="MESH")
    obj = bpy.context.view_layer.objects.active
    obj.select_set(False)
    if flatten != 1.0:  # a strap or cord lying on a surface: squash the profile towards the path's height
        positions = vertex_positions(obj)
        nearest = np.argmin(((positions[:, None, :2] - pts[None, :, :2]) ** 2).sum(-1), axis=1)
        centre_z = pts[nearest, 2]
        positions[:, 2] = centre_z + (positions[:, 2] - centre_z) * flatten
        set_vertex_positions(obj, positions)
    shade_smooth(obj)
    return obj


def ground(mat, size: float = 6.0, z: float = 0.0) -> bpy.types.Object:
    half = size / 2
    return mesh_object(
        "ground",
        np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]]),
        [(0, 1, 2, 3)],
        mat,
    )


def sweep(mat, width: float = 6.0, depth: float = 3.0, height: float = 3.0, radius: float = 0.6, y_wall: float = 1.0):
    """A photo studio's seamless backdrop: a floor curving up into a wall behind the product."""
    profile = [(y, 0.0) for y in np.linspace(-depth, y_wall - radius, 8)]
    for angle in np.linspace(0, math.pi / 2, 24)[1:]:
        profile.append((y_wall - radius + radius * math.sin(angle), radius - radius * math.cos(angle)))
    profile += [(y_wall, z) for z in np.linspace(radius, height, 6)[1:]]
    vertices, faces = [], []
    for i, (y, z) in enumerate(profile):
        vertices += [(-width / 2, y, z), (width / 2, y, z)]
        if i:
            faces.append((2 * i - 2, 2 * i - 1, 2 * i + 1, 2 * i))
    obj = mesh_object("sweep", np.array(vertices), faces, mat)
    shade_smooth(obj)
    return obj
