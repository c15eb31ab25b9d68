"""The Cinemagraph render engine: every frame through the core's renderer.

Blender decides the camera (the scene camera, markers, or a camera override), its evaluated
pose and lens at the frame, the resolution, the frame and the output (F12, Render Animation,
``blender -b file.blend -a``, FFmpeg video or image sequences). The engine converts that camera
to the core's convention and renders the frame's moment in the loop:
(frame - Loop Start) mod Loop Length.
"""
from __future__ import annotations

import bpy
import numpy as np
from bpy.app.handlers import persistent

from . import cache, conversion, playback, runtime
from .errors import AddonError
from .playback import loop_frame
from .preferences import addon_preferences, compute_device, weights_folder
from .properties import active_settings


def core_camera(depsgraph, camera, width: int, height: int):
    """The evaluated Blender ``camera`` at the depsgraph's frame as the core's camera, for an
    image of ``width`` x ``height`` pixels, relative to the cinemagraph's surface."""
    cine_core = runtime.core()
    import torch

    settings = active_settings(depsgraph.scene)
    camera = camera.evaluated_get(depsgraph)
    if camera.type != "CAMERA":
        raise AddonError(f"{camera.name} is not a camera")
    points_world = settings.points.evaluated_get(depsgraph).matrix_world
    render = depsgraph.scene_eval.render
    projection = camera.calc_matrix_camera(depsgraph, x=width, y=height, scale_x=render.pixel_aspect_x,
                                           scale_y=render.pixel_aspect_y)
    k = conversion.intrinsics_from_projection(projection, width, height)
    pose = conversion.camera_to_core(points_world, camera.matrix_world)
    return cine_core.Camera(k, torch.from_numpy(pose))


def content_warning(cameras, path: str, first_frame: int) -> str | None:
    """The core's warning when any of ``cameras`` (core cameras of consecutive frames from
    ``first_frame``) sees past the photo's content, else None."""
    outline = runtime.content_outline(path)
    return runtime.core().content_warning(cameras, outline, first_frame)


def render_pixels(depsgraph, width: int, height: int, camera=None,
                  with_depth: bool = False) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """The frame as (H, W, 4) scene-linear RGBA and, ``with_depth``, its (H, W) depth in Blender
    units along the camera's axis; bottom row first (Blender's layout). Third: a warning when
    the camera sees past the photo's content at this frame, else None.

    Alpha is 1 unless the film is transparent; then it is the core's coverage, 0 where no point
    of the layered depth image lands (nothing seen or inpainted there).
    """
    cine_core = runtime.core()
    import torch

    scene = depsgraph.scene
    settings = active_settings(scene)
    if settings is None:
        raise AddonError("This scene has no cinemagraph to render; import a photo in the Cinemagraph panel")
    camera = camera or depsgraph.scene_eval.camera
    if camera is None:
        raise AddonError("The scene has no active camera; add a camera path or use the source camera")
    path = cache.resolve(settings.cache_path)
    view = core_camera(depsgraph, camera, width, height)
    render = depsgraph.scene_eval.render
    points_world = settings.points.evaluated_get(depsgraph).matrix_world
    preferences = addon_preferences()
    device = compute_device(preferences)
    renderer = runtime.frame_renderer(path, settings.loop_frames, device, weights_folder(preferences))
    frame = loop_frame(settings, depsgraph.scene_eval.frame_current)
    warning = content_warning([view], path, depsgraph.scene_eval.frame_current)
    depth = alpha = None
    with torch.inference_mode():
        image = renderer.render(frame, view)
        if with_depth or render.film_transparent:
            splatting = runtime.splatting_renderer(path, settings.loop_frames, device)
            depth, alpha = cine_core.rendering.passes.depth_and_alpha(splatting, frame, view)
            depth = depth.cpu().numpy() * conversion.core_scale(points_world)
            alpha = alpha.cpu().numpy()
    rgb = conversion.srgb_to_linear(cine_core.io.images.to_numpy_image(image))
    if render.film_transparent:
        rgb = rgb * alpha[:, :, None]  # Blender's render results are premultiplied
    else:
        alpha = np.ones((height, width), np.float32)
    rgba = np.concatenate([rgb, alpha[:, :, None].astype(np.float32)], axis=2)
    return (conversion.image_rows_to_blender(rgba),
            conversion.image_rows_to_blender(depth.astype(np.float32)) if with_depth else None,
            warning)


class CinemagraphRenderEngine(bpy.types.RenderEngine):
    bl_idname = "CINEMAGRAPH"
    bl_label = "Cinemagraph"
    bl_use_preview = False
    bl_use_postprocess = True
    # Material Preview and Rendered viewport shading draw the surface with EEVEE.
    bl_use_eevee_viewport = True

    def render(self, depsgraph):
        width, height = self.resolution_x, self.resolution_y
        frame = depsgraph.scene_eval.frame_current
        self.update_stats("", f"Cinemagraph | Frame {frame}")
        with_depth = depsgraph.view_layer_eval.use_pass_z
        try:
            pixels, depth, warning = render_pixels(depsgraph, width, height, self.camera_override, with_depth)
        except Exception as exc:
            if not runtime.is_reported(exc):
                raise
            message = runtime.describe(exc)
            self.report({"ERROR"}, message)
            self.error_set(message)
            return
        if warning:
            self.report({"WARNING"}, warning)
        result = self.begin_result(0, 0, width, height)
        layer = result.layers[0]
        # foreach_set copies the buffer at once; assigning ``rect`` converts pixel by pixel.
        layer.passes["Combined"].rect.foreach_set(pixels.ravel())
        if depth is not None:
            layer.passes["Depth"].rect.foreach_set(depth.ravel())
        self.end_result(result)

    def update_render_passes(self, scene=None, renderlayer=None):
        """The passes this engine writes: Combined, and Depth when the view layer asks for it."""
        self.register_pass(scene, renderlayer, "Combined", 4, "RGBA", "COLOR")
        if renderlayer.use_pass_z:
            self.register_pass(scene, renderlayer, "Depth", 1, "Z", "VALUE")


@persistent
def on_render_init(_scene, *_args) -> None:
    """A render starts: when this engine draws every scene that holds a cinemagraph, nothing
    draws the surfaces (the engine renders from the core), so they need not follow the frames.
    Any other engine (Cycles, EEVEE, also through a scene the compositor or sequencer pulls in)
    draws them, and then the frame-change handler moves them as during playback."""
    playback.hold(all(scene.render.engine == CinemagraphRenderEngine.bl_idname
                      for scene in bpy.data.scenes if playback.cinemagraphs_in(scene)))


@persistent
def on_render_end(_scene, *_args) -> None:
    playback.hold(False)


def handlers() -> list[tuple[list, object]]:
    return [(bpy.app.handlers.render_init, on_render_init), (bpy.app.handlers.render_complete, on_render_end),
            (bpy.app.handlers.render_cancel, on_render_end)]


def compatible_panels():
    """Blender's panels that list the built-in engines (output, format, colour management...)."""
    return [panel for panel in bpy.types.Panel.__subclasses__()
            if "BLENDER_RENDER" in getattr(panel, "COMPAT_ENGINES", ())]


def register_engine() -> None:
    bpy.utils.register_class(CinemagraphRenderEngine)
    for panel in compatible_panels():
        panel.COMPAT_ENGINES.add(CinemagraphRenderEngine.bl_idname)


def unregister_engine() -> None:
    for panel in compatible_panels():
        panel.COMPAT_ENGINES.discard(CinemagraphRenderEngine.bl_idname)
    bpy.utils.unregister_class(CinemagraphRenderEngine)
