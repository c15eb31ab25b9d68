"""The pipeline: photo -> prepared scene -> frames, and the ways to run it.

Receives a photo with optional depth, annotation and options; :func:`~.run.prepare_scene`
returns a :class:`~cine_core.scene.PreparedScene` (depth, layers, flow) and
:func:`~.run.render_frames` the frames of a camera path. :mod:`.backend` picks, stage by stage,
the official networks or the classical methods; :mod:`.devices` the CPU or GPU; :mod:`.cli` is
the command line.
"""
