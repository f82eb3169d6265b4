"""The one schema of ``tenanthub.yaml`` (and of the Helm chart's ``tenanthub:`` values).

Every section forbids unknown keys so a typo is an error with a key path, not
a setting silently ignored. Quantities are kept as the strings people wrote
(so they round-trip into Kubernetes objects) and validated here; the parsed
integer forms are available as properties for the quota arithmetic.
"""

from __future__ import annotations

import ipaddress
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.functional_validators import AfterValidator, BeforeValidator
from pydantic.json_schema import WithJsonSchema

from hub.config.durations import parse_duration
from hub.config.quantities import parse_bytes, parse_cpu_millis
from hub.tenancy.names import profile_name_problem, tenant_name_problem


def _as_text(value: Any) -> Any:
    """YAML turns ``cpu: 2`` into an int; keep quantities as strings."""
    if isinstance(value, bool):
        raise ValueError(f"expected a quantity, got {value!r}")
    if isinstance(value, int | float):
        return str(value)
    return value


def _check_cpu(value: str) -> str:
    parse_cpu_millis(value)
    return value


def _check_bytes(value: str) -> str:
    parse_bytes(value)
    return value


def _check_tenant_name(value: str) -> str:
    problem = tenant_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_profile_name(value: str) -> str:
    problem = profile_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_duration(value: Any) -> int:
    return parse_duration(value)


#: a quantity may be written as a number (YAML ``cpu: 2``, JSON ``{"cpu": 2}``) or a
#: Kubernetes quantity string; the JSON Schema (config, Helm values, OpenAPI) says so
_QUANTITY_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "number", "minimum": 0},
            {
                "type": "string",
                "pattern": r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE])?$",
            },
        ]
    }
)
CpuQuantity = Annotated[
    str, BeforeValidator(_as_text), AfterValidator(_check_cpu), _QUANTITY_SCHEMA
]
ByteQuantity = Annotated[
    str, BeforeValidator(_as_text), AfterValidator(_check_bytes), _QUANTITY_SCHEMA
]
TenantName = Annotated[str, AfterValidator(_check_tenant_name)]
ProfileName = Annotated[str, AfterValidator(_check_profile_name)]
#: a duration: whole seconds or a string like 90s, 30m, 1h, 7d (the schema says so too)
Seconds = Annotated[
    int,
    BeforeValidator(_check_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^[0-9]+[smhd]?$"},
            ]
        }
    ),
]
Username = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s/]+$")]


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- hub


class ProxySettings(Strict):
    """configurable-http-proxy: started by the hub (default) or run on its own (a cluster)."""

    external: bool = Field(
        False,
        description="The proxy runs on its own (the Helm chart's proxy Deployment): the hub "
        "neither starts nor stops it and reads the shared token from CONFIGPROXY_AUTH_TOKEN.",
    )
    api_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="URL of the proxy's REST API, e.g. http://proxy-api:8001; "
        "default: http://127.0.0.1:<proxy_api_port>.",
    )


class HubSettings(Strict):
    ip: str = Field("127.0.0.1", description="Address the public proxy binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Public proxy port.")
    hub_port: int = Field(8081, ge=1, le=65535, description="Port of the hub's own API.")
    proxy_api_port: int | None = Field(
        None, ge=1, le=65535, description="Port of the proxy's REST API; default: port + 1."
    )
    hub_bind_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="URL the hub's own API binds to (JupyterHub.hub_bind_url), e.g. "
        "http://0.0.0.0:8081 in a pod; default: 127.0.0.1 on hub_port.",
    )
    hub_connect_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="URL servers, services and the proxy use to reach the hub's API "
        "(JupyterHub.hub_connect_url), e.g. the hub's Service in a cluster; default: "
        "the bind address.",
    )
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    base_url: str = Field("/", pattern=r"^/", description="URL prefix of the whole platform.")
    db_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the platform (and JupyterHub) database; "
        "default: SQLite file tenanthub.sqlite in data_dir.",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Where TenantHub keeps state; relative paths are relative to the config file.",
    )

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"


