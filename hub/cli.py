"""The ``tenanthub`` command.

tenanthub config validate FILE   every problem with its key path; exit 1 if any
tenanthub config schema          the JSON Schema of tenanthub.yaml
tenanthub db upgrade FILE        migrate the platform tables and seed tenants
tenanthub run FILE               validate, then start JupyterHub with this config
tenanthub demo [DIR]             prepare the demo folder, print logins, run it
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hub.config.loader import ConfigError, json_schema, load_config
from hub.config.schema import PlatformConfig

HUB_CONFIG = Path(__file__).resolve().parent / "jupyterhub_config.py"


def _load_checked(path: str | Path) -> PlatformConfig | None:
    """Load and report a config: every problem with its key path, or a one-line summary."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"{exc.source}: invalid, {len(exc.issues)} problem(s):", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return None
    from hub.app.backend import IMPLEMENTED_BACKENDS

    if config.backend.kind not in (*IMPLEMENTED_BACKENDS, "auto"):
        print(
            f"warning: backend.kind: {config.backend.kind!r} is valid but not available in this "
            f"version (available: {', '.join(sorted(IMPLEMENTED_BACKENDS))}); `run` will refuse it",
            file=sys.stderr,
        )
    print(
        f"{path}: valid ({len(config.tenants)} tenant(s), {len(config.profiles)} profile(s), "
        f"auth {config.auth.kind}, backend {config.backend.kind})"
    )
    return config


def _validate(path: str) -> int:
    return 0 if _load_checked(path) is not None else 1


def _db_upgrade(path: str) -> int:
    from hub.app.context import get_context

    try:
        context = get_context(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    context.prepare_database()
    print(f"platform database at head: {context.engine.url.render_as_string(hide_password=True)}")
    return 0


def _run(path: str, extra: Sequence[str]) -> int:
    """Validate first (nothing starts on a bad config), then exec the hub."""
    config = _load_checked(path)
    if config is None:
        return 1
    return _exec_hub(path, config, extra)


def _exec_hub(
    path: str | Path, config: PlatformConfig, extra: Sequence[str], banner: str | None = None
) -> int:
    """Refuse what cannot start here, then replace this process with the hub."""
    from hub.app.backend import BackendUnavailable, choose_backend, ensure_backend_ready
    from hub.app.proxy import find_proxy_command

    try:
        choose_backend(config.backend.kind, in_cluster=False, docker_answers=False)
        ensure_backend_ready(config.backend.kind, config.backend.kubernetes.kubeconfig)
        find_proxy_command()
    except (BackendUnavailable, FileNotFoundError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    config.hub.data_dir.mkdir(parents=True, exist_ok=True)
    if banner:
        print(banner, flush=True)
    env = dict(os.environ, TENANTHUB_CONFIG=str(Path(path).resolve()))
    argv = [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG), *extra]
    os.chdir(config.hub.data_dir)
    os.execve(sys.executable, argv, env)  # noqa: S606 - replaces this process with the hub
    return 0  # pragma: no cover


def _demo(folder: str, extra: Sequence[str]) -> int:
    from hub.app.backend import detect_backend
    from hub.demo import banner, prepare_demo

    config_path, logins = prepare_demo(Path(folder).resolve())
    config = _load_checked(config_path)
    if config is None:
        return 1
    url = f"http://{config.hub.ip}:{config.hub.port}{config.hub.base_url}"
    choice = detect_backend(config.backend.kind, config.backend.docker.url)
    note = f"Backend: {choice.kind} ({choice.reason})."
    if choice.kind == "docker":
        note += " Servers run as hardened containers of the tenanthub/notebook-* images."
    credentials = config_path.parent / "demo-credentials.json"
    return _exec_hub(config_path, config, extra, banner(url, logins, note, credentials))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tenanthub", description="TenantHub platform tools")
    sub = parser.add_subparsers(dest="command", required=True)
    config_cmd = sub.add_parser("config", help="check or describe tenanthub.yaml")
    config_sub = config_cmd.add_subparsers(dest="action", required=True)
    validate = config_sub.add_parser("validate", help="report every problem in a config file")
    validate.add_argument("file")
    config_sub.add_parser("schema", help="print the JSON Schema of tenanthub.yaml")
    db_cmd = sub.add_parser("db", help="platform database")
    db_sub = db_cmd.add_subparsers(dest="action", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate to the newest schema and seed tenants")
    upgrade.add_argument("file")
    run = sub.add_parser("run", help="start the platform (JupyterHub) with a config file")
    run.add_argument("file")
    run.add_argument("jupyterhub_args", nargs=argparse.REMAINDER)
    demo = sub.add_parser("demo", help="start the demo platform with working logins")
    demo.add_argument("folder", nargs="?", default=".demo")
    demo.add_argument("jupyterhub_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "config" and args.action == "validate":
        return _validate(args.file)
    if args.command == "config" and args.action == "schema":
        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.command == "db":
        return _db_upgrade(args.file)
    if args.command == "run":
        return _run(args.file, args.jupyterhub_args)
    if args.command == "demo":
        return _demo(args.folder, args.jupyterhub_args)
    parser.error("unknown command")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
