"""The preset camera paths: their names and default sizes, without PyTorch (the Blender add-on
lists them before the core's dependencies are installed; :func:`~cine_core.cameras.paths.
camera_path` builds them)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """One preset path: its key (``--camera``), a label, what it does, and its default
    magnitude in scene units (nearest depth = 1; ken-burns: the fraction of the crop change)."""

    key: str
    label: str
    description: str
    magnitude: float


#: The published paths' magnitudes; circle first, the default.
CAMERA_PRESETS = (
    Preset("circle", "Circle", "A small circle in the image plane with a gentle push in", 0.09),
    Preset("swing", "Swing", "An arc around the subject, always aimed at it", 0.09),
    Preset("up-down", "Up-Down", "Rise and sink", 0.08),
    Preset("side", "Side", "Slide left and right", 0.09),
    Preset("zoom-in", "Zoom In", "Move towards the scene and back", 0.24),
    Preset("dolly-zoom", "Dolly Zoom",
           "Move in while widening the lens: the subject keeps its size, the background stretches", 0.3),
    Preset("ken-burns", "Ken Burns", "Push in from the whole photo to a centred crop and back", 1.0),
    Preset("static", "Static", "The source camera's view, as a start for your own path", 0.0),
)
PRESETS = tuple(preset.key for preset in CAMERA_PRESETS)
#: At strength 1 no preset path takes the camera farther from the source camera than this
#: fraction of the distance to the scene's nearest point (:func:`~cine_core.cameras.paths.
#: preset_path` shrinks a published magnitude that would), so it never flies into the scene.
MAX_REACH = 0.5
DEFAULT_MAGNITUDE = {preset.key: preset.magnitude for preset in CAMERA_PRESETS}
