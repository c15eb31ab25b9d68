"""Timeline playback: the surface moves with the motion while the frame changes.

A ``frame_change_post`` handler writes the positions of the frame's points into the surface mesh
with one ``foreach_set``. Only the moving points change between frames, so their static
neighbours stay in a reused array and a frame costs a few array operations on the moving points.

The render engine cross-fades a forward- and a backward-moving copy of every moving point for a
seamless loop. The mesh has a second copy of its moving part just behind the surface: the core's
``SurfaceMotion`` says where the moving points and their copy are at each frame (the cloud that
weighs more at that moment on the surface, the other on the copy) and how transparent the
surface is there, which the handler sets as the object's ``cinemagraph_see_through``
property. Material Preview, EEVEE and Cycles composite the two into the render's blend, with
no jump at mid-loop.

Surfaces imported before the cross-fade copy existed get it when they are first played: the
handler rebuilds their mesh from the prepared scene.
"""
from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from bpy.app.handlers import persistent

from . import cache, runtime, scene_objects
from .errors import AddonError


@dataclass
class _Playback:
    """What one surface needs per frame, prepared once per prepared scene and loop length
    (NumPy only: the handler runs in Blender's main thread)."""

    key: tuple  # (prepared scene's content, loop length) the arrays were made from
    source: tuple  # (stored cache path, .blend path, loop length) last resolved to ``key``
    positions: np.ndarray  # (V, 3) core positions of the mesh's vertices; the moving points change per frame
    num_static: int  # P - M
    motion: object  # the core's SurfaceMotion: the M moving points and their copy per frame
    copy_start: int  # the cross-fade copy's vertices of the M moving points, in their order, start here
    frame_written: int = -1


_states: dict[str, _Playback] = {}
#: Why a cinemagraph cannot play (collection name -> sentence), shown in the Motion panel.
problems: dict[str, str] = {}
#: Whether the surfaces stay as they are while the frame changes (see :func:`hold`).
_held = False


def cinemagraphs_in(scene):
    """The scene's cinemagraph collections (linked anywhere below its master collection)."""
    return [c for c in scene.collection.children_recursive if c.cinemagraph.is_valid]


def hold(held: bool) -> None:
    """Stop (True) or resume (False) moving the surfaces with the frame: a render that does not
    draw them (the Cinemagraph engine renders from the core) needs no positions per frame."""
    global _held
    _held = held


def loop_frame(settings, frame: int) -> int:
    """Frame of the loop shown at scene frame ``frame``: the cinemagraph's Loop Start shows loop
    frame 0. Stored with the cinemagraph rather than taken from the scene's frame start, so a
    farm rendering frames 5-8 with ``-s 5 -e 8`` shows the same moments as one render of 1-8."""
    return (frame - settings.loop_start) % settings.loop_frames


def scene_fps(scene) -> float:
    """The scene's frames per second."""
    return scene.render.fps / scene.render.fps_base


def frame_rate_change(scene, settings) -> str | None:
    """What the scene's frame rate, when it is not the one the cinemagraph was imported at,
    does to its motion (made per frame, as its loop is counted in frames), else None."""
    if settings.frame_rate <= 0.0:
        return None
    now = scene_fps(scene)
    if abs(now - settings.frame_rate) < 1e-3:
        return None
    change = now / settings.frame_rate - 1.0
    return (f"{settings.id_data.name} was imported at {settings.frame_rate:g} fps; at {now:g} fps its fluid "
            f"moves {abs(change) * 100:.0f} % {'faster' if change > 0 else 'slower'} and one loop lasts "
            f"{settings.loop_frames / now:.3g} s instead of {settings.loop_frames / settings.frame_rate:.3g} s")


def _state(collection, wait: bool) -> _Playback | None:
    settings = collection.cinemagraph
    # Checked every frame: the stored path is resolved (a look at the disk) only when it, the
    # .blend's location or the loop changed, and saving, which copies the file or makes its path
    # relative, keeps the state because the content stays the same.
    source = (settings.cache_path, bpy.data.filepath, settings.loop_frames)
    state = _states.get(collection.name)
    if state is not None and state.source == source:
        return state
    path = cache.resolve(settings.cache_path)
    key = (runtime.content_path(path), settings.loop_frames)
    if state is not None and state.key == key:
        state.source = source
        return state
    cloud = runtime.animated_cloud(path, settings.loop_frames, wait=wait)
    if cloud is None:
        return None  # being computed in a thread; poll_pending updates the frame when it is ready
    prepared = runtime.prepared_scene(path)
    points = settings.points
    copy_of = scene_objects.copy_sources(points.data)
    if copy_of is None:
        copy_of = _add_crossfade_copy(collection, prepared, cloud)
    # The still points and the skirt beyond the photo never move: take them from the mesh once.
    positions = scene_objects.read_positions(points.data)
    num_points = cloud.depth.shape[0]
    # The copy begins with the moving points in the cloud's order (the core's SurfaceVertices).
    copy_start = int(np.argmax(copy_of >= 0)) if (copy_of >= 0).any() else len(copy_of)
    if not np.array_equal(copy_of[copy_start:copy_start + num_points - cloud.num_static],
                          np.arange(cloud.num_static, num_points)):
        raise AddonError(f"{points.name} no longer has the imported points; import the photo again to animate it")
    state = _Playback(key, source, positions, cloud.num_static, runtime.core().SurfaceMotion(prepared, cloud),
                      copy_start)
    _states[collection.name] = state
    return state


