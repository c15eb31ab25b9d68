"""Speed and memory benchmark (``python -m bench.run``); see docs/performance.md."""
