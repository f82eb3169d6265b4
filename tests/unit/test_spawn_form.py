"""The spawn form: what it offers, what a submitted form means, and that it escapes HTML."""

from __future__ import annotations

from html.parser import HTMLParser

from hub.tenancy.quota import QuotaLimits
from spawner.admission import NO_TENANT, admit
from spawner.form import parse_form, render_form
from tests.unit.builders import membership, profile

SMALL = profile("small", display_name="Small CPU", cpu={"limit": "1"}, memory={"limit": "2Gi"})
LARGE = profile("large", cpu={"guarantee": "2"}, memory={"guarantee": "8Gi"}, default=True)
GPU = profile("gpu", gpu=1)
PROFILES = [SMALL, LARGE, GPU]
VISION = membership("vision", "admin", display_name="Computer Vision")
NLP = membership("nlp", limits=QuotaLimits(gpu=0), allowed_profiles=frozenset({"small", "gpu"}))

EVIL = "<script>alert('x')</script>"


class _Form(HTMLParser):
    """What a browser would submit: hidden inputs, first select option, checked radios."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, list[str]] = {}
        self.radios: dict[str, list[str]] = {}
        self._select: str | None = None
        self.options: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "hidden":
            self.fields.setdefault(a["name"], []).append(a["value"])
        if tag == "input" and a.get("type") == "radio":
            self.radios.setdefault(a["name"], []).append(a["value"])
            if "checked" in a:
                self.fields.setdefault(a["name"], []).append(a["value"])
        if tag == "select":
            self._select = a["name"]
        if tag == "option" and self._select:
            self.options.append(a["value"])
            self.fields.setdefault(self._select, [a["value"]])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def read(html: str) -> _Form:
    form = _Form()
    form.feed(html)
    return form


def test_parse_form_takes_the_profile_of_the_chosen_tenant() -> None:
    formdata = {
        "tenant": ["nlp"],
        "profile-vision": ["large"],
        "profile-nlp": ["small"],
    }
    assert parse_form(formdata) == {"tenant": "nlp", "profile": "small"}


def test_parse_form_ignores_profiles_of_other_tenants() -> None:
    assert parse_form({"tenant": ["nlp"], "profile-vision": ["large"]}) == {"tenant": "nlp"}


def test_parse_form_without_a_tenant_has_no_profile_either() -> None:
    assert parse_form({"profile-vision": ["large"]}) == {}
    assert parse_form({}) == {}
    assert parse_form({"tenant": ["  "]}) == {}


def test_parse_form_strips_whitespace() -> None:
    assert parse_form({"tenant": [" vision "], "profile-vision": [" gpu\n"]}) == {
        "tenant": "vision",
        "profile": "gpu",
    }


def test_form_for_a_user_without_tenant_explains_why() -> None:
    html = render_form([], PROFILES, "", local_backend_warning=False)
    assert "tenanthub-no-tenant" in html
    assert NO_TENANT.replace("'", "&#x27;") in html
    assert read(html).radios == {}


def test_single_tenant_form_fixes_the_tenant_and_offers_its_profiles() -> None:
    form = read(render_form([NLP], PROFILES, "", local_backend_warning=False))
    assert form.fields["tenant"] == ["nlp"]
    assert form.options == []  # no tenant choice
    assert form.radios == {"profile-nlp": ["small"]}  # gpu hidden: no GPU quota


def test_multi_tenant_form_offers_a_tenant_choice_and_each_tenants_profiles() -> None:
    html = render_form([VISION, NLP], PROFILES, "", local_backend_warning=False)
    form = read(html)
    assert form.options == ["vision", "nlp"]
    assert form.radios == {"profile-vision": ["large", "small", "gpu"], "profile-nlp": ["small"]}
    assert "Computer Vision" in html and "admin" in html


def test_server_named_after_a_tenant_shows_only_that_tenant() -> None:
    form = read(render_form([VISION, NLP], PROFILES, "nlp", local_backend_warning=False))
    assert form.fields["tenant"] == ["nlp"]
    assert list(form.radios) == ["profile-nlp"]


def test_submitted_default_form_is_admitted_as_shown() -> None:
    form = read(render_form([VISION, NLP], PROFILES, "", local_backend_warning=False))
    options = parse_form(form.fields)
    assert options == {"tenant": "vision", "profile": "large"}  # first tenant, default profile
    admission = admit([VISION, NLP], PROFILES, options["tenant"], options["profile"], "")
    assert admission.membership is VISION and admission.profile is LARGE


def test_profile_line_shows_cpu_and_memory_in_human_units() -> None:
    html = render_form([VISION], PROFILES, "", local_backend_warning=False)
    assert "1 CPU, 2 GiB" in html
    assert "2 CPU, 8 GiB" in html  # guarantee when there is no limit
    assert "1 GPU" in html


def test_local_backend_warning_is_shown_only_when_asked() -> None:
    assert "not isolated" in render_form([VISION], PROFILES, "", local_backend_warning=True)
    assert "not isolated" not in render_form([VISION], PROFILES, "", local_backend_warning=False)


def test_tenant_display_name_html_is_escaped() -> None:
    evil = membership("vision", display_name=EVIL)
    for memberships in ([evil], [evil, NLP]):
        html = render_form(memberships, PROFILES, "", local_backend_warning=False)
        assert EVIL not in html
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_profile_display_name_and_description_html_is_escaped() -> None:
    evil = profile("evil", display_name=EVIL, description=f'"><img src=x onerror=alert(1)>{EVIL}')
    html = render_form([VISION], [evil], "", local_backend_warning=False)
    assert EVIL not in html
    assert "<img" not in html
    assert read(html).radios == {"profile-vision": ["evil"]}  # the markup is still intact


def test_role_html_is_escaped() -> None:
    odd = membership("nlp", role="<b>boss</b>")
    html = render_form([VISION, odd], PROFILES, "", local_backend_warning=False)
    assert "<b>boss</b>" not in html
