"""Input and output: what crosses the file system.

Receives paths and user-typed values; returns the photo (:class:`~.images.Photo`), depth maps,
the motion annotation (:class:`~.annotations.MotionAnnotation`), and writes videos and frame
folders that appear complete or not at all (:mod:`.outputs`). Every refusal is a one-line
:class:`~cine_core.errors.CineError`.
"""
