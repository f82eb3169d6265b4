"""Which image a server starts from: the pure choice (checkpoint or profile image, and the
user's restore/fresh answer), the spawn form's offer, and the spawner reading real
checkpoint records from the platform DB (SQLite and PostgreSQL) into the Docker
container spec."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hub.app.context import PlatformContext
from hub.config.loader import parse_config
from hub.config.schema import DockerBackendSettings, PipSettings
from hub.tenancy.checkpoint_store import CheckpointStore, Step
from spawner.docker.spec import container_spec
from spawner.form import parse_form, render_form
from spawner.plan import make_plan
from spawner.plan.checkpoint import (
    CHECKPOINT_ENV,
    Candidate,
    choose_image,
    not_saved_notice,
    parse_answer,
    with_image,
)
from spawner.tenancy import TenancyRefused, TenantSpawnerMixin, _check_user_options
from tests.unit.builders import membership, profile

OLD, NEW = "tenanthub/notebook-cpu:1", "tenanthub/notebook-cpu:2"
DIGEST = "sha256:" + "cd" * 32


def cand(id: int, base: str) -> Candidate:
    return Candidate(id, f"127.0.0.1:5000/tenanthub/ckpt-vision-alice:default-{id}", base, "")


# ----------------------------------------------------------------------------- pure choice


def test_no_checkpoint_or_checkpoints_off_start_from_the_profile_image() -> None:
    assert choose_image(NEW, True, None, None, None).image == NEW
    off = choose_image(NEW, False, cand(1, NEW), cand(1, NEW), "restore")
    assert (off.image, off.checkpoint, off.offer) == (NEW, None, None)


def test_the_latest_checkpoint_of_the_same_image_is_restored_without_asking() -> None:
    c = cand(7, NEW)
    for answer in (None, "fresh", "restore"):
        got = choose_image(NEW, True, c, c, answer)  # type: ignore[arg-type]
        assert (got.image, got.checkpoint, got.offer) == (c.image, c, None)


def test_an_older_image_checkpoint_is_offered_and_restored_only_when_asked() -> None:
    old = cand(3, OLD)
    asked = choose_image(NEW, True, None, old, "restore")
    assert (asked.image, asked.checkpoint, asked.offer) == (old.image, old, old)
    for answer in ("fresh", None):  # None: a start without the form (REST API)
        fresh = choose_image(NEW, True, None, old, answer)  # type: ignore[arg-type]
        assert (fresh.image, fresh.checkpoint, fresh.offer) == (NEW, None, old)


def test_fresh_uses_the_latest_checkpoint_of_the_new_image_when_one_exists() -> None:
    """The user restored the old environment last time (newest is old-based), but had
    also checkpointed on the new image before: fresh means that one, not a bare image."""
    old, new = cand(9, OLD), cand(5, NEW)
    got = choose_image(NEW, True, new, old, "fresh")
    assert (got.image, got.checkpoint, got.offer) == (new.image, new, old)


def test_the_plan_takes_the_chosen_image_and_names_the_checkpoint_in_its_env() -> None:
    plan = make_plan("vision", profile("small", image=NEW), "alice", "")
    c = cand(4, NEW)
    restored = with_image(plan, choose_image(NEW, True, c, c, None))
    assert restored.image == c.image and restored.env[CHECKPOINT_ENV] == "4"
    assert restored.resources == plan.resources and restored.labels == plan.labels
    fresh = with_image(plan, choose_image(NEW, True, None, None, None))
    assert fresh == plan


def test_only_restore_or_fresh_are_answers() -> None:
    assert [parse_answer(v) for v in (None, "", "restore", "fresh")] == [
        None, None, "restore", "fresh",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="restore"):
        parse_answer("latest")
    with pytest.raises(TenancyRefused):
        _check_user_options(None, {"tenant": "vision", "checkpoint": "latest"})
    _check_user_options(None, {"tenant": "vision", "checkpoint": "fresh"})


# ----------------------------------------------------------------------------- form


def test_the_form_offers_restore_or_fresh_under_the_profile_with_an_older_checkpoint() -> None:
    small, large = profile("small", image=NEW), profile("large", image=NEW)
    html = render_form(
        [membership("vision")], [small, large], "", False, {("vision", "small"): cand(3, OLD)}
    )
    assert html.count('name="checkpoint-vision-small"') == 2
    assert 'value="restore" checked' in html and 'value="fresh"' in html
    assert OLD in html and "checkpoint-vision-large" not in html
    assert parse_form(
        {"tenant": ["vision"], "profile-vision": ["small"], "checkpoint-vision-small": ["fresh"]}
    ) == {"tenant": "vision", "profile": "small", "checkpoint": "fresh"}
    # an answer about another profile than the one chosen is not this start's answer
    assert parse_form(
        {"tenant": ["vision"], "profile-vision": ["large"], "checkpoint-vision-small": ["fresh"]}
    ) == {"tenant": "vision", "profile": "large"}
    assert "checkpoint-" not in render_form([membership("vision")], [small], "", False)


# ----------------------------------------------------------------------------- spawner + DB


class Probe(TenantSpawnerMixin):
    """The mixin's checkpoint hooks with a real platform context, without a hub."""

    def __init__(self, context: PlatformContext, user: str, local: bool = False) -> None:
        super().__init__()
        self.__dict__["_tenancy_context"] = context
        self.user = SimpleNamespace(name=user)
        self.name = ""
        self.log = logging.getLogger("test")
        self.local_backend_warning = local


