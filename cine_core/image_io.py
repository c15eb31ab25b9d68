"""Reading the still photo: PNG, JPEG, WebP, TIFF; 8 or 16 bit; grey, RGB or RGBA; EXIF orientation."""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .errors import CineError

#: Refuse to decode images above this many pixels (a 16k x 12k panorama is still accepted).
MAX_PIXELS = 200_000_000
PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")

# cv2.rotate / flip steps that undo each EXIF orientation value (TIFF tag 0x0112).
_EXIF_FIX = {
    2: [("flip", 1)],
    3: [("rotate", cv2.ROTATE_180)],
    4: [("flip", 0)],
    5: [("rotate", cv2.ROTATE_90_CLOCKWISE), ("flip", 1)],
    6: [("rotate", cv2.ROTATE_90_CLOCKWISE)],
    7: [("rotate", cv2.ROTATE_90_COUNTERCLOCKWISE), ("flip", 1)],
    8: [("rotate", cv2.ROTATE_90_COUNTERCLOCKWISE)],
}


@dataclass(frozen=True)
class Photo:
    """The photo at working resolution.

    Attributes:
        rgb: colours in [0, 1], shape (3, H, W), float32.
        original_size: (width, height) of the file after EXIF orientation, in pixels.
        path: the file it came from.
    """

    rgb: torch.Tensor
    original_size: tuple[int, int]
    path: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) at working resolution."""
        return int(self.rgb.shape[2]), int(self.rgb.shape[1])

    @property
    def scale(self) -> float:
        """Working pixels per original pixel (1.0 unless ``max_side`` shrank the photo)."""
        return self.size[0] / self.original_size[0]

    def uint8(self) -> np.ndarray:
        """The colours as an (H, W, 3) uint8 RGB array."""
        return (self.rgb.permute(1, 2, 0).clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)


def _exif_orientation(path: str) -> int:
    """The EXIF orientation tag (1 = upright); also refuses decompression bombs from the header."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise CineError(f"{os.path.basename(path)} is {width}x{height} pixels, above the "
                                f"limit of {MAX_PIXELS // 1_000_000} megapixels; downscale it first")
            return int(im.getexif().get(0x0112, 1) or 1)
    except Image.DecompressionBombError:  # Pillow's own, lower guard
        raise CineError(f"{os.path.basename(path)} is above the limit of "
                        f"{MAX_PIXELS // 1_000_000} megapixels; downscale it first") from None
    except (UnidentifiedImageError, OSError):
        return 1  # Pillow cannot parse it; cv2 decides below whether the file is readable at all


def working_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) after capping the long side at ``max_side`` (aspect kept, at least 1 px)."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def load_photo(path: str, max_side: int | None = None) -> Photo:
    """Read a photo, honour its EXIF orientation and cap its long side at ``max_side`` pixels.

    Grey images are replicated to three channels; RGBA is composited over black (the transparent
    part has no colour to animate); 16-bit images keep their precision until the float conversion.
    """
    if not os.path.isfile(path):
        raise CineError(f"photo not found: {path}")
    if not path.lower().endswith(PHOTO_EXTENSIONS):
        raise CineError(f"{os.path.basename(path)}: unsupported photo format "
                        f"(use PNG, JPEG, WebP or TIFF)")
    if max_side is not None and max_side < 16:
        raise CineError(f"--size {max_side} is too small; use at least 16 pixels")
    orientation = _exif_orientation(path)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH) if data.size else None
    if image is None:
        raise CineError(f"cannot read {os.path.basename(path)}: the file is damaged or not an image")
    if image.dtype == np.uint8:
        scale = 255.0
    elif image.dtype == np.uint16:
        scale = 65535.0
    elif image.dtype == np.float32:
        scale = 1.0
    else:
        raise CineError(f"{os.path.basename(path)}: unsupported sample type {image.dtype}")
    image = image.astype(np.float32) / scale
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3] * image[:, :, 3:4]
    elif image.shape[2] == 2:  # grey + alpha
        image = np.repeat(image[:, :, :1] * image[:, :, 1:2], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3][:, :, ::-1])  # BGR -> RGB
    for op, arg in _EXIF_FIX.get(orientation, []):
        image = cv2.rotate(image, arg) if op == "rotate" else cv2.flip(image, arg)
    height, width = image.shape[:2]
    if min(width, height) < 16:
        raise CineError(f"{os.path.basename(path)} is only {width}x{height} pixels; "
                        f"a photo needs at least 16 pixels on each side")
    new_w, new_h = working_size(width, height, max_side)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    rgb = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).clamp(0, 1).contiguous()
    return Photo(rgb=rgb, original_size=(width, height), path=path)
