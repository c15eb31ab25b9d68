"""Reading the still photo: PNG, JPEG, WebP, TIFF; 8 or 16 bit; grey, RGB or RGBA; EXIF orientation.
Also the one conversion of the core's (C, H, W) image tensors (photos, frames) to NumPy images."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..errors import CineError
from .accepted import PHOTO_EXTENSIONS
from .checks import check_regular_file

#: Fewest pixels on either side of a photo, as read and at working size (the layers, the
#: flow's feathering and the video encoders need a few pixels across).
MIN_SIDE = 16
#: Refuse to decode images above this many pixels (a 16k x 12k panorama is still accepted).
MAX_PIXELS = 200_000_000

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
        return to_uint8_image(self.rgb)


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """A (C, H, W) image tensor on any device as an (H, W, C) NumPy array of the same values
    (NumPy, OpenCV and Blender keep the channels last)."""
    return image.permute(1, 2, 0).cpu().numpy()


def to_uint8_image(image: torch.Tensor) -> np.ndarray:
    """A (C, H, W) image with values in [0, 1] as (H, W, C) uint8, each value rounded to the
    nearest of the 256 levels (values outside [0, 1] are clamped rather than wrapped)."""
    # In place on one clamped copy (float32 products as NumPy's, truncated as its astype): a
    # 1280x720 frame needs one 11 MB temporary instead of three.
    return to_numpy_image(image.clamp(0, 1).mul_(255.0).add_(0.5).to(torch.uint8))


#: What Pillow calls the formats a photo or a mask may be in (MPO: a JPEG from a phone).
IMAGE_FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "TIFF")


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels."""

    width: int
    height: int
    format: str  # Pillow's name, or "EXR"
    orientation: int = 1  # EXIF orientation (1 = upright)

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) once the EXIF orientation is applied."""
        swapped = self.orientation in (5, 6, 7, 8)
        return (self.height, self.width) if swapped else (self.width, self.height)


def check_pixel_count(name: str, width: int, height: int) -> None:
    """Refuse images whose pixels would not fit a sane amount of memory, before decoding them."""
    if width < 1 or height < 1:
        raise CineError(f"{name}: its header says {width}x{height} pixels; the file is damaged")
    if width * height > MAX_PIXELS:
        raise CineError(f"{name} is {width}x{height} pixels, above the limit of "
                        f"{MAX_PIXELS // 1_000_000} megapixels; downscale it first")


def _exr_header(path: str, name: str) -> ImageHeader:
    """Width and height from an OpenEXR header's ``dataWindow`` attribute (no pixel decoded)."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    position = 8  # magic number, version
    while position < len(head):
        end = head.find(b"\0", position)
        if end <= position:  # the empty name ends the header
            break
        kind_end = head.find(b"\0", end + 1)
        if kind_end < 0 or kind_end + 5 > len(head):
            break
        size = int.from_bytes(head[kind_end + 1:kind_end + 5], "little", signed=True)
        value = head[kind_end + 5:kind_end + 5 + size]
        if head[position:end] == b"dataWindow" and len(value) == 16:
            x0, y0, x1, y1 = (int.from_bytes(value[i:i + 4], "little", signed=True) for i in range(0, 16, 4))
            return ImageHeader(x1 - x0 + 1, y1 - y0 + 1, "EXR")
        if size < 0:
            break
        position = kind_end + 5 + size
    raise CineError(f"cannot read {name}: its EXR header is damaged")


def read_image_header(path: str, formats: tuple[str, ...] = IMAGE_FORMATS, what: str = "image") -> ImageHeader:
    """Read an image's header (size, format, EXIF orientation) and refuse it before any decoding
    when it is missing, not a file, not one of ``formats``, damaged or too large.

    PNG files are verified chunk by chunk (cheap, no decoding): a truncated PNG is refused here
    instead of making the decoder print its own complaint.
    """
    from PIL import Image, UnidentifiedImageError

    name = os.path.basename(path)
    check_regular_file(path, what)
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"\x76\x2f\x31\x01":
        header = _exr_header(path, name)
    else:
        try:
            with Image.open(path) as image:
                width, height = image.size
                image_format = image.format or "?"
                orientation = int(image.getexif().get(0x0112, 1) or 1)
            if image_format == "PNG":
                with Image.open(path) as image:
                    image.verify()  # every chunk's CRC up to IEND, no decompression
        except Image.DecompressionBombError:  # Pillow's own guard, far above ours
            raise CineError(f"{name} is above the limit of {MAX_PIXELS // 1_000_000} megapixels; "
                            f"downscale it first") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise CineError(f"cannot read {what} {name}: the file is damaged or not an image") from None
        header = ImageHeader(width, height, image_format, orientation if orientation in range(1, 9) else 1)
    if header.format not in formats:
        raise CineError(f"{name} is a {header.format} image; use {', '.join(formats)}")
    check_pixel_count(name, header.width, header.height)
    return header


