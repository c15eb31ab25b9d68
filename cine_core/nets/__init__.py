"""The official pretrained networks, implemented here key for key.

Receives weight files (``checkpoints`` checks and loads them safely) and input tensors; returns
the networks as ``torch.nn.Module`` with the published state dicts, which
:mod:`cine_core.pipeline.backend` runs inside the stages.
"""
