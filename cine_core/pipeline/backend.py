"""The neural backend: the official networks run in the pipeline's stages when their files exist.

Backends (``--backend``):

* ``classical``: no network anywhere (the weight-free path);
* ``auto`` (default): each stage whose weight file is found runs its network, the others stay
  classical;
* ``neural``: every stage that runs must use its network; a missing file is an error that names
  it and says where to put it.

Stages and the files they need (``cine_core.nets.checkpoints`` finds and loads them safely):

=========  ===============================================  ============================================
stage      file(s)                                          what the network does here
=========  ===============================================  ============================================
depth      the chosen depth method's (``--depth-model``;    disparity (only when no depth is given as a
           :mod:`cine_core.depth.methods`), by default      file or array)
           ``dpt_hybrid-midas-501f0c75.pt``
inpaint    ``depth-model.pth`` + ``color-model.pth``        fills what each LDI layer hides (the
                                                            :data:`~cine_core.layers.ldi.Inpainter`)
motion     ``sceneflow_model.pth``                          the Eulerian flow from photo, mask and hints
render     ``model_150000.pth``                             per-layer features, 37-channel splats, the
                                                            learned blend and the image decoder
segment    ``dpt_hybrid-ade20k-53898607.pt``                finds sky and water (only when no motion
                                                            mask is given, see :mod:`cine_core.motion.detect`)
=========  ===============================================  ============================================

Each stage package runs its own networks with the inputs the reference gives them, exactly where
the trained weights depend on them (``docs/models.md``): :mod:`cine_core.depth.methods`,
:mod:`cine_core.layers.inpaint_network`, :mod:`cine_core.motion.network`,
:mod:`cine_core.motion.segmentation`, :mod:`cine_core.rendering.decoder`. This module only says
which stages run them and loads their files.
"""
from __future__ import annotations

import os
from functools import cached_property
from typing import Callable

import torch

from ..depth.methods import DEFAULT_LEARNED, METHODS, DepthMethod, depth_method
from ..errors import CineError
from ..motion.network import MOTION_SIZE
from ..nets.checkpoints import NETWORKS, checkpoint_dirs, find_checkpoint, load_networks

BACKENDS = ("auto", "classical", "neural")

#: stage -> networks it runs (see :data:`cine_core.nets.checkpoints.NETWORKS`).
#: The depth stage's networks are those of the chosen depth method (:mod:`cine_core.depth.methods`).
STAGE_NETWORKS: dict[str, tuple[str, ...]] = {
    "inpaint": ("inpaint_depth", "inpaint_color"),
    "motion": ("motion_net",),
    "render": ("feature_net", "img_decoder"),
    "segment": ("dpt_ade20k",),
}
#: what the stage reports when it ran its network(s).
STAGE_LABELS = {
    "inpaint": "neural: 3D-Photo inpainting nets",
    "motion": "neural: motion network",
    "render": "neural: feature net + image decoder",
    "segment": "neural: DPT-Hybrid ADE20K",
}
#: report string of the weight-free renderer.
CLASSICAL_RENDER = "classical (splatting + soft blend)"


