"""Photo -> prepared scene -> frames: the stages wired together, with progress reporting.

``progress(stage, fraction)`` callbacks may raise :class:`~cine_core.errors.Cancelled` to stop
a job between steps (:func:`cancellable` makes one that does when a
:class:`~cine_core.errors.CancelToken` is cancelled); nothing is written until a stage has
finished.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, NamedTuple

import numpy as np
import torch

from ..cameras.intrinsics import Intrinsics
from ..cameras.paths import CameraPath
from ..depth.conditioning import check_same_view, condition_depth, raw_to_disparity
from ..depth.methods import METHODS, estimate_depth
from ..errors import CancelToken, CineError
from ..io.checks import check_regular_file
from ..io.annotations import HintArrow, MotionAnnotation, check_points, read_arrows_json, read_mask_image
from ..io.depth_files import DEPTH_EXTENSIONS, read_depth_file
from ..io.accepted import PHOTO_EXTENSIONS
from ..io.images import Photo, load_photo, to_uint8_image, working_size
from ..io.motion_rules import motion_mask
from ..layers.inpaint_network import NetworkInpainter
from ..layers.ldi import build_layers, classical_inpaint
from ..motion.animation import AnimatedPointCloud, animate_points, playback_points
from ..motion.detect import AutoMotion, auto_annotation, detect_motion, found_regions
from ..motion.directions import parse_direction
from ..motion.flow import eulerian_flow, extend_flow, feather_flow, motion_regions
from ..motion.fluidity import refine_regions
from ..motion.from_video import FEATHER_FRACTION as VIDEO_FEATHER, video_motion, with_annotation
from ..motion.network import MOTION_SIZE, MotionPredictor, neural_flow
from ..motion.segmentation import segment_motion_kinds
from ..parallel import FRAMES_AT_ONCE, ordered_map, workers_for
from ..rendering.decoder import NeuralFrameRenderer
from ..rendering.frames import FrameRenderer
from ..scene import MAX_REGIONS, PreparedScene
from .backend import NeuralBackend
from ..host_memory import release_freed_host_memory

Progress = Callable[[str, float], None]


def no_progress(stage: str, fraction: float) -> None:
    """The default progress callback: reports nowhere."""


def scaled_progress(progress: Progress, low: float, high: float) -> Progress:
    """A progress callback mapping a stage's 0..1 onto ``low``..``high`` of a longer job."""
    return lambda stage, fraction: progress(stage, low + (high - low) * fraction)


def cancellable(progress: Progress, cancel: CancelToken | None) -> Progress:
    """``progress`` that first stops the job (raises :class:`~cine_core.errors.Cancelled`) once
    ``cancel`` is cancelled; ``progress`` itself without a token."""
    if cancel is None:
        return progress

    def report(stage: str, fraction: float) -> None:
        cancel.check()
        progress(stage, fraction)

    return report


#: The share of :func:`prepare_animated`'s progress that preparing takes, integrating the loop
#: the rest: an even split, as integrating takes several times as long as the classical stages
#: (3.0 s against 0.5 s for a 1024x680 photo half of which moves, 60 frames, 2 CPU cores) and
#: the networks take as long or longer.
_PREPARE_SHARE = 0.5


