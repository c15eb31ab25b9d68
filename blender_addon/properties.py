"""What the .blend remembers about each cinemagraph.

Every imported photo becomes a collection whose ``cinemagraph`` settings point at its objects
and its prepared scene on disk; the scene's ``cinemagraph.active`` says which one the panels
edit and the render engine renders.
"""
from __future__ import annotations

import json

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, PointerProperty,
                       StringProperty)

from ..cine_core import CAMERA_PRESETS as CORE_PRESETS, Intrinsics
from . import playback

#: The core's camera presets as enum items (the core lists them without PyTorch).
CAMERA_PRESETS = [(preset.key, preset.label, preset.description) for preset in CORE_PRESETS]

#: Blender 4.5+ warns unless a path property declares that it may hold a "//" relative path.
RELATIVE_PATH = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (4, 5, 0) else set()


def _refresh_playback(self, context) -> None:
    playback.refresh(context.scene)


class CinemagraphSettings(bpy.types.PropertyGroup):
    """One cinemagraph (stored on its collection)."""

    points: PointerProperty(
        name="Surface", type=bpy.types.Object,
        description="The photo's layered surface (a vertex per layer pixel); its transform places the cinemagraph in the scene")
    source_camera: PointerProperty(
        name="Source Camera", type=bpy.types.Object,
        description="The camera that took the photo: looking through it shows the photo exactly")
    mask: PointerProperty(
        name="Moving Region", type=bpy.types.Image,
        description="White where the picture moves (paint it, or set it from selected points)")
    hints: PointerProperty(
        name="Hint Arrows", type=bpy.types.Collection,
        description="Arrow empties drawn over the photo: the direction and speed of the motion")
    cache_path: StringProperty(
        name="Prepared Scene", subtype="FILE_PATH", options=RELATIVE_PATH,
        description="The prepared scene on disk (depth, layers, motion), relative to the .blend file")
    photo_path: StringProperty(name="Photo", subtype="FILE_PATH", options=RELATIVE_PATH,
                               description="The imported photo")
    stages: StringProperty(
        name="Methods",
        description="Which method prepared each stage (JSON: stage -> method), as the core reported it")
    width: IntProperty(name="Width", description="Working width of the photo in pixels")
    height: IntProperty(name="Height", description="Working height of the photo in pixels")
    pixel_intrinsics: FloatVectorProperty(
        name="Intrinsics", size=4,
        description="Source camera focal lengths and principal point in pixels (fx, fy, cx, cy)")
    loop_frames: IntProperty(
        name="Loop Length", default=60, min=2, soft_max=600, update=_refresh_playback,
        description="Frames in one loop of the motion: frame start + loop length shows frame start again")
    loop_start: IntProperty(
        name="Loop Start", default=1, update=_refresh_playback,
        description="The frame that shows the photo as taken (loop time 0); the scene's frame start when "
                    "imported. Rendering any frame range keeps these moments")
    speed: FloatProperty(
        name="Speed", default=1.0, min=0.0, soft_max=4.0,
        description="Multiplies the speed the hint arrows give (applied by Update Motion)")
    motion_video: StringProperty(
        name="Motion Video", subtype="FILE_PATH", options=RELATIVE_PATH,
        description="A short clip of the same view: Update Motion moves the picture as it does where "
                    "the moving region and edited hint arrows do not say otherwise (Motion from Video sets it; "
                    "clear it to stop using the clip)")
    video_arrows: StringProperty(
        name="Video Arrows",
        description="The hint arrows Motion from Video sampled from the clip (JSON of photo pixels): while they "
                    "are unedited, Update Motion uses the clip's own motion instead of interpolating them")
    direction: StringProperty(
        name="Direction",
        description="Without hint arrows, the direction in words, e.g. 'left to right' or 'downwards' "
                    "(applied by Update Motion)")
    exact_region: BoolProperty(
        name="Exact Region", default=False,
        description="Move the moving region exactly as painted, instead of holding still the rocks, wires "
                    "and blades the photo shows inside it (applied by Update Motion)")
    frame_rate: FloatProperty(
        name="Frame Rate", default=0.0, min=0.0,
        description="The scene's frames per second at the import: the motion is made per frame, so another "
                    "frame rate plays it faster or slower (0: not recorded)")
    nearest_depth: FloatProperty(
        name="Nearest Depth", default=1.0,
        description="Depth of the photo's nearest point in the cinemagraph's own units (the surface's scale "
                    "makes it Blender units)")
    safe_zone: PointerProperty(
        name="Safe Camera Zone", type=bpy.types.Object,
        description="Sphere around the source camera: a camera inside it sees nothing the layered depth "
                    "image does not hold")
    applied_motion: StringProperty(
        name="Applied Motion",
        description="What the prepared scene's motion was made from (JSON), to show edits not applied yet")
    mask_revision: IntProperty(
        name="Moving Region Revision", description="Counts the changes of the moving region by the add-on")
    path_preset: EnumProperty(
        name="Path", items=CAMERA_PRESETS, default="circle",
        description="The looping camera path Add Camera Path keys")
    path_strength: FloatProperty(
        name="Strength", default=1.0, min=0.0, soft_max=3.0,
        description="How far the camera path moves, relative to the published path (1: the original motion)")
    animate_viewport: BoolProperty(
        name="Animate Points", default=True, update=_refresh_playback,
        description="Move the points when the frame changes, cross-fading the forward- and the "
                    "backward-moving copy as the Cinemagraph engine does (Material Preview, EEVEE, Cycles)")

    @property
    def is_valid(self) -> bool:
        """Whether this is a cinemagraph in use: it has a prepared scene and its surface is in
        the file's collections (a deleted surface takes the cinemagraph out of rendering)."""
        return self.points is not None and bool(self.cache_path) and bool(self.points.users_collection)

    @property
    def surface_deleted(self) -> bool:
        """The surface object was deleted but the cinemagraph's settings still hold it."""
        return self.points is not None and bool(self.cache_path) and not self.points.users_collection

    def stage_methods(self) -> dict[str, str]:
        """Stage -> method that prepared it (empty for files made before this was recorded)."""
        try:
            methods = json.loads(self.stages) if self.stages else {}
        except ValueError:
            return {}
        return methods if isinstance(methods, dict) else {}

    def intrinsics(self) -> Intrinsics:
        fx, fy, cx, cy = self.pixel_intrinsics
        return Intrinsics(fx, fy, cx, cy, self.width, self.height)


