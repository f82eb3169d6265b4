"""Request and response bodies of the API (pydantic; the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from hub.config.schema import ByteQuantity, CpuQuantity, ProfileName, TenantName, Username
from hub.service.api.framework import ApiModel

#: upper bounds that catch a typo (``4000`` cores meant as ``4000m``) long before a
#: cluster would: no tenant here gets more than this of anything
MAX_CPU_MILLIS = 100_000 * 1000
MAX_BYTES = 2**60  # 1 EiB
MAX_COUNT = 100_000
#: a memory or storage quota below this is a missing unit (``16`` meant as ``16Gi``)
MIN_BYTES = 2**20  # 1 MiB
BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

Role = Literal["member", "admin"]


class QuotaIn(ApiModel):
    """A tenant's quota; a missing or null value means no limit on that resource."""

    cpu: CpuQuantity | None = Field(None, description="Sum of server CPU limits, e.g. 8 or 500m.")
    memory: ByteQuantity | None = Field(None, description="Sum of server memory limits, e.g. 32Gi.")
    gpu: int | None = Field(None, ge=0, le=MAX_COUNT)
    servers: int | None = Field(None, ge=0, le=MAX_COUNT, description="Running servers at once.")
    storage: ByteQuantity | None = Field(None, description="Requested storage, e.g. 500Gi.")
    running_jobs: int | None = Field(None, ge=0, le=MAX_COUNT)

    @field_validator("gpu", "servers", "running_jobs", mode="before")
    @classmethod
    def _count_not_bool(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a whole number (or null for no limit), not true/false")
        return value

    @field_validator("cpu")
    @classmethod
    def _cpu_bound(cls, value: str | None) -> str | None:
        from hub.config.quantities import parse_cpu_millis

        if value is None:
            return value
        if value.strip().endswith(BINARY_SUFFIXES):
            raise ValueError(
                f"{value} uses a byte unit; CPU is counted in cores or millicores (8, 500m)"
            )
        if parse_cpu_millis(value) > MAX_CPU_MILLIS:
            raise ValueError(f"{value} CPUs is more than any tenant can get (at most 100000)")
        return value

    @field_validator("memory", "storage")
    @classmethod
    def _bytes_bound(cls, value: str | None) -> str | None:
        from hub.config.quantities import parse_bytes

        if value is None:
            return value
        amount = parse_bytes(value)
        if amount > MAX_BYTES:
            raise ValueError(f"{value} is more than any tenant can get (at most 1Ei)")
        if 0 < amount < MIN_BYTES:
            raise ValueError(
                f"{value} is {amount} bytes, surely not what you meant: write the unit "
                "(e.g. 16Gi), or 0 for none at all"
            )
        return value


class QuotaOut(BaseModel):
    cpu: str | None
    memory: str | None
    gpu: int | None
    servers: int | None
    storage: str | None
    running_jobs: int | None


class ResourceUsage(BaseModel):
    """One resource of a tenant: in use against its limit (numbers in base units)."""

    resource: Literal["cpu", "memory", "gpu", "servers", "storage", "running_jobs"]
    used: int = Field(description="millicores for cpu, bytes for memory and storage, else a count")
    limit: int | None = Field(description="null: no limit")
    used_display: str
    limit_display: str | None
    fraction: float | None = Field(description="used / limit; null when there is no limit")


class UsageOut(BaseModel):
    tenant: str
    at: str | None = Field(description="When this was measured (ISO 8601, UTC)")
    resources: list[ResourceUsage]


class TenantOut(BaseModel):
    name: str
    display_name: str
    quota: QuotaOut
    allowed_profiles: list[str] | None = Field(description="null: every profile")
    members: int
    your_role: Literal["member", "admin", "platform-admin"] | None = None
    checkpoints: int | None = Field(
        None, description="Ready checkpoints of the tenant's users (one tenant only; null in lists)"
    )


class TenantIn(ApiModel):
    name: TenantName
    display_name: str = Field("", max_length=255)
    quota: QuotaIn = Field(default_factory=QuotaIn)
    allowed_profiles: list[ProfileName] | None = Field(None, description="null or absent: all")


class TenantPatch(ApiModel):
    display_name: str | None = Field(None, max_length=255)


class TenantDeleteIn(ApiModel):
    confirm: str = Field(description="The tenant's name again: deleting is not undone.")


class TenantDeleted(BaseModel):
    tenant: str
    removed: dict[str, int] = Field(
        description="Database rows that went: memberships, profiles, jobs, runs, data_sources"
    )
    data_kept: str = Field(description="Where the tenant's files stay (nothing was deleted there)")
    kept: list[str] = Field(description="Each place that still holds the tenant's data")
    still_in_config: bool = Field(
        description="The config file still lists the tenant: the next hub start creates it again"
    )
    warning: str | None = Field(None, description="What to do about still_in_config")


class MemberOut(BaseModel):
    user: str
    role: Role = Field(description="The effective role: the highest over all sources")
    sources: list[str] = Field(
        description="Where the membership comes from: config, ldap, oauth, manual"
    )
    source_roles: dict[str, Role] = Field(
        default_factory=dict,
        description="The role each source gives; the API changes only the 'manual' one",
    )


class MemberRemoved(BaseModel):
    tenant: str
    user: str
    removed_source: Literal["manual"] = "manual"
    remaining: MemberOut | None = Field(
        description="The membership left from other sources (config, ldap, oauth); null: none"
    )


class MemberIn(ApiModel):
    user: Username
    role: Role = "member"


class MemberPatch(ApiModel):
    role: Role


class ProfilesIn(ApiModel):
    allowed_profiles: list[ProfileName] | None = Field(description="null: every profile")


class ProfileOut(BaseModel):
    name: str
    display_name: str
    allowed: bool = Field(
        description="Members of the tenant may pick it (the tenant allows it and the "
        "profile is not limited to other tenants)"
    )


class ProfilesOut(BaseModel):
    tenant: str
    allowed_profiles: list[str] | None = Field(description="null: every profile")
    profiles: list[ProfileOut]


class ServerOut(BaseModel):
    user: str
    server: str
    profile: str | None
    ready: bool
    pending: str | None
    started: str | None
    last_activity: str | None


class ServerStopped(BaseModel):
    tenant: str
    user: str
    server: str = Field(description="'' for the default server")
    state: Literal["stopping", "stopped"] = Field(
        description="stopped: gone already; stopping: the hub is stopping it (poll the list)"
    )


class AuditOut(BaseModel):
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, object]


