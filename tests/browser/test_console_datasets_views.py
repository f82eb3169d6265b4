"""The data sources page's decisions (``hub.service.console.views``), without a browser:
who sees the page and its forms, add form -> API body, API field errors -> form fields,
no credential ever echoed back (not in a ``value=``, not inside an SQL URL), a source's
card (settings that are set, which credentials are), connection test outcomes. The
browser test (``test_console_datasets``) shows the same on real pages."""

from __future__ import annotations

from typing import Any

from hub.service.api.datasets import HealthOut, SourceOut
from hub.service.console import views
from hub.service.console.handlers import Console
from hub.service.policy import Actor
from tests.browser.test_console_views import page_namespace, tenant

SECRET = "wJalrXUtnFEMI-never-in-the-page"


def source(kind: str, settings: dict[str, Any], secrets_set: list[str]) -> SourceOut:
    at = "2026-12-07T02:00:00.123456+00:00"
    return SourceOut(
        tenant="vision", name="lake", kind=kind, settings=settings, secrets_set=secrets_set,
        created_at=at, updated_at=at,
    )  # fmt: skip


def test_every_member_sees_the_page_only_admins_get_the_forms():
    member = Actor("bob", roles={"vision": "member"})
    assert views.datasets_refusal(member, "vision") is None
    assert not views.may_manage_sources(member, "vision")
    admin = Actor("alice", roles={"vision": "admin"})
    assert views.datasets_refusal(admin, "vision") is None
    assert views.may_manage_sources(admin, "vision")
    root = Actor("root", platform_admin=True)
    assert views.datasets_refusal(root, "vision") is None and views.may_manage_sources(root, "x")


def test_a_member_refused_the_console_is_shown_their_tenants_data_sources():
    refused = views.console_refusal(Actor("bob", roles={"vision": "member", "nlp": "member"}))
    assert refused is not None and refused.links == (
        ("Data sources of nlp", "/tenants/nlp/datasets"),
        ("Data sources of vision", "/tenants/vision/datasets"),
    )
    nobody = views.console_refusal(Actor("carol"))
    assert nobody is not None and nobody.links == ()


def test_outsiders_get_the_consoles_usual_answer():
    # a member of another tenant: the console's 403 page
    refused = views.datasets_refusal(Actor("dan", roles={"nlp": "member"}), "vision")
    assert refused is not None and refused.status == 403
    assert refused == views.console_refusal(Actor("dan", roles={"nlp": "member"}))
    # an admin of another tenant passes here; the API's 404 answers (as on the tenant page)
    assert views.datasets_refusal(Actor("erin", roles={"nlp": "admin"}), "vision") is None
    assert not views.may_manage_sources(Actor("erin", roles={"nlp": "admin"}), "vision")


def test_hive_is_offered_to_platform_admins_only():
    assert "hive" not in views.source_kinds(platform_admin=False)
    assert views.source_kinds(platform_admin=False) == ["files", "s3", "sql", "hdfs"]
    assert "hive" in views.source_kinds(platform_admin=True)


def test_the_add_form_sends_only_the_chosen_kinds_fields():
    form = {
        "_xsrf": "t", "name": " lake ", "kind": "s3", "s3-bucket": " data ",
        "s3-prefix": "", "s3-endpoint_url": "http://127.0.0.1:9000", "s3-region": "",
        "s3-access_key": "AKIA", "s3-secret_key": f" {SECRET} ", "files-root": "/ignored",
        "sql-password": "ignored",
    }  # fmt: skip
    assert views.source_body(form) == {
        "name": "lake",
        "kind": "s3",
        "settings": {"bucket": "data", "endpoint_url": "http://127.0.0.1:9000"},
        # a credential goes exactly as typed (spaces may be part of it)
        "secrets": {"access_key": "AKIA", "secret_key": f" {SECRET} "},
    }
    hdfs = views.source_body({"name": "h", "kind": "hdfs", "hdfs-host": "nn", "hdfs-port": "9000"})
    assert hdfs["settings"] == {"host": "nn", "port": "9000"} and hdfs["secrets"] == {}
    assert views.source_body({"name": "x", "kind": "nonsense"})["settings"] == {}


def test_a_refused_form_comes_back_without_any_credential():
    form = {
        "_xsrf": "t", "name": "db", "kind": "sql",
        "sql-url": f"postgresql://app:{SECRET}@127.0.0.1:5432/sales", "sql-password": SECRET,
        "s3-access_key": "AKIA", "s3-secret_key": SECRET, "s3-bucket": "b",
        "hdfs-kerberos_ticket": SECRET,
    }  # fmt: skip
    echo = views.source_form_echo(form)
    assert SECRET not in str(echo) and "AKIA" not in str(echo)
    assert echo["sql-url"] == "postgresql://app@127.0.0.1:5432/sales"
    assert echo["s3-bucket"] == "b" and echo["name"] == "db" and "_xsrf" not in echo


