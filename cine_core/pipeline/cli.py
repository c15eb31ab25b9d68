"""Command line: ``python -m cine_core render INPUT [options]``."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

import torch

from ..cameras.paths import CropWindow, camera_path
from ..cameras.presets import DEFAULT_MAGNITUDE, PRESETS
from ..depth.methods import METHODS as DEPTH_METHODS
from ..errors import CineError, is_out_of_memory
from ..io.accepted import MAX_LAYERS
from ..io.annotations import MAX_HINTS, parse_hint
from ..io.checks import integer, number, printable
from ..io.images import MIN_SIDE, read_photo_header, working_size
from ..io.outputs import check_output_file
from ..io.video import check_video_output, write_video
from ..motion.integrate import INTEGRATORS
from ..motion.network import MOTION_SIZE
from ..scene import PreparedScene
from .backend import BACKENDS, NeuralBackend
from .devices import resolve_device
from .memory import DEFAULT_MAX_SIDE, check_memory, max_side_for
from .run import PrepareOptions, SceneInputs, prepare_scene, render_frames

EXIT_BAD_INPUT = 2
#: Longest loop: the trajectories of every moving point are kept for each frame.
MAX_FRAMES = 1000
#: The core's parameters (:attr:`CineError.parameter`) as this command line's options: an error
#: about one names the option to change, ``error: --direction: cannot understand 'sideways'; ...``.
OPTIONS = {"max_side": "--size", "loop_frames": "--frames", "fps": "--fps", "flow_scale": "--flow-scale",
           "direction": "--direction", "hints": "--hint", "mask": "--mask", "annotation": "--annotation",
           "depth": "--depth", "depth_kind": "--depth-kind", "device": "--device", "backend": "--backend",
           "depth_model": "--depth-model", "motion_video": "--motion-video"}
#: Options that only matter when a photo is prepared (not for a saved .cine scene).
_PREPARE_OPTIONS = ("size", "depth", "annotation", "mask", "hint", "direction", "motion_video", "exact_region",
                    "save_scene")


class ProgressBar:
    """A one-line text progress bar on stderr (silent when stderr is not a terminal and quiet)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.start = time.perf_counter()
        self.stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        if self.quiet:
            return
        filled = int(30 * min(max(fraction, 0.0), 1.0))
        elapsed = time.perf_counter() - self.start
        line = f"\r{stage:<7} [{'#' * filled}{'.' * (30 - filled)}] {100 * fraction:5.1f}%  {elapsed:6.1f}s"
        if stage != self.stage and self.stage:
            sys.stderr.write("\n")
        self.stage = stage
        sys.stderr.write(line)
        sys.stderr.flush()

    def done(self) -> None:
        if not self.quiet:
            sys.stderr.write("\n")


