"""Blender objects of a cinemagraph: the layered surface, the source camera, the moving-region mask
and the hint arrows, built from what the core computed (conversion only, no computation).
"""
from __future__ import annotations

import numpy as np
import bpy
from mathutils import Matrix, Vector

from ..cine_core import Intrinsics
from . import conversion
from .errors import AddonError

#: Point attributes of the surface mesh (point domain).
COLOR_ATTRIBUTE = "Color"  # the photo's colour of each vertex (sRGB bytes)
PIXEL_ATTRIBUTE = "photo_pixel"  # where the vertex lies in the photo (x, y), for mask selection
#: The surface vertex a vertex of the cross-fade copy repeats; -1 on the surface itself.
#: Surfaces imported before the cross-fade lack it (see ``playback``).
COPY_ATTRIBUTE = "cinemagraph_copy_of"
#: Object property: how transparent the moving part of the surface is at the current frame
#: (the cross-fade copy shows through it); read by the cross-fade material, 0 when missing.
SEE_THROUGH_PROPERTY = "cinemagraph_see_through"
#: Marks the material this add-on made, so imports share it.
MARKER = "cinemagraph"


def _find_marked(collection, kind: str):
    for item in collection:
        if item.get(MARKER) == kind:
            return item
    return None


def _glowing_material(kind: str, name: str):
    """A new material marked ``kind`` whose nodes are an Emission of the vertices' photo colour
    and the Material Output at its right; returns the material and those two nodes."""
    material = bpy.data.materials.new(name)
    material[MARKER] = kind
    material.use_nodes = True
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    attribute = nodes.new("ShaderNodeAttribute")
    attribute.attribute_type = "GEOMETRY"
    attribute.attribute_name = COLOR_ATTRIBUTE
    attribute.location = (-400, 0)
    emission = nodes.new("ShaderNodeEmission")
    emission.location = (-150, 0)
    output = nodes.new("ShaderNodeOutputMaterial")
    output.location = (300, 0)
    links.new(attribute.outputs["Color"], emission.inputs["Color"])
    return material, emission, output


def surface_material() -> bpy.types.Material:
    """The shared material of all cinemagraph surfaces (their still part and their cross-fade
    copies; the moving part uses :func:`crossfade_material`): each vertex glows with its photo
    colour, interpolated linearly across the triangles between pixel centres.

    Emission rather than a lit surface: the photo already contains its lighting, and with the
    Standard view transform an emission of the colour renders as exactly that colour.
    """
    material = _find_marked(bpy.data.materials, "surface")
    if material is not None:
        return material
    material, emission, output = _glowing_material("surface", "Cinemagraph Surface")
    material.node_tree.links.new(emission.outputs["Emission"], output.inputs["Surface"])
    return material


def crossfade_material() -> bpy.types.Material:
    """The shared material of the surfaces' moving part: the photo's colours as in
    :func:`surface_material`, transparent by the object's :data:`SEE_THROUGH_PROPERTY`, which
    the frame-change handler sets each frame (the cross-fade copy behind shows through)."""
    material = _find_marked(bpy.data.materials, "crossfade")
    if material is not None:
        return material
    material, emission, output = _glowing_material("crossfade", "Cinemagraph Cross-fade")
    if hasattr(material, "surface_render_method"):
        material.surface_render_method = "DITHERED"  # EEVEE: depth-tested, converges to the blend
    nodes, links = material.node_tree.nodes, material.node_tree.links
    see_through = nodes.new("ShaderNodeAttribute")
    see_through.attribute_type = "OBJECT"
    see_through.attribute_name = SEE_THROUGH_PROPERTY
    see_through.location = (-400, 250)
    transparent = nodes.new("ShaderNodeBsdfTransparent")
    transparent.location = (-150, -150)
    mix = nodes.new("ShaderNodeMixShader")
    mix.location = (80, 0)
    links.new(see_through.outputs["Fac"], mix.inputs["Fac"])
    links.new(emission.outputs["Emission"], mix.inputs[1])
    links.new(transparent.outputs["BSDF"], mix.inputs[2])
    links.new(mix.outputs["Shader"], output.inputs["Surface"])
    return material


def write_positions(mesh: bpy.types.Mesh, positions: np.ndarray) -> None:
    """Set every vertex position (core coordinates) in one call; the viewport updates."""
    mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(positions, np.float32).ravel())
    mesh.update()


