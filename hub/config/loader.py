"""Load ``tenanthub.yaml``: YAML -> schema -> cross-reference checks -> PlatformConfig.

Every problem is reported with the key path it is at (``tenants[1].quota.cpu``),
all of them at once, so a platform admin fixes a file in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub.config.schema import PlatformConfig

MAX_CONFIG_BYTES = 4 * 1024 * 1024


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping.

    Plain YAML keeps the last value silently, so a second ``tenants:`` block
    would drop the first without a word; here it is an error with its line.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor` merges may be overridden by the mapping's own keys
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: the base class reports it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first on line {first + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file: where it is and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The config cannot be used; ``issues`` lists every problem found."""

    def __init__(self, source: str, issues: Sequence[ConfigIssue]) -> None:
        self.source = source
        self.issues = list(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{source}: {len(self.issues)} problem(s)\n{lines}")


def format_loc(loc: Iterable[int | str]) -> str:
    """('tenants', 1, 'quota', 'cpu') -> 'tenants[1].quota.cpu'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _issues_from_validation(error: ValidationError) -> list[ConfigIssue]:
    issues = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if not (isinstance(p, str) and "[" in p)]
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; `tenanthub config schema` lists the keys)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        issues.append(ConfigIssue(format_loc(loc), message))
    return issues


def _entries(data: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    """(index, mapping) of a list section, skipping what the schema reports anyway."""
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _names(value: Any) -> list[tuple[int, str]]:
    if not isinstance(value, list):
        return []
    return [(j, item) for j, item in enumerate(value) if isinstance(item, str)]


def cross_reference_issues(data: dict[str, Any]) -> list[ConfigIssue]:
    """Problems a per-field schema cannot see: duplicates, dangling references, port clashes.

    Works on the raw data (leniently), so these are reported together with the
    schema's own errors and a file is fixed in one round.
    """
    issues: list[ConfigIssue] = []
    profiles = _entries(data, "profiles")
    tenants = _entries(data, "tenants")

    def first_seen(section: str, entries: list[tuple[int, dict[str, Any]]]) -> dict[str, int]:
        seen: dict[str, int] = {}
        for i, entry in entries:
            name = entry.get("name")
            if not isinstance(name, str):
                continue
            if name in seen:
                issues.append(
                    ConfigIssue(
                        f"{section}[{i}].name",
                        f"duplicate {section[:-1]} {name!r} (first at {section}[{seen[name]}])",
                    )
                )
            else:
                seen[name] = i
        return seen

    seen_profiles = first_seen("profiles", profiles)
    seen_tenants = first_seen("tenants", tenants)
    defaults = [p.get("name") for _, p in profiles if p.get("default") is True]
    if len(defaults) > 1:
        issues.append(ConfigIssue("profiles", f"more than one default profile: {defaults}"))
    for i, profile in profiles:
        for j, tenant_name in _names(profile.get("allowed_tenants")):
            if tenant_name not in seen_tenants:
                issues.append(
                    ConfigIssue(
                        f"profiles[{i}].allowed_tenants[{j}]",
                        f"unknown tenant {tenant_name!r} (tenants: {sorted(seen_tenants)})",
                    )
                )
    for i, tenant in tenants:
        for j, profile_name in _names(tenant.get("profiles")):
            if profile_name not in seen_profiles:
                issues.append(
                    ConfigIssue(
                        f"tenants[{i}].profiles[{j}]",
                        f"unknown profile {profile_name!r} (profiles: {sorted(seen_profiles)})",
                    )
                )
        users: dict[str, int] = {}
        members = tenant.get("members")
        for j, member in enumerate(members if isinstance(members, list) else []):
            user = member.get("user") if isinstance(member, dict) else None
            if not isinstance(user, str):
                continue
            if user in users:
                issues.append(
                    ConfigIssue(
                        f"tenants[{i}].members[{j}].user",
                        f"user {user!r} is listed twice in tenant {tenant.get('name')!r}",
                    )
                )
            users[user] = j
    hub = data.get("hub")
    if isinstance(hub, dict):
        issues += _port_clashes(hub)
    return issues


def _port_clashes(hub: dict[str, Any]) -> list[ConfigIssue]:
    port = hub.get("port", 8000)
    if not isinstance(port, int) or isinstance(port, bool):
        return []
    ports = {
        "port": port,
        "hub_port": hub.get("hub_port", 8081),
        "proxy_api_port": hub.get("proxy_api_port") or port + 1,
    }
    issues = []
    seen: dict[Any, str] = {}
    for key, value in ports.items():
        if not isinstance(value, int) or isinstance(value, bool):
            continue  # not a port number: the schema reports it (a list here was a TypeError)
        if value in seen:
            issues.append(
                ConfigIssue(f"hub.{key}", f"port {value} is also used by hub.{seen[value]}")
            )
        else:
            seen[value] = key
    return issues


def parse_config(
    data: Any, source: str = "<config>", base_dir: Path | None = None
) -> PlatformConfig:
    """Validate already-parsed YAML/JSON data; relative paths resolve against ``base_dir``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigIssue("", "the top level must be a mapping of sections")])
    issues: list[ConfigIssue] = []
    config: PlatformConfig | None = None
    try:
        config = PlatformConfig.model_validate(data)
    except ValidationError as exc:
        issues = _issues_from_validation(exc)
    reported = {issue.path for issue in issues}
    issues += [i for i in cross_reference_issues(data) if i.path not in reported]
    if issues or config is None:
        raise ConfigError(source, issues)
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return config