# ----------------------------------------------------------------------------- auth


class NativeAuthSettings(Strict):
    open_signup: bool = Field(
        False, description="Approve sign-ups automatically (default: an admin approves each)."
    )
    minimum_password_length: int = Field(8, ge=1, le=1024)
    seed_users_file: Path | None = Field(
        None,
        description="JSON file {username: bcrypt hash}: accounts created, approved, at start "
        "if missing (used by the demo; never holds plain passwords).",
    )


class LdapSettings(Strict):
    """jupyterhub-ldapauthenticator (ldap3): direct bind by DN template, or search then bind.

    After the bind, the user's groups are searched under ``group_search_base``
    (as the user) and mapped to tenant memberships by ``tenants[].group_mappings``.
    """

    server_address: str = Field("", description="LDAP server host name or address.")
    server_port: int | None = Field(None, ge=1, le=65535, description="Default: 389 / 636.")
    tls_strategy: Literal["before_bind", "on_connect", "insecure"] = Field(
        "before_bind",
        description="before_bind: StartTLS; on_connect: LDAPS; insecure: plain text (tests only). "
        "With TLS the server certificate is always verified (ca_file, else the system CAs).",
    )
    ca_file: Path | None = Field(None, description="CA bundle that signed the server certificate.")
    bind_dn_template: list[str] = Field(
        default_factory=list,
        description="Direct bind DNs, e.g. 'uid={username},ou=people,dc=example,dc=org'.",
    )
    lookup_dn: bool = Field(False, description="Search the user's DN first, then bind as it.")
    user_search_base: str = ""
    user_attribute: str = "uid"
    lookup_dn_search_user: str = Field("", description="DN to search with (empty: anonymous).")
    lookup_dn_search_password_file: Path | None = Field(
        None, description="File holding the search user's password (never in this file)."
    )
    lookup_dn_user_dn_attribute: str = Field(
        "",
        description="With lookup_dn: the attribute whose value is the user's directory name "
        "({username} in bind_dn_template and group_search_filter); empty: user_attribute.",
    )
    valid_username_regex: str = Field(
        r"^[a-z][.a-z0-9_-]*$",
        description="Login names must match this before anything is sent to the server (names "
        "are lower-cased first). LDAP metacharacters are escaped in any case.",
    )
    allowed_groups: list[str] = Field(
        default_factory=list, description="Group DNs allowed to log in; empty: anyone who binds."
    )
    group_search_base: str = Field(
        "", description="Where groups are searched for mapping; empty: no group mapping."
    )
    group_search_filter: str = Field(
        "(|(member={userdn})(uniqueMember={userdn})(memberUid={username}))",
        description="Groups of a user; {userdn} and {username} are escaped before use.",
    )
    group_name_attribute: str = Field("cn", description="Attribute naming a group.")
    admin_groups: list[str] = Field(
        default_factory=list, description="Groups (names) whose members are platform admins."
    )

    @field_validator("valid_username_regex")
    @classmethod
    def _regex_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("group_search_filter")
    @classmethod
    def _only_known_placeholders(cls, value: str) -> str:
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"bad placeholder: {exc}") from None
        unknown = sorted(fields - {"userdn", "username"})
        if unknown:
            raise ValueError(f"unknown placeholder(s) {unknown}; use {{userdn}} and {{username}}")
        if not value.startswith("(") or not value.endswith(")"):
            raise ValueError("an LDAP filter is enclosed in parentheses")
        return value