def test_a_password_in_an_unparsable_url_is_still_taken_out():
    assert views.without_password(f"weird://u:{SECRET}@host:notaport/db") == (
        "weird://u@host:notaport/db"
    )
    assert views.without_password("postgresql://u@h/db") == "postgresql://u@h/db"


def test_api_field_errors_land_next_to_the_kinds_inputs():
    errors = [
        {"path": "settings.bucket", "message": "String should have at least 3 characters"},
        {"path": "name", "message": "String should have at least 1 character"},
        {"path": "secrets.password", "message": "not a credential of a s3 source"},
    ]
    got = views.source_field_errors("s3", errors)
    assert got == {
        "s3-bucket": "String should have at least 3 characters",
        "name": "String should have at least 1 character",
        "secrets.password": "not a credential of a s3 source",
    }
    # the one no input shows goes above the form
    assert views.unplaced_errors(got, "s3") == {
        "secrets.password": "not a credential of a s3 source"
    }
    files = views.source_field_errors(
        "files", [{"path": "settings.root", "message": "must be a folder inside one of: /x"}]
    )
    assert files == {"files-root": "must be a folder inside one of: /x"}
    nested = [{"path": "settings.warehouse_dir.x", "message": "no"}]
    assert views.source_field_errors("hive", nested) == {"hive-warehouse_dir": "no"}


def test_the_credentials_form_sets_typed_ones_keeps_empty_ones_removes_ticked_ones():
    form = {"_xsrf": "t", "action": "secrets", "secret-secret_key": SECRET, "secret-access_key": ""}
    assert views.secrets_body(form) == {"secrets": {"secret_key": SECRET}}
    assert views.secrets_body(form, ["access_key"]) == {
        "secrets": {"secret_key": SECRET, "access_key": None}
    }
    # a removal never wins over a value typed in the same form
    assert views.secrets_body(form, ["secret_key"]) == {"secrets": {"secret_key": SECRET}}
    assert views.secrets_body({"secret-password": ""}) is None


def test_a_sources_card_shows_settings_that_are_set_and_which_credentials_are():
    s3 = source(
        "s3",
        {"bucket": "data", "prefix": "", "endpoint_url": None, "region": "us-east-1"},
        ["access_key", "secret_key"],
    )
    card = views.source_view(s3)
    assert card.settings == [("Bucket", "data"), ("Region", "us-east-1")]
    assert card.credentials == [
        ("access_key", "Access key", True),
        ("secret_key", "Secret key", True),
    ]
    assert card.kind_label == "S3 bucket" and card.updated_at == "2026-12-07 02:00:00"
    anonymous = views.source_view(source("s3", {"bucket": "data"}, []))
    assert [c[2] for c in anonymous.credentials] == [False, False]
    files = views.source_view(source("files", {"root": "/srv/shared/data"}, []))
    assert files.credentials == [] and files.settings == [("Folder", "/srv/shared/data")]
    hive = views.source_view(source("hive", {"warehouse_dir": "/w", "conf": {"a.b": "1"}}, []))
    assert ("Spark settings", "a.b=1") in hive.settings


def test_connection_test_outcomes_in_words_with_the_advice():
    ok = views.health_view(HealthOut(ok=True, message="bucket data reachable"))
    assert ok.ok and ok.text == "ok"
    bad = views.health_view(
        HealthOut(ok=False, problem="bad_credentials", message="403", advice="enter them again")
    )
    assert (bad.ok, bad.text, bad.advice) == (False, "bad credentials", "enter them again")
    late = views.health_failed("'lake' did not answer within 10 s: ...")
    assert late.text == "failed" and not late.ok


def test_the_page_never_carries_a_credential_typed_into_a_refused_form(tmp_path):
    (tmp_path / "console.js").write_text("")
    console = Console(service=None, prefix="/services/tenanthub/", static_dir=tmp_path)
    form = {
        "name": "db", "kind": "sql", "sql-password": SECRET,
        "sql-url": f"postgresql://app:{SECRET}@127.0.0.1/sales",
    }  # fmt: skip
    errors = {"name": "taken"}
    cards = [
        views.source_view(source("s3", {"bucket": "data"}, ["access_key", "secret_key"])),
    ]
    html = console.env.get_template("datasets.html").render(
        **page_namespace(console),
        tenant=tenant("vision", "admin"), sources=cards, sources_error=None, manage=True,
        kinds=views.source_kinds(False), kind_labels=views.KIND_LABELS,
        fields=views.SOURCE_FIELDS, form_field=views.form_field,
        add_form=views.source_form_echo(form), add_errors=errors, add_error=None,
        add_other_errors={}, add_open=True,
    )  # fmt: skip
    assert SECRET not in html
    assert 'value="postgresql://app@127.0.0.1/sales"' in html
    assert 'id="source-name-error">taken<' in html
    assert "Access key: " in html and 'data-set="yes"' in html
    assert 'name="sql-password" type="password"' in html
