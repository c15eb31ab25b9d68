"""cine_core: one photo -> looping 3D cinemagraph (pure Python + PyTorch, never imports bpy).

Data flows one way: photo -> :class:`PreparedScene` (depth, layers, flow) -> frames. The stage
packages, in that order: ``io``, ``depth``, ``layers``, ``motion``, ``rendering``; ``cameras``
holds the conventions, ``nets`` the official networks, ``pipeline`` runs the stages and the CLI
(docs/architecture.md).

The names below are the public API: every front end (the command line, the Blender add-on,
``bench/``, ``eval/``) uses these and nothing else, as ``from cine_core import name``
(``tests/test_import_graph.py`` checks it). They are imported on first use, so
``import cine_core`` and the names whose modules need no PyTorch (the conventions: intrinsics,
camera presets, motion rules, accepted files, errors) work before PyTorch is installed.
"""
from importlib import import_module

#: Public name -> the module that defines it (``module:name`` where the public name differs).
_API = {
    # Errors and jobs (no PyTorch)
    "CineError": ".errors", "Cancelled": ".errors", "CancelToken": ".errors", "is_out_of_memory": ".errors",
    # Conventions (no PyTorch): camera, presets, motion rules, accepted files
    "Intrinsics": ".cameras.intrinsics", "FULL_FRAME_MM": ".cameras.intrinsics", "lift": ".cameras.intrinsics",
    "project": ".cameras.intrinsics", "focal_from_lens": ".cameras.intrinsics",
    "CAMERA_PRESETS": ".cameras.presets", "DEFAULT_MAGNITUDE": ".cameras.presets", "MAX_REACH": ".cameras.presets",
    "has_length": ".io.motion_rules", "starts_inside": ".io.motion_rules", "motion_problem": ".io.motion_rules",
    "motion_mask": ".io.motion_rules", "NOTHING_MOVES": ".io.motion_rules", "EMPTY_REGION": ".io.motion_rules",
    "NO_DIRECTION": ".io.motion_rules",
    "PHOTO_EXTENSIONS": ".io.accepted", "MAX_LAYERS": ".io.accepted",
    # Reading and writing
    "Photo": ".io.images", "load_photo": ".io.images", "read_photo_header": ".io.images",
    "working_size": ".io.images", "to_uint8_image": ".io.images", "to_numpy_image": ".io.images",
    "read_depth_file": ".io.depth_files",
    "HintArrow": ".io.annotations", "MotionAnnotation": ".io.annotations", "parse_hint": ".io.annotations",
    "read_arrows_json": ".io.annotations", "read_mask_image": ".io.annotations",
    "read_video": ".io.video", "write_video": ".io.video",
    # Cameras
    "Camera": ".cameras.paths", "CameraPath": ".cameras.paths", "CropWindow": ".cameras.paths",
    "camera_path": ".cameras.paths", "preset_path": ".cameras.paths", "path_reach": ".cameras.paths",
    "content_warning": ".cameras.paths", "box_in_view": ".cameras.paths",
    # Stages
    "condition_depth": ".depth.conditioning", "estimate_disparity": ".depth.estimate",
    "KINDS": ".motion.detect", "eulerian_flow": ".motion.flow", "motion_regions": ".motion.flow",
    "integrate_positions": ".motion.integrate", "sample_bilinear": ".motion.integrate",
    "video_motion": ".motion.from_video", "sample_arrows": ".motion.from_video",
    "AnimatedPointCloud": ".motion.animation", "animate_points": ".motion.animation",
    "playback_points": ".motion.animation",
    "FrameRenderer": ".rendering.frames", "NeuralFrameRenderer": ".rendering.decoder",
    "depth_and_alpha": ".rendering.passes", "merge_by_depth": ".rendering.passes",
    "SurfaceVertices": ".rendering.surface_mesh", "surface_vertices": ".rendering.surface_mesh",
    "SurfaceMotion": ".rendering.surface_mesh",
    "FeatureNet": ".nets.feature_net", "ImageDecoder": ".nets.img_decoder",
    # The prepared scene
    "PreparedScene": ".scene", "UnusableScene": ".scene",
    # The pipeline
    "SceneInputs": ".pipeline.run", "PrepareOptions": ".pipeline.run", "prepare_scene": ".pipeline.run",
    "load_annotation": ".pipeline.run", "find_motion": ".pipeline.run", "with_motion_animated": ".pipeline.run",
    "make_renderer": ".pipeline.run", "render_frames": ".pipeline.run", "scaled_progress": ".pipeline.run",
    "import_photo": ".pipeline.editing", "ImportedScene": ".pipeline.editing", "SceneGeometry": ".pipeline.editing",
    "NeuralBackend": ".pipeline.backend",
    "resolve_device": ".pipeline.devices", "keep_freed_host_memory": ".host_memory",
    "release_freed_host_memory": ".host_memory", "restart_with_allocator_tunables": ".host_memory",
    "check_photo_memory": ".pipeline.memory",
    "FRAMES_AT_ONCE": ".parallel", "ordered_map": ".parallel", "workers_for": ".parallel",
    "command_line": ".pipeline.cli:main",
}
__all__ = list(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = _API[name].partition(":")
    value = getattr(import_module(module, __name__), attribute or name)
    globals()[name] = value
    return value
