"""Benchmarks of meetbridge against the sandbox: `python -m bench`."""