class OAuthSettings(Strict):
    """oauthenticator's GenericOAuthenticator: OIDC discovery or explicit endpoints, PKCE on."""

    issuer: str | None = Field(
        None, pattern=r"^https?://", description="OIDC issuer; endpoints from its discovery."
    )
    authorize_url: str | None = Field(
        None, pattern=r"^https?://", description="Authorization endpoint (default: discovery)."
    )
    token_url: str | None = Field(
        None, pattern=r"^https?://", description="Token endpoint (default: discovery)."
    )
    userdata_url: str | None = Field(
        None, pattern=r"^https?://", description="Userinfo endpoint (default: discovery)."
    )
    discovery_timeout: Seconds = Field(
        10, ge=1, le=120, description="How long the hub waits for the discovery document at start."
    )
    client_id: str = ""
    client_secret_file: Path | None = Field(
        None, description="File holding the client secret (never in this file)."
    )
    token_endpoint_auth: Literal["client_secret_basic", "client_secret_post"] = Field(
        "client_secret_basic",
        description="How the client authenticates to the token endpoint: HTTP Basic (what "
        "RFC 6749 requires every provider to support) or client_id/secret in the form body.",
    )
    callback_url: str = Field("", description="https://<hub>/hub/oauth_callback")
    scope: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    username_claim: str = Field(
        "preferred_username", min_length=1, description="Userinfo claim giving the username."
    )
    groups_claim: str = Field(
        "groups",
        pattern=r"^[^.\s]+(\.[^.\s]+)*$",
        description="Dot path of the groups claim in the userinfo (a.b.groups).",
    )
    admin_groups: list[str] = Field(
        default_factory=list, description="Groups whose members are platform admins."
    )
    allowed_groups: list[str] = Field(
        default_factory=list,
        description="Groups allowed to log in (admin_groups and admin_users always are); "
        "empty: anyone the provider signs in.",
    )
    login_service: str = "single sign-on"
    ca_file: Path | None = Field(
        None, description="CA bundle that signed the provider's certificate."
    )
    refresh_every: Seconds = Field(
        300,
        ge=1,
        description="How often auth state (tokens, groups) is refreshed; also before each spawn.",
    )


class AuthSettings(Strict):
    kind: Literal["native", "ldap", "oauth"] = Field(
        "native", description="Who signs people in: native accounts, LDAP, or OAuth/OIDC."
    )
    admin_users: list[Username] = Field(
        default_factory=list, description="Platform admins (JupyterHub admins)."
    )
    native: NativeAuthSettings = Field(default_factory=NativeAuthSettings)
    ldap: LdapSettings = Field(default_factory=LdapSettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)

    @model_validator(mode="after")
    def _chosen_kind_is_complete(self) -> AuthSettings:
        if self.kind == "ldap":
            ldap = self.ldap
            if not ldap.server_address:
                raise ValueError("kind ldap needs ldap.server_address")
            if not ldap.bind_dn_template and not ldap.lookup_dn:
                raise ValueError("kind ldap needs ldap.bind_dn_template or ldap.lookup_dn: true")
            if ldap.lookup_dn and not ldap.user_search_base:
                raise ValueError("ldap.lookup_dn needs ldap.user_search_base")
        if self.kind == "oauth":
            oauth = self.oauth
            explicit = (oauth.authorize_url, oauth.token_url, oauth.userdata_url)
            if not oauth.issuer and not all(explicit):
                raise ValueError(
                    "kind oauth needs oauth.issuer (OIDC discovery) or all of "
                    "oauth.authorize_url, oauth.token_url and oauth.userdata_url"
                )
            if not oauth.client_id or not oauth.callback_url:
                raise ValueError("kind oauth needs oauth.client_id and oauth.callback_url")
        return self


# ----------------------------------------------------------------------------- backend


class LocalBackendSettings(Strict):
    cmd: list[str] = Field(
        default_factory=lambda: ["jupyterhub-singleuser"],
        description="Command of the single-user server.",
    )
    start_timeout: Seconds = Field(60, description="Seconds to wait for a server to start.")


#: Docker host-config keys that would undo the container hardening; refused in config.
_FORBIDDEN_HOST_CONFIG = {
    "privileged": "containers never run privileged",
    "cap_add": "capabilities cannot be added (all are dropped)",
    "user": "the user is fixed by backend.docker.uid/gid",
    "userns_mode": "the user namespace mode cannot be changed",
    "pid_mode": "containers cannot share the host's PID namespace",
    "ipc_mode": "containers cannot share the host's IPC namespace",
    "security_opt": "security options are fixed (no-new-privileges, default seccomp)",
    "devices": "host devices cannot be passed in (GPU profiles request GPUs themselves)",
    "device_requests": "GPU requests come from the profile's gpu count",
    "cap_drop": "all capabilities are always dropped",
}


