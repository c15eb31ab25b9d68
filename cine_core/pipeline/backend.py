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

The inputs each network gets follow the reference implementation exactly where the trained
weights depend on them (``docs/models.md``); everything else is this project's own pipeline.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import kornia
import numpy as np
import torch
import torch.nn.functional as F

from ..depth.dpt import dpt_batch
from ..depth.methods import DEFAULT_LEARNED, METHODS, DepthMethod, depth_method
from ..errors import CineError
from ..io.images import to_numpy_image
from ..io.motion_rules import motion_mask
from ..layers.ldi import hole_window
from ..motion.detect import KINDS
from ..nets.checkpoints import NETWORKS, checkpoint_dirs, find_checkpoint, load_networks
from ..nets.inpaint_nets import UNIT_LENGTH

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

#: side of the square grid the motion network runs on in the reference.
MOTION_SIZE = 768
#: the reference's 15x15 box blur of the predicted flow, at MOTION_SIZE.
MOTION_BLUR = 15
#: The DPT segmentation script's input side (same resize rule).
SEGMENT_SIZE = 480
#: ADE20K output channels (0-based, objectInfo150 order) that move, and the kind of motion each
#: gets (:data:`cine_core.motion.detect.KINDS`).
ADE20K_KINDS = {2: "sky", 21: "sea", 26: "sea", 128: "lake", 60: "river", 113: "waterfall", 104: "fountain"}
_KIND_OF_CLASS = {"lake": "sea", "fountain": "waterfall"}


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
            raise CineError(f"--backend must be one of {', '.join(BACKENDS)}, not {mode!r}")
        if depth_model != "auto":
            depth_method(depth_model)  # an unknown name is refused before anything is read
            if mode == "classical" and METHODS[depth_model].learned:
                raise CineError(f"--depth-model {depth_model} runs a network, which --backend classical "
                                f"excludes; use --backend auto")
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

    @property
    def depth(self) -> DepthMethod:
        """The depth method the depth stage runs (see ``depth_model``)."""
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
        asked = "--backend neural" if self.mode == "neural" else f"--depth-model {self.depth_model}"
        instead = ", or use --backend auto" if self.mode == "neural" else ""
        raise CineError(f"{asked} needs {', '.join(dict.fromkeys(missing))}; put {pronoun} in {where} "
                        f"(python install_deps.py --models downloads {pronoun}; see docs/models.md){instead}")

    def load(self, stage: str) -> dict[str, torch.nn.Module]:
        """Load the networks of ``stage`` (strictly, safely) onto the backend's device."""
        modules = {}
        for filename, path in self.files(stage).items():
            if path is None:
                raise CineError(f"{filename} not found in {' or '.join(self.dirs)}")
            names = [name for name in self.networks(stage) if NETWORKS[name].file == filename]
            modules.update(load_networks(names, path, device=self.device, notes=self.notes))
        return modules

    def label(self, stage: str) -> str:
        """Report string of a stage that ran its networks: backend, network and file names."""
        files = ", ".join(os.path.basename(p) for p in self.files(stage).values() if p)
        label = f"neural: {self.depth.title}" if stage == "depth" else STAGE_LABELS[stage]
        return f"{label} ({files})"

    def render_method(self) -> str:
        """Report string of the renderer this backend picks (see :func:`~cine_core.pipeline.run.render_frames`)."""
        return self.label("render") if self.uses("render") else CLASSICAL_RENDER


# ------------------------------------------------------------------------------ segmentation

