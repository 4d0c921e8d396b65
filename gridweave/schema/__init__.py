"""Strawberry types, inputs and payloads, one module per domain; the root is in ``root.py``."""
