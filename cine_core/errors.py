"""The one exception type the core raises for problems a user can fix, the token that cancels a
running job, and what running out of memory looks like. Imports no PyTorch: the Blender add-on
uses it before that is installed."""
from __future__ import annotations

import sys
import threading
from typing import Callable


class CineError(Exception):
    """Bad input or environment, described in one sentence a user understands.

    ``parameter`` names the setting the sentence is about, as the core's functions call it
    (``"flow_scale"``, ``"max_side"``, ``"device"``; None: no one setting). The message does not
    name it: each front end puts its own word for it in front (the CLI its option,
    ``--flow-scale: ...``; Blender the property's name, ``Speed: ...``). The CLI prints it
    without a traceback and exits with code 2; the Blender add-on shows it as an error report.
    Anything else escaping the core is a bug.
    """

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter

    def worded(self, names: dict[str, str]) -> str:
        """The message with the front end's name of its parameter in front (``names``: the
        core's parameter -> the front end's word); the bare message when it names none."""
        word = names.get(self.parameter) if self.parameter else None
        return f"{word}: {self}" if word else str(self)


class Cancelled(CineError):
    """The user cancelled a running job; whatever it was writing is discarded."""


class CancelToken:
    """Asks a running job to stop: the front end calls :meth:`cancel` (any thread), the core
    calls :meth:`check` between steps, which raises :class:`Cancelled` once cancelled."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when cancelled (at once when already): stops work that does not
        come back to :meth:`check`, such as a subprocess."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` means that memory ran out: RAM (MemoryError, or the RuntimeError of
    PyTorch's CPU allocator) or the GPU's (torch.OutOfMemoryError). Callers report it as a
    sentence, not a traceback."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")  # not loaded: none of its errors can exist
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in str(exc)
