"""The user's motion annotation: which pixels move (mask) and hint arrows saying how.

Coordinates are always in the original photo's pixels (x right, y down); :meth:`MotionAnnotation.
at_size` maps them to the working resolution.
"""
from __future__ import annotations

import os
import reprlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..errors import CineError
from .checks import printable, read_json
from .images import IMAGE_FORMATS, check_pixel_count, read_image_header
from .motion_rules import MIN_ARROW_LENGTH, has_length

#: More arrows than this make the flow interpolation crawl; real scenes use tens.
MAX_HINTS = 1000
MAX_SHAPES = 10000


@dataclass(frozen=True)
class HintArrow:
    """One motion arrow from ``start`` to ``end`` (x, y) in pixels."""

    start: tuple[float, float]
    end: tuple[float, float]

    def scaled(self, sx: float, sy: float) -> "HintArrow":
        return HintArrow((self.start[0] * sx, self.start[1] * sy), (self.end[0] * sx, self.end[1] * sy))


@dataclass
class MotionAnnotation:
    """Moving region and hint arrows.

    Attributes:
        size: (width, height) of the image the coordinates refer to.
        mask: bool array (height, width), True where the scene moves; None when not given.
        hints: the arrows.
        regions: int32 array (height, width) numbering the separately drawn moving regions
            (0 = still), e.g. one per labelme polygon; None: the mask's connected components.
    """

    size: tuple[int, int]
    mask: np.ndarray | None = None
    hints: list[HintArrow] = field(default_factory=list)
    regions: np.ndarray | None = None

    def region_labels(self) -> np.ndarray:
        """(height, width) int32 region numbers, 0 where nothing moves."""
        if self.mask is None:
            return np.zeros(self.size[::-1], np.int32)
        if self.regions is not None:
            labels = np.where(self.mask, self.regions, 0).astype(np.int32)
            # Resizing mask and labels differently leaves a few border pixels unlabelled: give
            # them their neighbour's region.
            for _ in range(3):
                missing = self.mask & (labels == 0)
                if not missing.any():
                    break
                grown = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
                labels[missing] = grown[missing]
            return labels
        return cv2.connectedComponents(self.mask.astype(np.uint8), connectivity=8)[1].astype(np.int32)

    def at_size(self, width: int, height: int) -> "MotionAnnotation":
        """The same annotation for an image of ``width`` x ``height`` pixels."""
        sx, sy = width / self.size[0], height / self.size[1]
        mask = regions = None
        if self.mask is not None:
            mask = cv2.resize(self.mask.astype(np.float32), (width, height),
                              interpolation=cv2.INTER_AREA) >= 0.5
        if self.regions is not None:
            regions = cv2.resize(self.regions, (width, height), interpolation=cv2.INTER_NEAREST)
        return MotionAnnotation((width, height), mask, [h.scaled(sx, sy) for h in self.hints], regions)

    def merged(self, other: "MotionAnnotation") -> "MotionAnnotation":
        """Union of masks and concatenation of hints (``other`` mapped to this size)."""
        other = other.at_size(*self.size)
        if self.mask is None or other.mask is None:
            mask = self.mask if other.mask is None else other.mask
            regions = self.regions if other.mask is None else other.regions
        else:
            mask = self.mask | other.mask
            mine = self.region_labels()
            theirs = other.region_labels()
            regions = np.where(theirs > 0, theirs + mine.max(), mine).astype(np.int32)
        return MotionAnnotation(self.size, mask, self.hints + other.hints, regions)


def _check_size(name: str, size: tuple[int, int], image_size: tuple[int, int]) -> None:
    (w, h), (iw, ih) = size, image_size
    if abs(w / h - iw / ih) > 0.01 * (iw / ih):
        raise CineError(f"{name} is for a {w}x{h} image but the photo is {iw}x{ih}")