class DockerBackendSettings(Strict):
    url: str | None = Field(None, description="Docker engine URL; default from DOCKER_HOST.")
    network: Literal["host", "tenant"] = Field(
        "host",
        description="host: servers share the host network, each on a free loopback port "
        "(one machine, hub on the host). tenant: one user-defined network per tenant "
        "(tenanthub-<tenant>); the hub must be attached to those networks (hub in a container).",
    )
    uid: int = Field(1000, ge=1, le=2**31 - 1, description="User the server runs as (never 0).")
    gid: int = Field(100, ge=1, le=2**31 - 1, description="Group the server runs as (never 0).")
    pids_limit: int = Field(1024, ge=16, le=1_000_000, description="Max processes per server.")
    pull_policy: Literal["never", "ifnotpresent", "always"] = Field(
        "never", description="never: images must be built on this engine (`make images`)."
    )
    home_mount: str = Field("/home/jovyan", pattern=r"^/")
    start_timeout: Seconds = Field(120, description="Seconds to wait for a server to start.")
    extra_host_config: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra docker-py host_config; keys that weaken isolation are refused.",
    )

    @field_validator("uid", "gid", mode="before")
    @classmethod
    def _never_root(cls, value: Any) -> Any:
        if value == 0:
            raise ValueError("must not be 0: notebook containers never run as root")
        return value

    @field_validator("extra_host_config")
    @classmethod
    def _no_weakening(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [f"{key}: {why}" for key, why in _FORBIDDEN_HOST_CONFIG.items() if key in value]
        if value.get("network_mode") not in (None,):
            bad.append("network_mode: set backend.docker.network instead")
        if bad:
            raise ValueError("refused: " + "; ".join(bad))
        return value


class EgressPort(Strict):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"


class EgressRule(Strict):
    """Where notebook pods may connect, besides cluster DNS (NetworkPolicy egress)."""

    cidr: str = Field(description="Destination network, e.g. 10.20.0.0/16 or 0.0.0.0/0.")
    except_cidrs: list[str] = Field(default_factory=list, description="Networks carved out.")
    ports: list[EgressPort] = Field(
        default_factory=list, description="Allowed ports; empty: every port."
    )

    @field_validator("cidr", "except_cidrs")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        for item in [value] if isinstance(value, str) else value:
            try:
                ipaddress.ip_network(item, strict=True)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not a network in CIDR notation ({exc})") from None
        return value


class TenantAdminAccess(Strict):
    enabled: bool = Field(
        True,
        description="Give each tenant's admins a read-only Role in their namespace "
        "(pods, logs, events, quotas, PVCs).",
    )
    user_prefix: str = Field(
        "",
        description="Prefix of Kubernetes user names for TenantHub users "
        "(e.g. 'oidc:' when the API server uses --oidc-username-prefix).",
    )


class KubernetesBackendSettings(Strict):
    namespace_prefix: str = Field(
        "th-", pattern=r"^[a-z0-9-]{1,10}$", description="Tenant namespace = prefix + tenant."
    )
    kubeconfig: Path | None = Field(
        None,
        description="kubeconfig of the hub; default: in-cluster service account, else $KUBECONFIG.",
    )
    hub_namespace: str = Field(
        "tenanthub",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="Namespace the hub and proxy pods run in (NetworkPolicy ingress source).",
    )
    hub_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "tenanthub", "component": "hub"},
        description="Labels of the hub pod; it may reach notebook servers.",
    )
    proxy_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"app.kubernetes.io/name": "tenanthub", "component": "proxy"},
        description="Labels of the proxy pod; it may reach notebook servers.",
    )
    egress: list[EgressRule] = Field(
        default_factory=list,
        description="Egress allowed to notebook pods besides cluster DNS (default: none).",
    )
    dns_namespace: str = Field("kube-system", description="Namespace of the cluster DNS pods.")
    dns_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"k8s-app": "kube-dns"}, description="Labels of the DNS pods."
    )
    uid: int = Field(1000, ge=1, le=2**31 - 1, description="runAsUser of notebook pods.")
    gid: int = Field(1000, ge=1, le=2**31 - 1, description="runAsGroup of notebook pods.")
    fs_group: int = Field(1000, ge=1, le=2**31 - 1, description="fsGroup of notebook pods.")
    home_mount: str = Field("/home/jovyan", pattern=r"^/")
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    host_network: bool = Field(
        False,
        description="Run notebook pods on the node's network, each on its own port (only for "
        "clusters without a pod network, such as a single-node test cluster).",
    )
    port_range: tuple[int, int] = Field(
        (30000, 32000), description="Ports for host_network servers."
    )
    tenant_admin_access: TenantAdminAccess = Field(default_factory=TenantAdminAccess)
    start_timeout: Seconds = Field(300, description="Seconds to wait for a pod to start.")
    reconcile_every: Seconds = Field(
        300,
        description="How often a hub service re-provisions every tenant namespace (and at hub "
        "start), repairing drift made outside TenantHub; 0: only on spawns.",
    )

    @field_validator("uid", "gid", "fs_group", mode="before")
    @classmethod
    def _never_root(cls, value: Any) -> Any:
        if value == 0:
            raise ValueError("must not be 0: notebook pods never run as root")
        return value


