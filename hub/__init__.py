"""TenantHub platform: config, tenancy, JupyterHub glue and the platform service."""

__version__ = "0.1.0"