def _resolve_paths(config: PlatformConfig, base_dir: Path) -> PlatformConfig:
    hub = config.hub
    data_dir = hub.data_dir if hub.data_dir.is_absolute() else (base_dir / hub.data_dir)
    native = config.auth.native
    seed = native.seed_users_file
    if seed is not None and not seed.is_absolute():
        seed = base_dir / seed
    ldap = config.auth.ldap
    ldap = ldap.model_copy(
        update={
            key: (base_dir / value).resolve()
            for key in ("ca_file", "lookup_dn_search_password_file")
            if (value := getattr(ldap, key)) is not None and not value.is_absolute()
        }
    )
    oauth = config.auth.oauth
    oauth = oauth.model_copy(
        update={
            key: (base_dir / value).resolve()
            for key in ("client_secret_file", "ca_file")
            if (value := getattr(oauth, key)) is not None and not value.is_absolute()
        }
    )
    pip = config.pip
    if pip.ca_file is not None and not pip.ca_file.is_absolute():
        pip = pip.model_copy(update={"ca_file": (base_dir / pip.ca_file).resolve()})
    backend = config.backend
    kubeconfig = backend.kubernetes.kubeconfig
    if kubeconfig is not None and not kubeconfig.is_absolute():
        backend = backend.model_copy(
            update={
                "kubernetes": backend.kubernetes.model_copy(
                    update={"kubeconfig": (base_dir / kubeconfig).resolve()}
                )
            }
        )
    return config.model_copy(
        update={
            "pip": pip,
            "backend": backend,
            "hub": hub.model_copy(update={"data_dir": data_dir.resolve()}),
            "auth": config.auth.model_copy(
                update={
                    "native": native.model_copy(update={"seed_users_file": seed}),
                    "ldap": ldap,
                    "oauth": oauth,
                }
            ),
        }
    )


def load_config(path: str | Path) -> PlatformConfig:
    """Read and validate a config file; raises ConfigError listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ConfigError(
            source, [ConfigIssue("", f"cannot read the file: {exc.strerror}")]
        ) from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            source, [ConfigIssue("", f"file is {size} bytes; the limit is {MAX_CONFIG_BYTES}")]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [ConfigIssue("", f"cannot read the file: {exc}")]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigIssue(where, f"invalid YAML: {problem}")]) from None
    except RecursionError:  # "[[[[..." thousands deep: was a RecursionError, not a ConfigError
        raise ConfigError(source, [ConfigIssue("", "invalid YAML: nested too deeply")]) from None
    return parse_config(data, source, base_dir=path.parent.resolve())


def json_schema() -> dict[str, Any]:
    """JSON Schema of the config (the Helm chart's values schema is generated from it)."""
    schema = PlatformConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "TenantHub platform configuration (tenanthub.yaml)"
    return schema
