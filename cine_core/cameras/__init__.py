"""Cameras: the one definition of the camera conventions, and camera paths.

Receives the source camera's intrinsics (and, for fitted paths, the scene's content outline);
returns :class:`~.paths.Camera` poses and :class:`~.paths.CameraPath` presets, the zoom that
keeps a view inside the photo, and the safe zone a camera may move in (:mod:`.safe_zone`).
"""
