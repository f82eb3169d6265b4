"""TenantAuthMixin: what every TenantHub authenticator does after the password or token check.

Goes in front of the upstream authenticator class
(``class TenantLDAPAuthenticator(TenantAuthMixin, LDAPAuthenticator)``):

1. a directory authenticator (LDAP, OAuth) says which groups the user is in
   (``directory_groups``); the tenants' ``group_mappings`` turn them into
   memberships with that source, synced at every login: added, changed and
   removed, never touching memberships from other sources;
2. the user's memberships (all sources) become the auth model's ``groups``
   (one JupyterHub group per tenant) and ``roles`` (a tenant-admin role whose
   scopes are filtered to the tenant's group), which JupyterHub keeps in its
   tables because ``manage_groups`` and ``manage_roles`` are on;
3. platform admins: ``auth.admin_users``, plus the directory's admin groups;
4. JupyterHub's server API handlers are replaced (``get_handlers``) by ones that
   narrow a tenant admin's group-filtered scopes to the servers of that tenant
   (``hub.auth.server_handlers``).

``refresh_user`` repeats step 2 every ``auth_refresh_age`` seconds, so a
membership changed in the console reaches JupyterHub's groups without a new
login.
"""

from __future__ import annotations

from typing import Any, ClassVar

from jupyterhub import roles as hub_roles_module
from traitlets import HasTraits, Unicode, default

from hub.app.context import PlatformContext, config_path_from_env, get_context
from hub.auth.groups import hub_groups, hub_roles, is_in_any, memberships_from_groups
from hub.auth.server_handlers import tenant_server_handlers
from hub.tenancy.membership_sync import group_mappings, sync_source_memberships


class TenantAuthMixin(HasTraits):
    """Tenant memberships, JupyterHub groups and roles from every login."""

    tenanthub_config_file = Unicode(
        "",
        config=True,
        help="Path of tenanthub.yaml; default: the TENANTHUB_CONFIG environment variable.",
    )

    #: the membership source a directory login syncs (None: no directory, e.g. native)
    membership_source: ClassVar[str | None] = None

    log: Any

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True

    @default("manage_roles")
    def _manage_roles_default(self) -> bool:
        return True

    @property
    def platform(self) -> PlatformContext:
        context = self.__dict__.get("_tenancy_context")
        if context is None:
            context = get_context(self.tenanthub_config_file or config_path_from_env())
            self.__dict__["_tenancy_context"] = context
        return context

    # ------------------------------------------------------------------ hooks for subclasses

    async def directory_groups(self, auth_model: dict[str, Any]) -> list[str] | None:
        """The directory's groups of this user; None when there is no directory (native)."""
        return None

    def platform_admin_group_names(self) -> list[str]:
        """Directory groups whose members are platform admins."""
        return []

    def get_handlers(self, app: Any) -> list[tuple[str, type]]:
        """The upstream authenticator's handlers, plus the tenant-aware server API handlers.

        JupyterHub registers an authenticator's handlers before its own, so these
        take the server API URLs over.
        """
        upstream = super().get_handlers(app)  # type: ignore[misc]
        return [*tenant_server_handlers(), *upstream]

    # ------------------------------------------------------------------ the shared steps

    async def tenancy_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Sync directory memberships, then add groups, roles and admin to ``auth_model``."""
        platform = self.platform
        username = auth_model["name"]
        groups = await self.directory_groups(auth_model)
        if groups is not None and self.membership_source:
            mappings = await platform.run(group_mappings, platform.store)
            wanted = memberships_from_groups(groups, mappings)
            changes = await platform.run(
                sync_source_memberships,
                platform.store,
                username,
                self.membership_source,
                wanted,
                f"{self.membership_source}-login",
            )
            if changes.any:
                self.log.info(
                    "Tenant memberships of %s from %s: added %s, changed %s, removed %s",
                    username,
                    self.membership_source,
                    sorted(changes.added) or "-",
                    sorted(changes.changed) or "-",
                    changes.removed or "-",
                )
            admin_groups = self.platform_admin_group_names()
            if admin_groups:
                auth_model["admin"] = is_in_any(groups, admin_groups) or (
                    username in platform.config.auth.admin_users
                )
        memberships = await platform.run(platform.store.memberships_of, username)
        roles = {m.tenant.name: m.role for m in memberships}
        if username in platform.config.auth.admin_users:
            auth_model["admin"] = True
        auth_model["groups"] = hub_groups(roles)
        auth_model["roles"] = hub_roles(
            roles, hub_roles_module.get_default_roles(), admin=bool(auth_model.get("admin"))
        )
        return auth_model

    async def authenticate(self, handler: Any, data: Any = None) -> Any:
        result = await super().authenticate(handler, data)  # type: ignore[misc]
        if result is None:
            return None
        model = {"name": result} if isinstance(result, str) else dict(result)
        if "admin" not in model and handler is not None:
            # keep an admin granted in JupyterHub (its admin role must be listed, see hub_roles)
            existing = handler.find_user(model["name"])
            if existing is not None:
                model["admin"] = bool(existing.admin)
        return await self.tenancy_auth_model(model)

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        result = await super().refresh_user(user, handler, **kwargs)  # type: ignore[misc]
        if result is False:
            return False
        model: dict[str, Any] = {"name": user.name}
        if isinstance(result, dict):
            model.update(result)
        model.setdefault("admin", user.admin)
        return await self.tenancy_auth_model(model)

    # No load_managed_roles(): tenant-admin roles are created by the first login that
    # needs them. Listing them at start hits a JupyterHub 6.1 bug: with
    # reset_managed_roles_on_startup off, init_role_assignment looks up a dict it
    # never filled (KeyError 'users') as soon as such a role has a user, so the hub
    # could not restart (tests/k8s/test_hub_k8s.py restarts it with a tenant admin).
