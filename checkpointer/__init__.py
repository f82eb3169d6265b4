"""Checkpointer: saves idle notebook containers as images (see checkpointer/README.md)."""
