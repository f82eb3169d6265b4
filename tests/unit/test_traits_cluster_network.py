"""Traits for a hub in a cluster pod: bind addresses, the hub's Service, an external proxy.

The defaults must keep the one-machine behaviour exactly (loopback, the hub starts
configurable-http-proxy); the Helm chart sets the keys that put the proxy in its own
Deployment and let servers in tenant namespaces reach the hub at its Service.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hub.app.context import PlatformContext
from hub.app.traits import PLATFORM_SERVICE, hub_traits
from hub.config.schema import PlatformConfig


def traits(tmp_path: Path, backend: str = "kubernetes", **sections: Any) -> dict[str, Any]:
    hub = {"data_dir": str(tmp_path), **sections.pop("hub", {})}
    config = PlatformConfig.model_validate({"hub": hub, **sections})
    return hub_traits(PlatformContext(config, tmp_path / "tenanthub.yaml"), backend)


def platform(result: dict[str, Any]) -> dict[str, Any]:
    [service] = [s for s in result["JupyterHub"]["services"] if s["name"] == PLATFORM_SERVICE]
    return service


def test_defaults_keep_everything_on_loopback_with_the_hub_starting_the_proxy(
    tmp_path: Path,
) -> None:
    result = traits(tmp_path, "local")
    hub = result["JupyterHub"]
    assert hub["hub_ip"] == "127.0.0.1" and hub["hub_port"] == 8081
    assert "hub_bind_url" not in hub and "hub_connect_url" not in hub
    proxy = result["ConfigurableHTTPProxy"]
    assert "should_start" not in proxy  # JupyterHub's default: the hub starts it
    assert proxy["api_url"] == "http://127.0.0.1:8001"
    assert proxy["command"][0].endswith("configurable-http-proxy")
    assert proxy["auth_token"] == (tmp_path / "proxy_auth_token").read_text().strip()
    service = platform(result)
    assert service["url"] == "http://127.0.0.1:8003"
    assert service["environment"]["TENANTHUB_SERVICE_BIND"] == "127.0.0.1"


def test_in_a_cluster_the_hub_binds_the_pod_and_is_reached_at_its_service(
    tmp_path: Path,
) -> None:
    result = traits(
        tmp_path,
        hub={
            "hub_bind_url": "http://0.0.0.0:8081",
            "hub_connect_url": "http://hub.tenanthub.svc:8081",
        },
    )
    assert result["JupyterHub"]["hub_bind_url"] == "http://0.0.0.0:8081"
    assert result["JupyterHub"]["hub_connect_url"] == "http://hub.tenanthub.svc:8081"


def test_an_external_proxy_is_not_started_and_its_token_comes_from_the_environment(
    tmp_path: Path,
) -> None:
    result = traits(tmp_path, hub={"proxy": {"external": True, "api_url": "http://proxy-api:8001"}})
    # no command, pid file or token: JupyterHub reads CONFIGPROXY_AUTH_TOKEN itself
    assert result["ConfigurableHTTPProxy"] == {
        "should_start": False,
        "api_url": "http://proxy-api:8001",
    }
    assert not (tmp_path / "proxy_auth_token").exists()


def test_the_platform_service_listens_on_the_pod_and_is_reached_at_the_hub_service(
    tmp_path: Path,
) -> None:
    result = traits(tmp_path, service={"bind": "0.0.0.0", "url": "http://hub:8084"})  # noqa: S104
    service = platform(result)
    assert service["url"] == "http://hub:8084"
    assert service["environment"]["TENANTHUB_SERVICE_BIND"] == "0.0.0.0"  # noqa: S104


def test_cluster_urls_must_be_http_urls(tmp_path: Path) -> None:
    import pydantic
    import pytest

    for sections in (
        {"hub": {"hub_connect_url": "hub:8081"}},
        {"hub": {"proxy": {"api_url": "proxy-api:8001"}}},
        {"service": {"url": "hub:8084"}},
        {"hub": {"proxy": {"external": True, "token": "x"}}},
    ):
        with pytest.raises(pydantic.ValidationError):
            PlatformConfig.model_validate(sections)


def _run_without_the_proxy(tmp_path: Path, external: bool) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "tenanthub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "hub": {"data_dir": "state", "proxy": {"external": external}},
                "backend": {"kind": "local"},
            }
        )
    )
    env = dict(os.environ, TENANTHUB_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path))
    env["PATH"] = os.pathsep.join(
        p
        for p in env["PATH"].split(os.pathsep)
        if not (Path(p) / "configurable-http-proxy").exists()
    )
    tenanthub = Path(sys.executable).parent / "tenanthub"
    return subprocess.run(
        [str(tenanthub), "run", str(config), "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_needs_configurable_http_proxy_only_when_the_hub_starts_it(tmp_path: Path) -> None:
    own = _run_without_the_proxy(tmp_path, external=False)
    assert own.returncode == 1 and "configurable-http-proxy not found" in own.stderr
    # the chart's hub pod has no proxy binary: the proxy is its own Deployment
    external = _run_without_the_proxy(tmp_path, external=True)
    assert external.returncode == 0, external.stderr
    assert "cannot start" not in external.stderr
