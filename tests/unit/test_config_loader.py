"""tenanthub.yaml: every problem is reported, with its key path, in one go."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hub.config.loader import (
    MAX_CONFIG_BYTES,
    ConfigError,
    ConfigIssue,
    format_loc,
    load_config,
    parse_config,
)
from hub.config.schema import PlatformConfig

REPO = Path(__file__).resolve().parents[2]

FULL = """
hub:
  ip: 0.0.0.0
  port: 8443
  hub_port: 8082
  base_url: /platform
  db_url: postgresql://hub@db/tenanthub
  data_dir: /srv/tenanthub
auth:
  kind: native
  admin_users: [root-admin]
  native:
    open_signup: true
    minimum_password_length: 12
    seed_users_file: /srv/seed.json
backend:
  kind: local
  local:
    cmd: [jupyterhub-singleuser, --debug]
    start_timeout: 2m
  docker:
    url: unix:///var/run/docker.sock
  kubernetes:
    namespace_prefix: tnt-
profiles:
  - name: small
    display_name: Small
    description: for exploring
    image: example/notebook:1
    cpu: {guarantee: 250m, limit: "1"}
    memory: {guarantee: 512Mi, limit: 2Gi}
    default: true
  - name: gpu
    cpu: {limit: 8}
    memory: {limit: 32Gi}
    gpu: 1
    node_selector: {accelerator: a100}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
    allowed_tenants: [vision]
tenants:
  - name: vision
    display_name: Computer Vision
    quota: {cpu: 6, memory: 16Gi, gpu: 1, servers: 3, storage: 100Gi, running_jobs: 4}
    members:
      - {user: alice, role: admin}
      - {user: bob}
    group_mappings:
      - {group: cv-team, role: member}
    storage:
      size: 50Gi
      nfs: {server: nfs.example.org, path: /exports/vision}
    profiles: [small, gpu]
  - name: nlp
    storage: {storage_class: fast}
culling:
  enabled: true
  idle_timeout: 30m
  max_age: 7d
  every: 60
"""


def write(tmp_path: Path, text: str, name: str = "tenanthub.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issues_of(tmp_path: Path, text: str) -> dict[str, str]:
    """path -> message of every problem load_config reports (fails if the file is valid)."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    found = {issue.path: issue.message for issue in caught.value.issues}
    assert len(found) == len(caught.value.issues), "two problems reported at the same path"
    return found


# ----------------------------------------------------------------------------- valid files


def test_minimal_config_gets_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "tenants:\n  - name: team\n"))
    assert config.hub.port == 8000
    assert config.hub.ip == "127.0.0.1"
    assert config.auth.kind == "native"
    assert config.backend.kind == "auto"
    assert config.culling.idle_timeout == 3600
    assert [t.name for t in config.tenants] == ["team"]
    team = config.tenants[0]
    assert team.quota.cpu is None and team.quota.servers is None  # no limit
    assert team.profiles == [] and team.members == []
    assert team.storage.size == "10Gi"


def test_full_config_keeps_every_value(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.hub.base_url == "/platform/"  # trailing slash added
    assert config.hub.data_dir == Path("/srv/tenanthub")
    assert config.hub.db_url == "postgresql://hub@db/tenanthub"
    assert config.auth.native.open_signup is True
    assert config.auth.native.seed_users_file == Path("/srv/seed.json")
    assert config.backend.local.cmd == ["jupyterhub-singleuser", "--debug"]
    assert config.backend.local.start_timeout == 120
    assert config.backend.kubernetes.namespace_prefix == "tnt-"
    gpu = config.profile("gpu")
    assert gpu is not None
    assert gpu.cpu.limit == "8"  # YAML int kept as the quantity string people wrote
    assert gpu.tolerations[0].operator == "Exists"
    assert gpu.allowed_tenants == ["vision"]
    assert gpu.title == "gpu"  # no display name: the name
    vision = config.tenant("vision")
    assert vision is not None
    assert vision.quota.cpu == "6"
    assert vision.quota.memory == "16Gi"
    assert vision.members[1].role == "member"
    assert vision.storage.nfs is not None and vision.storage.nfs.path == "/exports/vision"
    assert config.culling.max_age == 7 * 86400
    assert config.culling.every == 60


def test_demo_example_validates() -> None:
    config = load_config(REPO / "examples" / "demo.yaml")
    assert {t.name for t in config.tenants} == {"vision", "nlp"}
    assert config.auth.native.seed_users_file == (REPO / "examples" / "seed-users.json")


def test_empty_file_means_all_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.tenants == [] and config.profiles == []
    assert config.hub.port == PlatformConfig().hub.port
    assert config.hub.data_dir == (tmp_path / "data").resolve()


def test_comment_only_file_means_all_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing here yet\n")).tenants == []


def test_relative_data_dir_resolves_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc" / "tenanthub"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter
    path = write(folder, "hub: {data_dir: state}\nauth: {native: {seed_users_file: seed.json}}\n")
    config = load_config(path)
    assert config.hub.data_dir == (folder / "state").resolve()
    assert config.auth.native.seed_users_file == folder.resolve() / "seed.json"


def test_absolute_data_dir_is_kept(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"hub: {{data_dir: {tmp_path / 'abs'}}}\n"))
    assert config.hub.data_dir == tmp_path / "abs"


