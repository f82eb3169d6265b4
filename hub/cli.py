"""The ``tenanthub`` command.

tenanthub config validate FILE   every problem with its key path; exit 1 if any
tenanthub config schema          the JSON Schema of tenanthub.yaml
tenanthub db upgrade FILE        migrate the platform tables and seed tenants
tenanthub db current FILE        the database's schema revision and this code's newest
tenanthub backup [--config FILE] -o ARCHIVE      DB + config + datasets key file, one tar.gz
tenanthub restore ARCHIVE [--config FILE] [--force] [--config-out P] [--keys-out P]
tenanthub run FILE               validate, then start JupyterHub with this config
tenanthub demo [DIR]             prepare the demo folder, print logins, run it
tenanthub k8s manifests --config FILE [--tenant T [--user U --profile P]]
tenanthub k8s provision --config FILE [--tenant T] [--every SECONDS]
tenanthub k8s rbac [--namespace NS] [--service-account SA]   the hub's exact permissions
tenanthub k8s delete-tenant --config FILE TENANT --confirm TENANT
                                 the Kubernetes objects of the config's tenants, as YAML
tenanthub tenant|quota|member|usage ...   over the platform API (see hub/cli_api.py)
tenanthub context add|use|list|remove ... named platforms for those (see hub/contexts.py)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub import cli_api
from hub.config.loader import ConfigError, json_schema, load_config
from hub.config.schema import PlatformConfig

HUB_CONFIG = Path(__file__).resolve().parent / "jupyterhub_config.py"


def _load_or_report(path: str | Path) -> PlatformConfig | None:
    """Load a config, or print every problem with its key path and return None."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{exc.source}: invalid, {len(exc.issues)} problem(s):", file=sys.stderr)
        for issue in exc.issues:
            print(f"  {issue}", file=sys.stderr)
        return None


def _load_checked(path: str | Path) -> PlatformConfig | None:
    """Load and report a config: every problem with its key path, or a one-line summary."""
    config = _load_or_report(path)
    if config is None:
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
    from hub.tenancy.db import SchemaTooNew

    try:
        context = get_context(path)
        context.prepare_database()
    except (ConfigError, SchemaTooNew) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"platform database at head: {context.engine.url.render_as_string(hide_password=True)}")
    return 0


