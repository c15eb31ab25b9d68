"""Errors the add-on reports to the user as one sentence (Blender's ERROR report), and the
names the user knows the core's parameters by."""


class AddonError(Exception):
    """A problem the user can fix, described in one sentence (like the core's ``CineError``)."""


class DependenciesMissing(AddonError):
    """PyTorch or another package of the core cannot be imported."""


#: The core's parameters (``CineError.parameter``) as the settings the user sees in Blender: a
#: report names the setting to change, ``Direction: cannot understand 'sideways'; ...``.
PARAMETER_NAMES = {
    "max_side": "Size Limit",
    "direction": "Direction",
    "flow_scale": "Speed",
    "hints": "Hint arrow",
    "mask": "Moving Region",
    "annotation": "Motion File",
    "depth": "Depth Map",
    "depth_kind": "Depth Map Values",
    "geometry": "Depth from Scene Meshes",
    "device": "Device (the add-on's preferences)",
    "backend": "Model Weights (the add-on's preferences)",
    "depth_model": "Model Weights (the add-on's preferences)",
    "fps": "Frame Rate",
    "loop_frames": "Loop Length",
    "motion_video": "Motion Video",
}