class BackendSettings(Strict):
    kind: Literal["auto", "kubernetes", "docker", "local"] = Field(
        "auto",
        description="auto: kubernetes when in-cluster, else docker when an engine answers, "
        "else local.",
    )
    local: LocalBackendSettings = Field(default_factory=LocalBackendSettings)
    docker: DockerBackendSettings = Field(default_factory=DockerBackendSettings)
    kubernetes: KubernetesBackendSettings = Field(default_factory=KubernetesBackendSettings)


# ----------------------------------------------------------------------------- profiles


class CpuRange(Strict):
    guarantee: CpuQuantity | None = None
    limit: CpuQuantity | None = None

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> CpuRange:
        if (
            self.guarantee
            and self.limit
            and parse_cpu_millis(self.guarantee) > parse_cpu_millis(self.limit)
        ):
            raise ValueError(f"guarantee {self.guarantee} is above limit {self.limit}")
        return self


class MemoryRange(Strict):
    guarantee: ByteQuantity | None = None
    limit: ByteQuantity | None = None

    @model_validator(mode="after")
    def _guarantee_within_limit(self) -> MemoryRange:
        if self.guarantee and self.limit and parse_bytes(self.guarantee) > parse_bytes(self.limit):
            raise ValueError(f"guarantee {self.guarantee} is above limit {self.limit}")
        return self


class Toleration(Strict):
    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> Toleration:
        # the API server refuses these; say so at config time, not at the first GPU spawn
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists must not have a value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds only applies to effect NoExecute")
        return self


class Profile(Strict):
    name: ProfileName
    display_name: str = ""
    description: str = ""
    image: str = Field(
        "tenanthub/notebook-cpu:latest",
        description="Image of the server (docker and kubernetes backends).",
    )
    cpu: CpuRange = Field(default_factory=CpuRange)
    memory: MemoryRange = Field(default_factory=MemoryRange)
    gpu: int = Field(0, ge=0, le=64, description="nvidia.com/gpu limit.")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    allowed_tenants: list[TenantName] = Field(
        default_factory=list, description="Tenants that may use this profile; empty: all."
    )
    default: bool = Field(False, description="Preselected in the spawn form.")
    checkpoint: bool = Field(
        True,
        description="Checkpoint idle servers of this profile to images (installed packages "
        "survive restarts); off for profiles whose images are too big to commit.",
    )

    @property
    def title(self) -> str:
        return self.display_name or self.name


# ----------------------------------------------------------------------------- tenants


class Quota(Strict):
    """Per-tenant limits; a missing value means no limit on that resource."""

    cpu: CpuQuantity | None = Field(None, description="Sum of server CPU limits.")
    memory: ByteQuantity | None = Field(None, description="Sum of server memory limits.")
    gpu: int | None = Field(None, ge=0)
    servers: int | None = Field(None, ge=0, description="Running servers at once.")
    storage: ByteQuantity | None = Field(None, description="Requested storage.")
    running_jobs: int | None = Field(None, ge=0)