# ------------------------------------------------------------------ not YAML / not a mapping


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "hub:\n  port: 8000\n  ip: [unclosed\nauth: {}\n")
    [(where, message)] = found.items()
    assert where.startswith("line ") and "column " in where
    assert message.startswith("invalid YAML")


def test_invalid_yaml_points_at_the_offending_line(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "hub:\n  port: 8000\n   ip: bad indent\n")
    [where] = found
    assert where.startswith("line 3,"), where


def test_duplicate_yaml_key_is_an_error_not_silently_dropped(tmp_path: Path) -> None:
    # plain YAML keeps the last `tenants:` and drops team-a without a word
    found = issues_of(tmp_path, "tenants:\n  - name: team-a\nhub: {}\ntenants:\n  - name: team-b\n")
    [(where, message)] = found.items()
    assert where.startswith("line 4, column 1")
    assert "duplicate key 'tenants'" in message and "line 1" in message


def test_duplicate_nested_yaml_key_is_an_error(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "tenants:\n  - name: a\n    quota: {cpu: 1, cpu: 2}\n")
    [message] = found.values()
    assert "duplicate key 'cpu'" in message


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = """
    profiles:
      - &base {name: small, cpu: {limit: "1"}}
      - <<: *base
        name: large
    """
    config = load_config(write(tmp_path, text))
    assert [p.name for p in config.profiles] == ["small", "large"]
    assert config.profiles[1].cpu.limit == "1"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    found = issues_of(tmp_path, text)
    assert list(found.values()) == ["the top level must be a mapping of sections"]


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [issue] = caught.value.issues
    assert str(MAX_CONFIG_BYTES) in issue.message and "limit" in issue.message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.yaml")
    assert "cannot read the file" in caught.value.issues[0].message


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("hub: {ip: 'caf\xe9'}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(path)


# ----------------------------------------------------------------------------- unknown keys


def test_unknown_top_level_key_is_reported_by_name(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "tennants: []\n")
    assert list(found) == ["tennants"]
    assert "unknown key" in found["tennants"]


def test_unknown_nested_key_is_reported_with_its_full_path(tmp_path: Path) -> None:
    text = """
    tenants:
      - name: a
      - name: b
        quota: {cpus: 2}
    profiles:
      - name: p
        memory: {limits: 1Gi}
    backend: {local: {comand: [x]}}
    """
    found = issues_of(tmp_path, text)
    assert set(found) == {
        "tenants[1].quota.cpus",
        "profiles[0].memory.limits",
        "backend.local.comand",
    }
    assert all("unknown key" in message for message in found.values())


# ----------------------------------------------------------------------------- quantities


@pytest.mark.parametrize(
    ("quota", "path", "says"),
    [
        ("cpu: abc", "tenants[0].quota.cpu", "not a Kubernetes quantity"),
        ("memory: 4Gb", "tenants[0].quota.memory", "not a Kubernetes quantity"),
        ("memory: 500m", "tenants[0].quota.memory", "milli suffix"),
        ("cpu: -1", "tenants[0].quota.cpu", "quantity"),
        ("memory: '-1Gi'", "tenants[0].quota.memory", "quantity"),
        ("storage: 1.5", "tenants[0].quota.storage", "whole number of bytes"),
        ("gpu: -1", "tenants[0].quota.gpu", "greater than or equal to 0"),
        ("servers: -2", "tenants[0].quota.servers", "greater than or equal to 0"),
        ("cpu: true", "tenants[0].quota.cpu", "quantity"),
    ],
)
def test_bad_quota_values_are_reported_at_their_path(
    tmp_path: Path, quota: str, path: str, says: str
) -> None:
    found = issues_of(tmp_path, f"tenants:\n  - name: team\n    quota: {{{quota}}}\n")
    assert list(found) == [path]
    assert says in found[path]


def test_quota_values_are_validated_in_profiles_too(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "profiles:\n  - name: p\n    cpu: {limit: 2 cores}\n")
    assert list(found) == ["profiles[0].cpu.limit"]


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("cpu: {guarantee: '2', limit: 1500m}", "profiles[0].cpu"),
        ("memory: {guarantee: 4Gi, limit: 2Gi}", "profiles[0].memory"),
    ],
)
def test_guarantee_above_limit_is_refused(tmp_path: Path, section: str, path: str) -> None:
    found = issues_of(tmp_path, f"profiles:\n  - name: p\n    {section}\n")
    assert list(found) == [path]
    assert "above limit" in found[path]


