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


def core_camera(depsgraph, camera, width: int, height: int, settings):
    """The evaluated Blender ``camera`` at the depsgraph's frame as the core's camera, for an
    image of ``width`` x ``height`` pixels, relative to the surface of the cinemagraph
    ``settings``."""
    cine_core = runtime.core()
    import torch

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


def camera_cinemagraph(scene, camera):
    """The settings of the cinemagraph ``camera`` belongs to (its source camera, or a camera in
    its collection such as a camera path), else None."""
    camera = camera.original
    for collection in playback.cinemagraphs_in(scene):
        if collection.cinemagraph.source_camera == camera or camera.name in collection.all_objects:
            return collection.cinemagraph
    return None


def rendered_cinemagraphs(depsgraph) -> list:
    """The settings of the scene's cinemagraphs whose surface this depsgraph renders: not deleted,
    hidden from renders or excluded from the view layer (a render depsgraph holds only the
    objects the render shows)."""
    shown = {obj.original.as_pointer() for obj in depsgraph.objects if obj.type == "MESH"}
    return [collection.cinemagraph for collection in playback.cinemagraphs_in(depsgraph.scene)
            if collection.cinemagraph.points.as_pointer() in shown]


def _box_corners(obj):
    """(8, 3) corners of the object's local bounding box (a surface's: core coordinates)."""
    import torch

    return torch.tensor([tuple(corner) for corner in obj.bound_box], dtype=torch.float64)


def _render_one(depsgraph, settings, view, with_passes: bool):
    """One cinemagraph's frame through the core camera ``view``: (H, W, 3) scene-linear colour
    and, ``with_passes``, its (H, W) depth in Blender units and (H, W) alpha (else None)."""
    cine_core = runtime.core()
    import torch

    path = cache.resolve(settings.cache_path)
    preferences = addon_preferences()
    device = compute_device(preferences)
    renderer = runtime.frame_renderer(path, settings.loop_frames, device, weights_folder(preferences))
    frame = loop_frame(settings, depsgraph.scene_eval.frame_current)
    depth = alpha = None
    with torch.inference_mode():
        image = renderer.render(frame, view)
        if with_passes:
            splatting = runtime.splatting_renderer(path, settings.loop_frames, device)
            depth, alpha = cine_core.depth_and_alpha(splatting, frame, view)
            points_world = settings.points.evaluated_get(depsgraph).matrix_world
            depth = depth.cpu().numpy() * conversion.core_scale(points_world)
            alpha = alpha.cpu().numpy()
    return conversion.srgb_to_linear(cine_core.to_numpy_image(image)), depth, alpha


def _merged(frames) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several cinemagraphs' (colour, depth, alpha) composited by depth (the core's rule)."""
    cine_core = runtime.core()
    import torch

    colours = torch.stack([torch.from_numpy(np.ascontiguousarray(c)).permute(2, 0, 1) for c, _, _ in frames])
    depths = torch.stack([torch.from_numpy(d.astype(np.float32)) for _, d, _ in frames])
    alphas = torch.stack([torch.from_numpy(a.astype(np.float32)) for _, _, a in frames])
    colour, depth, alpha = cine_core.merge_by_depth(colours.float(), depths, alphas)
    return colour.permute(1, 2, 0).numpy(), depth.numpy(), alpha.numpy()


def render_pixels(depsgraph, width: int, height: int, camera=None,
                  with_depth: bool = False) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """The frame of every cinemagraph the camera sees, merged by depth, as (H, W, 4)
    scene-linear RGBA and, ``with_depth``, its (H, W) depth in Blender units along the camera's
    axis; bottom row first (Blender's layout). Third: a warning when the camera sees past the
    content of its own cinemagraph (or of the only one it sees) at this frame, else None.

    Each cinemagraph shows its own moment of its own loop; one hidden from renders, or whose
    bounding box lies outside the view, is left out, so it changes no other's frames. Alpha is
    1 unless the film is transparent; then it is the core's coverage, 0 where no point of a
    layered depth image lands (nothing seen or inpainted there).
    """
    cine_core = runtime.core()
    scene = depsgraph.scene
    if not playback.cinemagraphs_in(scene):
        raise AddonError("This scene has no cinemagraph to render; import a photo in the Cinemagraph panel")
    camera = camera or depsgraph.scene_eval.camera
    if camera is None:
        raise AddonError("The scene has no active camera; add a camera path or use the source camera")
    render = depsgraph.scene_eval.render
    in_view = []
    for settings in rendered_cinemagraphs(depsgraph):
        view = core_camera(depsgraph, camera, width, height, settings)
        if cine_core.box_in_view(view, _box_corners(settings.points)):
            in_view.append((settings, view))
    owner = camera_cinemagraph(scene, camera)
    checked = [(s, v) for s, v in in_view if s == owner] or (in_view if len(in_view) == 1 else [])
    warning = None
    for settings, view in checked:
        warning = content_warning([view], cache.resolve(settings.cache_path), depsgraph.scene_eval.frame_current)
    with_passes = with_depth or render.film_transparent or len(in_view) > 1
    frames = [_render_one(depsgraph, settings, view, with_passes) for settings, view in in_view]
    if not frames:  # nothing in view: empty, and infinitely far
        rgb, depth = np.zeros((height, width, 3), np.float32), np.full((height, width), np.inf, np.float32)
        alpha = np.zeros((height, width), np.float32)
    elif len(frames) == 1:
        rgb, depth, alpha = frames[0]
    else:
        rgb, depth, alpha = _merged(frames)
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
