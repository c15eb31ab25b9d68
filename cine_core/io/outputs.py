"""Output files and folders that appear complete or not at all.

Everything is written under a temporary name beside its destination and moved into place when
complete; a failure or cancel (Ctrl-C included) removes the temporary and leaves an earlier
file or folder exactly as it was. Destinations are checked before any work starts.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

from ..errors import CineError
from .checks import printable

#: Prefix of the temporaries (hidden on Unix), so a crash's leftovers are recognisable.
PARTIAL_PREFIX = ".partial-"
FRAME_PREFIX, FRAME_SUFFIX = "frame_", ".png"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _writable_parent(path: str, option: str) -> None:
    """The nearest existing folder above ``path`` must be a folder this process may write to."""
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CineError(f"{option} {printable(path)}: {printable(parent)} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CineError(f"{option} {printable(path)}: cannot write in {printable(parent)}; "
                        f"choose a folder you may write to")


def check_output_file(path: str, option: str) -> str:
    """Check, before any work, that ``path`` can receive a file; returns it made absolute."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise CineError(f"{option} {printable(path)} is an existing folder; give a file name")
    _writable_parent(path, option)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise CineError(f"{option} {printable(path)} exists and is read-only")
    return path


def check_frame_folder(path: str, option: str) -> str:
    """Check, before any work, that ``path`` can become a folder of frames: new, empty, or one
    holding only ``frame_*.png`` from an earlier run (replaced as a whole once the new frames are
    complete); returns it made absolute."""
    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise CineError(f"{option} {printable(path)} is a file; give a new folder name or a video file")
    if os.path.isdir(path):
        foreign = [n for n in os.listdir(path) if not (n.startswith(FRAME_PREFIX) and n.endswith(FRAME_SUFFIX))]
        if foreign:
            raise CineError(f"{option} {printable(path)} holds other files than frames "
                            f"({printable(foreign[0], 60)}); choose a new or empty folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise CineError(f"{option} {printable(path)}: cannot write in this folder")
    _writable_parent(path, option)
    return path


def _make_parents(parent: str) -> list[str]:
    """Create ``parent`` and the folders above it that are missing; returns those created,
    deepest first, so that a failure can remove them again."""
    created = []
    while parent and not os.path.exists(parent):
        created.append(parent)
        parent = os.path.dirname(parent)
    for folder in reversed(created):
        os.mkdir(folder)
    return created


@contextlib.contextmanager
def _written(path: str) -> Iterator[list[str]]:
    """The frame of both writers: creates the missing parent folders, reports OSError (disk
    full, permissions) as a one-line error, and on any failure or cancel removes the parent
    folders it created. Yields a list the caller appends its temporaries to (removed at the end
    whatever happens)."""
    created = _make_parents(os.path.dirname(os.path.abspath(path)))
    temporaries: list[str] = []
    done = False
    try:
        yield temporaries
        done = True
    except OSError as exc:
        raise CineError(f"cannot write {printable(path)}: {printable(exc.strerror or exc, 120)}") from None
    finally:
        for temporary in temporaries:
            if os.path.islink(temporary):  # an earlier --out that was a link to a folder
                os.unlink(temporary)
            elif os.path.isdir(temporary):
                shutil.rmtree(temporary, ignore_errors=True)
            elif os.path.exists(temporary):
                os.remove(temporary)
        if not done:
            for folder in created:
                with contextlib.suppress(OSError):
                    os.rmdir(folder)


def _flush_to_disk(path: str) -> None:
    """Write ``path``'s data to the disk now: a file system that reserves space late (network
    shares, some copy-on-write ones) reports a full disk here rather than after the move."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_file(path: str, suffix: str = "") -> Iterator[str]:
    """Yield a temporary path beside ``path``; when the block ends normally the temporary
    becomes ``path`` (mode of a new file), otherwise it is deleted."""
    with _written(path) as temporaries:
        handle, temporary = tempfile.mkstemp(suffix=suffix, prefix=PARTIAL_PREFIX,
                                             dir=os.path.dirname(os.path.abspath(path)))
        os.close(handle)
        temporaries.append(temporary)
        yield temporary
        _flush_to_disk(temporary)
        # mkstemp creates the file private (0600); the result gets the mode of any new file.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)


@contextlib.contextmanager
def atomic_folder(path: str) -> Iterator[str]:
    """Yield a new temporary folder beside ``path``; when the block ends normally it takes the
    place of ``path`` (an earlier folder there is removed only then), otherwise it is deleted."""
    path = os.path.abspath(path)
    with _written(path) as temporaries:
        parent = os.path.dirname(path)
        temporary = tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=parent)
        temporaries.append(temporary)
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=parent)
            os.rmdir(old)  # a free name beside it (renaming onto a folder fails on Windows)
            os.replace(path, old)
            temporaries.append(old)
            try:
                os.replace(temporary, path)
            except BaseException:
                os.replace(old, path)  # put the earlier frames back
                raise
        else:
            os.replace(temporary, path)
