"""Small builders of real config and store objects for the unit tests (no mocks)."""

from __future__ import annotations

from typing import Any

from hub.config.schema import Profile
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.store import Membership, TenantView


def profile(name: str, **fields: Any) -> Profile:
    """A validated Profile, written the way tenanthub.yaml writes one."""
    return Profile.model_validate({"name": name, **fields})


def membership(
    tenant: str,
    role: str = "member",
    limits: QuotaLimits | None = None,
    allowed_profiles: frozenset[str] | None = None,
    display_name: str = "",
) -> Membership:
    return Membership(
        TenantView(
            name=tenant,
            display_name=display_name or tenant,
            limits=limits or QuotaLimits(),
            allowed_profiles=allowed_profiles,
        ),
        role,
    )
