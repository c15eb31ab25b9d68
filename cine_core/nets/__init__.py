"""Own implementations of the official pretrained networks (key-for-key compatible state dicts)."""
