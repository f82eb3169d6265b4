"""The spawn form: tenant (when the user has several) and the profiles allowed there."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from hub.config.quantities import human_bytes
from hub.config.schema import Profile
from hub.tenancy.store import Membership
from spawner.admission import NO_TENANT, offered_profiles


def _profile_line(profile: Profile) -> str:
    bits = []
    if profile.cpu.limit or profile.cpu.guarantee:
        bits.append(f"{escape(profile.cpu.limit or profile.cpu.guarantee or '')} CPU")
    if profile.memory.limit or profile.memory.guarantee:
        from hub.config.quantities import parse_bytes

        bits.append(
            human_bytes(parse_bytes(profile.memory.limit or profile.memory.guarantee or "0"))
        )
    if profile.gpu:
        bits.append(f"{profile.gpu} GPU")
    return ", ".join(bits)


def render_form(
    memberships: Sequence[Membership],
    profiles: Sequence[Profile],
    server_name: str,
    local_backend_warning: bool,
) -> str:
    """HTML inside JupyterHub's spawn ``<form>``; values are read by ``parse_form``."""
    if not memberships:
        return (
            f'<div class="alert alert-warning" id="tenanthub-no-tenant">{escape(NO_TENANT)}</div>'
        )
    fixed = next((m for m in memberships if m.tenant.name == server_name), None)
    shown = [fixed] if fixed else list(memberships)
    parts = []
    if local_backend_warning:
        parts.append(
            '<div class="alert alert-info">This platform runs servers with the <b>local</b> '
            "backend: every server runs as the same OS user, so users are not isolated from "
            "each other. Use it for a trial only.</div>"
        )
    if len(shown) == 1:
        only = shown[0].tenant
        parts.append(f'<input type="hidden" name="tenant" value="{escape(only.name)}">')
        parts.append(f"<p>Tenant: <b>{escape(only.display_name)}</b> ({escape(only.name)})</p>")
    else:
        options = "".join(
            f'<option value="{escape(m.tenant.name)}">{escape(m.tenant.display_name)} '
            f"({escape(m.tenant.name)}, {escape(m.role)})</option>"
            for m in shown
        )
        parts.append(
            '<div class="form-group mb-3"><label for="tenanthub-tenant" class="form-label">'
            f'Tenant</label><select class="form-select" id="tenanthub-tenant" name="tenant">'
            f"{options}</select></div>"
        )
    for index, membership in enumerate(shown):
        tenant = membership.tenant.name
        offered = offered_profiles(profiles, membership)
        hidden = "" if index == 0 else ' style="display:none"'
        radios = []
        for n, profile in enumerate(offered):
            checked = " checked" if n == 0 else ""
            ident = f"tenanthub-profile-{escape(tenant)}-{escape(profile.name)}"
            radios.append(
                f'<div class="form-check"><input class="form-check-input" type="radio" '
                f'name="profile-{escape(tenant)}" id="{ident}" value="{escape(profile.name)}"'
                f'{checked}><label class="form-check-label" for="{ident}"><b>'
                f"{escape(profile.title)}</b> <small>{escape(_profile_line(profile))}</small><br>"
                f"<small>{escape(profile.description)}</small></label></div>"
            )
        if not radios:
            radios.append(f"<p>No profile is available in {escape(tenant)}.</p>")
        parts.append(
            f'<fieldset class="tenanthub-profiles" data-tenant="{escape(tenant)}"{hidden}>'
            f"<legend>Profile</legend>{''.join(radios)}</fieldset>"
        )
    if len(shown) > 1:
        parts.append(
            "<script>(function(){var s=document.getElementById('tenanthub-tenant');"
            "function show(){document.querySelectorAll('.tenanthub-profiles').forEach("
            "function(f){f.style.display=f.dataset.tenant===s.value?'':'none';});}"
            "s.addEventListener('change',show);show();})();</script>"
        )
    return "\n".join(parts)


def parse_form(formdata: dict[str, list[str]]) -> dict[str, str]:
    """Form fields -> user_options ``{"tenant": ..., "profile": ...}``."""
    tenant = (formdata.get("tenant") or [""])[0].strip()
    profile = (formdata.get(f"profile-{tenant}") or [""])[0].strip() if tenant else ""
    options = {}
    if tenant:
        options["tenant"] = tenant
    if profile:
        options["profile"] = profile
    return options