@dataclass
class SceneInputs:
    """Files describing one scene; only ``photo`` is required."""

    photo: str
    annotation: str | None = None  # labelme image.json or a JSON of arrows
    mask: str | None = None
    depth: str | None = None
    #: a depth/disparity array given directly (e.g. rendered from proxy geometry), instead of a file
    depth_values: np.ndarray | None = None
    #: the motion given directly (any size; e.g. found by :func:`find_motion` and shown to the
    #: user first), instead of ``annotation`` and ``mask``
    motion: MotionAnnotation | None = None
    #: a short clip of the same view whose average motion becomes the flow and moving region
    #: (:mod:`cine_core.motion.from_video`); the user's mask and arrows still win where given
    motion_video: str | None = None

    @classmethod
    def find(cls, path: str) -> "SceneInputs":
        """Resolve a photo file or a folder holding ``image.*`` plus optional ``image.json``,
        ``mask.png`` and a depth file (``depth*.pfm|png|npy``)."""
        if not os.path.isdir(path):
            check_regular_file(path, "input")
            return cls(photo=path)
        photos = [p for ext in PHOTO_EXTENSIONS for p in glob.glob(os.path.join(path, "image" + ext))
                  if os.path.isfile(p)]
        if not photos:
            raise CineError(f"{path} holds no image.png / image.jpg")
        annotation = os.path.join(path, "image.json")
        mask = os.path.join(path, "mask.png")
        depths = sorted(p for p in glob.glob(os.path.join(path, "depth*"))
                        if p.lower().endswith(DEPTH_EXTENSIONS) and os.path.isfile(p))
        return cls(photo=photos[0], annotation=annotation if os.path.isfile(annotation) else None,
                   mask=mask if os.path.isfile(mask) else None, depth=depths[0] if depths else None)


@dataclass
class PrepareOptions:
    """How to prepare a scene (see the CLI's help for each option)."""

    max_side: int | None = None
    depth_kind: str = "disparity"
    hints: list[HintArrow] = field(default_factory=list)
    direction: str | None = None
    flow_scale: float = 1.0
    max_layers: int = 3
    focal: float | None = None
    #: networks: "auto" (each stage whose weight file is found), "classical" (none) or
    #: "neural" (all; a missing file is an error), see :mod:`cine_core.pipeline.backend`
    backend: str = "auto"
    #: folder with the official weight files (default: the project's ``ckpts/``)
    ckpts_dir: str | None = None
    #: where the networks run ("cpu", "cuda", ...)
    device: str = "cpu"
    #: the depth stage's method: a name in :data:`cine_core.depth.methods.METHODS`, or "auto"
    #: (the first learned one whose weight file is found, else the classical estimate)
    depth_model: str = "auto"
    #: grid of the motion network: a multiple of 256, by default the size it was trained at
    motion_size: int = MOTION_SIZE
    #: The given depth holds true distances up to one scale (e.g. rendered from proxy geometry):
    #: keep its ratios instead of stretching its range (see ``condition_depth``).
    metric_depth: bool = False
    #: False lets a photo without any motion annotation prepare as a still (zero flow), for
    #: tools that let the user add the motion afterwards (see :func:`with_motion`).
    require_motion: bool = True
    #: Without a motion mask, find what moves (sky, water) and how (:mod:`cine_core.motion.detect`);
    #: hints and ``direction`` steer the guess. Finding nothing gives a still, with a note.
    auto_motion: bool = True
    #: Frame rate of the output: the speed a motion video shows per second is kept at it.
    fps: float = 30.0
    #: Move the regions exactly as drawn, instead of holding still the structure the photo
    #: shows inside them (rocks, wires, blades; :mod:`cine_core.motion.fluidity`).
    exact_region: bool = False


def load_annotation(inputs: SceneInputs, photo: Photo, extra_hints: list[HintArrow]) -> MotionAnnotation:
    """Combine the annotation file, the mask image and command-line hints (original pixels).

    When both an ``image.json`` with motion polygons and a ``mask.png`` exist, the JSON wins:
    labelme's rasterised mask also contains the hint strokes.
    """
    annotation = MotionAnnotation(photo.original_size)
    if inputs.motion is not None:
        annotation = inputs.motion.at_size(*photo.original_size)
    elif inputs.annotation:
        annotation = read_arrows_json(inputs.annotation, photo.original_size).at_size(*photo.original_size)
    if inputs.mask and annotation.mask is None:
        annotation = annotation.merged(read_mask_image(inputs.mask, photo.original_size))
    if extra_hints:
        for hint in extra_hints:
            check_points("", "the arrow", np.array([hint.start, hint.end]), photo.original_size, parameter="hints")
        annotation = annotation.merged(MotionAnnotation(photo.original_size, None, list(extra_hints)))
    return annotation