def _add_crossfade_copy(collection, prepared, cloud) -> np.ndarray:
    """Give a surface imported before the cross-fade copy existed a new mesh with it (the same
    surface, rebuilt from the prepared scene); the copy's sources."""
    points = collection.cinemagraph.points
    data = runtime.core().surface_vertices(prepared, cloud)
    if len(points.data.vertices) != data.num_surface:
        raise AddonError(f"{points.name} no longer has the imported points; "
                         f"import the photo again to animate it")
    scene_objects.replace_surface(points, collection.name, data)
    return data.copy_of


def _frame_positions(state: _Playback, frame: int) -> np.ndarray:
    """The mesh's positions at ``frame`` in [0, N] (the core's ``SurfaceMotion``)."""
    count = state.motion.num_moving
    state.motion.positions(frame, state.positions[state.num_static:state.num_static + count],
                           state.positions[state.copy_start:state.copy_start + count])
    return state.positions


def show_frame(points: bpy.types.Object, state: _Playback, frame: int) -> None:
    """Write loop frame ``frame`` in [0, N] into the surface object ``points``."""
    mesh = points.data
    if state.frame_written != frame or mesh.get("cinemagraph_frame") != frame:
        scene_objects.write_positions(mesh, _frame_positions(state, frame))
        state.frame_written = frame
        mesh["cinemagraph_frame"] = frame  # undo restores old positions with their frame number
    see_through = state.motion.see_through(frame)
    if points.get(scene_objects.SEE_THROUGH_PROPERTY) != see_through:
        points[scene_objects.SEE_THROUGH_PROPERTY] = see_through
        points.update_tag()


def update_points(collection, scene, wait: bool) -> bool:
    """Write the surface of ``collection`` for the scene's current frame, or the photo's
    positions when its animation is off. False while the motion is computed in a thread."""
    settings = collection.cinemagraph
    points = settings.points
    if points is None or points.mode == "EDIT" or points.type != "MESH":
        return True
    if settings.animate_viewport:
        state = _state(collection, wait)
        if state is None:
            return False
        frame = loop_frame(settings, scene.frame_current)
    else:
        # Back to the photo: frame 0 of any loop is the photo, no new motion needed.
        state = _states.get(collection.name)
        if state is None:
            return True
        frame = 0
    if len(points.data.vertices) != state.positions.shape[0]:
        raise AddonError(f"{points.name} no longer has the imported points; "
                         f"import the photo again to animate it")
    show_frame(points, state, frame)
    return True


def refresh(scene, wait: bool | None = None) -> None:
    """Bring every animated cinemagraph of ``scene`` to its current frame.

    In the UI a surface whose motion is not computed yet is computed in a thread (the
    interface stays responsive) and shown when ready; in background mode, where timers never
    fire, it is computed right away.
    """
    wait = bpy.app.background if wait is None else wait
    pending = False
    for collection in cinemagraphs_in(scene):
        if not collection.cinemagraph.animate_viewport and collection.name not in _states:
            continue  # never animated: its points are still where the import put them
        try:
            pending |= not update_points(collection, scene, wait)
            problems.pop(collection.name, None)
        except Exception as exc:
            if not runtime.is_reported(exc):
                raise
            problems[collection.name] = runtime.describe(exc)
    if pending and not bpy.app.timers.is_registered(poll_pending):
        bpy.app.timers.register(poll_pending, first_interval=0.2)


def poll_pending() -> float | None:
    scene = bpy.context.scene
    if scene is None:
        return None
    refresh(scene)
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()
    return None  # refresh() registers the timer again while something is still pending


@persistent
def on_frame_change(scene, _depsgraph=None) -> None:
    if not _held:
        refresh(scene)


@persistent
def on_load(_filepath, *_args) -> None:
    """A file was opened: free the previous file's surfaces and show this one's frame."""
    _states.clear()
    problems.clear()
    hold(False)
    runtime.forget_all()
    for scene in bpy.data.scenes:
        refresh(scene)


def forget(collection_name: str) -> None:
    """Drop the prepared state of a cinemagraph whose prepared scene changed."""
    _states.pop(collection_name, None)


def handlers() -> list[tuple[list, object]]:
    return [(bpy.app.handlers.frame_change_post, on_frame_change), (bpy.app.handlers.load_post, on_load)]
