"""Finding and safely loading the official checkpoint files.

Seven files, as the original projects publish them (``docs/models.md`` says where to get them):

========================================  ===================================  ==========================
file                                      network(s) and the entry they are in  stage
========================================  ===================================  ==========================
``model_150000.pth``                      ``feature_net``, ``img_decoder``      features + decoder (render)
``sceneflow_model.pth``                   ``netG`` (keys ``motion_predictor.*``) motion
``depth-model.pth``                       whole file (plain state dict)         inpainting (depth)
``color-model.pth``                       whole file (plain state dict)         inpainting (colour)
``dpt_hybrid-midas-501f0c75.pt``          whole file (plain state dict)         depth
``dpt_hybrid-ade20k-53898607.pt``         whole file (plain state dict)         segment (what moves)
``depth_anything_v2_vits.pth``            whole file (plain state dict)         depth (another model)
========================================  ===================================  ==========================

A checkpoint is untrusted input: unpickling runs whatever callables the file names. Every file is
read with ``torch.load(path, map_location="cpu", weights_only=True)``, which only rebuilds tensors
and plain containers. Training-only entries of research checkpoints sometimes hold other *data*
objects (an ``argparse.Namespace`` of options, numpy scalars); when the file names nothing but such
data types (:data:`INERT_GLOBALS`), it is read again, still with ``weights_only=True``, with those
names mapped to an inert placeholder that only stores its arguments, so no code of the file's
choosing ever runs. Any other name (``os.system``, ``builtins.exec``, a class of some package) makes
the file refused with a one-line :class:`~cine_core.errors.CineError` naming the file.

Entries other than the networks' (optimizer, scheduler, discriminator states) are ignored. The
networks' state dicts must match key for key (strict loading): a mismatch names the file and the
first missing / unexpected keys.
"""
from __future__ import annotations

import glob
import os
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import CineError
from .depth_anything import DepthAnythingV2
from .dpt import DPTHybrid, DPTSegmentation
from .feature_net import FeatureNet
from .img_decoder import ImageDecoder
from .inpaint_nets import ColorInpaintNet, DepthInpaintNet
from .motion_net import MotionNet

__all__ = ["NETWORKS", "NetworkSpec", "FILES", "INERT_GLOBALS", "DEFAULT_CKPTS_DIR", "checkpoint_dirs",
           "find_checkpoint", "read_checkpoint", "state_dict_entry", "load_strict", "load_networks"]

#: ``ckpts/`` in the project root (next to the ``cine_core`` package).
DEFAULT_CKPTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                 "ckpts")
_SHOW_KEYS = 4  # keys named in a mismatch message, per kind


@dataclass(frozen=True)
class NetworkSpec:
    """One network: the file it lives in, the entry inside that file, how to build it.

    Attributes:
        name: our name of the network.
        file: canonical file name.
        entry: key of the state dict inside the file's top-level dict; None for a plain state dict.
        build: constructor of the (randomly initialised) module.
        train_mode: leave the module in training mode (the motion net: spectral norm does one
            power iteration per forward in the reference); all others are put in eval mode.
        title: what to call it in messages.
    """

    name: str
    file: str
    entry: str | None
    build: Callable[[], nn.Module]
    train_mode: bool
    title: str


NETWORKS: dict[str, NetworkSpec] = {spec.name: spec for spec in (
    NetworkSpec("feature_net", "model_150000.pth", "feature_net", FeatureNet, False, "feature encoder"),
    NetworkSpec("img_decoder", "model_150000.pth", "img_decoder", ImageDecoder, False, "image decoder"),
    NetworkSpec("motion_net", "sceneflow_model.pth", "netG", MotionNet, True, "motion network"),
    NetworkSpec("inpaint_depth", "depth-model.pth", None, DepthInpaintNet, False, "depth inpainting net"),
    NetworkSpec("inpaint_color", "color-model.pth", None, ColorInpaintNet, False, "colour inpainting net"),
    # The released weights were trained with timm 0.4.5's weight standardisation.
    NetworkSpec("dpt", "dpt_hybrid-midas-501f0c75.pt", None, lambda: DPTHybrid("std_plus_eps"), False,
                "DPT-Hybrid depth network"),
    NetworkSpec("dpt_ade20k", "dpt_hybrid-ade20k-53898607.pt", None,
                lambda: DPTSegmentation(150, "std_plus_eps"), False, "DPT-Hybrid ADE20K segmentation network"),
    NetworkSpec("depth_anything_v2_small", "depth_anything_v2_vits.pth", None, DepthAnythingV2, False,
                "Depth Anything V2 Small network"),
)}

