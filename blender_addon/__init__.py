"""The Cinemagraph add-on: import a photo, shape its motion, design the camera path in the
viewport and render the looping 3D cinemagraph through the core's renderer.

The add-on only converts between Blender and the core (``cine_core``, shipped beside it); all
computation is the core's. The core needs PyTorch & co, which may not be installed yet: no
module here imports it at import time, so the add-on registers without it and offers to
install it (see :mod:`.dependencies`).
"""
import bpy

from . import (cache, dependencies, engine, jobs, ops_camera, ops_hints, ops_import, ops_motion, ops_region, ops_render,
               panels, playback, preferences, properties)

_CLASSES = (*properties.classes, *jobs.classes, *preferences.classes, *ops_import.classes, *ops_motion.classes,
            *ops_hints.classes, *ops_region.classes, *ops_camera.classes, *ops_render.classes, *panels.classes)
_HANDLERS = (*cache.handlers(), *playback.handlers(), *engine.handlers())


def register():
    dependencies.add_to_sys_path()
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    properties.register_properties()
    engine.register_engine()
    bpy.types.TOPBAR_MT_file_import.append(ops_import.menu_import)
    for handler_list, handler in _HANDLERS:
        handler_list.append(handler)


def unregister():
    if jobs.current is not None:
        jobs.current.cancel()
    if bpy.app.timers.is_registered(playback.poll_pending):
        bpy.app.timers.unregister(playback.poll_pending)
    for handler_list, handler in _HANDLERS:
        if handler in handler_list:
            handler_list.remove(handler)
    bpy.types.TOPBAR_MT_file_import.remove(ops_import.menu_import)
    engine.unregister_engine()
    properties.unregister_properties()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
    dependencies.remove_from_sys_path()
