"""Blender extension entry point.

Blender imports the extension's root package; the add-on itself lives in ``blender_addon`` and
the Blender-free core it drives in ``cine_core`` (both shipped inside the extension zip).
"""


def register():
    from . import blender_addon

    blender_addon.register()


def unregister():
    from . import blender_addon

    blender_addon.unregister()