@pytest.fixture
def platform(db_url: str, tmp_path: Path) -> Any:
    def make(image: str, enabled: bool = True, profile_on: bool = True) -> PlatformContext:
        config = parse_config(
            {
                "hub": {"data_dir": str(tmp_path), "db_url": db_url},
                "checkpoint": {"enabled": enabled},
                "profiles": [{"name": "small", "image": image, "checkpoint": profile_on}],
                "tenants": [{"name": "vision", "members": [{"user": "alice"}, {"user": "bob"}]}],
            }
        )
        context = PlatformContext(config)
        context.prepare_database()
        made.append(context)
        return context

    made: list[PlatformContext] = []
    yield make
    for context in made:
        context.engine.dispose()


def ready(context: PlatformContext, user: str, base: str) -> int:
    store = CheckpointStore(context.engine)
    c = store.create(user, "", "vision", "small", base, "node-1")
    for state in ("committing", "verifying", "pushing"):
        store.step(c.id, Step(state), 3)
    image = f"127.0.0.1:5000/tenanthub/ckpt-vision-{user}:default-{c.id}"
    store.step(c.id, Step("ready", image=image, digest=DIGEST), 3)
    return c.id


def start_image(context: PlatformContext, user: str, answer: str | None = None, **kw) -> str:
    probe = Probe(context, user, **kw)
    plan = make_plan("vision", context.config.profiles[0], user, "")
    chosen = asyncio.run(probe.choose_start_image(plan, answer))
    return container_spec(chosen, DockerBackendSettings(), PipSettings()).image


def test_the_container_starts_from_the_users_latest_ready_checkpoint(platform) -> None:
    context = platform(NEW)
    assert start_image(context, "alice") == NEW
    first = ready(context, "alice", NEW)
    second = ready(context, "alice", NEW)
    assert start_image(context, "alice").endswith(f":default-{second}")
    assert first != second
    assert start_image(context, "bob") == NEW  # alice's checkpoints are hers alone
    # a checkpoint in flight is never started from
    CheckpointStore(context.engine).create("alice", "", "vision", "small", NEW, "node-1")
    assert start_image(context, "alice").endswith(f":default-{second}")
    assert start_image(context, "alice", local=True) == NEW  # local processes: no images


def test_checkpoints_off_in_the_config_or_the_profile_start_the_profile_image(platform) -> None:
    context = platform(NEW)
    ready(context, "alice", NEW)
    assert start_image(platform(NEW, enabled=False), "alice") == NEW
    assert start_image(platform(NEW, profile_on=False), "alice") == NEW


def test_after_an_image_change_the_form_offers_restore_and_the_answer_decides(platform) -> None:
    before = platform(OLD)
    old = ready(before, "alice", OLD)
    after = platform(NEW)  # the platform changed the profile's image
    offers = asyncio.run(Probe(after, "alice")._restore_offers())
    assert list(offers) == [("vision", "small")] and offers[("vision", "small")].id == old
    assert asyncio.run(Probe(after, "bob")._restore_offers()) == {}
    assert start_image(after, "alice", "restore").endswith(f":default-{old}")
    assert start_image(after, "alice", "fresh") == NEW
    assert start_image(after, "alice") == NEW
    assert asyncio.run(Probe(before, "alice")._restore_offers()) == {}  # same image: no question


def test_the_form_tells_the_user_when_their_environment_was_not_saved_and_why(platform) -> None:
    context = platform(NEW)
    store = CheckpointStore(context.engine)
    form = lambda user: asyncio.run(Probe(context, user)._render_tenancy_form(None))  # noqa: E731
    ready(context, "alice", NEW)
    assert "tenanthub-not-saved" not in form("alice")
    too_big = store.create("alice", "", "vision", "small", NEW, "node-1")
    store.step(
        too_big.id,
        Step("skipped", size_bytes=7 << 30, message="Not saved: <7 GiB> is over the limit"),
        3,
    )
    html = form("alice")
    assert 'id="tenanthub-not-saved"' in html
    assert "Not saved: &lt;7 GiB&gt; is over the limit" in html  # escaped
    assert "tenanthub-not-saved" not in form("bob")  # alice's notice is hers alone
    # a later attempt that had nothing to save, or is in flight, says nothing
    nothing = store.create("alice", "", "vision", "small", NEW, "node-1")
    store.step(nothing.id, Step("skipped", message="Not saved: nothing changed"), 3)
    assert "tenanthub-not-saved" not in form("alice")
    failed = store.create("alice", "", "vision", "small", NEW, "node-1")
    store.step(failed.id, Step("failed", message="The checkpoint failed while pushing"), 3)
    assert "failed while pushing" in form("alice")
    store.create("alice", "", "vision", "small", NEW, "node-1")
    assert "tenanthub-not-saved" not in form("alice")


def test_only_failures_and_size_skips_are_worth_a_notice() -> None:
    assert not_saved_notice("failed", None, "boom") == "boom"
    assert not_saved_notice("skipped", 10, "too big") == "too big"
    assert not_saved_notice("skipped", None, "nothing changed") is None
    for state in ("ready", "requested", "committing", "pushing", None):
        assert not_saved_notice(state, 10, "x") is None