class NeuralBackend:
    """Which stages use networks, and the networks themselves (loaded on demand, not cached).

    Args:
        mode: ``"auto"``, ``"classical"`` or ``"neural"``.
        ckpts_dir: folder (or list of folders) with the weight files; default the project's
            ``ckpts/``. The Blender add-on passes the folder of its preferences.
        device: where the networks run.
        motion_size: grid of the motion network (multiple of 256; the reference uses
            :data:`MOTION_SIZE`).
        inpaint_max_side: the inpainting nets run on the hole's neighbourhood, downscaled when
            its long side exceeds this (memory and time; 1280 keeps a 720p photo at full size).
        depth_model: a name in :data:`cine_core.depth.methods.METHODS`, or ``"auto"``: the first
            learned method whose files are found (none in ``classical`` mode), else the
            classical estimate (``neural`` mode: the missing file of the default is an error).
    """

    def __init__(self, mode: str = "auto", ckpts_dir: str | list[str] | None = None,
                 device: str | torch.device = "cpu", *, motion_size: int = MOTION_SIZE,
                 inpaint_max_side: int = 1280, depth_model: str = "auto"):
        if mode not in BACKENDS:
            raise CineError(f"must be one of {', '.join(BACKENDS)}, not {mode!r}", parameter="backend")
        if depth_model != "auto":
            depth_method(depth_model)  # an unknown name is refused before anything is read
            if mode == "classical" and METHODS[depth_model].learned:
                raise CineError(f"{depth_model} runs a network, which the classical backend excludes; use the "
                                f"auto backend", parameter="depth_model")
        if motion_size < 256 or motion_size % 256:
            raise CineError(f"the motion network's grid must be a multiple of 256, not {motion_size}")
        self.mode = mode
        self.dirs = checkpoint_dirs(ckpts_dir)
        self.device = torch.device(device)
        self.motion_size = int(motion_size)
        self.inpaint_max_side = int(inpaint_max_side)
        #: remarks made while loading (e.g. training entries read as placeholders), one line each
        self.notes: list[str] = []
        self.depth_model = depth_model

    @cached_property
    def depth(self) -> DepthMethod:
        """The depth method the depth stage runs (see ``depth_model``); the weight files are
        looked for once per backend (a backend is made per run, so files added later count)."""
        if self.depth_model != "auto":
            return METHODS[self.depth_model]
        if self.mode == "classical":
            return METHODS["classical"]
        for method in METHODS.values():
            if method.learned and all(self._files(method.networks).values()):
                return method
        return METHODS[DEFAULT_LEARNED if self.mode == "neural" else "classical"]

    def networks(self, stage: str) -> tuple[str, ...]:
        """The networks ``stage`` runs when it is learned."""
        return self.depth.networks if stage == "depth" else STAGE_NETWORKS[stage]

    @classmethod
    def coerce(cls, backend: "NeuralBackend | str | None", ckpts_dir: str | list[str] | None = None,
               device: str | torch.device = "cpu") -> "NeuralBackend":
        """A backend from a backend object, a mode name, or None (= ``"auto"``)."""
        if isinstance(backend, NeuralBackend):
            return backend
        return cls(backend or "auto", ckpts_dir, device)

    def _files(self, networks: tuple[str, ...]) -> dict[str, str | None]:
        names = dict.fromkeys(NETWORKS[n].file for n in networks)
        return {name: find_checkpoint(name, self.dirs) for name in names}

    def files(self, stage: str) -> dict[str, str | None]:
        """file name -> path found (None when missing), for the networks of ``stage``."""
        return self._files(self.networks(stage))

    def uses(self, stage: str) -> bool:
        """Whether ``stage`` runs its network(s).

        Raises:
            CineError: in ``neural`` mode, or for a depth model asked for by name, when a file
                of the stage is missing.
        """
        if self.mode == "classical" or not self.networks(stage):
            return False
        self.check([stage])
        return all(self.files(stage).values())

    def check(self, stages: list[str]) -> None:
        """In ``neural`` mode (and for the depth stage of a depth model asked for by name), fail
        before any work when a file of one of ``stages`` is missing (one message naming every
        missing file); no-op otherwise."""
        required = [stage for stage in stages
                    if self.mode == "neural" or (stage == "depth" and self.depth_model != "auto")]
        missing = [name for stage in required for name, path in self.files(stage).items() if path is None]
        if not missing:
            return
        where = " or ".join(self.dirs)
        pronoun = "it" if len(set(missing)) == 1 else "them"
        asked = "neural" if self.mode == "neural" else self.depth_model
        instead = ", or use auto" if self.mode == "neural" else ""
        raise CineError(f"{asked} needs {', '.join(dict.fromkeys(missing))}; put {pronoun} in {where} "
                        f"(python install_deps.py --models downloads {pronoun}; see docs/models.md){instead}",
                        parameter="backend" if self.mode == "neural" else "depth_model")

    def load(self, stage: str, only: str | None = None) -> dict[str, torch.nn.Module]:
        """Load the networks of ``stage`` (strictly, safely) onto the backend's device; only the
        network ``only`` when given."""
        modules = {}
        for filename, path in self.files(stage).items():
            names = [name for name in self.networks(stage) if NETWORKS[name].file == filename and
                     only in (None, name)]
            if not names:
                continue
            if path is None:
                raise CineError(f"{filename} not found in {' or '.join(self.dirs)}")
            modules.update(load_networks(names, path, device=self.device, notes=self.notes))
        return modules

    def loader(self, name: str) -> Callable[[], torch.nn.Module]:
        """A function loading the network ``name`` (as :meth:`load`) each time it is called: for
        a stage that needs its networks one after another, so that only one is held at a time."""
        stage = next(stage for stage, names in STAGE_NETWORKS.items() if name in names)
        return lambda: self.load(stage, only=name)[name]

    def label(self, stage: str) -> str:
        """Report string of a stage that ran its networks: backend, network and file names."""
        files = ", ".join(os.path.basename(p) for p in self.files(stage).values() if p)
        label = f"neural: {self.depth.title}" if stage == "depth" else STAGE_LABELS[stage]
        return f"{label} ({files})"

    def render_method(self) -> str:
        """Report string of the renderer this backend picks (see :func:`~cine_core.pipeline.run.render_frames`)."""
        return self.label("render") if self.uses("render") else CLASSICAL_RENDER