def _db_current(path: str) -> int:
    """The database's schema revision next to this code's newest; exit 1 if it is newer."""
    from hub.app.context import get_context
    from hub.tenancy import db

    try:
        context = get_context(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    revision = db.current_revision(context.engine)
    head = db.head_revision()
    if revision is None:
        print(f"none (no TenantHub tables yet; this code's head is {head})")
    elif revision == head:
        print(f"{revision} (head)")
    elif revision in db.known_revisions():
        print(f"{revision} (this code's head is {head}: `tenanthub db upgrade` migrates)")
    else:
        print(f"{revision} (unknown to this code, whose head is {head}: a newer TenantHub)")
        return 1
    return 0


def _config_from(given: str | None) -> str | None:
    path = given or os.environ.get("TENANTHUB_CONFIG")
    if not path:
        print("error: give --config FILE (or set TENANTHUB_CONFIG)", file=sys.stderr)
    return path


def _backup(given: str | None, out: str) -> int:
    from hub.app.context import get_context
    from hub.backup import BackupError, backup

    path = _config_from(given)
    if path is None:
        return 1
    try:
        context = get_context(path)
        assert context.config_path is not None
        done = backup(
            context.engine, context.config, context.config_path, context.data_dir, Path(out)
        )
    except (ConfigError, BackupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = done.manifest
    print(
        f"{done.path}: {manifest['db_kind']} database at schema revision "
        f"{manifest['schema_revision']}, members {', '.join(manifest['members'])}"
    )
    if "datasets.keys" in manifest["members"]:
        print("the archive holds the datasets key (it decrypts stored credentials): keep it safe")
    for warning in done.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _restore(
    archive: str, given: str | None, force: bool, config_out: str | None, keys_out: str | None
) -> int:
    from hub.app.context import get_context
    from hub.backup import BackupError, restore
    from hub.service.datasets.secrets import GENERATED_KEY_FILE
    from hub.tenancy.db import SchemaTooNew

    path = _config_from(given)
    if path is None:
        return 1
    try:
        context = get_context(path)
        settings = context.config.datasets
        keys_target = Path(keys_out or settings.key_file or context.data_dir / GENERATED_KEY_FILE)
        context.data_dir.mkdir(parents=True, exist_ok=True)
        done = restore(
            Path(archive),
            context.engine,
            keys_target,
            Path(config_out) if config_out else None,
            force=force,
        )
    except (ConfigError, BackupError, SchemaTooNew) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = done.manifest
    print(
        f"restored the {manifest['db_kind']} database of {manifest['created_at']} (schema "
        f"{manifest['schema_revision']}, TenantHub {manifest['tenanthub_version']}) into "
        f"{context.engine.url.render_as_string(hide_password=True)}, now at head"
    )
    if done.keys_written:
        print(f"datasets key file: {done.keys_written} (0600)")
        if (settings.keys or os.environ.get("TENANTHUB_DATASETS_KEYS")) and not keys_out:
            print(
                "warning: this config takes its datasets keys from datasets.keys or the "
                "environment, so the platform does not read that file: add its keys there",
                file=sys.stderr,
            )
    if done.config_written:
        print(f"config: {done.config_written} (0600)")
    else:
        print(f"the archive's config ({archive}: tenanthub.yaml) was not written (--config-out)")
    for note in done.notes:
        print(f"note: {note}")
    return 0


def _rekey_datasets(path: str) -> int:
    """Key rotation: every stored data source credential encrypted with the first key."""
    from hub.app.context import get_context
    from hub.service.datasets.secrets import BadKey, SecretsUnreadable, platform_keys
    from hub.service.datasets.store import DataSourceStore

    try:
        context = get_context(path)
        settings = context.config.datasets
        keys = platform_keys(settings.keys, settings.key_file, context.data_dir)
        done = DataSourceStore(context.engine, keys).reencrypt()
    except (ConfigError, BadKey, SecretsUnreadable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{done} data source credential sets re-encrypted with the first datasets key")
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
        if not config.hub.proxy.external:  # an external proxy (Helm chart) runs elsewhere
            find_proxy_command()
    except (BackendUnavailable, FileNotFoundError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    config.hub.data_dir.mkdir(parents=True, exist_ok=True)
    from hub.app.context import get_context
    from hub.tenancy.db import SchemaTooNew, check_not_newer

    try:  # the hub would refuse too, but later and inside JupyterHub's traceback
        check_not_newer(get_context(path).engine)
    except SchemaTooNew as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
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


K8S_MANIFESTS_HELP = """\
Print, as multi-document YAML, the Kubernetes objects TenantHub provisions for
each tenant of the config file (namespace, quota, limit range, network
policies, service account, tenant-admin role, storage), and with --user and
--profile the notebook pod that user would get. Tenants and their admins come
from the file's seed list: the platform database is the runtime truth (tenants
changed in the console or API differ), and the running hub reconciles each
namespace from the database. Nothing is sent to a cluster; no tokens are
printed.
"""


def _k8s_manifests(
    path: str, tenant: str | None, user: str | None, profile: str | None, server: str
) -> int:
    """Render the config's tenants (and one user's pod) with the pure builders."""
    import yaml

    from hub.tenancy.seed import spec_from_config
    from spawner.kubernetes import manifests, names
    from spawner.kubernetes.reconciler import desired_objects
    from spawner.plan import make_plan

    config = _load_or_report(path)
    if config is None:
        return 1
    settings = config.backend.kubernetes
    tenants = config.tenants
    if tenant is not None:
        chosen = config.tenant(tenant)
        if chosen is None:
            known = ", ".join(t.name for t in config.tenants) or "none"
            print(f"error: unknown tenant {tenant!r} (tenants in {path}: {known})", file=sys.stderr)
            return 1
        tenants = [chosen]
    objects = []
    for item in tenants:
        objects += desired_objects(spec_from_config(item), config)
    if user is not None and profile is not None:
        spec = spec_from_config(tenants[0])
        chosen_profile = config.profile(profile)
        if chosen_profile is None:
            known = ", ".join(p.name for p in config.profiles) or "none"
            print(f"error: unknown profile {profile!r} (profiles: {known})", file=sys.stderr)
            return 1
        offered = manifests.offered_profiles(spec, list(config.profiles))
        if chosen_profile not in offered:
            names_offered = ", ".join(p.name for p in offered) or "none"
            print(
                f"error: profile {profile!r} is not offered in tenant {spec.name!r} (not allowed "
                f"there, or larger than its quota); offered: {names_offered}",
                file=sys.stderr,
            )
            return 1
        if not user or "/" in user or any(ch.isspace() for ch in user):
            print(f"error: {user!r} is not a valid user name", file=sys.stderr)
            return 1
        plan = make_plan(spec.name, chosen_profile, user, server)
        objects.append(
            manifests.user_pod(
                plan,
                settings,
                pod_name=names.pod_name(user, server),
                port=8888,
                cmd=["jupyterhub-singleuser"],
                env={},  # the plan's TENANTHUB_* values; the hub's tokens never appear here
            )
        )
    if not objects:
        print(f"note: {path} seeds no tenants; nothing to print", file=sys.stderr)
        return 0
    print(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True), end="")
    return 0


def _k8s_provision(path: str, tenant: str | None, every: float | None) -> int:
    """Create or repair tenant namespaces from the platform DB (once, or as a loop)."""
    import asyncio

    from hub.app.context import get_context
    from spawner.kubernetes.provision import ProvisionReport
    from spawner.kubernetes.reconciler import api_client_for, reconcile_forever, reconcile_tenants

    try:
        platform = get_context(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    platform.prepare_database()
    store = platform.store

    def load_specs() -> list[Any]:
        names = [tenant] if tenant else store.tenant_names()
        return [spec for name in names if (spec := store.tenant_spec(name)) is not None]

    specs = load_specs()
    if tenant and not specs:
        print(f"error: no tenant {tenant!r} in the platform database", file=sys.stderr)
        return 1

    async def main() -> int:
        api = await api_client_for(platform.config.backend.kubernetes.kubeconfig)
        async with api:
            if every:  # until the hub that started it is gone
                await reconcile_forever(load_specs, platform.config, api, every)
                return 0
            results = await reconcile_tenants(specs, platform.config, api)
        failed = 0
        for name, result in results.items():
            if isinstance(result, ProvisionReport):
                print(f"{name}: {result.summary()}")
            else:
                failed += 1
                print(f"{name}: FAILED: {result}", file=sys.stderr)
        return 1 if failed else 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130


def _k8s_delete_tenant(path: str, tenant: str, confirm: str | None) -> int:
    """Delete a tenant: its namespace (pods, claims, quota) and its DB rows; data stays."""
    import asyncio

    from hub.app.context import get_context
    from hub.service.tenant_data import RunsActive, remove_jobs_and_sources
    from hub.tenancy.names import namespace_for
    from hub.tenancy.tenant_removal import TenantNotFound, delete_tenant
    from spawner.kubernetes.names import pv_name
    from spawner.kubernetes.provision import ProvisioningError, delete_tenant_namespace
    from spawner.kubernetes.reconciler import api_client_for

    if confirm != tenant:
        print(
            f"error: deleting tenant {tenant!r} removes its namespace and its servers; "
            f"repeat its name to confirm: --confirm {tenant}",
            file=sys.stderr,
        )
        return 1
    try:
        platform = get_context(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    platform.prepare_database()
    settings = platform.config.backend.kubernetes
    namespace = namespace_for(tenant, settings.namespace_prefix)

    async def delete_namespace() -> bool:
        api = await api_client_for(settings.kubeconfig)
        async with api:
            return await delete_tenant_namespace(api, namespace, tenant, confirm)

    try:
        # first: a run that still runs refuses the deletion before anything is gone
        removed = remove_jobs_and_sources(platform.engine, tenant)
    except RunsActive as exc:
        print(
            f"error: tenant {tenant!r} still has {exc}; cancel them first "
            "(tenanthub job cancel), then delete it",
            file=sys.stderr,
        )
        return 1
    try:
        deleted = asyncio.run(delete_namespace())
        gone = delete_tenant(platform.store, tenant, actor="cli")
    except ProvisioningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except TenantNotFound:
        print(f"error: no tenant {tenant!r} in the platform database", file=sys.stderr)
        return 1
    print(
        f"tenant {tenant}: namespace {namespace} "
        f"{'deleted' if deleted else 'was already gone'}; {gone['memberships']} membership(s), "
        f"{removed['jobs']} job(s) with {removed['runs']} run(s) and {removed['data_sources']} "
        "data source(s) "
        f"removed; volume {pv_name(tenant, settings.namespace_prefix)} and its data are kept"
    )
    if platform.config.tenant(tenant) is not None:
        print(
            f"warning: {path} still lists tenant {tenant!r}; remove it there or the next start "
            "seeds it again",
            file=sys.stderr,
        )
    return 0


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
    current = db_sub.add_parser("current", help="the database's schema revision")
    current.add_argument("file")
    rekey = db_sub.add_parser(
        "rekey-datasets",
        help="re-encrypt the data sources' credentials with the first datasets key (rotation)",
    )
    rekey.add_argument("file")
    backup_cmd = sub.add_parser(
        "backup", help="the platform DB, config and datasets key file in one tar.gz (0600)"
    )
    backup_cmd.add_argument("--config", metavar="FILE", help="tenanthub.yaml ($TENANTHUB_CONFIG)")
    backup_cmd.add_argument("-o", "--output", required=True, metavar="ARCHIVE")
    restore_cmd = sub.add_parser(
        "restore", help="bring an empty platform DB back from a backup archive"
    )
    restore_cmd.add_argument("archive")
    restore_cmd.add_argument(
        "--config", metavar="FILE", help="the target's tenanthub.yaml ($TENANTHUB_CONFIG)"
    )
    restore_cmd.add_argument(
        "--force", action="store_true", help="replace a database that has data, and files"
    )
    restore_cmd.add_argument(
        "--config-out", metavar="PATH", help="also write the archive's config here"
    )
    restore_cmd.add_argument(
        "--keys-out",
        metavar="PATH",
        help="write the datasets key file here (default: where the target platform reads it)",
    )
    run = sub.add_parser("run", help="start the platform (JupyterHub) with a config file")
    run.add_argument("file")
    run.add_argument("jupyterhub_args", nargs=argparse.REMAINDER)
    demo = sub.add_parser("demo", help="start the demo platform with working logins")
    demo.add_argument("folder", nargs="?", default=".demo")
    demo.add_argument("jupyterhub_args", nargs=argparse.REMAINDER)
    k8s_cmd = sub.add_parser("k8s", help="Kubernetes backend tools")
    k8s_sub = k8s_cmd.add_subparsers(dest="action", required=True)
    k8s_manifests = k8s_sub.add_parser(
        "manifests",
        help="print the Kubernetes objects of the config's tenants as YAML",
        description=K8S_MANIFESTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    k8s_manifests.add_argument("--config", required=True, metavar="FILE", help="tenanthub.yaml")
    k8s_manifests.add_argument("--tenant", help="only this tenant (required with --user)")
    k8s_manifests.add_argument("--user", help="also print this user's notebook pod")
    k8s_manifests.add_argument("--profile", help="the profile of that pod (with --user)")
    k8s_manifests.add_argument(
        "--server", default="", help="named server of that pod (default: the default server)"
    )
    k8s_provision = k8s_sub.add_parser(
        "provision",
        help="create or repair the namespaces of the tenants in the platform database",
    )
    k8s_provision.add_argument("--config", required=True, metavar="FILE", help="tenanthub.yaml")
    k8s_provision.add_argument("--tenant", help="only this tenant")
    k8s_provision.add_argument(
        "--every", type=float, metavar="SECONDS", help="keep running, repairing drift this often"
    )
    k8s_rbac = k8s_sub.add_parser(
        "rbac", help="print the ClusterRole (and binding) the hub needs, and nothing more"
    )
    k8s_rbac.add_argument("--namespace", default="tenanthub", help="the hub's namespace")
    k8s_rbac.add_argument("--service-account", default="hub", help="the hub's ServiceAccount")
    k8s_delete = k8s_sub.add_parser(
        "delete-tenant",
        help="delete a tenant's namespace and database rows (its volume and data stay)",
    )
    k8s_delete.add_argument("tenant")
    k8s_delete.add_argument("--config", required=True, metavar="FILE", help="tenanthub.yaml")
    k8s_delete.add_argument("--confirm", metavar="TENANT", help="the tenant's name, repeated")
    cli_api.add_commands(sub)  # tenant, quota, member, usage: over the platform API
    args = parser.parse_args(argv)

    if getattr(args, "api_command", None) is not None:
        return cli_api.run(args)
    if getattr(args, "context_command", None) is not None:
        return cli_api.run_context(args)

    if args.command == "config" and args.action == "validate":
        return _validate(args.file)
    if args.command == "config" and args.action == "schema":
        print(json.dumps(json_schema(), indent=2))
        return 0
    if args.command == "db" and args.action == "rekey-datasets":
        return _rekey_datasets(args.file)
    if args.command == "db" and args.action == "current":
        return _db_current(args.file)
    if args.command == "backup":
        return _backup(args.config, args.output)
    if args.command == "restore":
        return _restore(args.archive, args.config, args.force, args.config_out, args.keys_out)
    if args.command == "db":
        return _db_upgrade(args.file)
    if args.command == "run":
        return _run(args.file, args.jupyterhub_args)
    if args.command == "demo":
        return _demo(args.folder, args.jupyterhub_args)
    if args.command == "k8s" and args.action == "rbac":
        from spawner.kubernetes.rbac import hub_rbac_yaml

        print(hub_rbac_yaml(args.service_account, args.namespace), end="")
        return 0
    if args.command == "k8s" and args.action == "delete-tenant":
        return _k8s_delete_tenant(args.config, args.tenant, args.confirm)
    if args.command == "k8s" and args.action == "provision":
        return _k8s_provision(args.config, args.tenant, args.every)
    if args.command == "k8s":
        if (args.user is None) != (args.profile is None) or (args.user and not args.tenant):
            k8s_manifests.error("--user and --profile go together, and need --tenant")
        return _k8s_manifests(args.config, args.tenant, args.user, args.profile, args.server)
    parser.error("unknown command")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
