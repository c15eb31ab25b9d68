"""Layers: the layered depth image (LDI).

Receives the photo and its :class:`~cine_core.depth.conditioning.DepthMap`; returns a
:class:`~.ldi.LayeredScene`: the photo split at its depth edges into layers, each with the
colour and depth hidden behind the nearer ones inpainted.
"""