class _Parser(argparse.ArgumentParser):
    """argparse, with its complaints in the one line every other bad input gets."""

    def error(self, message: str):
        sys.stderr.write(f"error: {printable(message, 500)} (see {self.prog} --help)\n")
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m cine_core",
                                     description="Turn one photo into a looping 3D cinemagraph.")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="render a cinemagraph video from a photo",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    render.add_argument("input", help="a photo, a folder with image.png|jpg (+ image.json, mask.png, "
                                      "depth file), or a prepared scene (.cine)")
    render.add_argument("--out", default="cinemagraph.mp4",
                        help=".mp4, .webm, .gif, or a folder that receives frame_0000.png ...")
    render.add_argument("--camera", default="circle", choices=PRESETS, help="camera path")
    render.add_argument("--magnitude", type=float, default=None,
                        help="camera offset in scene units (nearest depth = 1); default per path: "
                             + ", ".join(f"{k} {v}" for k, v in DEFAULT_MAGNITUDE.items()))
    render.add_argument("--once", action="store_true",
                        help="move the camera once from start to end instead of returning (no loop)")
    render.add_argument("--start-crop", help="ken-burns start window cx,cy,width,height (photo pixels)")
    render.add_argument("--end-crop", help="ken-burns end window cx,cy,width,height (photo pixels)")
    render.add_argument("--focus-depth", type=float, default=None,
                        help="subject depth for swing/dolly-zoom/ken-burns (default: median of the "
                             "moving region)")
    render.add_argument("--frames", type=int, default=60, help=f"frames in the loop (2 to {MAX_FRAMES})")
    render.add_argument("--fps", type=float, default=30.0, help="frame rate (above 0, at most 240)")
    render.add_argument("--size", type=int, default=None,
                        help=f"cap the long side of the photo, in pixels (0: full size; default "
                             f"{DEFAULT_MAX_SIDE}, widened for a photo whose short side would drop below "
                             f"{MIN_SIDE}). A run that would not fit in the memory available is refused "
                             f"before it starts, with the size that would")
    render.add_argument("--flow-scale", type=float, default=1.0, help="fluid speed multiplier")
    render.add_argument("--integrator", default="rk4", choices=INTEGRATORS)
    render.add_argument("--depth", help="depth or disparity map (PFM, 16-bit PNG, NPY)")
    render.add_argument("--depth-kind", default="disparity", choices=("depth", "disparity"),
                        help="what --depth holds: larger = farther (depth) or nearer (disparity)")
    render.add_argument("--annotation", help="labelme image.json or JSON of arrows")
    render.add_argument("--mask", help="mask image of the moving region")
    render.add_argument("--hint", action="append", default=[], metavar="X0,Y0,X1,Y1",
                        help="a motion arrow in photo pixels (repeatable)")
    render.add_argument("--direction", help="direction in words when there are no arrows, "
                                            "e.g. 'left to right, downwards' (without a mask: of "
                                            "every found region without arrows)")
    render.add_argument("--motion-video", metavar="CLIP",
                        help="a short video of the same view (mp4, mov, webm ...): its average motion sets "
                             "where and how fast things move (a mask or --hint arrows still win where given)")
    render.add_argument("--no-auto-motion", action="store_true",
                        help="without a mask, keep the photo still (camera parallax only) instead of "
                             "finding the sky and water and animating them")
    render.add_argument("--exact-region", action="store_true",
                        help="move the moving regions exactly as drawn or found, instead of holding still "
                             "the rocks, wires and blades the photo shows inside them")
    render.add_argument("--layers", type=int, default=3,
                        help=f"maximum number of depth layers cut at depth valleys, 1 to {MAX_LAYERS} "
                             "(plus one of hidden surface behind other depth edges)")
    render.add_argument("--seed", type=int, default=0,
                        help="seed of PyTorch's random generator (the classical pipeline draws no "
                             "random numbers)")
    render.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
    render.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="networks: auto = each stage whose weight file is found runs its "
                             "network, classical = none, neural = all (a missing file is an error)")
    render.add_argument("--depth-model", default="auto", choices=("auto", *DEPTH_METHODS),
                        help="how the depth is estimated when no depth file is given: auto = the first "
                             f"network whose weight file is found ({', '.join(m for m in DEPTH_METHODS if DEPTH_METHODS[m].learned)}), "
                             "else the classical estimate")
    render.add_argument("--ckpts", default=None, metavar="DIR",
                        help="folder with the official weight files (default: ckpts/ in the project; "
                             "python install_deps.py --models downloads them)")
    render.add_argument("--motion-size", type=int, default=MOTION_SIZE,
                        help="grid of the motion network, a multiple of 256 (default %(default)s, the size it "
                             "was trained at)")
    render.add_argument("--half", action="store_true",
                        help="float16 image decoder on CUDA (faster; check it against float32 first)")
    render.add_argument("--save-scene", help="also write the prepared scene (.cine) for reuse")
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse bad options before any file is read or any stage runs."""
    integer("--frames", args.frames, 2, MAX_FRAMES)
    number("--fps", args.fps, 0.0, 240.0, above=True)
    if args.magnitude is not None:
        number("--magnitude", args.magnitude, 0.0, 10.0)
    if args.focus_depth is not None:
        number("--focus-depth", args.focus_depth, 0.0, 1000.0, above=True)
    if args.size:  # 0: full size
        integer("--size", args.size, MIN_SIDE, 65536)
    number("--flow-scale", args.flow_scale, 0.0, 100.0)
    integer("--layers", args.layers, 1, MAX_LAYERS)
    integer("--seed", args.seed, 0, 2**63 - 1)
    integer("--motion-size", args.motion_size, 256, 4096)
    if args.ckpts is not None and not os.path.isdir(args.ckpts):
        raise CineError(f"--ckpts {printable(args.ckpts)} is not a folder; give the folder that holds the "
                        f"weight files")
    if len(args.hint) > MAX_HINTS:
        raise CineError(f"{len(args.hint)} --hint arrows; use at most {MAX_HINTS}")
    if args.motion_video and args.direction:
        raise CineError("--direction and --motion-video both say how things move; give one of them")
    if args.motion_video and args.no_auto_motion:
        raise CineError("--no-auto-motion keeps the photo still, but --motion-video moves it; give one of them")
    if (args.start_crop or args.end_crop) and args.camera != "ken-burns":
        raise CineError("--start-crop and --end-crop shape the ken-burns path; add --camera ken-burns")
    if args.input.lower().endswith(".cine"):
        given = [f"--{name.replace('_', '-')}" for name in _PREPARE_OPTIONS if getattr(args, name)]
        if args.flow_scale != 1.0:  # the speed is part of the prepared flow
            given.append("--flow-scale")
        if args.depth_model != "auto":  # the depth is part of the prepared scene
            given.append("--depth-model")
        if given:
            raise CineError(f"{', '.join(given)} prepare a photo, but {printable(args.input)} is a prepared "
                            f"scene; give the photo instead")
    check_video_output(args.out)
    if args.save_scene:
        if not args.save_scene.lower().endswith(".cine"):
            raise CineError(f"--save-scene {printable(args.save_scene)}: the name must end in .cine")
        check_output_file(args.save_scene, "--save-scene")


def _crops(args: argparse.Namespace, photo_size: tuple[int, int]) -> list[CropWindow | None]:
    """The Ken Burns windows, in the original photo's pixels, checked against its size."""
    return [CropWindow.parse(text, option).check_inside(*photo_size, option) if text else None
            for option, text in (("--start-crop", args.start_crop), ("--end-crop", args.end_crop))]


