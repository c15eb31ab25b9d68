"""Errors the add-on reports to the user as one sentence (Blender's ERROR report)."""


class AddonError(Exception):
    """A problem the user can fix, described in one sentence (like the core's ``CineError``)."""


class DependenciesMissing(AddonError):
    """PyTorch or another package of the core cannot be imported."""
