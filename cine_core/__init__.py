"""cine_core: one photo -> looping 3D cinemagraph (pure Python + PyTorch, never imports bpy).

Data flows one way: photo -> :class:`PreparedScene` (depth, layers, flow) -> frames. The stage
packages, in that order: ``io``, ``depth``, ``layers``, ``motion``, ``rendering``; ``cameras``
holds the conventions, ``nets`` the official networks, ``pipeline`` runs the stages and the CLI
(docs/architecture.md).

The names below are imported on first use, so ``import cine_core`` and the modules that need
no PyTorch (``cameras.intrinsics``, ``cameras.presets``, ``io.motion_rules``, ``errors``) work
before PyTorch is installed.
"""
from importlib import import_module

#: Public name -> the module that defines it.
_API = {
    "Camera": ".cameras.paths", "CameraPath": ".cameras.paths", "CropWindow": ".cameras.paths",
    "camera_path": ".cameras.paths", "content_warning": ".cameras.paths",
    "Intrinsics": ".cameras.intrinsics",
    "Cancelled": ".errors", "CineError": ".errors", "is_out_of_memory": ".errors",
    "PrepareOptions": ".pipeline.run", "SceneInputs": ".pipeline.run", "prepare_scene": ".pipeline.run",
    "render_frames": ".pipeline.run",
    "PreparedScene": ".scene",
    "resolve_device": ".pipeline.devices", "check_photo_memory": ".pipeline.memory",
}
__all__ = list(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_API[name], __name__), name)
    globals()[name] = value
    return value