def test_guarantee_equal_to_limit_is_fine(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "profiles:\n  - name: p\n    cpu: {guarantee: 1000m, limit: '1'}\n")
    )
    assert config.profiles[0].cpu.guarantee == "1000m"


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Team", "DNS-1123"),
        ("a" * 41, "41 characters; the limit is 40"),
        ("admin", "reserved"),
        ("kube-x", "reserved"),
        ("-team", "DNS-1123"),
        ("team-", "DNS-1123"),
        ("team_a", "DNS-1123"),
        ("''", "empty"),
        ('"team\\n"', "DNS-1123"),  # a trailing newline must not slip through
    ],
)
def test_bad_tenant_names_are_refused(tmp_path: Path, name: str, says: str) -> None:
    found = issues_of(tmp_path, f"tenants:\n  - name: ok\n  - name: {name}\n")
    assert list(found) == ["tenants[1].name"]
    assert says in found["tenants[1].name"]


def test_forty_character_tenant_name_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"tenants:\n  - name: {'a' * 40}\n"))
    assert config.tenants[0].name == "a" * 40


def test_yaml_non_string_tenant_name_is_refused(tmp_path: Path) -> None:
    # YAML reads `no` as False and `123` as an int; neither may become a tenant
    found = issues_of(tmp_path, "tenants:\n  - name: no\n  - name: 123\n")
    assert set(found) == {"tenants[0].name", "tenants[1].name"}


def test_bad_tenant_name_in_profile_allowed_tenants_is_refused(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "profiles:\n  - name: p\n    allowed_tenants: [Admin]\n")
    assert list(found) == ["profiles[0].allowed_tenants[0]"]


# ----------------------------------------------------------------------------- cross references


def test_duplicate_tenant_names_are_reported_with_the_first_position(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "tenants:\n  - name: a\n  - name: b\n  - name: a\n")
    assert list(found) == ["tenants[2].name"]
    assert "duplicate tenant 'a'" in found["tenants[2].name"]
    assert "tenants[0]" in found["tenants[2].name"]


def test_duplicate_profile_names_are_reported(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "profiles:\n  - name: p\n  - name: p\n")
    assert list(found) == ["profiles[1].name"]
    assert "duplicate profile 'p'" in found["profiles[1].name"]


def test_profile_allowed_tenants_naming_an_unknown_tenant_is_refused(tmp_path: Path) -> None:
    text = (
        "tenants:\n  - name: vision\n"
        "profiles:\n  - name: gpu\n    allowed_tenants: [vision, visoin]\n"
    )
    found = issues_of(tmp_path, text)
    assert list(found) == ["profiles[0].allowed_tenants[1]"]
    assert "unknown tenant 'visoin'" in found["profiles[0].allowed_tenants[1]"]
    assert "vision" in found["profiles[0].allowed_tenants[1]"]  # lists the real ones