def _image_size(name: str, data: dict, keys: tuple[str, str], image_size: tuple[int, int]) -> tuple[int, int]:
    """The image size an annotation file claims (``data[keys]``), or the photo's when absent.

    It sets the size of the rasterised mask, so it must be whole positive numbers, the photo's
    shape, and at most 4 times the photo on each side.
    """
    size = []
    for key, photo_side in zip(keys, image_size):
        value = data.get(key)
        if value is None:
            value = photo_side
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CineError(f"{name}: {key} {printable(repr(value), 40)} is not a positive whole number of pixels")
        if value > 4 * photo_side:
            raise CineError(f"{name}: {key} {value} is far larger than the photo ({image_size[0]}x"
                            f"{image_size[1]}); the file belongs to another image")
        size.append(value)
    _check_size(name, (size[0], size[1]), image_size)
    check_pixel_count(name, size[0], size[1])
    return size[0], size[1]


def check_points(name: str, what: str, points: np.ndarray, size: tuple[int, int], *,
                 parameter: str | None = None) -> None:
    """Points ((N, 2) x, y) may stray outside the image (labelme allows it), but not further than
    its own size; ``name`` (the file, or "") and ``what`` name them in the error, ``parameter``
    the setting that gave them."""
    width, height = size
    outside = ((points[:, 0] < -width) | (points[:, 0] > 2 * width)
               | (points[:, 1] < -height) | (points[:, 1] > 2 * height))
    if outside.any():
        x, y = points[np.argmax(outside)]
        raise CineError(f"{name + ': ' if name else ''}{what} has the point ({x:g}, {y:g}), far outside the "
                        f"{width}x{height} image; coordinates are in the photo's pixels", parameter=parameter)


def _points(shape: dict, name: str) -> np.ndarray:
    label = printable(shape.get("label"), 60)
    try:
        points = np.asarray(shape["points"], dtype=np.float64)
    except (KeyError, TypeError, ValueError, OverflowError):
        raise CineError(f"{name}: shape {label!r} has no valid 'points' list") from None
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0 or not np.isfinite(points).all():
        raise CineError(f"{name}: shape {label!r} has malformed points")
    return points


def read_labelme(path: str, image_size: tuple[int, int]) -> MotionAnnotation:
    """Read a labelme ``image.json``: shapes labelled ``motion*`` form the mask, ``hint*`` the arrows.

    Hints drawn as polygons or polylines use their first and last point. ``imagePath`` and
    ``imageData`` are ignored (real files carry stale ones).

    Args:
        path: the JSON file.
        image_size: (width, height) of the photo as read, used when the file lacks its own size.
    """
    name = os.path.basename(path)
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise CineError(f"{name} is not a labelme annotation (no 'shapes' list)")
    if len(data["shapes"]) > MAX_SHAPES:
        raise CineError(f"{name} has {len(data['shapes'])} shapes; at most {MAX_SHAPES} are read")
    width, height = _image_size(name, data, ("imageWidth", "imageHeight"), image_size)
    regions = np.zeros((height, width), np.int32)
    hints: list[HintArrow] = []
    for shape in data["shapes"]:
        if not isinstance(shape, dict):
            raise CineError(f"{name}: a shape is not a JSON object")
        label = str(shape.get("label", "")).strip().lower()
        kind = shape.get("shape_type") or "polygon"
        if label.startswith("motion"):
            points = _points(shape, name)
            check_points(name, f"shape {printable(shape.get('label'), 60)!r}", points, (width, height))
            label_value = int(regions.max()) + 1  # each drawn shape is its own region
            if kind == "rectangle" and len(points) >= 2:
                (x0, y0), (x1, y1) = points[0], points[-1]
                points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            if kind == "circle" and len(points) >= 2:
                radius = float(np.hypot(*(points[1] - points[0])))
                cv2.circle(regions, tuple(int(round(v)) for v in points[0]), int(round(radius)),
                           label_value, -1)
            else:
                cv2.fillPoly(regions, [np.round(points).astype(np.int32)], label_value)
        elif label.startswith("hint"):
            points = _points(shape, name)
            check_points(name, f"shape {printable(shape.get('label'), 60)!r}", points, (width, height))
            start, end = points[0], points[-1]
            if not has_length(start, end):
                raise CineError(f"{name}: hint {printable(shape.get('label'), 60)!r} is shorter than "
                                f"{MIN_ARROW_LENGTH} pixel; draw it from where the motion starts to where it goes")
            hints.append(HintArrow((float(start[0]), float(start[1])), (float(end[0]), float(end[1]))))
    if len(hints) > MAX_HINTS:
        raise CineError(f"{name} has {len(hints)} hint arrows; use at most {MAX_HINTS}")
    moving = regions > 0
    return MotionAnnotation((width, height), moving if moving.any() else None, hints,
                            regions if moving.any() else None)


