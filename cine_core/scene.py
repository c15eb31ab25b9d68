"""The prepared scene: everything computed once from the photo, before any frame is rendered."""
from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from .cameras.intrinsics import Intrinsics
from .cameras.paths import content_outline
from .errors import CineError
from .io.checks import check_regular_file, parse_json, printable
from .io.images import check_pixel_count
from .io.motion_rules import motion_mask
from .io.accepted import MAX_LAYERS
from .io.integrity import check_complete
from .io.outputs import atomic_file
from .layers.ldi import COLOUR_LEVELS, DepthLayer, LayeredScene

FORMAT_VERSION = 1
#: Most separately moving regions (each is integrated on its own, with a flow field of its own).
MAX_REGIONS = 256
_LAYER_FIELDS = ("rgb", "depth", "alpha", "hidden")
#: Pixels beyond this fraction of the scene's farthest depth are its far field (the clipped sky).
FAR_FIELD = 0.99


class UnusableScene(CineError):
    """A prepared scene file that cannot be used (damaged, foreign, another version): its
    ``problem``, and the advice of the command line; the Blender add-on gives its own."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}; prepare the scene again")
        self.problem = problem


@dataclass
class PreparedScene:
    """Photo -> prepared scene, the input of rendering.

    Attributes:
        photo: (3, H, W) colours in [0, 1] at working resolution.
        intrinsics: the source camera (pose = identity, see :mod:`cine_core.cameras.intrinsics`).
        depth: (H, W) conditioned depth (nearest = 1).
        layered: the layered depth image.
        flow: (2, H, W) Eulerian flow of the visible surface, pixels per frame.
        hidden_flow: (2, H, W) the flow extended to inpainted surfaces next to moving ones.
        info: which method each stage used and the options, for reports (JSON-serialisable).
        regions: (H, W) int32 numbers of the separately moving regions (0 = still); particles
            stay in their region. None: the connected parts of the moving area.
    """

    photo: torch.Tensor
    intrinsics: Intrinsics
    depth: torch.Tensor
    layered: LayeredScene
    flow: torch.Tensor
    hidden_flow: torch.Tensor
    info: dict = field(default_factory=dict)
    regions: torch.Tensor | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.photo.shape[2]), int(self.photo.shape[1])

    @property
    def motion_mask(self) -> torch.Tensor:
        """(H, W) bool: visible pixels that move."""
        return motion_mask(self.flow)

    def motion_regions(self) -> torch.Tensor:
        """(H, W) int32 region numbers: :attr:`regions`, or the connected parts of the motion."""
        if self.regions is not None:
            return torch.where(self.motion_mask, self.regions.to(torch.int32), 0)
        moving = self.motion_mask.numpy().astype(np.uint8)
        return torch.from_numpy(cv2.connectedComponents(moving, connectivity=8)[1].astype(np.int32))

    def focus_depth(self) -> float:
        """A representative subject depth, always on a surface: the median depth of the moving
        region, else of the whole photo, leaving out the far field (the pixels at the scene's
        farthest depth, where depth conditioning clips the sky), which is no subject; the
        nearest depth when everything is far field."""
        surface = self.depth < FAR_FIELD * self.depth.max()
        moving = self.motion_mask & surface
        values = self.depth[moving] if bool(moving.any()) else self.depth[surface]
        return float(values.median()) if values.numel() else float(self.depth.min())

    def content_outline(self) -> tuple[torch.Tensor, ...]:
        """The edge of what the scene can show (:func:`~cine_core.cameras.paths.content_outline`)."""
        return content_outline(self.depth, self.intrinsics)

    def save(self, path: str) -> None:
        """Write to ``path`` (a torch file holding only tensors and a JSON string).

        Written to a temporary file beside it first, so a failure or cancel never leaves a
        half-written cache or a temporary file, and an earlier file at ``path`` stays as it was.
        """
        record = self._record()
        record["checksum"] = record_checksum(record)
        with atomic_file(path, ".cine") as temporary:
            try:
                torch.save(record, temporary)
            except RuntimeError:  # PyTorch's zip writer reports a short write (a full disk) so
                raise CineError(f"cannot write {printable(path)}: the file could not be completed; "
                                f"is the disk full?") from None
            check_complete(temporary, ".cine", path)

    def as_stored(self) -> "PreparedScene":
        """This scene exactly as :meth:`save` and :meth:`load` give it back (float32 depths, colours
        on the file's levels, the motion's regions), so what is computed from it in memory, such
        as its animated points, equals what a reopened file computes, to the last bit."""
        return _scene_from_record(self._record(), "the prepared scene")

    def _record(self) -> dict:
        """What the file holds: tensors and one JSON string."""
        record = {
            "format": torch.tensor(FORMAT_VERSION),
            "photo": _to_uint16(self.photo),
            "depth": self.depth.float(),
            "flow": self.flow.float(),
            "hidden_flow": self.hidden_flow.float(),
            "edges": torch.tensor(self.layered.edges, dtype=torch.float64),
            "regions": self.motion_regions().to(torch.int32),
            "meta": json.dumps({"intrinsics": self.intrinsics.__dict__, "info": self.info}),
        }
        for index, layer in enumerate(self.layered.layers):
            record[f"layer{index}.rgb"] = _to_uint16(layer.rgb)
            record[f"layer{index}.depth"] = layer.depth.float()
            record[f"layer{index}.alpha"] = layer.alpha
            record[f"layer{index}.hidden"] = layer.hidden
        return record

    @classmethod
    def load(cls, path: str) -> "PreparedScene":
        """Read a scene written by :meth:`save` (safe loader: tensors and plain containers only).

        Everything in the file is checked (its checksum when it has one, names, types, shapes,
        sizes consistent with each other, finite values) before it is used: a damaged or crafted
        file is refused with one line, and cannot make the renderer allocate more than the photo
        it holds. Files written before the checksum existed are read without it.
        """
        name = os.path.basename(path)
        check_regular_file(path, "prepared scene")
        try:
            _check_archive(path)
            record = torch.load(path, map_location="cpu", weights_only=True)
        except CineError:
            raise
        except Exception:  # a damaged or foreign file: say so in one line, never crash
            raise UnusableScene(f"{name} is not a readable prepared scene (damaged, or not written by this "
                                f"tool)") from None
        return _scene_from_record(record, name)


def _check_archive(path: str) -> None:
    """A scene is a zip of uncompressed tensors: refuse compressed members (a few bytes could
    inflate to any size) before PyTorch reads them."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if any(m.compress_type != zipfile.ZIP_STORED for m in members) or \
            sum(m.file_size for m in members) > os.path.getsize(path):
        raise UnusableScene(f"{os.path.basename(path)} is not a prepared scene written by this tool "
                            f"(it holds compressed data)")


