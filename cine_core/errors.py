"""The one exception type the core raises for problems a user can fix."""


class CineError(Exception):
    """Bad input or environment, described in one sentence a user understands.

    The CLI prints it without a traceback and exits with code 2; the Blender add-on shows it as
    an error report. Anything else escaping the core is a bug.
    """


class Cancelled(CineError):
    """The user cancelled a running job; whatever it was writing is discarded."""
