"""Stores: where requests and results live. `open_stores` is the one place that picks a backend."""