def working_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) after capping the long side at ``max_side`` (aspect kept; None or 0:
    full size).

    Raises:
        CineError: ``max_side`` is below :data:`MIN_SIDE`, or the cap would make the short side
            narrower than :data:`MIN_SIDE` pixels (a 4000x16 panorama capped at 64); the
            message names the least size that keeps it.
    """
    if max_side and max_side < MIN_SIDE:
        raise CineError(f"{max_side} is too small; use at least {MIN_SIDE} pixels", parameter="max_side")
    if not max_side or max(width, height) <= max_side:
        return width, height
    factor = max_side / max(width, height)
    size = max(1, round(width * factor)), max(1, round(height * factor))
    if min(size) < MIN_SIDE:
        raise CineError(f"{max_side} would shrink this {width}x{height} photo to {size[0]}x{size[1]} pixels; a "
                        f"side needs at least {MIN_SIDE}: use {least_long_side(width, height)} or more",
                        parameter="max_side")
    return size


def least_long_side(width: int, height: int) -> int:
    """The smallest long side to which a ``width`` x ``height`` photo shrinks with its short side
    still :data:`MIN_SIDE` pixels or more (its own long side when it has no more to spare)."""
    long_side, short_side = max(width, height), min(width, height)
    least = max(MIN_SIDE, math.floor((MIN_SIDE - 0.5) * long_side / short_side))
    while least < long_side and round(short_side * (least / long_side)) < MIN_SIDE:  # as working_size rounds
        least += 1
    return least


def read_photo_header(path: str) -> ImageHeader:
    """The photo's header (see :func:`read_image_header`), refused unless it is PNG, JPEG, WebP
    or TIFF by name and by content."""
    if not path.lower().endswith(PHOTO_EXTENSIONS) and os.path.isfile(path):
        raise CineError(f"{os.path.basename(path)}: unsupported photo format (use PNG, JPEG, WebP or TIFF)")
    return read_image_header(path, what="photo")


def _reduction(width: int, height: int, max_side: int | None) -> int:
    """The largest of 1, 2, 4, 8 by which a JPEG can be decoded smaller and still be at least the
    working size (libjpeg scales while decoding, so the full-size photo is never in memory)."""
    if not max_side:
        return 1
    factor = 1
    while factor < 8 and max(width, height) / (2 * factor) >= max_side:
        factor *= 2
    return factor


_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def load_photo(path: str, max_side: int | None = None) -> Photo:
    """Read a photo, honour its EXIF orientation and cap its long side at ``max_side`` pixels.

    The header is checked (format, size) before anything is decoded; a JPEG larger than needed
    is decoded at 1/2, 1/4 or 1/8 size. Grey images are replicated to three channels; RGBA is
    composited over black (the transparent part has no colour to animate); 16-bit images keep
    their precision until the float conversion.
    """
    header = read_photo_header(path)
    name = os.path.basename(path)
    width, height = header.upright_size
    if min(width, height) < MIN_SIDE:
        raise CineError(f"{name} is only {width}x{height} pixels; a photo needs at least {MIN_SIDE} pixels on "
                        f"each side")
    new_w, new_h = working_size(width, height, max_side)
    data = np.fromfile(path, dtype=np.uint8)
    reduction = _reduction(width, height, max_side) if header.format in ("JPEG", "MPO") else 1
    flags = (_REDUCED[reduction] | cv2.IMREAD_IGNORE_ORIENTATION if reduction > 1
             else cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    image = cv2.imdecode(data, flags)
    if image is None:
        raise CineError(f"cannot read {name}: the file is damaged or not an image")
    if image.dtype == np.uint8:
        scale = 255.0
    elif image.dtype == np.uint16:
        scale = 65535.0
    elif image.dtype == np.float32:
        scale = 1.0
    else:
        raise CineError(f"{name}: unsupported sample type {image.dtype}")
    image = image.astype(np.float32) / scale
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3] * image[:, :, 3:4]
    elif image.shape[2] == 2:  # grey + alpha
        image = np.repeat(image[:, :, :1] * image[:, :, 1:2], 3, axis=2)
    image = np.ascontiguousarray(image[:, :, :3][:, :, ::-1])  # BGR -> RGB
    for op, arg in _EXIF_FIX.get(header.orientation, []):
        image = cv2.rotate(image, arg) if op == "rotate" else cv2.flip(image, arg)
    if not np.isfinite(image).all():  # float TIFFs can hold NaN or infinity
        raise CineError(f"{name} holds NaN or infinite colours")
    if image.shape[:2] != (new_h, new_w):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    rgb = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).clamp(0, 1).contiguous()
    return Photo(rgb=rgb, original_size=(width, height), path=path)
