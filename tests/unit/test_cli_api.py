"""The API commands' pure parts: tables, quota flags, settings and the config file;
and the client's error messages against a real (tiny, loopback) HTTP server."""

from __future__ import annotations

import argparse
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.api_client import (
    ApiClient,
    ApiError,
    ClientError,
    Settings,
    api_base,
    api_path,
    config_path,
    load_settings,
    parse_config,
)
from hub.cli_api import (
    QUOTA_FIELDS,
    cell,
    quota_flags,
    quota_rows,
    table,
    tenant_rows,
    usage_overview_rows,
    usage_rows,
)

TOKEN = "0123456789abcdef0123456789abcdef"


# ---- tables -----------------------------------------------------------------------------


def test_table_pads_every_column_to_its_widest_cell():
    text = table(["NAME", "N"], [["vision", 3], ["a", 12345]])
    assert text.splitlines() == [
        "NAME    N",
        "vision  3",
        "a       12345",
    ]


def test_table_without_rows_still_prints_its_header():
    assert table(["NAME", "ROLE"], []) == "NAME  ROLE"


def test_table_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        table(["A", "B", "C"], [[1, 2]])


def test_cells_show_nothing_lists_and_booleans_readably():
    assert cell(None) == "-"
    assert cell(["small", "big"]) == "small, big"
    assert cell([]) == "-"
    assert cell(True) == "yes"


def test_cells_escape_control_characters_from_names_other_people_chose():
    shown = cell("evil\x1b[31mred\r\nname")
    assert "\x1b" not in shown and "\r" not in shown and "\n" not in shown
    assert shown == "evil\\x1b[31mred\\r\\nname"


def tenant(name: str, **quota: Any) -> dict[str, Any]:
    full = {f: None for f, _, _ in QUOTA_FIELDS} | quota
    return {
        "name": name,
        "display_name": name.title(),
        "quota": full,
        "allowed_profiles": None,
        "members": 2,
        "your_role": "platform-admin",
    }


def test_tenant_table_has_a_column_per_quota_resource():
    headers, rows = tenant_rows([tenant("vision", cpu="4", memory="8Gi", servers=3)])
    text = table(headers, rows)
    header, row = text.splitlines()
    assert header.split() == [
        "NAME", "DISPLAY", "NAME", "MEMBERS", "CPU", "MEMORY", "GPU", "SERVERS", "STORAGE",
        "JOBS", "PROFILES",
    ]  # fmt: skip
    assert row.split() == ["vision", "Vision", "2", "4", "8Gi", "-", "3", "-", "-", "all"]


def test_quota_table_says_no_limit_rather_than_null():
    headers, rows = quota_rows({"cpu": "8", "memory": None, "gpu": 0})
    assert headers == ["RESOURCE", "LIMIT"]
    assert dict((r[0], r[1]) for r in rows) == {
        "cpu": "8",
        "memory": "no limit",
        "gpu": "0",
        "servers": "no limit",
        "storage": "no limit",
        "running_jobs": "no limit",
    }


def resource(name: str, used: str, limit: str | None, fraction: float | None) -> dict[str, Any]:
    return {
        "resource": name,
        "used": 0,
        "limit": None,
        "used_display": used,
        "limit_display": limit,
        "fraction": fraction,
    }


def test_usage_table_shows_used_limit_and_percentage():
    usage = {
        "tenant": "vision",
        "at": "2026-01-01T00:00:00+00:00",
        "resources": [resource("cpu", "2", "4", 0.5), resource("memory", "1Gi", None, None)],
    }
    headers, rows = usage_rows(usage)
    assert headers == ["RESOURCE", "USED", "LIMIT", "USE"]
    assert rows == [["cpu", "2", "4", "50%"], ["memory", "1Gi", "no limit", "-"]]


def test_usage_overview_has_a_row_per_tenant_with_used_over_limit():
    items = [
        {"tenant": "nlp", "at": None, "resources": [resource("servers", "1", "1", 1.0)]},
        {"tenant": "vision", "at": None, "resources": [resource("cpu", "2", None, None)]},
    ]
    headers, rows = usage_overview_rows(items)
    assert headers[:3] == ["TENANT", "CPU", "MEMORY"]
    servers = headers.index("SERVERS")
    assert rows[0][0] == "nlp" and rows[0][servers] == "1/1"
    assert rows[1][1] == "2/-"
    assert rows[1][servers] is None  # not reported: shown as '-'


# ---- quota flags ------------------------------------------------------------------------


def flags(**given: str | None) -> argparse.Namespace:
    return argparse.Namespace(**({f: None for f, _, _ in QUOTA_FIELDS} | given))


def test_quota_flags_keep_only_what_was_given_and_none_means_no_limit():
    assert quota_flags(flags(cpu="8", memory="32Gi", servers="10", gpu="none")) == {
        "cpu": "8",
        "memory": "32Gi",
        "servers": 10,
        "gpu": None,
    }
    assert quota_flags(flags()) == {}


def test_quota_count_flags_must_be_whole_numbers():
    with pytest.raises(
        ClientError, match=r"--servers must be a whole number or 'none', not '2\.5'"
    ):
        quota_flags(flags(servers="2.5"))


# ---- settings and the config file -------------------------------------------------------


