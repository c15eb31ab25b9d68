"""The depth stage's methods, classical and learned, behind one interface.

Each :class:`DepthMethod` names the networks it runs (names in
:data:`cine_core.nets.checkpoints.NETWORKS`; none for the classical estimate) and turns the
photo plus those loaded networks into raw disparity, which :mod:`.conditioning` then
normalises. A new depth network is one module here (its input and output handling), its port
and weight entry in :mod:`cine_core.nets`, and one line in :data:`METHODS`; the CLI's choices,
the backend's file checks and the reports follow from this table.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import CineError
from .depth_anything import depth_anything_disparity
from .dpt import dpt_disparity
from .estimate import estimate_disparity


@dataclass(frozen=True)
class DepthMethod:
    """One way to estimate the photo's depth.

    Attributes:
        name: what users choose it by (``--depth-model``).
        title: what reports call it.
        networks: the networks it runs, in :data:`cine_core.nets.checkpoints.NETWORKS`.
        disparity: ``(rgb (3, H, W) in [0, 1], networks by name) -> (H, W) float32`` raw
            disparity, larger = nearer, any scale.
    """

    name: str
    title: str
    networks: tuple[str, ...]
    disparity: Callable[[torch.Tensor, Mapping[str, torch.nn.Module]], np.ndarray]

    @property
    def learned(self) -> bool:
        return bool(self.networks)


#: Every depth method; the learned ones in the order ``auto`` prefers them when their files are
#: found (the published method's DPT-Hybrid first, so its users keep their depth).
METHODS: dict[str, DepthMethod] = {method.name: method for method in (
    DepthMethod("dpt-hybrid", "DPT-Hybrid", ("dpt",), lambda rgb, nets: dpt_disparity(nets["dpt"], rgb)),
    DepthMethod("depth-anything-v2-small", "Depth Anything V2 Small", ("depth_anything_v2_small",),
                lambda rgb, nets: depth_anything_disparity(nets["depth_anything_v2_small"], rgb)),
    DepthMethod("classical", "classical estimate", (), lambda rgb, nets: estimate_disparity(rgb)),
)}
#: what ``auto`` asks for when a stage must be learned (``--backend neural``) and no file is found
DEFAULT_LEARNED = "dpt-hybrid"


def depth_method(name: str) -> DepthMethod:
    """The method called ``name``; an unknown name is a :class:`~cine_core.errors.CineError`."""
    if name not in METHODS:
        raise CineError(f"unknown depth model {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def estimate_depth(rgb: torch.Tensor, method: str = "classical",
                   networks: Mapping[str, torch.nn.Module] | None = None) -> np.ndarray:
    """(H, W) float32 raw disparity of the (3, H, W) photo by ``method``, given its loaded
    ``networks`` (by name; none for the classical estimate)."""
    chosen = depth_method(method)
    missing = [name for name in chosen.networks if not networks or name not in networks]
    if missing:
        raise ValueError(f"{chosen.title} needs the loaded networks {missing}")
    return chosen.disparity(rgb, networks or {})
