"""The core, imported only when needed, and what it computed, kept in memory for the session.

Nothing here touches Blender data, so background jobs and the render thread may call it.
Prepared scenes are immutable files (a new motion writes a new file), so a path names one
content and the caches never go stale; they are keyed by absolute path, a copy's by its
original's path (:func:`same_content`), so saving, which copies new files beside the .blend,
recomputes nothing.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import Any, Callable

from ..cine_core import CineError, is_out_of_memory
from . import dependencies
from .errors import PARAMETER_NAMES, AddonError, DependenciesMissing

_lock = threading.Lock()
_entries: OrderedDict[tuple, Future] = OrderedDict()
_MAX_ENTRIES = 8  # a few scenes with their point clouds and renderers
_computing: set[str] = set()  # kinds of value (a key's first item) being computed in a thread
_originals: dict[str, str] = {}  # copy's absolute path -> the path its content is cached under


def core():
    """The ``cine_core`` package, whose public names (its ``__all__``) are all the add-on uses,
    with the PyTorch-based ones importable; :class:`DependenciesMissing` when PyTorch & co are
    missing."""
    try:
        from .. import cine_core
        from ..cine_core import PreparedScene  # noqa: F401 - imports PyTorch and the rest, or fails here
    except ImportError as exc:
        missing = dependencies.missing_required() or [getattr(exc, "name", None) or str(exc)]
        raise DependenciesMissing(
            f"Cinemagraph needs {', '.join(missing)}: install them with Install Dependencies in "
            f"Edit > Preferences > Add-ons > Cinemagraph") from exc
    return cine_core


def release_freed_memory() -> None:
    """Give the memory the process freed back to the system (the core's
    ``release_freed_host_memory``): Blender would otherwise keep a finished stage's networks
    and images, and the next stage's peak would come on top of them. Nothing where the core
    cannot be imported (a job that runs before the dependencies are installed)."""
    try:
        release = core().release_freed_host_memory
    except DependenciesMissing:
        return
    release()


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is a sentence for the user."""
    return AddonError, CineError


def is_reported(exc: BaseException) -> bool:
    """Whether ``exc`` is reported as a sentence (:func:`describe`) rather than as a bug."""
    return isinstance(exc, user_errors()) or is_out_of_memory(exc)


def describe(exc: BaseException) -> str:
    """The report for an error raised by a job: its sentence, or what ran out."""
    if is_out_of_memory(exc):
        if type(exc).__name__ != "OutOfMemoryError":  # torch's, raised by the GPU allocator
            return "Out of memory; import the photo with a smaller Size Limit"
        return "Out of GPU memory; import the photo with a smaller Size Limit, or choose the CPU in the preferences"
    if isinstance(exc, CineError):
        return _sentence(exc.worded(PARAMETER_NAMES))
    if isinstance(exc, user_errors()):
        return str(exc)
    return f"Cinemagraph failed unexpectedly ({type(exc).__name__}: {exc}); see the system console"


def _sentence(message: str) -> str:
    """A report starts with a capital letter, unless it starts with a file's name or path
    (``notes.txt is ...`` stays as it is)."""
    first_word = message.split(" ", 1)[0]
    if os.path.splitext(first_word.rstrip(":,;"))[1][1:].isalnum() or "/" in first_word or "\\" in first_word:
        return message
    return message[:1].upper() + message[1:]


def _cached(key: tuple, compute: Callable[[], Any], wait: bool) -> Any:
    """The memoised value for ``key``: computed here (``wait``) or in a thread (not ``wait``,
    returning None until it is ready). A failure is raised to one caller (in a thread: the next
    one to ask), then forgotten, so it can be retried."""
    with _lock:
        future = _entries.get(key)
        if future is not None and future.done() and future.exception() is not None:
            del _entries[key]  # a failure in a thread is handed to this caller once; the next retries
            return future.result()
        if future is None and not wait and key[0] in _computing:
            # One thread per kind of value: dragging Loop Length asks for many lengths, and the
            # caller's poll asks again for the one it wants once the running thread is done.
            return None
        owner = future is None
        if owner:
            future = Future()
            _entries[key] = future
            while len(_entries) > _MAX_ENTRIES:
                _entries.popitem(last=False)
            if not wait:
                _computing.add(key[0])
        else:
            _entries.move_to_end(key)

    def run() -> None:
        try:
            future.set_result(compute())
        except BaseException as exc:
            if wait:  # the caller sees it now; the next request computes again
                with _lock:
                    if _entries.get(key) is future:
                        del _entries[key]
            future.set_exception(exc)  # in a thread: kept for the next request to report
        finally:
            if not wait:
                with _lock:
                    _computing.discard(key[0])

    if owner:
        if wait:
            run()
        else:
            threading.Thread(target=run, name=f"cinemagraph {key[0]}", daemon=True).start()
    if not wait and (owner or not future.done()):
        return None  # a thread just started reports even a quick failure to the next request
    return future.result()