def surface_mesh(name: str, data) -> bpy.types.Mesh:
    """The layered surface (the core's ``SurfaceVertices``) as a triangle mesh with the vertices' colours and photo pixels."""
    mesh = bpy.data.meshes.new(f"{name} Surface")
    mesh.vertices.add(data.count)
    num_triangles = len(data.triangles)
    mesh.loops.add(3 * num_triangles)
    mesh.polygons.add(num_triangles)
    mesh.loops.foreach_set("vertex_index", np.ascontiguousarray(data.triangles, np.int32).ravel())
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * num_triangles, 3, dtype=np.int32))
    rgba = np.concatenate([data.colors, np.ones((data.count, 1), np.float32)], axis=1)
    mesh.attributes.new(COLOR_ATTRIBUTE, "BYTE_COLOR", "POINT").data.foreach_set(
        "color_srgb", np.ascontiguousarray(rgba, np.float32).ravel())
    mesh.attributes.new(PIXEL_ATTRIBUTE, "FLOAT2", "POINT").data.foreach_set(
        "vector", np.ascontiguousarray(data.pixels, np.float32).ravel())
    mesh.attributes.new(COPY_ATTRIBUTE, "INT", "POINT").data.foreach_set(
        "value", np.ascontiguousarray(data.copy_of, np.int32))
    mesh.color_attributes.active_color_name = COLOR_ATTRIBUTE
    mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(data.positions, np.float32).ravel())
    mesh.polygons.foreach_set("material_index", data.translucent.astype(np.int32))
    mesh.update(calc_edges=True)
    mesh.materials.append(surface_material())
    mesh.materials.append(crossfade_material())
    return mesh


def copy_sources(mesh: bpy.types.Mesh) -> np.ndarray | None:
    """(V,) int32 :data:`COPY_ATTRIBUTE` of ``mesh``, or None for a surface without a cross-fade copy."""
    attribute = mesh.attributes.get(COPY_ATTRIBUTE)
    if attribute is None:
        return None
    values = np.empty(len(mesh.vertices), np.int32)
    attribute.data.foreach_get("value", values)
    return values


def create_surface(name: str, data) -> bpy.types.Object:
    return bpy.data.objects.new(f"{name} Surface", surface_mesh(name, data))


def replace_surface(surface: bpy.types.Object, name: str, data) -> None:
    """Give ``surface`` a new mesh (a new motion orders the cloud's points differently)."""
    old = surface.data
    surface.data = surface_mesh(name, data)
    if old.users == 0:
        bpy.data.meshes.remove(old)


def read_positions(mesh: bpy.types.Mesh) -> np.ndarray:
    """(V, 3) float32 vertex positions."""
    positions = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.attributes["position"].data.foreach_get("vector", positions)
    return positions.reshape(-1, 3)


def create_source_camera(name: str, intrinsics: Intrinsics, points: bpy.types.Object, scale: float,
                         far: float) -> bpy.types.Object:
    """The camera that took the photo, a child of the surface at the core's origin.

    Its transform is locked: move the surface to move the whole cinemagraph.
    """
    data = bpy.data.cameras.new(f"{name} Source Camera")
    for key, value in conversion.camera_lens_settings(intrinsics).items():
        setattr(data, key, value)
    data.clip_start = 0.01 * scale
    data.clip_end = 2.0 * far * scale
    data.display_size = 0.25 * scale
    camera = bpy.data.objects.new(f"{name} Source Camera", data)
    camera.parent = points
    camera.matrix_parent_inverse = Matrix.Identity(4)
    camera.matrix_basis = conversion.source_camera_local(scale)
    camera.lock_location = camera.lock_rotation = camera.lock_scale = (True, True, True)
    return camera


def create_safe_zone(name: str, points: bpy.types.Object, radius: float) -> bpy.types.Object:
    """A sphere empty around the source camera (``radius`` in core units): inside it the camera
    sees nothing the layered depth image does not hold. Shown in the viewport, never rendered."""
    zone = bpy.data.objects.new(f"{name} Safe Camera Zone", None)
    zone.empty_display_type = "SPHERE"
    zone.empty_display_size = radius
    zone.hide_render = True
    zone.hide_select = True
    zone.parent = points
    zone.matrix_parent_inverse = Matrix.Identity(4)
    return zone