def _scene_from_record(record: object, name: str) -> PreparedScene:
    """Check every field of a loaded record and build the scene (see :meth:`PreparedScene.load`)."""
    def refuse(what: str) -> CineError:
        return UnusableScene(f"{name} is not a valid prepared scene ({what})")

    if not isinstance(record, dict) or not isinstance(record.get("format"), torch.Tensor):
        raise refuse("no format number")
    version = record["format"]
    if version.numel() != 1 or version.dtype != torch.int64 or int(version) != FORMAT_VERSION:
        raise UnusableScene(f"{name} was written by another version of the tool")
    layer_count = 0
    while f"layer{layer_count}.rgb" in record:
        layer_count += 1
    # Cut layers, plus one of hidden surface behind depth edges no cut follows.
    if not 1 <= layer_count <= MAX_LAYERS + 1:
        raise refuse(f"{layer_count} layers")
    expected = {"format", "photo", "depth", "flow", "hidden_flow", "edges", "regions", "meta"}
    expected |= {f"layer{i}.{part}" for i in range(layer_count) for part in _LAYER_FIELDS}
    if set(record) - {"checksum"} != expected:
        raise refuse(f"unexpected or missing entries: {printable(sorted(set(record) ^ expected), 80)}")
    for key, value in record.items():
        if isinstance(value, torch.Tensor) and \
                value.untyped_storage().nbytes() < value.numel() * value.element_size():
            raise refuse(f"{key} is a view of less data than it claims")  # e.g. strides of 0
    if "checksum" in record:  # files written before it existed have none
        _verify_checksum(record, name)
    photo = record["photo"]
    if not isinstance(photo, torch.Tensor) or photo.ndim != 3:
        raise refuse("photo")
    height, width = int(photo.shape[1]), int(photo.shape[2])
    check_pixel_count(name, width, height)
    if min(width, height) < 2:
        raise refuse(f"a {width}x{height} photo")

    def tensor(key: str, dtype: torch.dtype, shape: tuple[int, ...], finite: bool = False) -> torch.Tensor:
        value = record[key]
        if not isinstance(value, torch.Tensor) or value.dtype != dtype or tuple(value.shape) != shape:
            raise refuse(f"{key} is not {dtype} of shape {shape}")
        if finite and not bool(torch.isfinite(value).all()):
            raise refuse(f"{key} holds NaN or infinite values")
        return value

    def positive_depth(key: str) -> torch.Tensor:
        value = tensor(key, torch.float32, (height, width), finite=True)
        if not bool((value > 0).all()):
            raise refuse(f"{key} holds depths of 0 or less")
        return value

    depth = positive_depth("depth")
    flow = tensor("flow", torch.float32, (2, height, width), finite=True)
    hidden_flow = tensor("hidden_flow", torch.float32, (2, height, width), finite=True)
    regions = tensor("regions", torch.int32, (height, width))
    if bool((regions < 0).any()) or torch.unique(regions).numel() > MAX_REGIONS + 1:
        raise refuse(f"negative region numbers, or more than {MAX_REGIONS} regions")
    # One edge between consecutive cut layers; a layer of hidden surface adds none.
    stored = record["edges"]
    hidden_layer = isinstance(stored, torch.Tensor) and tuple(stored.shape) == (layer_count - 2,)
    edges = tensor("edges", torch.float64, (layer_count - (2 if hidden_layer else 1),), finite=True)
    layers = [DepthLayer(_from_uint16(tensor(f"layer{i}.rgb", torch.uint16, (3, height, width))),
                         positive_depth(f"layer{i}.depth"),
                         tensor(f"layer{i}.alpha", torch.bool, (height, width)),
                         tensor(f"layer{i}.hidden", torch.bool, (height, width)))
              for i in range(layer_count)]
    if not isinstance(record["meta"], str):
        raise refuse("meta")
    try:
        meta = parse_json(record["meta"], name)
    except CineError as exc:
        raise refuse(f"meta: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("intrinsics"), dict) or \
            not isinstance(meta.get("info"), dict):
        raise refuse("meta")
    photo = _from_uint16(tensor("photo", torch.uint16, (3, height, width)))
    return PreparedScene(photo=photo, intrinsics=_intrinsics(meta["intrinsics"], width, height, refuse),
                         depth=depth, layered=LayeredScene(layers, edges.tolist()), flow=flow,
                         hidden_flow=hidden_flow, info=_info(meta["info"], refuse), regions=regions)


def record_checksum(record: dict) -> str:
    """SHA-256 over every entry of a scene record but the checksum itself, in name order: each
    name, then a tensor's dtype, shape and bytes in row-major order, or a string's UTF-8."""
    digest = hashlib.sha256()
    for key in sorted(set(record) - {"checksum"}):
        value = record[key]
        digest.update(key.encode("utf-8") + b"\0")
        if isinstance(value, torch.Tensor):
            digest.update(f"{value.dtype}{tuple(value.shape)}".encode("ascii"))
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
        else:
            digest.update(str(value).encode("utf-8"))
    return digest.hexdigest()


def _verify_checksum(record: dict, name: str) -> None:
    """Refuse a record whose entries do not give its stored checksum (a flipped bit on disk)."""
    stored = record["checksum"]
    if not isinstance(stored, str) or record_checksum(record) != stored:
        raise UnusableScene(f"{name} is damaged: its data does not match its checksum")


def _intrinsics(values: dict, width: int, height: int, refuse) -> Intrinsics:
    """The source camera: it must describe the stored photo (its size sets the render size)."""
    if set(values) != {"fx", "fy", "cx", "cy", "width", "height"}:
        raise refuse("intrinsics")
    numbers = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise refuse(f"intrinsics {key}")
        numbers[key] = value
    if (numbers["width"], numbers["height"]) != (width, height):
        raise refuse(f"intrinsics for {numbers['width']}x{numbers['height']} pixels but a {width}x{height} photo")
    long_side = max(width, height)
    if not (0 < numbers["fx"] <= 100 * long_side and 0 < numbers["fy"] <= 100 * long_side
            and -width <= numbers["cx"] <= 2 * width and -height <= numbers["cy"] <= 2 * height):
        raise refuse("intrinsics out of range")
    return Intrinsics(float(numbers["fx"]), float(numbers["fy"]), float(numbers["cx"]), float(numbers["cy"]),
                      width, height)


def _info(info: dict, refuse) -> dict:
    """The report part: only what the tools read back is checked; text is made safe to print."""
    notes = info.get("notes", [])
    stages = info.get("stages", {})
    if not isinstance(notes, list) or not isinstance(stages, dict):
        raise refuse("info")
    original = info.get("original_size")
    if original is not None and not (isinstance(original, list) and len(original) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 1_000_000 for v in original)):
        raise refuse("original_size")
    cleaned = dict(info)
    cleaned["notes"] = [printable(note) for note in notes[:20]]
    cleaned["stages"] = {printable(k, 20): printable(v, 200) for k, v in list(stages.items())[:10]}
    if not cleaned["notes"]:
        del cleaned["notes"]
    return cleaned


def _to_uint16(rgb: torch.Tensor) -> torch.Tensor:
    # The LDI quantises its inpainted colours to the same levels, so a scene loaded from disk
    # renders the very same pixels.
    return (rgb.clamp(0, 1) * COLOUR_LEVELS).round().to(torch.int32).to(torch.uint16)


def _from_uint16(rgb: torch.Tensor) -> torch.Tensor:
    return rgb.to(torch.int32).float() / COLOUR_LEVELS