#: The distinct files, in the order of :data:`NETWORKS`.
FILES: tuple[str, ...] = tuple(dict.fromkeys(spec.file for spec in NETWORKS.values()))

#: Names of pickled *data* types that training-only entries may hold and that are read as inert
#: placeholders (never imported, never called). Everything else is refused.
INERT_GLOBALS = frozenset({
    "argparse.Namespace",
    "collections.defaultdict", "collections.deque",
    "builtins.frozenset", "builtins.slice", "builtins.range",
    "numpy.ndarray", "numpy.dtype",
    "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray._reconstruct", "numpy._core.multiarray.scalar",
})
_INERT_PATTERN = re.compile(r"numpy\.dtypes\.[A-Za-z0-9]+DType")
_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")
_MAX_PLACEHOLDER_ROUNDS = 16


class _Inert:
    """Stands in for a pickled data object of a training-only entry: stores, never runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return "<ignored non-tensor object>"


def _is_inert(name: str) -> bool:
    return name in INERT_GLOBALS or bool(_INERT_PATTERN.fullmatch(name))


def checkpoint_dirs(ckpts_dir: str | os.PathLike | list | tuple | None = None) -> list[str]:
    """The folders searched for weight files: the given one(s), else the project's ``ckpts/``."""
    if ckpts_dir is None or ckpts_dir == "":
        return [DEFAULT_CKPTS_DIR]
    if isinstance(ckpts_dir, (list, tuple)):
        return [os.path.abspath(os.path.expanduser(os.fspath(d))) for d in ckpts_dir]
    return [os.path.abspath(os.path.expanduser(os.fspath(ckpts_dir)))]


def find_checkpoint(filename: str, dirs: list[str]) -> str | None:
    """Path of ``filename`` in the first folder of ``dirs`` that has it, else None.

    ``model_150000.pth`` (the reference names it by its training step) also matches another
    ``model_<6 digits>.pth`` when that is the only one; the highest step wins.
    """
    for folder in dirs:
        path = os.path.join(folder, filename)
        if os.path.isfile(path):
            return path
    if re.fullmatch(r"model_\d{6}\.pth", filename):
        for folder in dirs:
            steps = sorted(p for p in glob.glob(os.path.join(folder, "model_*.pth"))
                           if re.fullmatch(r"model_\d{6}\.pth", os.path.basename(p)))
            if steps:
                return steps[-1]
    return None


def _load(path: str, placeholders: set[str]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": the outcome is reported
        if not placeholders:
            return torch.load(path, map_location="cpu", weights_only=True)
        with torch.serialization.safe_globals([(_Inert, name) for name in sorted(placeholders)]):
            return torch.load(path, map_location="cpu", weights_only=True)


def _refuse(path: str, names: list[str]) -> CineError:
    return CineError(f"refusing to load {path}: it is not a plain weights file - unpickling it would call "
                     f"{', '.join(names[:3])}, which could run code; delete it and download it again "
                     f"(python install_deps.py --models)")


def read_checkpoint(path: str, notes: list[str] | None = None) -> Any:
    """Read a checkpoint file without running code from it.

    Args:
        path: the file.
        notes: receives one line per remark (non-tensor training entries read as placeholders).

    Returns:
        What the file holds (a state dict or a dict of entries).

    Raises:
        CineError: a pickle payload (refused, nothing executed), or a damaged / truncated file.
    """
    placeholders: set[str] = set()
    for _ in range(_MAX_PLACEHOLDER_ROUNDS):
        try:
            result = _load(path, placeholders)
        except pickle.UnpicklingError as exc:
            names = _unsupported_globals(path, exc, placeholders)
            if not names:
                lines = [line.strip() for line in str(exc).splitlines() if "Unsupported" in line]
                reason = lines[0] if lines else "the safe loader cannot read it"
                raise CineError(f"refusing to load {path}: it is not a plain weights file ({reason[:160]})") from None
            dangerous = [name for name in names if not _is_inert(name)]
            if dangerous:
                raise _refuse(path, dangerous) from None
            if not hasattr(torch.serialization, "safe_globals"):
                raise _refuse(path, names) from None
            placeholders.update(names)
            continue
        except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, TypeError) as exc:
            reason = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
            raise CineError(f"{path} is not a readable PyTorch checkpoint ({reason[:120]}); it may be "
                            f"truncated - download it again (python install_deps.py --models)") from None
        if placeholders and notes is not None:
            notes.append(f"{os.path.basename(path)}: non-tensor objects ({', '.join(sorted(placeholders))}) "
                         f"in training-only entries were read as inert placeholders and ignored")
        return result
    raise _refuse(path, sorted(placeholders))