def _is_cinemagraph(_self, collection) -> bool:
    return collection.cinemagraph.is_valid


class SceneCinemagraphSettings(bpy.types.PropertyGroup):
    active: PointerProperty(
        name="Cinemagraph", type=bpy.types.Collection, poll=_is_cinemagraph,
        description="The cinemagraph the panels edit and the Cinemagraph render engine renders")


def active_settings(scene) -> CinemagraphSettings | None:
    """The scene's active cinemagraph, or None."""
    collection = scene.cinemagraph.active
    if collection is None or not collection.cinemagraph.is_valid:
        return None
    return collection.cinemagraph


def active_settings_for_poll(operator_class, context) -> CinemagraphSettings | None:
    """:func:`active_settings` for an operator's ``poll``: without one, the greyed-out button's
    tooltip says what to do first."""
    settings = active_settings(context.scene)
    if settings is None:
        operator_class.poll_message_set("Import a photo as a cinemagraph first")
    return settings


classes = (CinemagraphSettings, SceneCinemagraphSettings)


def register_properties() -> None:
    bpy.types.Collection.cinemagraph = PointerProperty(type=CinemagraphSettings)
    bpy.types.Scene.cinemagraph = PointerProperty(type=SceneCinemagraphSettings)


def unregister_properties() -> None:
    del bpy.types.Scene.cinemagraph
    del bpy.types.Collection.cinemagraph