def remember(key: tuple, value: Any) -> None:
    """Store a value computed elsewhere (a job) so the next request finds it."""
    future: Future = Future()
    future.set_result(value)
    with _lock:
        _entries[key] = future
        _entries.move_to_end(key)
        while len(_entries) > _MAX_ENTRIES:
            _entries.popitem(last=False)


def forget_all() -> None:
    """Free everything (another file was opened)."""
    with _lock:
        _entries.clear()
        _originals.clear()


def same_content(copy: str, original: str) -> None:
    """The file at ``copy`` (absolute) is a copy of the prepared scene at ``original``: what is
    computed for either serves both."""
    with _lock:
        _originals[copy] = _originals.get(original, original)


def content_path(path: str) -> str:
    """The path the caches know the prepared scene at ``path`` (absolute) by: its original's
    when it is a copy (:func:`same_content`), else its own."""
    with _lock:
        return _originals.get(path, path)


def scene_key(path: str) -> tuple:
    return ("scene", content_path(path))


def cloud_key(path: str, num_frames: int) -> tuple:
    return ("cloud", content_path(path), num_frames)


def prepared_scene(path: str, wait: bool = True):
    """The core's ``PreparedScene`` stored at ``path`` (absolute); a file that cannot be used
    (damaged, another version) is reported by its path, with how to make it again."""
    cine_core = core()

    def load():
        try:
            return cine_core.PreparedScene.load(path)
        except cine_core.UnusableScene as exc:
            raise AddonError(f"{exc.problem}: the prepared scene {path} cannot be used. Rebuild it: import "
                             f"the photo again (File > Import > Photo as Cinemagraph)") from None

    return _cached(scene_key(path), load, wait)


def content_outline(path: str):
    """The edge of what the scene at ``path`` can show (the core's ``content_outline``)."""
    return _cached(("outline", content_path(path)), lambda: prepared_scene(path).content_outline(), True)


def animated_cloud(path: str, num_frames: int, wait: bool = True):
    """The scene's points and their motion over a loop of ``num_frames`` (the core's
    ``AnimatedPointCloud``, on the CPU). Without ``wait``: None until a thread has computed it."""
    cine_core = core()

    def compute():
        return cine_core.playback_points(prepared_scene(path), num_frames)

    return _cached(cloud_key(path, num_frames), compute, wait)


def splatting_renderer(path: str, num_frames: int, device: str):
    """The core's splatting renderer of the scene at ``path`` (what the depth and alpha passes
    are made with, whichever renderer makes the colour)."""
    cine_core = core()

    def compute():
        return cine_core.FrameRenderer(animated_cloud(path, num_frames).to(device), prepared_scene(path).intrinsics)

    return _cached(("splatting", content_path(path), num_frames, device), compute, True)


def render_method(device: str, weights: str | None) -> str:
    """Which renderer :func:`frame_renderer` picks with these preferences, as the core reports it."""
    return core().NeuralBackend("auto", weights, device).render_method()


def frame_renderer(path: str, num_frames: int, device: str, weights: str | None):
    """The renderer of the scene at ``path``: the image decoder of the published model when its
    weights are in the ``weights`` folder, else the core's splatting renderer (on the animated
    points that viewport playback uses too). Weight files that appear later (Download Model
    Weights, or copied by hand) are picked up: the renderer is cached per renderer choice."""
    cine_core = core()
    backend = cine_core.NeuralBackend("auto", weights, device)
    method = backend.render_method()

    def compute():
        cloud = None if backend.uses("render") else animated_cloud(path, num_frames)
        return cine_core.make_renderer(prepared_scene(path), num_frames, backend, device=device, cloud=cloud)

    return _cached(("renderer", content_path(path), num_frames, device, weights, method), compute, True)
