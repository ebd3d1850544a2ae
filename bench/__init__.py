"""Benchmarks: a feed farm on loopback addresses, and peers measured side by side with it.

Kept free of imports so that every measured child process pays only for what it runs.
"""
