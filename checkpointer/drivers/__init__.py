"""Container runtime drivers: the :class:`~checkpointer.drivers.base.RuntimeDriver` interface
and its implementations (Docker now; what containerd would need is in checkpointer/README.md)."""
