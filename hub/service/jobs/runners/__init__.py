"""Job runners: one per backend, each implementing ``base.Runner``."""
