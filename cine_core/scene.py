"""The prepared scene: everything computed once from the photo, before any frame is rendered."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from .camera import Intrinsics, content_outline
from .errors import CineError
from .layering import COLOUR_LEVELS, DepthLayer, LayeredScene

FORMAT_VERSION = 1


@dataclass
class PreparedScene:
    """Photo -> prepared scene, the input of rendering.

    Attributes:
        photo: (3, H, W) colours in [0, 1] at working resolution.
        intrinsics: the source camera (pose = identity, see :mod:`cine_core.camera`).
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
        return self.flow.abs().sum(0) > 0

    def motion_regions(self) -> torch.Tensor:
        """(H, W) int32 region numbers: :attr:`regions`, or the connected parts of the motion."""
        if self.regions is not None:
            return torch.where(self.motion_mask, self.regions.to(torch.int32), 0)
        moving = self.motion_mask.numpy().astype(np.uint8)
        return torch.from_numpy(cv2.connectedComponents(moving, connectivity=8)[1].astype(np.int32))

    def focus_depth(self) -> float:
        """A representative subject depth: the median depth of the moving region, else of all."""
        mask = self.motion_mask
        values = self.depth[mask] if bool(mask.any()) else self.depth.flatten()
        return float(values.median())

    def content_outline(self) -> tuple[torch.Tensor, ...]:
        """The edge of what the scene can show (:func:`~cine_core.camera.content_outline`)."""
        return content_outline(self.depth, self.intrinsics)

    def save(self, path: str) -> None:
        """Write to ``path`` (a torch file holding only tensors and a JSON string).

        Written to a temporary file first, so a failure never leaves a half-written cache.
        """
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
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        temporary = path + ".tmp"
        torch.save(record, temporary)
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: str) -> "PreparedScene":
        """Read a scene written by :meth:`save` (safe loader: tensors and plain containers only)."""
        if not os.path.isfile(path):
            raise CineError(f"prepared scene not found: {path}")
        try:
            record = torch.load(path, map_location="cpu", weights_only=True)
            if int(record["format"]) != FORMAT_VERSION:
                raise CineError(f"{os.path.basename(path)} was written by another version of the "
                                f"tool; prepare the scene again")
            meta = json.loads(record["meta"])
            layers = []
            index = 0
            while f"layer{index}.rgb" in record:
                layers.append(DepthLayer(_from_uint16(record[f"layer{index}.rgb"]),
                                         record[f"layer{index}.depth"], record[f"layer{index}.alpha"],
                                         record[f"layer{index}.hidden"]))
                index += 1
            return cls(photo=_from_uint16(record["photo"]), intrinsics=Intrinsics(**meta["intrinsics"]),
                       depth=record["depth"], layered=LayeredScene(layers, record["edges"].tolist()),
                       flow=record["flow"], hidden_flow=record["hidden_flow"], info=meta["info"],
                       regions=record["regions"])
        except CineError:
            raise
        except Exception as exc:  # a damaged or foreign file: say so in one line, never crash
            raise CineError(f"{os.path.basename(path)} is not a readable prepared scene (damaged, or not "
                            f"written by this tool: {type(exc).__name__}); prepare the scene again") from None


def _to_uint16(rgb: torch.Tensor) -> torch.Tensor:
    # The LDI quantises its inpainted colours to the same levels, so a scene loaded from disk
    # renders the very same pixels.
    return (rgb.clamp(0, 1) * COLOUR_LEVELS).round().to(torch.int32).to(torch.uint16)


def _from_uint16(rgb: torch.Tensor) -> torch.Tensor:
    return rgb.to(torch.int32).float() / COLOUR_LEVELS