def test_tenant_profiles_naming_an_unknown_profile_is_refused(tmp_path: Path) -> None:
    text = "profiles:\n  - name: small\ntenants:\n  - name: a\n    profiles: [small, smal]\n"
    found = issues_of(tmp_path, text)
    assert list(found) == ["tenants[0].profiles[1]"]
    assert "unknown profile 'smal'" in found["tenants[0].profiles[1]"]


def test_more_than_one_default_profile_is_refused(tmp_path: Path) -> None:
    text = "profiles:\n  - {name: a, default: true}\n  - {name: b, default: true}\n"
    found = issues_of(tmp_path, text)
    assert list(found) == ["profiles"]
    assert "more than one default" in found["profiles"]


def test_member_listed_twice_in_a_tenant_is_refused(tmp_path: Path) -> None:
    text = "tenants:\n  - name: a\n    members: [{user: bob}, {user: bob, role: admin}]\n"
    assert list(issues_of(tmp_path, text)) == ["tenants[0].members[1].user"]


def test_several_schema_errors_are_all_reported_at_once(tmp_path: Path) -> None:
    text = """
    hub: {port: 0, colour: blue}
    auth: {kind: kerberos}
    profiles:
      - name: Small
        memory: {limit: 4Gb}
    tenants:
      - name: admin
        quota: {cpu: abc, gpu: -1}
      - name: ok
        members: [{user: "has space"}]
    culling: {idle_timeout: 1w}
    """
    found = issues_of(tmp_path, text)
    assert set(found) == {
        "hub.port",
        "hub.colour",
        "auth.kind",
        "profiles[0].name",
        "profiles[0].memory.limit",
        "tenants[0].name",
        "tenants[0].quota.cpu",
        "tenants[0].quota.gpu",
        "tenants[1].members[0].user",
        "culling.idle_timeout",
    }


def test_several_cross_reference_errors_are_all_reported_at_once(tmp_path: Path) -> None:
    text = """
    profiles:
      - {name: p, allowed_tenants: [ghost]}
      - {name: p}
    tenants:
      - {name: a, profiles: [nope]}
      - {name: a}
    """
    found = issues_of(tmp_path, text)
    assert set(found) == {
        "profiles[1].name",
        "tenants[1].name",
        "profiles[0].allowed_tenants[0]",
        "tenants[0].profiles[0]",
    }


def test_schema_and_cross_reference_errors_are_reported_together(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "tenants:\n  - {name: a, quota: {cpu: abc}}\n  - {name: a}\n")
    assert set(found) == {"tenants[0].quota.cpu", "tenants[1].name"}


def test_ports_must_not_clash(tmp_path: Path) -> None:
    found = issues_of(tmp_path, "hub: {port: 9000, hub_port: 9001}\n")
    assert found == {"hub.proxy_api_port": found["hub.proxy_api_port"]}
    assert "also used by hub.hub_port" in found["hub.proxy_api_port"]


def test_config_error_message_lists_every_issue_with_its_path(tmp_path: Path) -> None:
    path = write(tmp_path, "tenants:\n  - {name: A}\n  - {name: b, quota: {cpu: x}}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: 2 problem(s)")
    assert "tenants[0].name: " in text and "tenants[1].quota.cpu: " in text


# ----------------------------------------------------------------------------- pieces


def test_format_loc_builds_key_paths() -> None:
    assert format_loc(("tenants", 1, "quota", "cpu")) == "tenants[1].quota.cpu"
    assert format_loc(("profiles", 0, "allowed_tenants", 2)) == "profiles[0].allowed_tenants[2]"
    assert format_loc(()) == ""


def test_config_issue_without_path_prints_only_the_message() -> None:
    assert str(ConfigIssue("", "bad")) == "bad"
    assert str(ConfigIssue("hub.port", "bad")) == "hub.port: bad"


def test_parse_config_without_base_dir_leaves_paths_as_written() -> None:
    config = parse_config({"hub": {"data_dir": "rel"}})
    assert config.hub.data_dir == Path("rel")


def test_parsed_config_is_immutable() -> None:
    config = parse_config({"hub": {"port": 9000}})
    with pytest.raises(ValueError):
        config.hub.port = 1  # type: ignore[misc]
