"""The one exception type the core raises for problems a user can fix, and what running out of
memory looks like. Imports no PyTorch: the Blender add-on uses it before that is installed."""
import sys


class CineError(Exception):
    """Bad input or environment, described in one sentence a user understands.

    The CLI prints it without a traceback and exits with code 2; the Blender add-on shows it as
    an error report. Anything else escaping the core is a bug.
    """


class Cancelled(CineError):
    """The user cancelled a running job; whatever it was writing is discarded."""


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