def read_mask_image(path: str, image_size: tuple[int, int]) -> MotionAnnotation:
    """Read a mask image (any format cv2 reads); pixels above half the range move."""
    name = os.path.basename(path)
    header = read_image_header(path, IMAGE_FORMATS + ("BMP",), what="mask")
    _check_size(f"mask {name}", (header.width, header.height), image_size)
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise CineError(f"cannot read mask {name}: the file is damaged or not an image")
    if image.ndim == 3:
        image = image[:, :, 3] if image.shape[2] == 4 else image.max(axis=2)
    limit = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}.get(image.dtype, 1.0)
    height, width = image.shape
    _check_size(f"mask {name}", (width, height), image_size)
    return MotionAnnotation((width, height), image.astype(np.float32) > limit / 2.0, [])


def parse_hint(text: str) -> HintArrow:
    """Parse ``"x0,y0,x1,y1"`` (original photo pixels) into a :class:`HintArrow`."""
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise CineError(f"{printable(text, 60)!r}: expected four numbers x0,y0,x1,y1", parameter="hints") from None
    if not np.isfinite([x0, y0, x1, y1]).all():
        raise CineError(f"{printable(text, 60)!r}: the numbers must be finite", parameter="hints")
    if not has_length((x0, y0), (x1, y1)):
        raise CineError(f"{printable(text, 60)!r} is shorter than {MIN_ARROW_LENGTH} pixel; "
                        f"give where the motion starts and where it goes", parameter="hints")
    return HintArrow((x0, y0), (x1, y1))


def read_arrows_json(path: str, image_size: tuple[int, int]) -> MotionAnnotation:
    """Read arrows from JSON: ``{"hints": [[x0,y0,x1,y1], ...]}`` or ``[{"start":[x,y],"end":[x,y]}]``.

    A labelme file is accepted here too.
    """
    name = os.path.basename(path)
    data = read_json(path)
    if isinstance(data, dict) and "shapes" in data:
        return read_labelme(path, image_size)
    items = data.get("hints", data.get("arrows")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise CineError(f"{name}: expected a list of arrows or {{\"hints\": [[x0,y0,x1,y1], ...]}}")
    if len(items) > MAX_HINTS:
        raise CineError(f"{name} has {len(items)} arrows; use at most {MAX_HINTS}")
    hints = []
    for item in items:
        try:
            if isinstance(item, dict):
                values = [*item["start"], *item["end"]]
            else:
                values = list(item)
            hints.append(parse_hint(",".join(str(float(v)) for v in values)))
        except (KeyError, TypeError, ValueError, OverflowError, CineError):
            raise CineError(f"{name}: arrow {printable(reprlib.repr(item), 80)} is not [x0, y0, x1, y1] with finite "
                            f"numbers or {{'start': [x, y], 'end': [x, y]}}") from None
    size = image_size
    if isinstance(data, dict) and data.get("size") is not None:
        given = data["size"]
        if not isinstance(given, list) or len(given) != 2:
            raise CineError(f"{name}: 'size' must be [width, height]")
        size = _image_size(name, {"width": given[0], "height": given[1]}, ("width", "height"), image_size)
    for hint in hints:
        check_points(name, "an arrow", np.array([hint.start, hint.end]), size)
    return MotionAnnotation(size, None, hints)
