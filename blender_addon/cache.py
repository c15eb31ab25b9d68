"""Where prepared scenes live on disk.

A prepared scene (the core's ``.cine`` file: photo, depth, layers, flow) is written once and
never changed: a new motion writes a new file. Undo can therefore only move a cinemagraph back
to a file that still exists, and caches keyed by path never go stale.

The files lie beside the .blend in ``//cinemagraph_<blend name>/`` and are referenced with a
relative path, so the .blend and that folder can move together to another machine (and render
there with ``blender -b file.blend -a``). Before the first save they go to Blender's session
temporary folder; saving copies them beside the .blend and makes the paths relative.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid

import bpy
from bpy.app.handlers import persistent

from . import runtime
from .errors import AddonError

EXTENSION = ".cine"


def _folder_for(blend_path: str) -> str:
    if not blend_path:
        return os.path.join(bpy.app.tempdir, "cinemagraph")
    stem = os.path.splitext(os.path.basename(blend_path))[0]
    return os.path.join(os.path.dirname(os.path.abspath(blend_path)), f"cinemagraph_{stem}")


def new_file(name: str) -> str:
    """An absolute path for a new prepared scene named after ``name``."""
    safe = re.sub(r"[^\w.-]+", "_", name).strip("._") or "scene"
    return os.path.join(_folder_for(bpy.data.filepath), f"{safe}-{uuid.uuid4().hex[:8]}{EXTENSION}")


def stored(path: str, blend_path: str | None = None) -> str:
    """How a path is stored in the .blend: relative to it when possible (Blender's ``//``)."""
    blend_path = bpy.data.filepath if blend_path is None else blend_path
    if not blend_path:
        return path
    try:
        return bpy.path.relpath(path, start=os.path.dirname(os.path.abspath(blend_path)))
    except ValueError:  # another drive on Windows: stay absolute
        return path


def resolve(stored_path: str) -> str:
    """The absolute path of a stored path; :class:`AddonError` when the file is gone."""
    if not stored_path:
        raise AddonError("This cinemagraph has no prepared scene; import the photo again")
    path = os.path.normpath(bpy.path.abspath(stored_path))
    if not os.path.isfile(path):
        raise AddonError(f"The prepared scene {stored_path} is missing; keep the "
                         f"{os.path.basename(os.path.dirname(path))} folder beside the .blend file "
                         f"or locate the file in the Import panel")
    return path


def _in_session_temp(path: str) -> bool:
    temp = os.path.normcase(os.path.abspath(bpy.app.tempdir))
    return os.path.normcase(os.path.abspath(path)).startswith(temp)


@persistent
def relocate_on_save(blend_path: str, *_args) -> None:
    """``save_pre``: keep every cinemagraph's prepared scene reachable from the file being written.

    Files still in the session's temporary folder are copied beside it (what was computed from
    them in memory serves the copies); the others stay where they are and their paths are made
    relative to its location (like Blender's own "Remap Relative" for images on Save As).
    """
    if not blend_path:
        return
    for settings in _local_settings():
        current = os.path.normpath(bpy.path.abspath(settings.cache_path))
        if not os.path.isfile(current):
            continue
        if _in_session_temp(current):
            folder = _folder_for(blend_path)
            os.makedirs(folder, exist_ok=True)
            target = os.path.join(folder, os.path.basename(current))
            if not os.path.exists(target):
                shutil.copy2(current, target)
            runtime.same_content(target, current)
            current = target
        settings.cache_path = stored(current, blend_path)


def restore_after_save(blend_path: str) -> None:
    """After *Save Copy* the session's file is still the old one, so make the
    paths relative to it again (after Save and Save As nothing changes)."""
    if not blend_path or os.path.abspath(blend_path) == os.path.abspath(bpy.data.filepath):
        return
    for settings in _local_settings():
        written = os.path.normpath(bpy.path.abspath(settings.cache_path,
                                                    start=os.path.dirname(os.path.abspath(blend_path))))
        if os.path.isfile(written):
            settings.cache_path = stored(written)


def _local_settings():
    """Settings of the cinemagraphs this file owns (linked libraries keep their own paths)."""
    return [c.cinemagraph for c in bpy.data.collections if c.cinemagraph.cache_path and c.library is None]


def referenced_files() -> set[str]:
    """Absolute paths of the prepared scenes the open file uses."""
    return {os.path.normcase(os.path.normpath(bpy.path.abspath(c.cinemagraph.cache_path)))
            for c in bpy.data.collections if c.cinemagraph.cache_path}


def unused_files() -> list[str]:
    """Prepared scenes in this file's cache folder that no cinemagraph of the file uses any more
    (earlier motions, deleted cinemagraphs)."""
    if not bpy.data.filepath:
        return []
    folder = _folder_for(bpy.data.filepath)
    if not os.path.isdir(folder):
        return []
    used = referenced_files()
    return sorted(path for path in (os.path.join(folder, name) for name in os.listdir(folder)
                                    if name.endswith(EXTENSION))
                  if os.path.normcase(os.path.normpath(path)) not in used)


#: Prepared scenes a newer one replaced this session, oldest first: the last is kept for one
#: undo step, the others are deleted once nothing needs them (see :func:`replaced`).
_replaced: list[str] = []
#: The prepared scenes the .blend file on disk refers to (when it was opened or last saved).
_on_disk: set[str] = set()


def _key(path: str) -> str:
    return os.path.normcase(os.path.normpath(path))


def _delete_unneeded(keep_last: bool) -> None:
    needed = referenced_files() | _on_disk
    candidates = _replaced[:-1] if keep_last else list(_replaced)
    for path in candidates:
        if _key(path) in needed:
            continue  # the saved .blend or a cinemagraph (undo) still refers to it
        if os.path.isfile(path):
            os.remove(path)
        _replaced.remove(path)


def replaced(path: str) -> None:
    """A newer prepared scene replaced ``path`` (Update Motion). The file stays while one undo
    step may go back to it or the saved .blend refers to it; earlier replaced files that nothing
    refers to are deleted now, and the rest when the .blend is saved."""
    _replaced.append(path)
    _delete_unneeded(keep_last=True)


def _remember_on_disk() -> None:
    _on_disk.clear()
    _on_disk.update(referenced_files())


@persistent
def on_save(blend_path: str, *_args) -> None:
    """``save_post``: the file on disk now refers to these prepared scenes only; the replaced
    ones it does not refer to are deleted."""
    restore_after_save(blend_path)
    if blend_path and os.path.abspath(blend_path) == os.path.abspath(bpy.data.filepath):
        _remember_on_disk()
        _delete_unneeded(keep_last=False)


@persistent
def on_load(_filepath, *_args) -> None:
    _replaced.clear()
    _remember_on_disk()


def handlers() -> list[tuple[list, object]]:
    return [(bpy.app.handlers.save_pre, relocate_on_save), (bpy.app.handlers.save_post, on_save),
            (bpy.app.handlers.load_post, on_load)]
