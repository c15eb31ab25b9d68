"""Reading depth or disparity maps: PFM, 16-bit PNG, TIFF, OpenEXR (e.g. Blender's Z pass), NPY.

Every format's header is read first and its size refused above the photo limit before any
value is decoded, so a small file cannot ask for a huge allocation.
"""
from __future__ import annotations

import os
import re

import cv2
import numpy as np

from ..errors import CineError
from .checks import check_regular_file
from .images import check_pixel_count, read_image_header

DEPTH_EXTENSIONS = (".pfm", ".png", ".npy", ".tif", ".tiff", ".exr")
#: Pillow's names of the image formats a depth map may be in, plus OpenEXR.
_IMAGE_FORMATS = ("PNG", "TIFF", "EXR")


def read_pfm(path: str) -> np.ndarray:
    """Read a Portable Float Map as an (H, W) or (H, W, 3) float32 array, top row first."""
    name = os.path.basename(path)
    with open(path, "rb") as handle:
        header = handle.readline(16).strip()
        if header not in (b"Pf", b"PF"):
            raise CineError(f"{name} is not a PFM file")
        dims = handle.readline(256)
        while dims.startswith(b"#"):
            dims = handle.readline(256)
        match = re.match(rb"^\s*(\d{1,9})\s+(\d{1,9})\s*$", dims)
        if not match:
            raise CineError(f"{name}: malformed PFM size line")
        width, height = int(match.group(1)), int(match.group(2))
        check_pixel_count(name, width, height)
        try:
            scale = float(handle.readline(64).strip())
        except ValueError:
            raise CineError(f"{name}: malformed PFM scale line") from None
        if not np.isfinite(scale) or scale == 0:
            raise CineError(f"{name}: malformed PFM scale line (must be a non-zero number)")
        channels = 3 if header == b"PF" else 1
        count = width * height * channels
        available = (os.path.getsize(path) - handle.tell()) // 4
        if available < count:
            raise CineError(f"{name} is truncated ({available} of {count} values)")
        data = np.fromfile(handle, dtype="<f4" if scale < 0 else ">f4", count=count)
    shape = (height, width, 3) if channels == 3 else (height, width)
    return np.ascontiguousarray(np.flipud(data.reshape(shape))).astype(np.float32)


def _read_npy(path: str) -> np.ndarray:
    """A NumPy array file, its shape and type checked from the header before any value is read."""
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(handle)
            offset = handle.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise CineError(f"cannot read {name} as a NumPy array ({str(exc)[:120]})") from None
    if dtype.hasobject or not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise CineError(f"{name}: a depth map must hold numbers, got {dtype}")
    if len(shape) not in (2, 3) or min(shape) < 1 or (len(shape) == 3 and shape[2] > 4):
        raise CineError(f"{name}: a depth map must be a 2-D array, got shape {shape}")
    check_pixel_count(name, shape[1], shape[0])
    if offset + int(np.prod(shape)) * dtype.itemsize > os.path.getsize(path):
        raise CineError(f"cannot read {name}: the file is truncated")
    values = np.load(path, allow_pickle=False)
    return values[:, :, 0] if values.ndim == 3 else values


def _decode_image(path: str) -> np.ndarray:
    header = read_image_header(path, _IMAGE_FORMATS, what="depth file")
    if header.format == "EXR":
        # OpenCV decodes OpenEXR only when asked to (its decoder is off by default); the header
        # was read and size-checked above.
        os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    values = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if values is None:
        raise CineError(f"cannot read depth map {os.path.basename(path)}: the file is damaged or not an image")
    return values


def read_depth_file(path: str) -> np.ndarray:
    """Read a single-channel depth/disparity map as float32 (H, W), values as stored.

    Raises:
        CineError: missing, unreadable, too large, not 2-D, or without finite values.
    """
    name = os.path.basename(path)
    check_regular_file(path, "depth file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".pfm":
        values = read_pfm(path)
    elif ext == ".npy":
        values = _read_npy(path)
    elif ext in DEPTH_EXTENSIONS:
        values = _decode_image(path)
    else:
        raise CineError(f"{name}: unsupported depth format (use PFM, 16-bit PNG, TIFF, EXR or NPY)")
    values = np.asarray(values)
    if values.ndim == 3:
        values = values[:, :, 0]
    if values.ndim != 2 or min(values.shape) < 2:
        raise CineError(f"{name}: a depth map must be a 2-D array, got shape {values.shape}")
    values = values.astype(np.float32)
    if not np.isfinite(values).any():
        raise CineError(f"{name} holds no finite depth values")
    return values
