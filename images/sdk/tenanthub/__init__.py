"""TenantHub in a notebook: ``from tenanthub import datasets, jobs``.

Everything goes through the platform API as you, with your server's own token
(``$JUPYTERHUB_API_TOKEN``): you see what you may see in the platform, and no data
source's credentials ever reach the notebook.
"""

from tenanthub.api import ApiError, Platform

__all__ = ["ApiError", "Platform"]
