"""The nightly reconciliation in slices, end to end: the `reconcile_nightly` timer, the real
Lucca client and Graph SDK against the sandboxes, Azurite (issue 16, point 4)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from connector.domain.entries import Action, LogEntry
from connector.flows.night_slices import SliceLog
from connector.flows.nightly import STATE_TABLE, NightlyReconciliation
from connector.storage.log import IntegrationLog
from tests.conftest import user_function
from tests.e2e.conftest import DOMAIN, World

pytestmark = pytest.mark.azurite
WINTER_NIGHT = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)  # 02:00 in Paris
NIGHT = date(2027, 1, 12)
TICK = timedelta(minutes=10)


def nightly(world: World, moment: datetime) -> None:
    """The `reconcile_nightly` timer fires at `moment`."""
    world.set_clock(moment)
    user_function(world.app, "reconcile_nightly")(TimerRequest())


def summaries(world: World) -> list[LogEntry]:
    """The night's own entries (no employee id), newest first."""
    log = IntegrationLog(world.storage, clock=lambda: WINTER_NIGHT + timedelta(days=3))
    return [
        e
        for e in log.search(since=WINTER_NIGHT - timedelta(hours=2), limit=1000)
        if e.action in (Action.RECONCILED, Action.RECONCILIATION_HELD, Action.FAILED)
        and e.employee_id is None
    ]


def run_night(world: World, *, limit: int = 100) -> int:
    """Ticks every 10 minutes from 02:00 until the summary is written: how many ticks ran."""
    for n in range(limit):
        nightly(world, WINTER_NIGHT + n * TICK)
        if any(e.action is Action.RECONCILED for e in summaries(world)):
            return n + 1
    raise AssertionError(f"the night did not finish in {limit} ticks")


def planned(world: World) -> Counter[str]:
    """How many times each employee id was planned, across the night's saved slices."""
    slices = SliceLog(world.storage, STATE_TABLE, NIGHT).planned()
    return Counter(i for ids in slices.values() for i in ids)


def employee_pages(world: World) -> list[dict[str, list[str]]]:
    """The query of each request for a page of Lucca's employees."""
    return [r.query for r in world.lucca.requests if r.path == "/lucca-api/employees"]


def test_twenty_thousand_employees_across_ticks_each_reconciled_once(make_world: Any) -> None:
    """20,000 employees (half of them with an account), 50 pages a slice: several ticks, each
    employee planned exactly once even though Lucca's list changes during the night (a hire, a
    leaver moving from the active to the deactivated stream), the directory read whole once and
    then by one delta request a slice, one summary with the totals; under 90 s."""
    world: World = make_world(  # observe mode: the plan is what is counted, not 20,000 writes
        CONNECTOR_MODE="observe", RECONCILE_SLICE_PAGES="50", RECONCILE_MAX_CHANGES="100000"
    )
    world.set_clock(WINTER_NIGHT)
    ids = []
    for n in range(20_000):
        email = f"emp{n}@{DOMAIN}"
        ids.append(world.lucca.add_employee("Emp", f"Number{n}", email))
        if n % 2:
            world.graph.add_user(userPrincipalName=email, mail=email)
    world.graph.reset_log()
    started = time.monotonic()
    nightly(world, WINTER_NIGHT)
    # The list changes between slices: one hire, and one employee already planned leaves.
    hired = world.lucca.add_employee("Late", "Hire", f"late.hire@{DOMAIN}")
    world.lucca.end_employment(ids[0], NIGHT - timedelta(days=1))
    ticks = 1 + run_night(world)
    elapsed = time.monotonic() - started

    counted = planned(world)
    assert set(counted) == {*ids, hired}
    assert set(counted.values()) == {1}
    assert ticks == 5  # 20,001 employees in slices of 5,000, the last with the one left over
    delta = [r for r in world.graph.requests if r.path == "/v1.0/users/delta()"]
    assert len(delta) == 100 + ticks - 1  # 10,000 accounts in pages of 100, then one a slice
    assert not [r for r in world.graph.requests if r.path == "/v1.0/users"]
    [summary] = summaries(world)
    assert summary.details["slices"] == ticks
    assert summary.details["counts"] == {"to link": 10_000, "to create": 10_001}
    assert "20001 employees reconciled: 10000 to link, 10001 to create" in summary.message
    assert elapsed < 90, f"took {elapsed:.0f} s"
    print(f"\n20,000 employees: {ticks} ticks, {elapsed:.1f} s")