@torch.inference_mode()
def segment_motion_kinds(net: torch.nn.Module, rgb: torch.Tensor) -> np.ndarray:
    """The moving kinds of each pixel from the DPT-Hybrid ADE20K segmentation.

    Reference pre-processing (DPT's ``run_segmentation``): :func:`~cine_core.depth.dpt.dpt_batch`
    at side 480 (bicubic, mean 0.5, std 0.5); the 150 logits are
    upsampled bicubically to the photo and the argmax taken (here in chunks of channels, which
    gives the same argmax without holding all 150 full-size maps at once).

    Args:
        net: a loaded :class:`~cine_core.nets.dpt.DPTSegmentation` in eval mode.
        rgb: (3, H, W) photo in [0, 1].

    Returns:
        (H, W) int32: 0 = still, else 1 + index into :data:`cine_core.motion.detect.KINDS`.
    """
    height, width = rgb.shape[1:]
    device = next(net.parameters()).device
    logits = net(dpt_batch(rgb, SEGMENT_SIZE, device)).float()
    best = torch.full((height, width), -torch.inf, device=device)
    classes = torch.zeros((height, width), dtype=torch.long, device=device)
    for start in range(0, logits.shape[1], 30):
        chunk = F.interpolate(logits[:, start:start + 30], size=(height, width), mode="bicubic", align_corners=False)
        value, index = chunk[0].max(dim=0)
        better = value > best
        best = torch.where(better, value, best)
        classes = torch.where(better, index + start, classes)
    classes = classes.cpu().numpy()
    kinds = np.zeros((height, width), np.int32)
    for channel, name in ADE20K_KINDS.items():
        kinds[classes == channel] = list(KINDS).index(_KIND_OF_CLASS.get(name, name)) + 1
    return kinds


# ------------------------------------------------------------------------------ inpainting

