"""Pinhole intrinsics and the pixel <-> camera-space convention, without PyTorch.

The Blender add-on uses this module to draw its interface and edit motion before the core's
dependencies are installed, so it imports only the standard library. Its functions are plain
arithmetic and take floats, NumPy arrays and PyTorch tensors alike.

Conventions, the one place they are defined:

* World space is the source camera's space: the photo was taken by a camera at the origin
  looking along +z, with x to the right and y downwards (OpenCV convention). Units are "nearest
  scene point at depth 1".
* Pixel (row i, column j) has its centre at image coordinates (u, v) = (j, i); the principal
  point of the source camera is the image centre ((W - 1) / 2, (H - 1) / 2).
* A camera pose is a 4x4 camera-to-world matrix whose rotation columns are the camera's x, y, z
  axes in world coordinates and whose last column is its position; the source camera is the
  identity (:class:`cine_core.cameras.paths.Camera`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

#: The sensor width lens lengths refer to (full frame): a 36 mm lens spans max(W, H) pixels with
#: a focal length of max(W, H), the core's default view (about 53 degrees across the long side).
FULL_FRAME_MM = 36.0


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def for_photo(cls, width: int, height: int, focal: float | None = None) -> "Intrinsics":
        """The published method's camera: focal length max(W, H) pixels (about 53 degrees across
        the long side) unless ``focal`` is given, principal point at the image centre."""
        f = float(focal if focal is not None else max(width, height))
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height)

    def matrix(self) -> tuple[tuple[float, float, float], ...]:
        """The 3x3 calibration matrix K, row by row."""
        return ((self.fx, 0.0, self.cx), (0.0, self.fy, self.cy), (0.0, 0.0, 1.0))

    def zoomed(self, factor: float) -> "Intrinsics":
        """Same image size, focal length multiplied by ``factor``."""
        return replace(self, fx=self.fx * factor, fy=self.fy * factor)

    def resized(self, width: int, height: int) -> "Intrinsics":
        """The same field of view for an image of another size."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                          (self.cy + 0.5) * sy - 0.5, width, height)


def focal_from_lens(lens_mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a ``lens_mm`` lens on a full-frame sensor spanning the long
    side of a ``width`` x ``height`` image."""
    return lens_mm / FULL_FRAME_MM * max(width, height)


def lift(u, v, depth, k: Intrinsics) -> tuple:
    """Camera-space point (x, y, z) of pixel (u, v) at ``depth``: K^-1 [u, v, 1] * depth.

    ``u``, ``v`` and ``depth`` are numbers or arrays/tensors of one shape; so are x, y, z.
    """
    return (u - k.cx) / k.fx * depth, (v - k.cy) / k.fy * depth, depth


def project(x, y, z, k: Intrinsics) -> tuple:
    """Pixel (u, v) of the camera-space point (x, y, z) with z > 0: the inverse of :func:`lift`."""
    return k.fx * x / z + k.cx, k.fy * y / z + k.cy