class Member(Strict):
    user: Username
    role: Literal["member", "admin"] = "member"


class GroupMapping(Strict):
    group: str = Field(min_length=1)
    role: Literal["member", "admin"] = "member"


class NfsSource(Strict):
    server: str = Field(min_length=1, description="NFS server host name or address.")
    path: str = Field(pattern=r"^/", description="Exported path holding the tenant's data.")
    mount_options: list[str] = Field(
        default_factory=lambda: ["nfsvers=4.1", "hard"],
        description="mountOptions of the PersistentVolume.",
    )
    read_only: bool = False


class TenantStorage(Strict):
    size: ByteQuantity = "10Gi"
    nfs: NfsSource | None = None
    storage_class: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TenantStorage:
        if self.nfs and self.storage_class:
            raise ValueError("set either nfs or storage_class, not both")
        return self


class DataSourceSeed(Strict):
    """A data source the platform registers for a tenant at start (if it has none of
    that name yet: sources changed through the API or console are left alone)."""

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
    kind: Literal["files", "s3", "sql", "hive", "hdfs"]
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The kind's settings (see README, Datasets)."
    )
    secrets_env: dict[str, str] = Field(
        default_factory=dict,
        description="Credentials by environment variable name, e.g. {secret_key: "
        "LAKE_SECRET_KEY}: the values never go into this file.",
    )


class Tenant(Strict):
    name: TenantName
    display_name: str = ""
    quota: Quota = Field(default_factory=Quota)
    members: list[Member] = Field(default_factory=list)
    group_mappings: list[GroupMapping] = Field(default_factory=list)
    storage: TenantStorage = Field(default_factory=TenantStorage)
    profiles: list[ProfileName] = Field(
        default_factory=list, description="Profiles allowed in this tenant; empty: all."
    )
    data_sources: list[DataSourceSeed] = Field(
        default_factory=list, description="Data sources registered at start if missing."
    )


# ----------------------------------------------------------------------------- culling


class CullingSettings(Strict):
    enabled: bool = True
    idle_timeout: Seconds = Field(3600, description="Stop servers idle this long (1h, 30m...).")
    max_age: Seconds = Field(0, description="Stop servers older than this; 0: never.")
    every: Seconds = Field(300, description="How often the culler checks.")


class LoggingSettings(Strict):
    """How the hub, the platform service and the checkpointer write their logs."""

    format: Literal["text", "json"] = Field(
        "text",
        description="text: one readable line per record; json: one JSON object per line "
        "(time, level, logger, component, message and the event fields tenant, user, "
        "duration_ms, outcome), for Loki or Elasticsearch.",
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="The least severe level written."
    )


# ----------------------------------------------------------------------------- root


class ServiceSettings(Strict):
    """The platform service (``/services/tenanthub``): REST API and admin console."""

    port: int | None = Field(
        None, ge=1, le=65535, description="Port of the service; default: hub.port + 3."
    )
    bind: str = Field(
        "127.0.0.1",
        description="Address the service listens on; 0.0.0.0 in a pod, so the proxy's "
        "Deployment reaches it.",
    )
    url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="URL the hub and the proxy reach the service at, e.g. the hub pod's "
        "Service (http://hub:8084); default: http://127.0.0.1:<port>.",
    )
    usage_sample_every: Seconds = Field(
        60, ge=5, description="How often per-tenant usage is recorded for the charts."
    )
    usage_retention: Seconds = Field(
        8 * 86400, ge=3600, description="How long usage samples are kept (default 8 days)."
    )
    max_body_bytes: int = Field(
        65536, ge=1024, le=16 * 1024 * 1024, description="Largest API request body accepted."
    )
    authenticate_metrics: bool = Field(
        True,
        description="GET /metrics of the service and the checkpointer, and the hub's "
        "/hub/metrics (JupyterHub.authenticate_prometheus), need a token with the "
        "read:metrics scope; false: anyone who reaches them may scrape.",
    )