def working_annotation(inputs: SceneInputs, photo: Photo, extra_hints: list[HintArrow]) -> MotionAnnotation:
    """:func:`load_annotation` at the photo's working size. A motion given at that size
    (``inputs.motion``, e.g. found and shown to the user first) is taken as it is: resampling it
    to the original size and back would move the edges of its region."""
    motion = inputs.motion
    if motion is not None and tuple(motion.size) == tuple(photo.size) and not extra_hints and \
            (motion.mask is not None or not inputs.mask):
        return motion
    return load_annotation(inputs, photo, extra_hints).at_size(*photo.size)


def _asks_for_motion(annotation: MotionAnnotation, direction: str | None, require_motion: bool) -> bool:
    """Whether the flow stage makes motion (or fails saying what is missing) rather than a still."""
    return require_motion or annotation.mask is not None or bool(annotation.hints) or bool(direction)


def _flow_stage(annotation: MotionAnnotation, direction: str | None, flow_scale: float,
                require_motion: bool = True, photo: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The Eulerian flow and its regions at the annotation's size, and how it was made;
    following the structure of ``photo`` ((3, H, W) at that size) when given."""
    if not _asks_for_motion(annotation, direction, require_motion):
        width, height = annotation.size
        return torch.zeros(2, height, width), torch.zeros(height, width, dtype=torch.int32), "none (still)"
    parsed = parse_direction(direction) if direction else None
    regions = torch.from_numpy(motion_regions(annotation))
    count = len(torch.unique(regions[regions > 0]))
    if count > MAX_REGIONS:  # each region is integrated on its own: thousands would exhaust memory
        raise CineError(f"the moving region falls apart into {count} separate pieces (at most {MAX_REGIONS}); "
                        f"remove the specks from the mask or join the pieces")
    flow = eulerian_flow(annotation, direction=parsed, flow_scale=flow_scale, photo=photo)
    return flow, regions, "hint interpolation" if annotation.hints else "worded direction"


def _motion_stage(annotation: MotionAnnotation, rgb: torch.Tensor, backend: NeuralBackend,
                  direction: str | None, flow_scale: float, require_motion: bool = True,
                  auto: AutoMotion | None = None, found_by: str = "",
                  exact_region: bool = False) -> tuple[torch.Tensor, torch.Tensor, str, float]:
    """:func:`_flow_stage`, refined by the motion network when ``backend`` uses it, and
    feathered to zero towards the regions' borders (:func:`~cine_core.motion.flow.feather_flow`);
    and the share of the regions held still.

    The regions lose the still structure the photo shows inside them
    (:func:`~cine_core.motion.fluidity.refine_regions`) unless ``exact_region``; the flow is
    feathered towards it as towards their borders, and the network receives the refined region.
    The network needs the photo (``rgb``, (3, H, W) at the annotation's size); the hint flow
    stays its input, except where the arrows were guessed by the motion detection (``auto``,
    found by the method ``found_by``): there it predicts the motion from the photo alone (zero
    hint), as it was trained to.
    """
    flow, regions, method = _flow_stage(annotation, direction, flow_scale, require_motion, rgb)
    moving = bool(motion_mask(flow).any())
    if auto is not None and moving:
        method = f"{found_by} + {method}"
    region_mask, held = annotation.mask, 0.0
    if moving and not exact_region:
        drawn = int((regions > 0).sum())
        regions = torch.from_numpy(refine_regions(rgb, regions.numpy()))
        region_mask = (regions > 0).numpy()
        held = 1.0 - float(region_mask.sum()) / max(drawn, 1)
    if moving and backend.uses("motion"):
        predictor = MotionPredictor(backend.load("motion")["motion_net"], backend.motion_size)
        hint = flow if auto is None else flow * torch.from_numpy(~auto.guessed)
        flow = neural_flow(predictor, rgb, region_mask, hint, flow_scale)
        method = f"{backend.label('motion')} from {method}"
    return feather_flow(flow, regions), regions, method, held


def find_motion(rgb: torch.Tensor, hints: list[HintArrow] = (), direction: str | None = None,
                backend: NeuralBackend | str = "auto", *, ckpts_dir: str | None = None,
                device: str = "cpu") -> tuple[AutoMotion, str]:
    """What moves in a photo without a motion mask, and how; and the method that found it.

    Args:
        rgb: (3, H, W) photo in [0, 1] at working resolution.
        hints: the user's arrows at that size (they override the guess where they start).
        direction: the user's words, if any (they set the direction of the other regions).
        backend, ckpts_dir, device: the segmentation network's, as in :func:`prepare_scene`
            (without its weight file: the weight-free detection).
    """
    backend = NeuralBackend.coerce(backend, ckpts_dir, device)
    hints = list(hints)
    parsed = parse_direction(direction) if direction else None
    if backend.uses("segment"):
        found = found_regions(rgb, segment_motion_kinds(backend.load("segment")["dpt_ade20k"], rgb))
        return auto_annotation(found, hints, parsed), backend.label("segment")
    return auto_annotation(detect_motion(rgb), hints, parsed), "weight-free detection"


def _video_stage(path: str, annotation: MotionAnnotation, rgb: torch.Tensor, fps: float, flow_scale: float,
                 progress: Progress = no_progress) -> tuple[torch.Tensor, torch.Tensor, str, str]:
    """The flow and regions a motion video shows (the user's ``annotation`` winning where
    given), feathered as :func:`_motion_stage` does; the method, and a summary for the user."""
    video = video_motion(rgb, path, fps, progress)
    flow, regions = with_annotation(video, annotation)
    method = "motion video (median DIS flow)" + (" + hint interpolation" if annotation.hints else "")
    return feather_flow(flow * float(flow_scale), regions, VIDEO_FEATHER), regions, method, video.summary


def _hidden_flow(flow: torch.Tensor) -> torch.Tensor:
    reach = max(2, round(0.03 * max(flow.shape[1:])))
    return extend_flow(flow, reach)


def _check_loaded(photo: Photo, inputs: SceneInputs, options: PrepareOptions) -> None:
    """Refuse a photo given to :func:`prepare_scene` that is not ``inputs.photo`` as
    ``load_photo(inputs.photo, options.max_side)`` reads it: the scene would mix two views."""
    if os.path.abspath(photo.path) != os.path.abspath(inputs.photo):
        raise CineError(f"the loaded photo {photo.path} is not the scene's photo {inputs.photo}")
    expected = working_size(*photo.original_size, options.max_side)
    if photo.size != expected:
        limit = f"a size limit of {options.max_side}" if options.max_side else "full size"
        raise CineError(f"the loaded photo is {photo.size[0]}x{photo.size[1]} pixels but {limit} makes it "
                        f"{expected[0]}x{expected[1]}; load it at the same size", parameter="max_side")


def prepare_scene(inputs: SceneInputs, options: PrepareOptions, progress: Progress = no_progress, *,
                  photo: Photo | None = None) -> PreparedScene:
    """Run every stage before rendering: photo, depth, layers, flow.

    Args:
        photo: ``inputs.photo`` already read with ``load_photo(inputs.photo, options.max_side)``,
            for a caller that needs it before (the Blender import reads its annotation at the
            working size first), so it is decoded once; by default it is read here.
    """
    progress("load", 0.0)
    if photo is None:
        photo = load_photo(inputs.photo, options.max_side)
    else:
        _check_loaded(photo, inputs, options)
    annotation = working_annotation(inputs, photo, options.hints)
    # Every input file is read (and refused if bad) before any stage does real work.
    depth_file = read_depth_file(inputs.depth) if inputs.depth and inputs.depth_values is None else None
    if depth_file is not None:
        check_same_view(depth_file.shape, photo.original_size)  # exact: the working size is rounded
    backend = NeuralBackend(options.backend, options.ckpts_dir, options.device,
                            motion_size=options.motion_size, depth_model=options.depth_model)
    no_depth_given = inputs.depth_values is None and not inputs.depth
    from_video = bool(inputs.motion_video)
    if from_video and options.direction:
        raise CineError("a motion video shows the direction itself; drop the direction in words")
    finds_motion = options.auto_motion and annotation.mask is None and not from_video
    moving = not from_video and (finds_motion or _asks_for_motion(annotation, options.direction,
                                                                  options.require_motion))
    backend.check(["depth"] * no_depth_given + ["inpaint"] + ["segment"] * finds_motion + ["motion"] * moving)
    auto = found_by = None
    direction, require_motion = options.direction, options.require_motion
    if finds_motion:
        auto, found_by = find_motion(photo.rgb, annotation.hints, options.direction, backend)
        # Every found region has arrows (guessed, the user's, or along the words); with none
        # found the photo stays still: a guess that finds nothing is not an error.
        annotation, direction, require_motion = auto.annotation, None, False
        moving = _asks_for_motion(annotation, direction, require_motion)
    held = 0.0  # a video shows its still things itself
    if from_video:
        flow, regions, flow_method, video_summary = _video_stage(
            inputs.motion_video, annotation, photo.rgb, options.fps, options.flow_scale,
            scaled_progress(progress, 0.0, 0.1))
        moving = bool(motion_mask(flow).any())
    else:
        flow, regions, flow_method, held = _motion_stage(annotation, photo.rgb, backend, direction,
                                                         options.flow_scale, require_motion, auto, found_by,
                                                         options.exact_region)
    # Each network stage's activations are freed as it ends; the heap hands them back too
    # (glibc keeps them otherwise: cine_core.host_memory).
    release_freed_host_memory()
    progress("depth", 0.1)
    if inputs.depth_values is not None:
        raw = raw_to_disparity(np.asarray(inputs.depth_values, dtype=np.float32), options.depth_kind)
        depth_method = f"given array ({options.depth_kind})"
    elif inputs.depth:
        raw = raw_to_disparity(depth_file, options.depth_kind)
        depth_method = f"file {os.path.basename(inputs.depth)} ({options.depth_kind})"
    elif backend.uses("depth"):
        raw = estimate_depth(photo.rgb, backend.depth.name, backend.load("depth"))
        depth_method = backend.label("depth")
    else:
        raw = estimate_depth(photo.rgb, "classical")
        depth_method = METHODS["classical"].title
    depth = condition_depth(raw, photo.size, metric=options.metric_depth)
    del raw
    release_freed_host_memory()
    progress("layers", 0.3)
    inpaint, layers_method = classical_inpaint, "classical (Telea inpainting)"
    if backend.uses("inpaint"):
        inpaint = NetworkInpainter(backend.loader("inpaint_depth"), backend.loader("inpaint_color"),
                                   backend.inpaint_max_side, backend.device)
        layers_method = backend.label("inpaint")
    layered = build_layers(photo.rgb, depth, max_layers=options.max_layers, inpaint=inpaint)
    del inpaint
    release_freed_host_memory()
    progress("flow", 0.8)
    hidden_flow = _hidden_flow(flow)
    progress("flow", 1.0)
    width, height = photo.size
    info = {
        "photo": os.path.abspath(inputs.photo),
        "original_size": list(photo.original_size),  # what annotation and crop pixels refer to
        "stages": {"depth": depth_method, "layers": layers_method, "flow": flow_method},
        "layers": len(layered.layers),
        "hints": len(annotation.hints),
        "held_still": held,  # share of the moving regions held still as structure (rock, wires)
    }
    if auto is not None:
        info["auto_motion"] = f"{auto.summary or 'nothing found'} ({found_by})"
    if from_video:
        info["motion_video"] = f"{os.path.basename(inputs.motion_video)}: {video_summary}"
    notes = list(dict.fromkeys(backend.notes))  # a net loaded for every hole notes once
    if from_video and not moving:
        notes.append("the motion video shows nothing moving: a still 3D photo with camera motion (film the "
                     "moving scene, or give a mask or hint arrows)")
    if auto is not None and not moving:
        notes.append("auto motion found no sky or water to animate: a still 3D photo with camera "
                     "motion (give a mask or hint arrows to make something move)")
    if notes:
        info["notes"] = notes
    return PreparedScene(photo.rgb, Intrinsics.for_photo(width, height, options.focal), depth.depth,
                         layered, flow, hidden_flow, info, regions)


class AnimatedScene(NamedTuple):
    """A prepared scene and its points animated over one loop (what a viewport plays)."""

    scene: PreparedScene
    cloud: AnimatedPointCloud


def prepare_animated(inputs: SceneInputs, options: PrepareOptions, loop_frames: int,
                     progress: Progress = no_progress, *, photo: Photo | None = None) -> AnimatedScene:
    """:func:`prepare_scene`, then its points animated over a loop of ``loop_frames`` frames
    (:func:`~cine_core.motion.animation.animate_points`, RK4 on the CPU).

    The scene is returned and animated as its file holds it (:meth:`PreparedScene.as_stored`),
    so a front end that saves it renders the same pixels before and after reopening the file.
    ``photo``: as in :func:`prepare_scene`. ``progress`` runs from 0 to 1 over both steps.
    """
    _check_loop(loop_frames)
    scene = prepare_scene(inputs, options, scaled_progress(progress, 0.0, _PREPARE_SHARE), photo=photo).as_stored()
    return AnimatedScene(scene, _animate(scene, loop_frames, progress, _PREPARE_SHARE))


def _check_loop(loop_frames: int) -> None:
    """Refuse a loop length before any stage runs: one frame has no motion to integrate."""
    if loop_frames < 2:
        raise CineError(f"a loop needs at least 2 frames, not {loop_frames}")


def _animate(scene: PreparedScene, loop_frames: int, progress: Progress, start: float) -> AnimatedPointCloud:
    """``scene``'s points over the loop, reporting the "motion" stage from ``start`` to 1."""
    progress("motion", start)
    cloud = playback_points(scene, loop_frames)
    progress("motion", 1.0)
    return cloud


def with_motion(scene: PreparedScene, annotation: MotionAnnotation, *, direction: str | None = None,
                flow_scale: float = 1.0, backend: NeuralBackend | str = "auto",
                ckpts_dir: str | None = None, device: str = "cpu", motion_video: str | None = None,
                fps: float = 30.0, exact_region: bool = False, progress: Progress = no_progress) -> PreparedScene:
    """Re-run only the flow stage: ``scene`` with the motion of a new annotation (any size).

    Depth and layers are reused, so editing the motion of a prepared scene is quick.
    ``backend``/``ckpts_dir``/``device`` choose the flow as in :func:`prepare_scene`: the motion
    network refines the hint flow when its weights are there. ``motion_video``: a clip whose
    motion fills whatever the annotation leaves open, at ``fps`` (as in :func:`prepare_scene`).
    ``exact_region``: as :attr:`PrepareOptions.exact_region`.
    """
    annotation = annotation.at_size(*scene.size)
    info = dict(scene.info, hints=len(annotation.hints), held_still=0.0)
    models = NeuralBackend.coerce(backend, ckpts_dir, device)
    if motion_video:
        if direction:
            raise CineError("a motion video shows the direction itself; drop the direction in words")
        flow, regions, flow_method, info["motion_video"] = _video_stage(motion_video, annotation, scene.photo, fps,
                                                                        flow_scale, progress)
    else:
        models.check(["motion"])
        info.pop("motion_video", None)
        flow, regions, flow_method, info["held_still"] = _motion_stage(annotation, scene.photo, models, direction,
                                                                       flow_scale, exact_region=exact_region)
    info["stages"] = dict(scene.info.get("stages", {}), flow=flow_method)
    if models.notes:
        info["notes"] = list(dict.fromkeys(info.get("notes", []) + models.notes))
    return replace(scene, flow=flow, hidden_flow=_hidden_flow(flow), info=info, regions=regions)


def with_motion_animated(scene: PreparedScene, annotation: MotionAnnotation, loop_frames: int, *,
                         direction: str | None = None, flow_scale: float = 1.0,
                         backend: NeuralBackend | str = "auto", ckpts_dir: str | None = None, device: str = "cpu",
                         motion_video: str | None = None, fps: float = 30.0, exact_region: bool = False,
                         progress: Progress = no_progress, cancel: CancelToken | None = None) -> AnimatedScene:
    """:func:`with_motion`, then the new scene's points animated over a loop of ``loop_frames``
    frames, as :func:`prepare_animated` does; ``progress`` runs from 0 to 1 over both steps,
    ``cancel`` stops it between steps."""
    _check_loop(loop_frames)
    progress = cancellable(progress, cancel)
    progress("flow", 0.0)
    # The flow stage (without the motion network or a video) is quick next to integrating the loop.
    share = 0.6 if motion_video else 0.3
    moved = with_motion(scene, annotation, direction=direction, flow_scale=flow_scale, backend=backend,
                        ckpts_dir=ckpts_dir, device=device, motion_video=motion_video, fps=fps,
                        exact_region=exact_region, progress=scaled_progress(progress, 0.0, share)).as_stored()
    return AnimatedScene(moved, _animate(moved, loop_frames, progress, share))


def make_renderer(scene: PreparedScene, num_frames: int, models: NeuralBackend | str = "auto", *,
                  integrator: str = "rk4", device: str = "cpu", half: bool = False, ckpts_dir: str | None = None,
                  cloud: AnimatedPointCloud | None = None) -> FrameRenderer | NeuralFrameRenderer:
    """The renderer ``models`` picks for a loop of ``num_frames``: the feature net + image decoder
    when it uses the render stage, else splatting with the soft blend (``models.render_method()``
    names it). Both have ``render(frame, camera) -> (3, H, W)``.

    Args:
        cloud: the scene's animated points over this loop, when already computed (the Blender
            add-on shares them with its viewport playback); the splatting renderer uses them
            instead of integrating again. The decoder needs its own, carrying features.
        ckpts_dir: where the weight files are, when ``models`` is a mode name.
    """
    models = NeuralBackend.coerce(models, ckpts_dir, device)
    if models.uses("render"):
        nets = models.load("render")
        return NeuralFrameRenderer(scene, num_frames, nets["feature_net"], nets["img_decoder"],
                                   integrator=integrator, device=device, half=half)
    if cloud is None:
        cloud = animate_points(scene, num_frames, integrator, device=device)
    return FrameRenderer(cloud.to(device), scene.intrinsics)


def render_frames(scene: PreparedScene, path: CameraPath, *, integrator: str = "rk4",
                  device: str = "cpu", progress: Progress = no_progress,
                  backend: NeuralBackend | str = "auto", ckpts_dir: str | None = None,
                  half: bool = False, loop_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield one frame per camera of ``path`` as (H, W, 3) uint8 RGB; frame m shows loop time
    m / N, N = ``loop_frames`` or ``len(path)``.

    ``loop_frames``: the loop's length when the path is longer than it (the evaluation renders
    frame N, t = 1, to see the loop close). ``backend``/``ckpts_dir`` choose the renderer: the
    feature net + image decoder of ``model_150000.pth`` when it is used (see
    :mod:`cine_core.pipeline.backend`), else splatting with the soft blend;
    ``scene.info["stages"]["render"]`` says which. ``half``: float16 decoder on CUDA.
    """
    num_frames = loop_frames or len(path)
    progress("motion", 0.0)
    models = NeuralBackend.coerce(backend, ckpts_dir, device)
    renderer = make_renderer(scene, num_frames, models, integrator=integrator, device=device, half=half)
    scene.info.setdefault("stages", {})["render"] = models.render_method()
    if models.notes:
        scene.info["notes"] = list(dict.fromkeys(scene.info.get("notes", []) + models.notes))
    # The renderer keeps what it needs: a caller that holds no other reference to the scene
    # (the command line) gets its photo, layers and flow freed for the frames (54 MB at
    # 1280x720 with two layers).
    del scene
    progress("render", 0.0)
    with torch.inference_mode():
        # Frames are independent: on the CPU one per core at once, a few at most (cine_core.parallel),
        # each handed on in 8 bits (a quarter of the memory of its float image while it waits).
        images = ordered_map(lambda frame: to_uint8_image(renderer.render(frame, path[frame])), range(len(path)),
                             workers_for(device, FRAMES_AT_ONCE))
        for frame, image in enumerate(images):
            yield image
            progress("render", (frame + 1) / len(path))
