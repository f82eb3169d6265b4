"""The spawn form: tenant (when the user has several) and the profiles allowed there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from hub.config.quantities import human_bytes
from hub.config.schema import Profile
from hub.tenancy.store import Membership
from spawner.admission import NO_TENANT, offered_profiles
from spawner.plan.checkpoint import Candidate

#: (tenant, profile) -> a checkpoint made from an older image of that profile
Offers = Mapping[tuple[str, str], Candidate]


def _restore_offer(tenant: str, profile: Profile, offer: Candidate) -> str:
    """The "restore my environment" / "fresh image" choice under a profile."""
    name = f"checkpoint-{escape(tenant)}-{escape(profile.name)}"
    when = escape(offer.created_at[:16].replace("T", " "))
    return (
        f'<div class="tenanthub-checkpoint ms-4 mb-2" data-profile="{escape(profile.name)}">'
        f"<small>This profile's image changed since your environment was saved ({when} UTC, "
        f"from {escape(offer.base_image)}).</small>"
        f'<div class="form-check"><input class="form-check-input" type="radio" name="{name}" '
        f'id="{name}-restore" value="restore" checked><label class="form-check-label" '
        f'for="{name}-restore">Restore my environment (installed packages kept, older image)'
        f'</label></div><div class="form-check"><input class="form-check-input" type="radio" '
        f'name="{name}" id="{name}-fresh" value="fresh"><label class="form-check-label" '
        f'for="{name}-fresh">Fresh image ({escape(profile.image)}; packages you installed '
        "are not there)</label></div></div>"
    )


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
    offers: Offers | None = None,
    not_saved: str | None = None,
) -> str:
    """HTML inside JupyterHub's spawn ``<form>``; values are read by ``parse_form``.

    ``offers``: checkpoints of an older image per (tenant, profile), asked about below
    that profile (see ``spawner.plan.checkpoint``). ``not_saved``: why the server's
    last checkpoint was not made (``spawner.plan.checkpoint.not_saved_notice``).
    """
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
    if not_saved:
        parts.append(
            '<div class="alert alert-warning" id="tenanthub-not-saved"><b>Your environment '
            f"was not saved last time.</b> {escape(not_saved)}</div>"
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
            offer = (offers or {}).get((tenant, profile.name))
            if offer is not None:
                radios.append(_restore_offer(tenant, profile, offer))
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
    """Form fields -> user_options ``{"tenant": ..., "profile": ..., "checkpoint": ...}``.

    ``checkpoint`` (restore | fresh) only when the form asked about the chosen profile.
    """
    tenant = (formdata.get("tenant") or [""])[0].strip()
    profile = (formdata.get(f"profile-{tenant}") or [""])[0].strip() if tenant else ""
    answer = (formdata.get(f"checkpoint-{tenant}-{profile}") or [""])[0].strip()
    options = {}
    if tenant:
        options["tenant"] = tenant
    if profile:
        options["profile"] = profile
    if profile and answer:
        options["checkpoint"] = answer
    return options