class PipSettings(Strict):
    """The trusted package mirror rendered into every server's pip configuration."""

    index_url: str | None = Field(None, pattern=r"^https?://", description="pip --index-url.")
    extra_index_urls: list[Annotated[str, Field(pattern=r"^https?://")]] = Field(
        default_factory=list
    )
    trusted_hosts: list[str] = Field(default_factory=list)
    ca_file: Path | None = Field(
        None, description="CA bundle (PEM) mounted read-only into servers for pip."
    )


# ----------------------------------------------------------------------------- checkpoints

#: a registry as Docker names it: host (or IPv4) with an optional port, no scheme or path
_REGISTRY = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?$")
#: repository path components of the Docker reference grammar, lowercase, "/"-separated
_REPOSITORY_PREFIX = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


class CheckpointSettings(Strict):
    """Idle servers saved as images by the per-node checkpointer (see README, Checkpoints).

    Each profile turns it on or off for itself (``profiles[].checkpoint``); this
    section turns it off for the whole platform and says where images go.
    """

    enabled: bool = Field(
        True,
        description="Checkpoint idle servers and start servers from their latest checkpoint; "
        "off: every server starts from its profile's image.",
    )
    registry: str = Field(
        "127.0.0.1:5000",
        description="Image registry every node can pull from: host[:port], no scheme.",
    )
    repository_prefix: str = Field(
        "tenanthub",
        description="Repository path under the registry: images are "
        "<registry>/<prefix>/ckpt-<tenant>-<user>:<server>-<time>.",
    )
    idle_after: Seconds = Field(
        1800,
        ge=1,
        description="Checkpoint a server once idle this long (no busy kernel, no connection).",
    )
    check_every: Seconds = Field(
        30, ge=1, description="How often the checkpointer looks at its node's servers."
    )
    keep: int = Field(
        3, ge=1, le=1000, description="Ready checkpoints kept per user and server; older go."
    )
    max_diff_bytes: ByteQuantity = Field(
        "5Gi",
        description="A server whose writable layer is larger than this is not checkpointed "
        "(its user is told why).",
    )
    max_layers: int = Field(
        120,
        ge=2,
        le=125,
        description="A checkpoint adds a layer to its server's image; past this many the "
        "server is not checkpointed again and its user is told how to start fresh "
        "(container engines refuse images of more than 127 layers).",
    )
    stop_wait: Seconds = Field(
        120, ge=0, description="How long a stop waits for the last checkpoint; 0: no wait."
    )
    daemon_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of the node's checkpointer (loopback on one machine, the node's "
        "address in a cluster); default: hub.port + 4.",
    )
    run_daemon: bool = Field(
        True,
        description="Docker backend: the hub starts this machine's checkpointer as a managed "
        "service. Off: run `python -m checkpointer` yourself (or not at all). Kubernetes: "
        "ignored, the chart's DaemonSet runs one per node.",
    )
    local_registry: bool = Field(
        False,
        description="Docker backend: the hub also runs a registry (Debian's docker-registry) "
        "at `registry`, which must then be a 127.0.0.1 address; its images are kept under "
        "hub.data_dir/registry. For one machine (the demo); a cluster uses a real registry.",
    )

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if not _REGISTRY.match(value):
            raise ValueError(
                f"{value!r} is not a registry address: write host or host:port "
                "(e.g. 127.0.0.1:5000), without http:// or a path"
            )
        return value

    @field_validator("repository_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _REPOSITORY_PREFIX.match(value):
            raise ValueError(
                f"{value!r} is not a repository path: lowercase letters, digits and . _ - "
                "between them, parts separated by /"
            )
        return value

    @model_validator(mode="after")
    def _local_registry_on_loopback(self) -> CheckpointSettings:
        host = self.registry.rsplit(":", 1)[0] if ":" in self.registry else self.registry
        if self.local_registry and host not in ("127.0.0.1", "localhost"):
            raise ValueError(
                f"local_registry runs a registry on this machine's loopback, but registry is "
                f"{self.registry!r}: use 127.0.0.1:<port>, or turn local_registry off"
            )
        return self

    @property
    def registry_port(self) -> int:
        """The registry's port (5000 when the address names none)."""
        _, _, port = self.registry.rpartition(":")
        return int(port) if port.isdigit() else 5000

    @property
    def max_diff(self) -> int:
        """``max_diff_bytes`` in bytes."""
        return parse_bytes(self.max_diff_bytes)

    def port(self, hub: HubSettings) -> int:
        """The checkpointer's port: ``daemon_port``, or derived from the hub's."""
        return self.daemon_port or hub.port + 4


# ----------------------------------------------------------------------------- jobs


class JobSettings(Strict):
    """Notebook jobs (papermill, pyspark): the scheduler in the platform service."""

    enabled: bool = Field(
        True, description="Run the job scheduler in the platform service; off: nothing fires."
    )
    poll_every: Seconds = Field(
        5,
        ge=1,
        le=3600,
        description="How often the scheduler fires due cron slots, starts queued runs and "
        "looks at running ones.",
    )
    missed_slots: Literal["skip", "run_once"] = Field(
        "skip",
        description="Cron slots missed while no scheduler ran: skip them (only future ones "
        "fire) or run_once (one run for all of them); a job's schedule may override it.",
    )
    max_timeout: Seconds = Field(
        86400,
        ge=60,
        le=7 * 86400,
        description="Longest timeout a job may ask for; a run past its timeout is stopped "
        "as timed_out.",
    )
    max_parameters_bytes: int = Field(
        65536,
        ge=256,
        le=65536,
        description="Largest papermill parameters of a job, as JSON.",
    )
    log_tail_bytes: int = Field(
        65536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="How much of a run's output log is kept with the run when it ends.",
    )


# ----------------------------------------------------------------------------- datasets


class DatasetSettings(Strict):
    """Tenant data sources (files, S3, SQL, Hive, HDFS): see hub/service/datasets."""

    keys: list[str] = Field(
        default_factory=list,
        description="Fernet keys encrypting stored credentials: the first encrypts, all "
        "decrypt (rotation: put a new key first, re-encrypt, then drop the old). The "
        "environment variable TENANTHUB_DATASETS_KEYS overrides this.",
    )
    key_file: Path | None = Field(
        None,
        description="File with the keys, one per line (e.g. a mounted Secret). With no keys "
        "and no file, the service makes one key in <data_dir>/secrets/ at first start.",
    )
    roots: list[Path] = Field(
        default_factory=list,
        description="Folders of the platform's machine a tenant admin may register as a "
        "files source, besides the tenant's own shared folder (platform admins: any).",
    )
    read_bytes: ByteQuantity = Field(
        "256Mi", description="Largest file a notebook's datasets.read() takes whole."
    )
    read_rows: int = Field(
        1_000_000, ge=1, le=100_000_000, description="Most rows of a table a read returns."
    )
    sample_rows: int = Field(100, ge=1, le=10_000, description="Most rows a sample returns.")
    sample_bytes: ByteQuantity = Field(
        "1Mi", description="Most bytes a sample returns (and reads of a CSV/JSON file)."
    )
    page_size: int = Field(200, ge=1, le=5000, description="Entries of a listing page.")
    timeout: Seconds = Field(
        10, ge=1, description="Connect/read timeout of a data source, in seconds."
    )


class PlatformConfig(Strict):
    hub: HubSettings = Field(default_factory=HubSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    backend: BackendSettings = Field(default_factory=BackendSettings)
    profiles: list[Profile] = Field(default_factory=list)
    tenants: list[Tenant] = Field(default_factory=list)
    culling: CullingSettings = Field(default_factory=CullingSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    pip: PipSettings = Field(default_factory=PipSettings)
    checkpoint: CheckpointSettings = Field(default_factory=CheckpointSettings)
    datasets: DatasetSettings = Field(default_factory=DatasetSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    def profile(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def tenant(self, name: str) -> Tenant | None:
        return next((t for t in self.tenants if t.name == name), None)