def test_a_crash_between_slices_is_resumed_without_redoing_done_slices(
    make_world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first tick dies right after saving its cursor: the next tick goes on from the saved
    cursor (no page read twice), and each employee is planned once."""
    world: World = make_world(
        CONNECTOR_MODE="observe", RECONCILE_SLICE_PAGES="1", RECONCILE_MAX_CHANGES="1000"
    )
    world.set_clock(WINTER_NIGHT)
    ids = [world.lucca.add_employee("Emp", f"N{n}", f"e{n}@{DOMAIN}") for n in range(250)]
    commit = NightlyReconciliation._commit
    crashes: list[int] = []

    def crash_after(self: NightlyReconciliation, *args: Any, **kwargs: Any) -> None:
        commit(self, *args, **kwargs)
        if not crashes:
            crashes.append(1)
            raise RuntimeError("the worker died after saving its cursor")

    monkeypatch.setattr(NightlyReconciliation, "_commit", crash_after)
    world.lucca.reset_log()
    with pytest.raises(RuntimeError):
        nightly(world, WINTER_NIGHT)
    first = employee_pages(world)
    world.lucca.reset_log()

    ticks = run_night(world)

    assert len(first) == 1 and "page" not in first[0]
    resumed = employee_pages(world)
    assert "page" in resumed[0]  # from the saved cursor, not from the first page again
    assert ticks == 3  # pages 2 and 3 of the active employees, then the leavers' stream
    assert planned(world) == Counter(ids)
    [summary, failed] = summaries(world)
    assert failed.action is Action.FAILED
    assert summary.details["slices"] == 4  # the crashed tick's slice counted once
    assert sum(summary.details["counts"].values()) == 250


def test_a_crash_inside_a_slice_redoes_it_without_a_second_application(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick applies its slice, then dies before saving it: the next tick plans the slice
    again, finds it in step, and writes nothing to Entra a second time."""
    ada = world.lucca.add_employee("Ada", "Lovelace", f"ada@{DOMAIN}", job_title="Engineer")
    world.deliver_all()
    world.sync()
    world.graph.edit_user(world.account_of(ada)["id"], jobTitle="By hand")
    save = SliceLog.save
    crashes: list[int] = []

    def crash_once(self: SliceLog, *args: Any, **kwargs: Any) -> None:
        if not crashes:
            crashes.append(1)
            raise RuntimeError("the worker died inside the slice")
        save(self, *args, **kwargs)

    monkeypatch.setattr(SliceLog, "save", crash_once)
    with pytest.raises(RuntimeError):
        nightly(world, WINTER_NIGHT)
    assert world.account_of(ada)["jobTitle"] == "Engineer"  # applied before the crash
    world.graph.reset_log()

    nightly(world, WINTER_NIGHT + TICK)

    assert world.graph_writes() == 0
    updates = [e for e in world.entries(ada) if e.action is Action.UPDATED]
    assert len(updates) == 1
    [summary, failed] = summaries(world)
    assert (summary.action, failed.action) == (Action.RECONCILED, Action.FAILED)
    assert summary.details["counts"] == {"in step": 1}
    assert planned(world) == Counter([ada])


def test_old_leavers_are_not_read_and_unknown_anchors_are_checked_by_id(world: World) -> None:
    """Deactivated employees are read only back to RECONCILE_LEFT_DAYS (Lucca's endsOn.between
    filter); an account anchored to an employee not read is checked by id: an old leaver's
    still enabled account is reported, an anchor Lucca does not know is listed."""
    world.set_clock(WINTER_NIGHT)
    active = world.lucca.add_employee("Ada", "Active", f"ada@{DOMAIN}")
    recent = world.lucca.add_employee(
        "Rita", "Recent", f"rita@{DOMAIN}", start="2020-01-01", end=NIGHT - timedelta(days=10)
    )
    old = world.lucca.add_employee(
        "Olga", "Old", f"olga@{DOMAIN}", start="2020-01-01", end=NIGHT - timedelta(days=400)
    )
    forgotten = world.lucca.add_employee(
        "Fred", "Forgotten", f"fred@{DOMAIN}", start="2020-01-01", end=NIGHT - timedelta(days=500)
    )
    olga = world.graph.add_user(
        userPrincipalName=f"olga@{DOMAIN}", mail=f"olga@{DOMAIN}", employeeId=f"lucca-{old}"
    )
    stray = world.graph.add_user(
        userPrincipalName=f"stray@{DOMAIN}", mail=f"stray@{DOMAIN}", employeeId="lucca-999999"
    )
    world.lucca.reset_log()

    nightly(world, WINTER_NIGHT)

    since = (NIGHT - timedelta(days=30)).isoformat()
    queries = employee_pages(world)
    assert [(q.get("status"), q.get("applicableEmployment.endsOn.between")) for q in queries] == [
        (["active,upcoming"], None),
        (["deactivated"], [f"{since}--.."]),
        (None, None),  # by id
    ]
    assert sorted(queries[2]["id"][0].split(",")) == sorted([old, "999999"])
    assert planned(world) == Counter([active, recent, old])  # never `forgotten`
    assert forgotten not in queries[2]["id"][0].split(",")
    [summary] = summaries(world)
    assert summary.details["unknown_anchors"] == [stray["id"]]
    assert summary.details["counts"]["left long ago, account enabled"] == 1
    assert olga["id"] not in summary.details["unknown_anchors"]
