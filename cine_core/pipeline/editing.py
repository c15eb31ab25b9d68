"""What an editor runs (the Blender add-on): a photo imported as a scene whose motion the user
then edits, in one call with progress and cancel.

:func:`import_photo` does the whole sequence: read the photo, its annotation and depth, find
what moves (when asked), prepare the scene, animate its points over the loop, and measure what
the editor places with it (the scale of given geometry, the safe camera radius). The editor
shows the annotation it returns as editable objects; :func:`~.run.with_motion_animated` later
makes the motion from the edited one.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..cameras.intrinsics import Intrinsics, focal_from_lens
from ..cameras.safe_zone import safe_camera_radius
from ..depth.conditioning import metric_scale
from ..depth.mesh_raster import rasterize_disparity
from ..errors import CancelToken, CineError
from ..io.annotations import MotionAnnotation
from ..io.images import load_photo
from ..motion.animation import AnimatedPointCloud
from ..scene import PreparedScene
from .run import (PrepareOptions, Progress, SceneInputs, cancellable, find_motion, load_annotation, no_progress,
                  prepare_animated, scaled_progress)


@dataclass
class SceneGeometry:
    """Triangles that model the photographed scene (rough proxy geometry), seen by the camera
    that took the photo: their depth becomes the scene's, with their true distances.

    Attributes:
        vertices: (V, 3) float64 world positions, in the world's length unit.
        triangles: (T, 3) int64 vertex indices.
        world_to_camera: (4, 4) float64 the photo's camera (OpenCV axes, :mod:`cine_core.cameras`).
        intrinsics: the camera's, at the photo's working size.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    world_to_camera: np.ndarray
    intrinsics: Intrinsics

    def disparity(self, device: str) -> np.ndarray:
        """(H, W) float32 1 / distance of the first triangle through each pixel centre; 0 where
        none is hit (infinitely far, like the sky)."""
        disparity = rasterize_disparity(torch.from_numpy(self.vertices).to(device),
                                        torch.from_numpy(self.triangles).to(device),
                                        torch.from_numpy(np.asarray(self.world_to_camera, np.float64)),
                                        self.intrinsics).cpu().numpy()
        if not disparity.any():
            raise CineError("no triangle of the geometry is in view of the camera; aim it at the geometry",
                            parameter="geometry")
        return disparity


@dataclass
class ImportedScene:
    """A photo imported for editing.

    Attributes:
        scene: the prepared scene, as its file holds it (:meth:`PreparedScene.as_stored`).
        cloud: its points animated over the loop.
        annotation: the motion it was made from at the working size (the file's, or what the
            detection found): the moving region and arrows the user edits.
        found_motion: what the detection found, in words ("" when it did not run).
        scale: length units per scene unit: the geometry's (true distances), else the
            ``nearest`` distance asked for.
        safe_radius: how far (scene units) a camera may move from the source camera
            (:func:`~cine_core.cameras.safe_zone.safe_camera_radius`).
    """

    scene: PreparedScene
    cloud: AnimatedPointCloud
    annotation: MotionAnnotation
    found_motion: str
    scale: float
    safe_radius: float


def import_photo(inputs: SceneInputs, options: PrepareOptions, loop_frames: int, *, lens_mm: float | None = None,
                 nearest: float = 1.0, geometry: SceneGeometry | None = None, detect_motion: bool = False,
                 progress: Progress = no_progress, cancel: CancelToken | None = None) -> ImportedScene:
    """Prepare ``inputs.photo`` for editing and animate it over ``loop_frames`` frames.

    Args:
        options: how to prepare it; its ``focal``, ``metric_depth`` and ``auto_motion`` are set
            here (from ``lens_mm`` or the geometry; the detection runs here, when asked, so its
            result comes back as an editable annotation).
        lens_mm: the photo's focal length on a 36 mm wide sensor (None: ``options.focal``).
        nearest: the size of the scene: length units from the camera to its nearest point
            (ignored with ``geometry``, which has its own size).
        geometry: the depth of these triangles instead of a depth file or an estimate.
        detect_motion: without a moving region in the annotation, find the sky and water and
            make their motion the annotation.
        progress: ``(stage, fraction)`` over the whole import, fraction from 0 to 1.
        cancel: stops the import between steps (:class:`~cine_core.errors.Cancelled`).
    """
    progress = cancellable(progress, cancel)
    progress("load", 0.0)
    photo = load_photo(inputs.photo, options.max_side)
    annotation = load_annotation(inputs, photo, options.hints).at_size(*photo.size)
    options = replace(options, auto_motion=False, hints=[])
    found = ""
    if detect_motion and annotation.mask is None:
        progress("detect", 0.0)
        auto, _ = find_motion(photo.rgb, annotation.hints, options.direction, options.backend,
                              ckpts_dir=options.ckpts_dir, device=options.device)
        annotation = auto.annotation
        found = auto.summary or "nothing to animate found"
        options = replace(options, direction=None)
    inputs = replace(inputs, motion=annotation)
    disparity, start = None, 0.0
    if geometry is not None:
        progress("meshes", 0.0)
        disparity = geometry.disparity(options.device)
        inputs = replace(inputs, depth=None, depth_values=disparity)
        options = replace(options, depth_kind="disparity", metric_depth=True, focal=geometry.intrinsics.fx)
        start = 0.3
    elif lens_mm is not None:
        options = replace(options, focal=focal_from_lens(lens_mm, *photo.size))
    scene, cloud = prepare_animated(inputs, options, loop_frames, scaled_progress(progress, start, 1.0), photo=photo)
    scale = metric_scale(disparity, scene.depth) if disparity is not None else nearest
    return ImportedScene(scene, cloud, annotation, found, scale, safe_camera_radius(scene))
