"""Checkpoint states, crash recovery and retention (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from checkpointer.lifecycle import (
    FINAL,
    IllegalTransition,
    LocalImage,
    Record,
    RemoteRemoval,
    State,
    check_transition,
    expired,
    latest,
    parse_state,
    recover,
    remaining,
    resume_steps,
    transition_problem,
)

T0 = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)

LEGAL = {
    (State.REQUESTED, State.COMMITTING),
    (State.REQUESTED, State.SKIPPED),
    (State.REQUESTED, State.FAILED),
    (State.COMMITTING, State.VERIFYING),
    (State.COMMITTING, State.SKIPPED),
    (State.COMMITTING, State.FAILED),
    (State.VERIFYING, State.PUSHING),
    (State.VERIFYING, State.SKIPPED),
    (State.VERIFYING, State.FAILED),
    (State.PUSHING, State.READY),
    (State.PUSHING, State.FAILED),
}


def fields_for(new: State) -> dict[str, str]:
    return {"image": "r/x:t", "digest": "sha256:" + "0" * 64, "message": "why"}


@pytest.mark.parametrize("current", list(State))
@pytest.mark.parametrize("new", list(State))
def test_transition_table(current: State, new: State) -> None:
    problem = transition_problem(current, new, **fields_for(new))
    repeat = current == new and current not in FINAL
    assert (problem is None) == ((current, new) in LEGAL or repeat), (current, new, problem)


@pytest.mark.parametrize("final", sorted(FINAL))
def test_final_states_are_final(final: State) -> None:
    for new in State:
        with pytest.raises(IllegalTransition, match="is final"):
            check_transition(final, new, **fields_for(new))


def test_ready_needs_image_and_digest() -> None:
    assert "image and registry digest" in (
        transition_problem(State.PUSHING, State.READY, image="r/x:t") or ""
    )
    assert transition_problem(State.PUSHING, State.READY, digest="sha256:00") is not None
    assert transition_problem(State.PUSHING, State.READY, image="r/x:t", digest="sha256:00") is None


@pytest.mark.parametrize("new", [State.FAILED, State.SKIPPED])
def test_failed_and_skipped_need_a_message(new: State) -> None:
    assert "needs a message" in (transition_problem(State.REQUESTED, new, message="  ") or "")
    assert transition_problem(State.REQUESTED, new, message="diff over 5Gi") is None


def test_illegal_jump_says_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition, match="can become committing, failed, skipped"):
        check_transition(State.REQUESTED, State.READY, image="x", digest="y")


def test_parse_state() -> None:
    assert parse_state("ready") is State.READY
    with pytest.raises(IllegalTransition, match="one of: requested"):
        parse_state("done")


def test_remaining_and_resume_steps() -> None:
    assert remaining(State.REQUESTED) == (
        State.COMMITTING,
        State.VERIFYING,
        State.PUSHING,
        State.READY,
    )
    assert remaining(State.READY) == ()
    # a committed image is never committed again; unfinished work is redone
    assert resume_steps(State.COMMITTING) == (State.VERIFYING, State.PUSHING, State.READY)
    assert resume_steps(State.VERIFYING) == (State.VERIFYING, State.PUSHING, State.READY)
    assert resume_steps(State.PUSHING) == (State.PUSHING, State.READY)
    assert resume_steps(State.REQUESTED)[0] is State.COMMITTING
    assert resume_steps(State.FAILED) == ()
    # every resume path is legal step by step
    for start in (State.REQUESTED, State.COMMITTING, State.VERIFYING, State.PUSHING):
        current = start
        for step in resume_steps(start):
            check_transition(current, step, **fields_for(step))
            current = step
        assert current is State.READY


# --- recovery ---------------------------------------------------------------------------


def rec(rid: str, state: State, minutes: int = 0, **kw: object) -> Record:
    base = {
        "tenant": "t",
        "user": "alice",
        "server": "",
        "created_at": T0 + timedelta(minutes=minutes),
        "image": f"127.0.0.1:5000/tenanthub/ckpt-t-alice:default-{rid}",
    }
    base.update(kw)
    return Record(id=rid, state=state, **base)  # type: ignore[arg-type]


def img(cid: str) -> LocalImage:
    return LocalImage(checkpoint_id=cid, id=f"sha256:{cid}", refs=(f"ref-{cid}",))


def test_ready_checkpoints_and_their_images_are_untouched() -> None:
    plan = recover([rec("1", State.READY, digest="sha256:1")], [img("1")])
    assert plan.resume == () and plan.fail == ()
    assert plan.remove_local == () and plan.remove_remote == ()


@pytest.mark.parametrize(
    "state", [State.REQUESTED, State.COMMITTING, State.VERIFYING, State.PUSHING]
)
def test_a_half_made_checkpoint_with_its_image_is_finished(state: State) -> None:
    plan = recover([rec("1", State.READY, -60), rec("2", state)], [img("1"), img("2")])
    assert [r.record.id for r in plan.resume] == ["2"]
    assert plan.resume[0].steps == resume_steps(state)
    assert plan.fail == () and plan.remove_local == ()


@pytest.mark.parametrize(
    "state", [State.REQUESTED, State.COMMITTING, State.VERIFYING, State.PUSHING]
)
def test_a_half_made_checkpoint_without_an_image_fails_with_a_message(state: State) -> None:
    plan = recover([rec("1", State.READY, -60), rec("2", state)], [img("1")])
    assert [f.record.id for f in plan.fail] == ["2"]
    assert "previous checkpoint is still the one restored" in plan.fail[0].message
    # a tag it may have pushed is removed; before pushing nothing reached the registry
    expected = (RemoteRemoval(rec("2", state).image or "", None),) if state is State.PUSHING else ()
    assert plan.remove_remote == expected


def test_a_half_made_checkpoint_older_than_a_ready_one_is_dropped_not_finished() -> None:
    plan = recover([rec("2", State.VERIFYING, 0), rec("3", State.READY, 5)], [img("2")])
    assert plan.resume == ()
    assert [f.record.id for f in plan.fail] == ["2"] and "newer one" in plan.fail[0].message
    assert plan.remove_local == (img("2"),)


def test_leftovers_of_failed_skipped_and_deleted_checkpoints_are_removed() -> None:
    records = [
        rec("1", State.FAILED),
        rec("2", State.SKIPPED, image=None),
        rec("3", State.READY, digest="sha256:3", deleted=True),
    ]
    plan = recover(records, [img("1"), img("2"), img("3")])
    assert set(plan.remove_local) == {img("1"), img("2"), img("3")}
    assert RemoteRemoval(records[2].image or "", "sha256:3") in plan.remove_remote
    assert RemoteRemoval(records[0].image or "", None) in plan.remove_remote
    assert plan.resume == () and plan.fail == ()


def test_images_of_checkpoints_not_in_the_records_are_left_alone() -> None:
    # a checkpoint made on another node and pulled here for a restore carries the label too
    plan = recover([rec("1", State.READY)], [img("1"), img("99")])
    assert plan.unknown == (img("99"),)
    assert plan.remove_local == ()


def test_an_image_with_a_records_id_but_another_owner_is_not_that_checkpoints() -> None:
    # another platform (or test hub) on the same engine numbers its checkpoints from 1 too
    def foreign(cid: str) -> LocalImage:
        return LocalImage(cid, f"sha256:other-{cid}", (f"other-{cid}",), ("other", "alice", ""))

    records = [rec("1", State.READY, -60), rec("2", State.COMMITTING), rec("3", State.FAILED)]
    plan = recover(records, [img("1"), foreign("2"), foreign("3")])
    # 2 has no image of its own: failed, never finished with someone else's image
    assert plan.resume == ()
    assert [f.record.id for f in plan.fail] == ["2"]
    assert "previous checkpoint is still the one restored" in plan.fail[0].message
    # and the other platform's images are not removed as leftovers of 2 and 3
    assert plan.remove_local == ()
    assert set(plan.unknown) == {foreign("2"), foreign("3")}


def test_an_image_whose_owner_labels_match_is_the_records() -> None:
    own = LocalImage("2", "sha256:2", ("ref-2",), ("t", "alice", ""))
    plan = recover([rec("1", State.READY, -60), rec("2", State.VERIFYING)], [img("1"), own])
    assert [(r.record.id, r.image) for r in plan.resume] == [("2", own)]
    failed = recover([rec("2", State.FAILED)], [own])
    assert failed.remove_local == (own,) and failed.unknown == ()


# The daemon's steps for one checkpoint, in its order. Killing it after any prefix and
# running recovery must leave the previous ready checkpoint in use (or the new one,
# finished), pullable, and no half-made image anywhere.


@dataclass
class World:
    records: dict[str, Record]
    local: dict[str, LocalImage]
    registry: dict[str, str]  # image ref -> digest

    def latest_ready(self) -> Record | None:
        return latest([r for r in self.records.values() if not r.deleted])


def daemon_steps(world: World) -> list:
    new = rec("2", State.REQUESTED, 10, image=None)
    ref = rec("2", State.READY).image or ""

    def post() -> None:
        world.records["2"] = new

    def patch(state: State, **kw: object) -> None:
        world.records["2"] = replace(world.records["2"], state=state, **kw)  # type: ignore[arg-type]

    def commit() -> None:
        world.local["2"] = img("2")

    def push() -> None:
        world.registry[ref] = "sha256:2"

    def ready() -> None:
        patch(State.READY, image=ref, digest="sha256:2")

    return [
        post,
        lambda: patch(State.COMMITTING, image=ref),
        commit,
        lambda: patch(State.VERIFYING),
        lambda: None,  # verify
        lambda: patch(State.PUSHING),
        push,
        ready,
    ]


def apply(world: World, plan) -> None:  # type: ignore[no-untyped-def]
    for r in plan.resume:
        current = r.record
        for step in r.steps:
            if step is State.PUSHING:
                world.registry[current.image or ""] = f"sha256:{current.id}"
            kw = {}
            if step is State.READY:
                kw = {"digest": world.registry[current.image or ""]}
            check_transition(current.state, step, image=current.image, **kw)
            current = replace(current, state=step, **kw)  # type: ignore[arg-type]
            world.records[current.id] = current
    for f in plan.fail:
        check_transition(f.record.state, State.FAILED, message=f.message)
        world.records[f.record.id] = replace(f.record, state=State.FAILED)
    for image in plan.remove_local:
        world.local.pop(image.checkpoint_id, None)
    for removal in plan.remove_remote:
        world.registry.pop(removal.image, None)


@pytest.mark.parametrize("killed_after", range(9))
def test_killed_at_any_step_the_previous_checkpoint_stays_in_use(killed_after: int) -> None:
    first = rec("1", State.READY, 0, digest="sha256:1")
    world = World({"1": first}, {"1": img("1")}, {first.image or "": "sha256:1"})
    steps = daemon_steps(world)
    for step in steps[:killed_after]:
        step()
        # at every instant a ready latest exists and is in the registry
        now_latest = world.latest_ready()
        assert now_latest is not None and now_latest.image in world.registry
    apply(world, recover(world.records.values(), world.local.values()))
    latest_ready = world.latest_ready()
    assert latest_ready is not None
    assert latest_ready.id in ("1", "2")
    assert world.registry.get(latest_ready.image or "") == latest_ready.digest
    # the new checkpoint was finished iff its image had been committed
    assert (latest_ready.id == "2") == (killed_after >= 3)
    # nothing half-made remains: every record final, no image of a non-ready one
    assert all(r.state in FINAL for r in world.records.values())
    for cid in world.local:
        assert world.records[cid].state is State.READY
    ready_images = {r.image for r in world.records.values() if r.state is State.READY}
    assert set(world.registry) <= ready_images
    # recovery is idempotent: a second restart finds nothing to do
    again = recover(world.records.values(), world.local.values())
    assert again.resume == () and again.fail == () and again.remove_local == ()


# --- retention --------------------------------------------------------------------------


def test_keeps_the_newest_n_per_tenant_user_and_server() -> None:
    records = [rec(str(i), State.READY, i) for i in range(5)]
    records += [rec(f"b{i}", State.READY, i, server="gpu") for i in range(2)]
    records += [rec(f"o{i}", State.READY, i, user="bob") for i in range(4)]
    records += [rec(f"x{i}", State.READY, i, tenant="other") for i in range(3)]
    gone = expired(records, keep=3)
    assert [r.id for r in gone] == ["0", "o0", "1"]


def test_only_ready_checkpoints_count_and_expire() -> None:
    records = [
        rec("1", State.READY, 1),
        rec("2", State.FAILED, 2),
        rec("3", State.PUSHING, 3),
        rec("4", State.SKIPPED, 4),
        rec("5", State.READY, 5),
    ]
    assert [r.id for r in expired(records, keep=1)] == ["1"]
    assert expired(records, keep=2) == []


def test_newest_is_by_snapshot_time_not_by_id() -> None:
    records = [rec("9", State.READY, 1), rec("10", State.READY, 2), rec("2", State.READY, 3)]
    assert [r.id for r in expired(records, keep=2)] == ["9"]
    assert latest(records) == records[2]


def test_protected_ones_are_kept_but_still_count() -> None:
    records = [rec(str(i), State.READY, i) for i in range(4)]
    assert [r.id for r in expired(records, keep=2, protect={"0"})] == ["1"]


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        expired([], keep=0)


def test_latest_ignores_unready() -> None:
    assert latest([rec("1", State.PUSHING, 9), rec("2", State.READY, 1)]) == rec(
        "2", State.READY, 1
    )
    assert latest([rec("1", State.FAILED, 9)]) is None
