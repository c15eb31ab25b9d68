"""Reading depth or disparity maps: PFM, 16-bit PNG (or any cv2 format), NPY."""
from __future__ import annotations

import os
import re

import cv2
import numpy as np

from .errors import CineError

DEPTH_EXTENSIONS = (".pfm", ".png", ".npy", ".tif", ".tiff", ".exr")


def read_pfm(path: str) -> np.ndarray:
    """Read a Portable Float Map as an (H, W) or (H, W, 3) float32 array, top row first."""
    with open(path, "rb") as handle:
        header = handle.readline().strip()
        if header not in (b"Pf", b"PF"):
            raise CineError(f"{os.path.basename(path)} is not a PFM file")
        dims = handle.readline()
        while dims.startswith(b"#"):
            dims = handle.readline()
        match = re.match(rb"^\s*(\d+)\s+(\d+)\s*$", dims)
        if not match:
            raise CineError(f"{os.path.basename(path)}: malformed PFM size line")
        width, height = int(match.group(1)), int(match.group(2))
        try:
            scale = float(handle.readline().strip())
        except ValueError:
            raise CineError(f"{os.path.basename(path)}: malformed PFM scale line") from None
        channels = 3 if header == b"PF" else 1
        count = width * height * channels
        data = np.fromfile(handle, dtype="<f4" if scale < 0 else ">f4", count=count)
    if data.size != count:
        raise CineError(f"{os.path.basename(path)} is truncated ({data.size} of {count} values)")
    shape = (height, width, 3) if channels == 3 else (height, width)
    return np.ascontiguousarray(np.flipud(data.reshape(shape))).astype(np.float32)


def read_depth_file(path: str) -> np.ndarray:
    """Read a single-channel depth/disparity map as float32 (H, W), values as stored.

    Raises:
        CineError: missing, unreadable, not 2-D, or without finite values.
    """
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise CineError(f"depth file not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".pfm":
        values = read_pfm(path)
    elif ext == ".npy":
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise CineError(f"cannot read {name} as a NumPy array ({exc})") from None
    elif ext in DEPTH_EXTENSIONS:
        values = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
        if values is None:
            raise CineError(f"cannot read depth map {name}: the file is damaged or not an image")
    else:
        raise CineError(f"{name}: unsupported depth format (use PFM, 16-bit PNG or NPY)")
    values = np.asarray(values)
    if values.ndim == 3:
        values = values[:, :, 0]
    if values.ndim != 2 or min(values.shape) < 2:
        raise CineError(f"{name}: a depth map must be a 2-D array, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number):
        raise CineError(f"{name}: a depth map must hold numbers, got {values.dtype}")
    values = values.astype(np.float32)
    if not np.isfinite(values).any():
        raise CineError(f"{name} holds no finite depth values")
    return values
