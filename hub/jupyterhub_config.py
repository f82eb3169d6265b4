"""JupyterHub config for TenantHub: every trait comes from tenanthub.yaml (see hub.app.traits)."""

from hub.app.logs import route_platform_logs
from hub.app.traits import configure

route_platform_logs()
configure(c)  # type: ignore[name-defined]  # noqa: F821 - `c` is provided by JupyterHub