def create_mask_image(name: str, mask: np.ndarray, what: str = "Moving Region") -> bpy.types.Image:
    """A packed black-and-white image ``<name> <what>`` of the moving region (``mask``: (H, W)
    bool, top row first)."""
    height, width = mask.shape
    image = bpy.data.images.new(f"{name} {what}", width, height, alpha=False)
    image.colorspace_settings.is_data = True
    write_mask(image, mask)
    return image


def show_moving_pixels(name: str, moving: np.ndarray) -> bpy.types.Image:
    """The image ``<name> Moving Pixels`` (created or replaced): white where the motion moves the
    photo after Update Motion, i.e. the moving region without what is held still inside it.

    Args:
        moving: (H, W) bool, top row first.
    """
    image = bpy.data.images.get(f"{name} Moving Pixels")
    if image is not None and tuple(image.size) == moving.shape[::-1]:
        write_mask(image, moving)
        return image
    if image is not None:
        bpy.data.images.remove(image)
    return create_mask_image(name, moving, "Moving Pixels")


def write_mask(image: bpy.types.Image, mask: np.ndarray) -> None:
    """Replace the image's pixels by ``mask`` (resized by the caller) and pack it into the .blend."""
    values = conversion.image_rows_to_blender(mask.astype(np.float32))
    rgba = np.repeat(values[:, :, None], 4, axis=2)
    rgba[:, :, 3] = 1.0
    image.pixels.foreach_set(rgba.ravel())
    image.update()
    image.pack()


def read_mask(image: bpy.types.Image) -> np.ndarray:
    """(H, W) bool, top row first: where the image is brighter than half (painted white)."""
    width, height = image.size
    if width == 0 or height == 0:
        raise AddonError(f"The moving-region image {image.name} has no pixels; load or paint it again")
    values = np.empty(width * height * image.channels, np.float32)
    image.pixels.foreach_get(values)
    values = values.reshape(height, width, image.channels)
    brightness = values[:, :, :3].max(axis=2) if image.channels >= 3 else values[:, :, 0]
    return conversion.image_rows_to_blender(brightness > 0.5)


def create_hint(name: str, hints: bpy.types.Collection, points: bpy.types.Object, intrinsics: Intrinsics,
                start: tuple[float, float], end: tuple[float, float], depth: float) -> bpy.types.Object:
    """An arrow empty from photo pixel ``start`` to ``end``, placed at ``depth`` in front of the
    source camera (a child of the surface, so its local coordinates are core coordinates)."""
    tail = conversion.lift_point(start[0], start[1], depth, intrinsics)
    head = conversion.lift_point(end[0], end[1], depth, intrinsics)
    direction = head - tail
    arrow = bpy.data.objects.new(name, None)
    arrow.empty_display_type = "SINGLE_ARROW"
    arrow.empty_display_size = 1.0
    arrow.show_in_front = True
    arrow.hide_render = True
    arrow.parent = points
    arrow.matrix_parent_inverse = Matrix.Identity(4)
    arrow.matrix_basis = Matrix.LocRotScale(tail, direction.to_track_quat("Z", "Y"),
                                            Vector((1.0, 1.0, 1.0)) * direction.length)
    hints.objects.link(arrow)
    return arrow


def hint_depth(depth: np.ndarray, pixel: tuple[float, float]) -> float:
    """Depth at which an arrow starting at ``pixel`` floats: just in front of the surface there,
    so it stays visible among the points when orbiting."""
    height, width = depth.shape
    column = int(np.clip(round(pixel[0]), 0, width - 1))
    row = int(np.clip(round(pixel[1]), 0, height - 1))
    return 0.97 * float(depth[row, column])


def hint_pixels(arrow: bpy.types.Object, points: bpy.types.Object,
                intrinsics: Intrinsics) -> tuple[tuple[float, float], tuple[float, float]]:
    """Photo pixels of an arrow's tail and tip, projected through the source camera."""
    tail = arrow.matrix_world @ Vector((0.0, 0.0, 0.0))
    tip = arrow.matrix_world @ Vector((0.0, 0.0, arrow.empty_display_size))
    return (conversion.hint_pixel(conversion.to_core(points.matrix_world, tail), intrinsics),
            conversion.hint_pixel(conversion.to_core(points.matrix_world, tip), intrinsics))
