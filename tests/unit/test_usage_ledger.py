"""The live usage ledger: reserving the last slot is atomic and a refusal changes nothing."""

from __future__ import annotations

import random

from hub.tenancy.quota import QuotaLimits, Resources
from hub.tenancy.usage import Allocation, UsageLedger

ONE = Resources(cpu_millis=1000, memory_bytes=2**30, servers=1)
LIMITS = QuotaLimits(cpu_millis=2000, memory_bytes=2 * 2**30, servers=2)


def alloc(user: str, server: str = "", tenant: str = "vision", res: Resources = ONE) -> Allocation:
    return Allocation(f"{user}/{server}", tenant, user, res)


def test_reserve_adds_the_allocation_when_it_fits() -> None:
    ledger = UsageLedger()
    assert ledger.reserve(alloc("alice"), LIMITS) == []
    assert ledger.used("vision") == ONE
    assert ledger.get("alice/") == alloc("alice")


def test_reserve_fills_the_quota_exactly_then_refuses_the_next() -> None:
    ledger = UsageLedger()
    assert ledger.reserve(alloc("alice"), LIMITS) == []
    assert ledger.reserve(alloc("bob"), LIMITS) == []
    problems = ledger.reserve(alloc("carol"), LIMITS)
    assert {p.resource for p in problems} == {"cpu_millis", "memory_bytes", "servers"}
    servers = next(p for p in problems if p.resource == "servers")
    assert (servers.used, servers.requested, servers.limit) == (2, 1, 2)


def test_refused_reserve_leaves_the_ledger_unchanged() -> None:
    ledger = UsageLedger()
    ledger.reserve(alloc("alice"), LIMITS)
    ledger.reserve(alloc("bob"), LIMITS)
    before = ledger.used("vision")
    assert ledger.reserve(alloc("carol"), LIMITS)
    assert ledger.used("vision") == before
    assert ledger.get("carol/") is None
    assert ledger.server_in_tenant("carol", "vision") is None


def test_two_racing_reserves_for_the_last_slot_do_not_both_pass() -> None:
    ledger = UsageLedger()
    ledger.reserve(alloc("alice"), LIMITS)
    results = [ledger.reserve(alloc(u), LIMITS) for u in ("bob", "carol")]
    assert [r == [] for r in results] == [True, False]
    assert ledger.used("vision").servers == 2


def test_release_frees_the_quota() -> None:
    ledger = UsageLedger()
    ledger.reserve(alloc("alice"), LIMITS)
    ledger.reserve(alloc("bob"), LIMITS)
    assert ledger.release("alice/") == alloc("alice")
    assert ledger.used("vision") == ONE
    assert ledger.reserve(alloc("carol"), LIMITS) == []


def test_release_of_an_unknown_key_is_harmless() -> None:
    ledger = UsageLedger()
    assert ledger.release("nobody/") is None
    assert ledger.used("vision") == Resources()


def test_usage_is_counted_per_tenant() -> None:
    ledger = UsageLedger()
    ledger.reserve(alloc("alice", "vision", "vision"), LIMITS)
    ledger.reserve(alloc("alice", "vision2", "vision"), LIMITS)
    # vision is full, but nlp has its own quota
    assert ledger.reserve(alloc("alice", "nlp", "nlp"), LIMITS) == []
    assert ledger.used("nlp") == ONE
    assert ledger.used("vision").servers == 2


def test_server_in_tenant_finds_the_users_server_there() -> None:
    ledger = UsageLedger()
    ledger.reserve(alloc("alice", "vision", "vision"), LIMITS)
    assert ledger.server_in_tenant("alice", "vision") == "alice/vision"
    assert ledger.server_in_tenant("alice", "nlp") is None
    assert ledger.server_in_tenant("bob", "vision") is None


def test_re_reserving_the_same_key_replaces_instead_of_double_counting() -> None:
    ledger = UsageLedger()
    ledger.reserve(alloc("alice"), LIMITS)
    ledger.reserve(alloc("bob"), LIMITS)  # quota now full
    bigger = Resources(cpu_millis=1000, memory_bytes=2**30, servers=1, gpu=0)
    # alice restarting her own server must fit: her old allocation is not counted twice
    assert ledger.reserve(alloc("alice", res=bigger), LIMITS) == []
    assert ledger.used("vision") == ONE + bigger


