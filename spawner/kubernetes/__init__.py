"""Kubernetes backend: pure manifest builders (``manifests``, ``names``, ``pss``).

The spawner class and namespace provisioning live in their own modules; the
builders here import no Kubernetes client and do no I/O.
"""