def _unsupported_globals(path: str, exc: Exception, known: set[str]) -> list[str]:
    """Names of the globals the safe unpickler refused, read statically (nothing is executed)."""
    names: list[str] = []
    try:
        if zipfile.is_zipfile(path):
            names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        else:
            unpickler = torch._weights_only_unpickler
            allowed = set(unpickler._get_allowed_globals()) | set(unpickler._get_user_allowed_globals())
            names = [n for n in _scan_pickle_globals(path) if n not in allowed]
    except Exception:
        names = []
    if not names:
        names = _GLOBAL_IN_MESSAGE.findall(str(exc))
    return [n for n in dict.fromkeys(names) if n not in known]


def _scan_pickle_globals(path: str, limit: int = 64) -> list[str]:
    """Globals named by the pickles at the start of a non-zip file (legacy torch format or a bare
    pickle), found by disassembling the opcodes with :mod:`pickletools`; nothing is executed."""
    names: list[str] = []
    with open(path, "rb") as handle:
        for _ in range(limit):  # the legacy format is a few pickles followed by raw tensor bytes
            strings: list[str] = []
            try:
                for opcode, argument, _position in pickletools.genops(handle):
                    if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                        strings = (strings + [argument])[-2:]
                    elif opcode.name in ("GLOBAL", "INST"):
                        names.append(".".join(str(argument).split(" ", 1)))
                    elif opcode.name == "STACK_GLOBAL" and len(strings) == 2:
                        names.append(f"{strings[0]}.{strings[1]}")
            except Exception:
                break
    return names


def state_dict_entry(content: Any, spec: NetworkSpec, path: str) -> dict[str, Tensor]:
    """The state dict of ``spec`` inside a file's content (nested entry or the whole file)."""
    if spec.entry is None:
        state = content
        # Some DPT releases wrap the weights as {"model": ..., "optimizer": ...}.
        if isinstance(state, Mapping) and "model" in state and "optimizer" in state:
            state = state["model"]
    else:
        if not isinstance(content, Mapping) or spec.entry not in content:
            found = ", ".join(sorted(map(str, content))[:6]) if isinstance(content, Mapping) else type(content).__name__
            raise CineError(f"{path} has no '{spec.entry}' entry for the {spec.title} (it holds: {found}); "
                            f"is it the right file?")
        state = content[spec.entry]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CineError(f"{path}: the {spec.title} weights{f' (entry {spec.entry!r})' if spec.entry else ''} "
                        f"are not a state dict of tensors; is it the right file?")
    return dict(state)


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW_KEYS])
    return shown + (f" (+{len(keys) - _SHOW_KEYS} more)" if len(keys) > _SHOW_KEYS else "")


def load_strict(module: nn.Module, state: Mapping[str, Tensor], path: str, spec: NetworkSpec) -> None:
    """``module.load_state_dict(state, strict=True, assign=True)`` (``module`` may be built on the
    meta device) with a one-line message on any mismatch."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} instead of {tuple(expected[k].shape)}"
              for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or shapes:
        where = f"{path}" + (f" [{spec.entry}]" if spec.entry else "")
        parts = []
        if missing:
            parts.append(f"missing keys: {_names(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_names(unexpected)}")
        if shapes:
            parts.append(f"wrong shapes: {_names(shapes)}")
        raise CineError(f"{where} does not match the {spec.title} ({'; '.join(parts)}); "
                        f"is it the official {spec.file}?")
    # The module was built without memory (meta device): it takes the file's tensors as they
    # are, in its own dtypes, instead of copying them into weights of its own (twice the memory).
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True, assign=True)


def load_networks(names: list[str] | tuple[str, ...], path: str, *, device: str | torch.device = "cpu",
                  notes: list[str] | None = None) -> dict[str, nn.Module]:
    """Build the networks ``names`` (all stored in the file ``path``) and load them strictly.

    Returns:
        name -> module on ``device``, in eval mode except the motion net (training mode, see
        :class:`NetworkSpec`); gradients disabled.
    """
    content = read_checkpoint(path, notes)
    modules = {}
    for name in names:
        spec = NETWORKS[name]
        with torch.device("meta"):  # no random weights: the file's replace them all
            module = spec.build()
        load_strict(module, state_dict_entry(content, spec, path), path, spec)
        module.train(spec.train_mode)
        module.requires_grad_(False)
        modules[name] = module.to(device)
    del content
    return modules