def run_render(args: argparse.Namespace) -> str:
    check_arguments(args)
    hints = [parse_hint(h) for h in args.hint]
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    progress = ProgressBar(args.quiet)
    backend = NeuralBackend(args.backend, args.ckpts, device, motion_size=args.motion_size,
                            depth_model=args.depth_model)
    backend.check(["render"])  # fail before preparing, not after
    if args.input.lower().endswith(".cine"):
        scene = PreparedScene.load(args.input)
        check_memory(scene.size, args.frames)
        crops = _crops(args, tuple(scene.info.get("original_size", scene.size)))
    else:
        inputs = SceneInputs.find(args.input)
        photo_size = read_photo_header(inputs.photo).upright_size
        crops = _crops(args, photo_size)
        max_side = max_side_for(args.size, photo_size)
        check_memory(working_size(*photo_size, max_side), args.frames, photo_size)
        inputs.annotation = args.annotation or inputs.annotation
        inputs.mask = args.mask or inputs.mask
        inputs.depth = args.depth or inputs.depth
        inputs.motion_video = args.motion_video
        options = PrepareOptions(max_side=max_side, depth_kind=args.depth_kind,
                                 hints=hints, direction=args.direction,
                                 flow_scale=args.flow_scale, max_layers=args.layers,
                                 backend=args.backend, ckpts_dir=args.ckpts, device=device,
                                 depth_model=args.depth_model,
                                 motion_size=args.motion_size, auto_motion=not args.no_auto_motion,
                                 require_motion=not args.no_auto_motion, fps=args.fps,
                                 exact_region=args.exact_region)
        scene = prepare_scene(inputs, options, progress)
        for kind in ("auto_motion", "motion_video"):
            if kind in scene.info:
                progress.done()
                progress.stage = ""  # the bar starts a fresh line below
                sys.stderr.write(f"{kind.replace('_', ' ')}: {printable(scene.info[kind])}\n")
        if args.save_scene:
            scene.save(args.save_scene)
    # Crops are given in original pixels; the scene is at working size (--size).
    scale = scene.size[0] / scene.info.get("original_size", scene.size)[0]
    start_crop, end_crop = (crop.scaled(scale) if crop else None for crop in crops)
    path = camera_path(args.camera, scene.intrinsics, args.frames, magnitude=args.magnitude,
                       focus_depth=args.focus_depth or scene.focus_depth(), loop=not args.once,
                       outline=scene.content_outline(),
                       start_crop=start_crop, end_crop=end_crop)
    frames = render_frames(scene, path, integrator=args.integrator, device=device, progress=progress,
                           backend=backend, half=args.half)
    info = scene.info  # what the report needs; the rest of the scene is freed while the frames render
    del scene
    count = write_video(frames, args.out, args.fps)
    progress.done()
    for note in info.get("notes", []):
        sys.stderr.write(f"note: {printable(note)}\n")
    stages = ", ".join(f"{printable(k, 20)}: {printable(v, 200)}" for k, v in info.get("stages", {}).items())
    return f"wrote {count} frames to {printable(args.out)} ({stages})"


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # a kill (SIGTERM) cleans up like Ctrl-C: no temporary file is left


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop) if in_main_thread else None
    try:
        message = run_render(args)
    except CineError as exc:
        sys.stderr.write(f"\nerror: {printable(exc.worded(OPTIONS), 1000)}\n")
        return EXIT_BAD_INPUT
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        sys.stderr.write("\nerror: out of memory; try a smaller --size, fewer --frames or --device cpu\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write(f"\ncancelled; {printable(args.out)} was not written\n")
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    print(message)
    return 0
