"""The one conversion between the core's conventions and Blender's.

Core (see ``cine_core.cameras.intrinsics``): world space is the source camera's space with OpenCV axes
(x right, y down, z forward); the unit is the depth of the nearest scene point; pixel centres
sit at integer coordinates, rows top to bottom.

Blender: Z is up; a camera looks down its local -Z with +Y up; images are stored bottom row
first; a camera's image is described by lens, sensor, sensor fit and shift.

The bridge is the cinemagraph's surface object: its mesh coordinates *are* core world
coordinates and its world matrix (a location, a rotation and a uniform scale = Blender units
per core unit) places the core world in the Blender scene. So

* the surface needs no conversion at all (vertex = core point),
* the source camera is the surface's child at :func:`source_camera_local`,
* hint arrows are its children too, and project to photo pixels with :func:`hint_pixel`,
* any Blender camera converts to a core camera with :func:`camera_to_core` and back with
  :func:`camera_from_core`, and its lens/sensor/shift to pixel intrinsics with
  :func:`intrinsics_from_projection`.

By default the source camera stands at the 3D cursor looking along +Y with +Z up, so core
(x, y, z) lands at Blender cursor + (x, z, -y) * scale.
"""
from __future__ import annotations

import math

import numpy as np
from mathutils import Matrix, Vector

from ..cine_core import FULL_FRAME_MM, Intrinsics, lift, project
from .errors import AddonError

#: Core camera axes (x right, y down, z forward) -> Blender camera axes (x right, y up, z back).
CAMERA_AXES = Matrix.Rotation(math.pi, 4, "X")
#: A Blender camera at the origin looking along +Y with +Z up.
LOOKING_ALONG_Y = Matrix.Rotation(math.pi / 2.0, 4, "X")


def unit_scale(matrix: Matrix) -> Matrix:
    """``matrix`` without its scale (cameras ignore object scale)."""
    location, rotation, _ = matrix.decompose()
    return Matrix.LocRotScale(location, rotation, None)


def core_scale(points_world: Matrix) -> float:
    """Blender units per core unit: the surface object's (uniform) scale."""
    scale = points_world.to_scale()
    if min(scale) <= 0.0 or max(scale) - min(scale) > 1e-4 * max(scale):
        raise AddonError("The cinemagraph's surface must keep a uniform, positive scale; "
                         "apply Scale only uniformly (S) to it")
    return float(sum(scale) / 3.0)


def points_world_for_camera(camera_world: Matrix, scale: float) -> Matrix:
    """World matrix of the surface whose source camera has the pose ``camera_world``."""
    return unit_scale(camera_world) @ CAMERA_AXES @ Matrix.Scale(scale, 4)


def source_camera_local(scale: float) -> Matrix:
    """The source camera's matrix relative to its parent, the surface: the core camera at
    the origin, with the parent's scale undone (camera objects keep scale 1)."""
    return CAMERA_AXES @ Matrix.Scale(1.0 / scale, 4)


def camera_to_core(points_world: Matrix, camera_world: Matrix) -> np.ndarray:
    """The core's (4, 4) camera-to-world matrix of a Blender camera at ``camera_world``."""
    scale = core_scale(points_world)
    pose = points_world.inverted() @ unit_scale(camera_world) @ CAMERA_AXES @ Matrix.Scale(scale, 4)
    return np.array(pose, dtype=np.float32)


def camera_from_core(points_world: Matrix, cam_to_world) -> Matrix:
    """The Blender camera matrix (scale 1) of a core camera-to-world matrix."""
    scale = core_scale(points_world)
    pose = Matrix([[float(v) for v in row] for row in np.asarray(cam_to_world)])
    return unit_scale(points_world @ pose @ Matrix.Scale(1.0 / scale, 4) @ CAMERA_AXES)


def to_core(points_world: Matrix, location: Vector) -> Vector:
    """A Blender world location in core world coordinates."""
    return points_world.inverted() @ Vector(location)


def intrinsics_from_projection(projection: Matrix, width: int, height: int) -> Intrinsics:
    """Pixel intrinsics of a Blender camera from its projection matrix
    (``Object.calc_matrix_camera``), which already accounts for lens, sensor fit, shift and
    pixel aspect.

    OpenGL-style ndc x = P00 * X / -Z + P02 with camera-space X, Z; the core's x = X, z = -Z and
    pixel centres lie half a pixel inside the image edges, so u = W / 2 * (ndc + 1) - 0.5.
    """
    if abs(projection[3][2] + 1.0) > 1e-6 or abs(projection[3][3]) > 1e-6:
        raise AddonError("Cinemagraphs render through perspective cameras only; "
                         "set the camera's Type to Perspective")
    fx = 0.5 * width * projection[0][0]
    fy = 0.5 * height * projection[1][1]
    cx = 0.5 * width * (1.0 - projection[0][2]) - 0.5
    cy = 0.5 * height * (1.0 + projection[1][2]) - 0.5
    return Intrinsics(fx, fy, cx, cy, int(width), int(height))


def camera_lens_settings(intrinsics: Intrinsics) -> dict[str, object]:
    """Blender camera data settings that reproduce ``intrinsics`` at its own image size.

    The sensor is full frame, fitted to the long side, so the framing survives a render resolution of
    another aspect ratio. The inverse of :func:`intrinsics_from_projection`.
    """
    k = intrinsics
    horizontal = k.width >= k.height
    fit_pixels = k.width if horizontal else k.height
    focal = k.fx if horizontal else k.fy
    return {
        "type": "PERSP",
        "sensor_fit": "HORIZONTAL" if horizontal else "VERTICAL",
        "sensor_width": FULL_FRAME_MM,
        "sensor_height": FULL_FRAME_MM,
        "lens": focal * FULL_FRAME_MM / fit_pixels,
        "shift_x": ((k.width - 1) / 2.0 - k.cx) / fit_pixels,
        "shift_y": (k.cy - (k.height - 1) / 2.0) / fit_pixels,
    }


def lift_point(u: float, v: float, depth: float, k: Intrinsics) -> Vector:
    """The core world point of pixel (u, v) at ``depth``, as a Blender vector."""
    return Vector(lift(u, v, depth, k))


def hint_pixel(point: Vector, k: Intrinsics) -> tuple[float, float]:
    """Photo pixel of a core world point (a hint arrow's end), which must lie in front of the
    source camera."""
    if point.z <= 1e-6:
        raise AddonError("A hint arrow lies behind the source camera; move it in front of the photo")
    return project(point.x, point.y, point.z, k)


def image_rows_to_blender(rows_top_first: np.ndarray) -> np.ndarray:
    """Blender images store the bottom row first; the core the top row."""
    return np.ascontiguousarray(rows_top_first[::-1])


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """The core's colours are sRGB-encoded like the photo; Blender's render results are
    scene-linear (the view transform encodes them again for display and 8-bit files)."""
    srgb = np.clip(srgb, 0.0, 1.0)
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)
