"""The platform service: REST API, admin console and usage sampler, a JupyterHub-managed service."""
