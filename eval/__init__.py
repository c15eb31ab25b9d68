"""Quality evaluation against real footage (``python -m eval.run``); see docs/performance.md."""