@dataclass
class NetworkInpainter:
    """The 3D-Photo-Inpainting nets as a :data:`~cine_core.layers.ldi.Inpainter` for ``build_layers``.

    As the reference's ``Inpainter``: depth is inpainted in log space with the context mean
    subtracted, colour separately from the context colours, edges are zero, and the input is
    zero-padded (centred) to multiples of 128. The nets run on the hole's bounding box grown by a
    margin of context (the reference runs them on the whole photo; far context barely matters and
    the crop saves time), downscaled when that box is longer than ``max_side``.

    Args:
        depth_net, color_net: loaded :class:`~cine_core.nets.inpaint_nets.DepthInpaintNet` and
            :class:`~cine_core.nets.inpaint_nets.ColorInpaintNet`, eval mode.
        max_side: longest side the nets see.
    """

    depth_net: torch.nn.Module
    color_net: torch.nn.Module
    max_side: int = 1280

    @torch.inference_mode()
    def __call__(self, rgb: np.ndarray, log_depth: np.ndarray, context: np.ndarray,
                 hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.nonzero(hole)
        extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        # Context of half the hole's extent, at least one unit of the nets' sides.
        crop, size, factor = hole_window(hole, max(UNIT_LENGTH, extent // 2), self.max_side)
        device = next(self.depth_net.parameters()).device

        def prepare(array: np.ndarray, nearest: bool = False) -> torch.Tensor:
            array = np.ascontiguousarray(array[crop], dtype=np.float32)
            if factor < 1.0:
                array = cv2.resize(array, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
            tensor = torch.from_numpy(array)
            tensor = tensor.permute(2, 0, 1) if tensor.ndim == 3 else tensor[None]
            return tensor[None].to(device)

        known = prepare(context.astype(np.float32), nearest=True)
        holes = prepare(hole.astype(np.float32), nearest=True) * (1.0 - known)
        depth = prepare(log_depth)
        colour = prepare(rgb)
        edge = torch.zeros_like(known)
        if not bool((known > 0).any()):
            return rgb.copy(), log_depth.copy()
        mean = depth[known > 0].mean()
        zero_mean = (depth - mean) * known
        filled_log = self.depth_net.inpaint(holes, known, zero_mean, edge) + mean
        # Reference post-processing: context kept, then a 3x3 Gaussian (sigma 1.5) on the depth.
        filled_depth = torch.where(known > 0.5, depth, filled_log).exp()
        filled_depth = kornia.filters.gaussian_blur2d(filled_depth, (3, 3), (1.5, 1.5))
        filled_log = torch.where(known > 0.5, depth, filled_depth.clamp(min=1e-6).log())
        filled_rgb = self.color_net.inpaint(holes, known, colour * known, edge).clamp(0, 1)

        out_rgb, out_log = rgb.copy(), log_depth.copy()
        full = (crop[1].stop - crop[1].start, crop[0].stop - crop[0].start)
        result_rgb = to_numpy_image(filled_rgb[0].float())
        result_log = filled_log[0, 0].float().cpu().numpy()
        if factor < 1.0:
            result_rgb = cv2.resize(result_rgb, full, interpolation=cv2.INTER_LINEAR)
            result_log = cv2.resize(result_log, full, interpolation=cv2.INTER_LINEAR)
        out_rgb[crop] = result_rgb
        out_log[crop] = result_log
        return out_rgb, out_log


# ---------------------------------------------------------------------------------- motion

class MotionPredictor:
    """The motion network with the reference's input and output handling.

    The network stays in training mode (the reference never switches it: spectral norm does one
    power iteration per forward and updates its stored vectors). To give the same flow every
    time, the vectors as loaded are restored before each prediction, so every call equals the
    reference's first (and only) forward after loading.
    """

    def __init__(self, net: torch.nn.Module, size: int = MOTION_SIZE):
        self.net = net
        self.size = size
        self._loaded = {k: v.detach().clone() for k, v in net.state_dict().items()
                        if k.endswith(("weight_u", "weight_v"))}

    @torch.no_grad()
    def __call__(self, rgb: torch.Tensor, mask: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        """Dense flow from the photo, the moving-region mask and the dense hint.

        Reference steps: inputs at ``size`` x ``size`` (RGB in [-1, 1], bicubic with
        antialiasing as PIL; mask area-resized; hint bilinear with x scaled by size/W and y by
        size/H); output * mask; one 15x15 box blur (zero padded); * mask; x scaled by W/size and
        y by H/size; bilinear resize to H x W.

        Args:
            rgb: (3, H, W) in [0, 1].
            mask: (H, W) moving region (bool or {0, 1}).
            hint: (2, H, W) dense hint in pixels per frame (zero outside the mask).

        Returns:
            (2, H, W) float32 flow in pixels per frame.
        """
        height, width = rgb.shape[1:]
        size = self.size
        device = next(self.net.parameters()).device
        image = F.interpolate(rgb[None].float().to(device), size=(size, size), mode="bicubic",
                              align_corners=False, antialias=True).clamp(0, 1) * 2.0 - 1.0
        grid_mask = F.interpolate(mask[None, None].float().to(device), size=(size, size), mode="area")
        scale_in = torch.tensor([size / width, size / height], device=device).reshape(1, 2, 1, 1)
        grid_hint = F.interpolate(hint[None].float().to(device) * scale_in, size=(size, size),
                                  mode="bilinear", align_corners=False)
        for name, buffer in self.net.named_buffers():
            if name in self._loaded:
                buffer.copy_(self._loaded[name])
        self.net.train()  # never eval(): see the class docstring
        flow = self.net(image, grid_mask, grid_hint) * grid_mask
        kernel = max(3, round(MOTION_BLUR * size / MOTION_SIZE) | 1)
        flow = F.avg_pool2d(flow, kernel, stride=1, padding=kernel // 2, count_include_pad=True)
        flow = flow * grid_mask
        scale_out = torch.tensor([width / size, height / size], device=device).reshape(1, 2, 1, 1)
        flow = F.interpolate(flow * scale_out, size=(height, width), mode="bilinear", align_corners=False)
        return flow[0].float().cpu()


def neural_flow(predictor: MotionPredictor, rgb: torch.Tensor, mask: np.ndarray | None,
                hint_flow: torch.Tensor, flow_scale: float) -> torch.Tensor:
    """The pipeline's flow stage with the motion network.

    Args:
        predictor: the loaded network.
        rgb: (3, H, W) photo.
        mask: (H, W) bool moving region from the annotation, or None (then the support of the
            hint field is the mask, as for hints given without a mask).
        hint_flow: (2, H, W) the classical flow (dense hint kept in the mask), already
            multiplied by ``flow_scale``; zero where the network should predict the motion from
            the photo alone (regions found automatically).
        flow_scale: the speed multiplier (ours: 2 = twice as fast; the reference divides).

    Returns:
        (2, H, W) flow in working pixels per frame.
    """
    region = torch.from_numpy(np.asarray(mask, dtype=bool)) if mask is not None else motion_mask(hint_flow)
    if flow_scale <= 0 or not bool(region.any()):
        return torch.zeros_like(hint_flow)
    hint = hint_flow / float(flow_scale) * region
    return predictor(rgb, region, hint) * float(flow_scale)