class WhoAmI(BaseModel):
    name: str
    platform_admin: bool
    tenants: dict[str, Role]


class UsagePoint(BaseModel):
    at: str
    servers: int
    cpu_millis: int
    memory_bytes: int
    gpu: int
    storage_bytes: int
    running_jobs: int


class UsageHistoryOut(BaseModel):
    tenant: str
    window: Literal["24h", "7d"]
    points: list[UsagePoint]


# ----------------------------------------------------------------------------- checkpoints

#: names and image references the checkpointer reports: no whitespace or control
#: characters (PostgreSQL refuses NUL in text; nobody means a newline in a node name)
_NO_SPACE = r"^[^\s\x00-\x1f\x7f]*$"
CheckpointState = Literal[
    "requested", "committing", "verifying", "pushing", "ready", "failed", "skipped"
]


class CheckpointIn(ApiModel):
    """The checkpointer starts a checkpoint of one server on its node."""

    user: Annotated[Username, Field(pattern=_NO_SPACE)]
    server: str = Field(
        "", max_length=255, pattern=_NO_SPACE, description="'' for the default server"
    )
    tenant: TenantName
    profile: ProfileName
    base_image: str = Field(
        min_length=1,
        max_length=512,
        pattern=_NO_SPACE,
        description="The profile image the server started from (or, for a server started "
        "from a checkpoint, that checkpoint's base image).",
    )
    node: str = Field(
        min_length=1, max_length=255, pattern=_NO_SPACE, description="The node the server runs on."
    )


class CheckpointStep(ApiModel):
    """One step of a checkpoint's lifecycle, as the checkpointer reports it."""

    state: CheckpointState
    image: str | None = Field(
        None, min_length=1, max_length=512, pattern=_NO_SPACE, description="repo:tag"
    )
    digest: str | None = Field(
        None,
        pattern=r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$",
        max_length=100,
        description="The pushed manifest's digest (sha256:...); needed for ready.",
    )
    size_bytes: int | None = Field(None, ge=0, le=2**60)
    message: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^[^\x00]*$",
        description="For failed and skipped: why, for the user.",
    )


class CheckpointOut(BaseModel):
    id: int
    user: str
    server: str
    tenant: str
    profile: str
    base_image: str
    node: str
    state: CheckpointState
    image: str | None
    digest: str | None
    size_bytes: int | None
    message: str
    created_at: str
    updated_at: str
    deleted: bool


class CheckpointStepped(BaseModel):
    checkpoint: CheckpointOut
    expired: list[CheckpointOut] = Field(
        description="Ready checkpoints beyond checkpoint.keep that this step retired: "
        "the checkpointer removes their images from the engine and the registry."
    )