def write_config(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / ".config" / "tenanthub" / "config"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_environment_gives_url_and_token_without_a_config_file(tmp_path):
    env = {"HOME": str(tmp_path), "TENANTHUB_URL": "http://h/", "TENANTHUB_TOKEN": TOKEN}
    settings = load_settings(env)
    assert (settings.url, settings.token, settings.url_from) == (
        "http://h/",
        TOKEN,
        "TENANTHUB_URL",
    )


def test_the_config_file_fills_in_what_the_environment_does_not_give(tmp_path):
    path = write_config(tmp_path, f"# mine\nurl = https://hub.example.org/\n\ntoken = {TOKEN}\n")
    settings = load_settings({"HOME": str(tmp_path), "TENANTHUB_URL": "http://other/"})
    assert settings.url == "http://other/" and settings.url_from == "TENANTHUB_URL"
    assert settings.token == TOKEN and settings.token_from == str(path)


def test_xdg_config_home_moves_the_config_file(tmp_path):
    env = {"HOME": "/nowhere", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert config_path(env) == tmp_path / "xdg" / "tenanthub" / "config"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_config_file_others_may_read_is_refused(tmp_path, mode):
    path = write_config(tmp_path, f"url = http://h/\ntoken = {TOKEN}\n", mode)
    with pytest.raises(ClientError) as refused:
        load_settings({"HOME": str(tmp_path)})
    message = str(refused.value)
    assert f"chmod 600 {path}" in message and f"mode {mode:o}" in message
    assert TOKEN not in message


def test_config_file_problems_name_the_line(tmp_path):
    with pytest.raises(ClientError, match="line 2: unknown key 'tokn'"):
        parse_config("url = http://h/\ntokn = x\n", "cfg")
    with pytest.raises(ClientError, match="line 1: expected 'key = value'"):
        parse_config("just words\n", "cfg")


def test_missing_settings_say_how_to_give_them(tmp_path):
    with pytest.raises(ClientError) as missing:
        load_settings({"HOME": str(tmp_path)})
    assert "TENANTHUB_URL" in str(missing.value) and "TENANTHUB_TOKEN" in str(missing.value)
    assert str(tmp_path / ".config" / "tenanthub" / "config") in str(missing.value)


def test_an_url_that_is_not_http_is_refused(tmp_path):
    env = {"HOME": str(tmp_path), "TENANTHUB_URL": "file:///etc/passwd", "TENANTHUB_TOKEN": "t"}
    with pytest.raises(ClientError, match="not an http"):
        load_settings(env)


def test_the_api_root_is_found_from_the_hub_address():
    root = "http://h:8000/services/tenanthub/api/v1/"
    assert api_base("http://h:8000") == root
    assert api_base("http://h:8000/") == root
    assert api_base(root) == root
    assert api_base("https://h/prefix/") == "https://h/prefix/services/tenanthub/api/v1/"


def test_the_token_is_not_in_the_settings_repr():
    assert TOKEN not in repr(Settings("http://h/", TOKEN))
    assert TOKEN not in repr(ApiClient(Settings("http://h/", TOKEN)))


def test_path_parts_are_quoted_so_a_name_cannot_climb_out_of_its_segment():
    client = ApiClient(Settings("http://h/", TOKEN))
    url = client.url_for(api_path("tenants", "../x?y", "quota"), {"q": "a b", "skip": None})
    assert url == "http://h/services/tenanthub/api/v1/tenants/..%2Fx%3Fy/quota?q=a+b"
    for bad in ("..", ".", ""):
        with pytest.raises(ClientError, match="not a name the API knows"):
            api_path("tenants", bad, "quota")


# ---- the client against a real HTTP server -----------------------------------------------


class Answers(http.server.BaseHTTPRequestHandler):
    """Answers by path: /services/tenanthub/api/v1/json-error -> an API error, else HTML."""

    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        Answers.seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
        if self.path.endswith("/json-error"):
            self.reply(403, "application/json", json.dumps({"status": 403, "message": "Nope."}))
        else:
            self.reply(404, "text/html", "<html>Not Found</html>")

    def reply(self, status: int, kind: str, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_api_error_carries_the_apis_own_message_and_the_token_is_sent(server):
    client = ApiClient(Settings(server, TOKEN, url_from="TENANTHUB_URL"))
    with pytest.raises(ApiError) as error:
        client.request("GET", "json-error")
    assert (error.value.status, error.value.message) == (403, "Nope.")
    assert Answers.seen[-1]["auth"] == f"token {TOKEN}"


def test_an_answer_that_is_not_the_apis_says_to_check_the_url(server):
    client = ApiClient(Settings(server, TOKEN, url_from="TENANTHUB_URL"))
    with pytest.raises(ApiError) as error:
        client.request("GET", "tenants")
    assert error.value.status == 404
    assert "check that the URL from TENANTHUB_URL is the hub's address" in error.value.message
    assert TOKEN not in error.value.message


def test_connection_refused_names_the_url(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    client = ApiClient(Settings(f"http://127.0.0.1:{port}/", TOKEN, url_from="cfg"))
    with pytest.raises(ClientError) as error:
        client.request("GET", "me")
    assert f"http://127.0.0.1:{port}/services/tenanthub/api/v1/" in str(error.value)
    assert "Connection refused" in str(error.value)
