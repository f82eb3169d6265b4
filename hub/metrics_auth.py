"""Who may scrape a TenantHub ``/metrics`` (the platform service's and each
checkpointer's): a JupyterHub token with the ``read:metrics`` scope, as JupyterHub asks
for its own ``/hub/metrics``. One decision and one set of answers for both; each
component looks the token's scopes up its own way (pure)."""

from __future__ import annotations

from collections.abc import Iterable

METRICS_SCOPE = "read:metrics"


def bearer(header: str | None) -> str | None:
    """The token of ``Authorization: token <t>`` or ``Bearer <t>``, else None."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() in ("token", "bearer") and token else None


def problem(token: str | None, scopes: Iterable[str] | None) -> tuple[int, str] | None:
    """None when ``token`` (with ``scopes``; None: the hub does not know it) may scrape;
    else the status and message of the refusal."""
    if token is None:
        return 401, f"Send 'Authorization: token <API token>' with the {METRICS_SCOPE} scope."
    if scopes is None or METRICS_SCOPE not in scopes:
        return 403, f"Access to metrics requires scope '{METRICS_SCOPE}'."
    return None
