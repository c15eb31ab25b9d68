"""What the core accepts from a user that a front end must know before the core's packages are
installed: the photo formats a file browser offers and how many depth layers may be asked for.
Imports nothing, so the Blender add-on builds its properties from it at registration."""

#: The photo files the core reads (Pillow decodes them; EXR is only for depth).
PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
#: Most depth layers cut at depth valleys (the CLI's --layers is capped at this); a scene may
#: hold one more, of hidden surface behind the depth edges no cut follows.
MAX_LAYERS = 16
