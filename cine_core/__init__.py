"""cine_core: one photo -> looping 3D cinemagraph (pure Python + PyTorch, never imports bpy).

Data flows one way: photo -> :class:`PreparedScene` (depth, layers, flow) -> frames.
"""
from .camera import Camera, CameraPath, CropWindow, Intrinsics, camera_path, content_warning
from .devices import resolve_device
from .errors import Cancelled, CineError, is_out_of_memory
from .pipeline import PrepareOptions, SceneInputs, prepare_scene, render_frames
from .scene import PreparedScene
from . import render_passes, safe_zone, surface_mesh  # what the Blender add-on uses besides the pipeline

__all__ = ["Camera", "CameraPath", "CropWindow", "Intrinsics", "camera_path", "content_warning", "Cancelled",
           "CineError", "is_out_of_memory", "PrepareOptions", "SceneInputs", "prepare_scene", "render_frames",
           "PreparedScene", "resolve_device"]