def test_refused_re_reserve_keeps_the_previous_allocation() -> None:
    ledger = UsageLedger()
    ledger.reserve(alloc("alice"), LIMITS)
    too_big = Resources(cpu_millis=3000, servers=1)
    assert ledger.reserve(alloc("alice", res=too_big), LIMITS)
    assert ledger.get("alice/") == alloc("alice")
    assert ledger.used("vision") == ONE


def test_record_counts_existing_servers_even_over_quota() -> None:
    ledger = UsageLedger()
    for user in ("a", "b", "c"):
        ledger.record(alloc(user))
    assert ledger.used("vision").servers == 3
    assert ledger.reserve(alloc("d"), LIMITS)  # over quota now: refused


# ----------------------------------------------------------------------------- kept totals
# used() and server_in_tenant() read totals and an index the ledger keeps up to date on
# every change instead of scanning every allocation; they must always equal the scan.


def scanned_used(ledger: UsageLedger, tenant: str) -> Resources:
    total = Resources()
    for key in list(ledger._allocations):
        allocation = ledger.get(key)
        assert allocation is not None
        if allocation.tenant == tenant:
            total = total + allocation.resources
    return total


def scanned_servers(ledger: UsageLedger, user: str, tenant: str) -> set[str]:
    return {a.key for a in ledger._allocations.values() if a.user == user and a.tenant == tenant}


def test_kept_totals_and_index_match_a_full_scan_after_any_sequence_of_changes() -> None:
    rng = random.Random(3)
    ledger = UsageLedger()
    users, tenants, servers = ["ann", "bo", "cy"], ["t1", "t2", "t3"], ["", "a", "b"]
    limits = QuotaLimits(cpu_millis=5000, servers=4)
    for _ in range(3000):
        user, server, tenant = rng.choice(users), rng.choice(servers), rng.choice(tenants)
        res = Resources(cpu_millis=rng.choice([0, 500, 1000]), servers=1)
        allocation = Allocation(f"{user}/{server}", tenant, user, res)
        action = rng.random()
        if action < 0.45:
            ledger.reserve(allocation, limits)
        elif action < 0.6:
            ledger.record(allocation)
        else:
            ledger.release(allocation.key)
        for t in tenants:
            assert ledger.used(t) == scanned_used(ledger, t)
            for u in users:
                found = ledger.server_in_tenant(u, t)
                expected = scanned_servers(ledger, u, t)
                assert (found in expected) if expected else found is None
    # no empty totals are left behind for tenants whose servers all went
    assert ledger._totals == {
        t: v for t in tenants if (v := scanned_used(ledger, t)) != Resources()
    }


def test_a_key_moving_to_another_tenant_leaves_the_old_tenants_total() -> None:
    ledger = UsageLedger()
    ledger.record(alloc("alice", tenant="vision"))
    ledger.record(alloc("alice", tenant="nlp"))  # same key "alice/", now in nlp
    assert ledger.used("vision") == Resources()
    assert ledger.used("nlp") == ONE
    assert ledger.server_in_tenant("alice", "vision") is None
    assert ledger.server_in_tenant("alice", "nlp") == "alice/"


def test_observed_servers_count_once_and_the_ledgers_own_entry_wins() -> None:
    ledger = UsageLedger()
    ledger.record(alloc("alice", tenant="vision"))
    seen_twice = alloc("bob", tenant="vision")
    moved = alloc("alice", tenant="nlp")  # stale observation of a key the ledger has
    observed = [seen_twice, seen_twice, moved]
    assert ledger.used("vision", observed) == ONE + ONE
    assert ledger.used("nlp", observed) == Resources()
    assert ledger.server_in_tenant("bob", "vision", observed) == "bob/"
    assert ledger.server_in_tenant("alice", "nlp", observed) is None
