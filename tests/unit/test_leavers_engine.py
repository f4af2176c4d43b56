"""The leaver run at its ports: in-memory schedule, links, leases and log, and small fakes of
Lucca and Entra, so the timer's rules are fast unit tests (no Azurite, no sandbox)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.domain.access import AccessPlanner
from connector.domain.entries import Action, LogEntry
from connector.flows.dates import actions_to_keep
from connector.flows.leavers import LeaverRun, RunReport
from tests.unit.fakes import FakeDirectory, FakeLucca
from tests.unit.memory import (
    MemoryLeases,
    MemoryLinks,
    MemoryLog,
    MemorySchedule,
)

LAST_DAY = date(2026, 10, 24)
DISABLE_AT = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 Paris after the last day
TWO_DAYS = timedelta(days=2)
# The timer's ports, as the world names them.
PORTS = ("schedule", "planner", "lucca", "directory", "links", "leases", "log")


class World:
    """Lucca, Entra and the stores the timer is given, and a clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
        self.lucca = FakeLucca()
        self.directory = FakeDirectory()
        self.links = MemoryLinks()
        self.leases = MemoryLeases(clock=self.clock)
        self.log = MemoryLog()
        self.schedule = MemorySchedule(clock=self.clock)
        self.planner = AccessPlanner(
            self.lucca, time_zone="Europe/Paris", contract_gap_days=0, enable_days_before_start=0
        )

    def clock(self) -> datetime:
        """The test's now."""
        return self.now

    def leaver(self, name: str, *, planned_at: datetime) -> tuple[str, str]:
        """An employee leaving on LAST_DAY with a linked, enabled account, its disable
        scheduled at `planned_at` (as a sync then would): the employee's and account's ids."""
        employee = self.lucca.hire(name, "Test", start=date(2020, 1, 6), end=LAST_DAY)
        user = self.directory.add(user_principal_name=employee.email, account_enabled=True)
        self.links.link(employee.id, user.id, how="test", at=self.now)
        self.now = planned_at
        plan = self.planner.plan(employee, planned_at)
        self.schedule.replace(employee.id, actions_to_keep(plan, account_enabled=True))
        return employee.id, user.id

    def leavers(self, count: int, *, planned_at: datetime) -> list[str]:
        """`count` leavers (as `leaver`), their employee ids."""
        return [self.leaver(f"P{n}", planned_at=planned_at)[0] for n in range(count)]

    def held_entries(self) -> list[LogEntry]:
        """The "run held" entries waiting for an operator."""
        return [e for e in self.log.for_attention() if e.action is Action.RUN_HELD]

    def entered_alerts(self) -> list[LogEntry]:
        """The alerting entries saying more end dates were entered in a day than the cap."""
        return [e for e in self.log.for_attention() if e.details.get("entered") is not None]

    def run(self, moment: datetime, **options: Any) -> RunReport:
        """One timer run at `moment`."""
        self.now = moment
        ports = {name: getattr(self, name) for name in PORTS}
        return LeaverRun(**ports, clock=self.clock, **options).run(moment)


@pytest.fixture
def world() -> World:
    """Empty stores, an empty tenant, an empty Lucca."""
    return World()


def test_a_due_disable_is_carried_out(world: World) -> None:
    """At 00:00 Paris after the last day the account is disabled, its sessions revoked, the
    connector's flag set, the action settled, and one "deactivated" entry written."""
    employee_id, object_id = world.leaver("Lea", planned_at=world.now)

    early = world.run(DISABLE_AT - timedelta(milliseconds=3))
    assert early.due == 0 and world.directory.writes == []

    report = world.run(DISABLE_AT)

    assert (report.due, report.disabled) == (1, 1)
    assert world.directory.writes == [
        ("update", object_id, {"accountEnabled": False}),
        ("revoke", object_id),
    ]
    link = world.links.of_employee(employee_id)
    assert link is not None and link.disabled_by_connector
    assert world.schedule.upcoming(employee_id) == []
    [entry] = world.log.for_employee(employee_id)
    assert entry.action is Action.DEACTIVATED


def test_a_run_above_the_sudden_deactivations_threshold_is_held(world: World) -> None:
    """Two disables scheduled hours before they fall due, with MAX_SUDDEN_DEACTIVATIONS=1: the
    run acts on neither and says so once; releasing that run's id carries both out."""
    planned = DISABLE_AT - timedelta(hours=12)
    first, _ = world.leaver("Lea", planned_at=planned)
    second, _ = world.leaver("Max", planned_at=planned)

    held = world.run(DISABLE_AT, max_sudden=1)
    again = world.run(DISABLE_AT + timedelta(minutes=5), max_sudden=1)

    assert (held.held, held.sudden, held.disabled) == (2, 2, 0)
    assert held.run_id is not None and again.run_id == held.run_id
    assert world.directory.writes == []
    [entry] = world.log.for_attention()
    assert entry.action is Action.RUN_HELD
    assert entry.details["run_id"] == held.run_id
    assert entry.details["employees"] == sorted([first, second])

    released = world.run(DISABLE_AT + timedelta(minutes=10), max_sudden=1, release_id=held.run_id)
    assert (released.disabled, released.held) == (2, 0)


def test_an_employee_being_synced_waits_for_the_next_run(world: World) -> None:
    """A sync holds the employee's lease: the due disable is deferred, not carried out."""
    employee_id, _ = world.leaver("Lea", planned_at=world.now)
    world.now = DISABLE_AT
    token = world.leases.acquire(employee_id)
    assert token is not None

    report = world.run(DISABLE_AT)

    assert (report.deferred, report.disabled) == (1, 0)
    assert world.directory.writes == []
    world.leases.release(employee_id, token)
    assert world.run(DISABLE_AT + timedelta(minutes=5)).disabled == 1


# -- the daily cap (MAX_DEACTIVATIONS_PER_DAY) ---------------------------------------------
def test_more_disables_in_a_day_than_the_cap_are_held_whatever_the_notice(world: World) -> None:
    """25 disables scheduled two days ahead (none sudden), 20 a day at most: the run acts on
    none, one "run held" entry names the daily cap; released, all 25 are disabled."""
    employees = world.leavers(25, planned_at=DISABLE_AT - TWO_DAYS)

    held = world.run(DISABLE_AT, max_per_day=20)
    again = world.run(DISABLE_AT + timedelta(minutes=5), max_per_day=20)

    assert (held.held, held.sudden, held.disabled) == (25, 0, 0)
    assert held.run_id is not None and again.run_id == held.run_id
    assert world.directory.writes == []
    [entry] = world.held_entries()
    assert entry.details["run_id"] == held.run_id
    assert entry.details["rails"] == ["MAX_DEACTIVATIONS_PER_DAY"]
    assert "MAX_DEACTIVATIONS_PER_DAY=20" in entry.message
    assert entry.details["employees"] == sorted(employees)

    released = world.run(DISABLE_AT + timedelta(minutes=10), max_per_day=20, release_id=held.run_id)
    assert (released.disabled, released.held) == (25, 0)


def test_as_many_disables_as_the_cap_are_carried_out(world: World) -> None:
    """20 disables scheduled two days ahead, 20 a day at most: all carried out, nothing held."""
    world.leavers(20, planned_at=DISABLE_AT - TWO_DAYS)

    report = world.run(DISABLE_AT, max_per_day=20)

    assert (report.disabled, report.held) == (20, 0)
    assert world.held_entries() == []


def test_disables_carried_out_earlier_in_the_day_count(world: World) -> None:
    """15 disables at midnight, then 6 end dates entered that morning with the last day
    yesterday (due at once): 15 + 6 is above 20 a day, the second run is held."""
    world.leavers(15, planned_at=DISABLE_AT - TWO_DAYS)
    assert world.run(DISABLE_AT, max_per_day=20).disabled == 15
    morning = DISABLE_AT + timedelta(hours=10)
    world.leavers(6, planned_at=morning)

    report = world.run(morning + timedelta(minutes=5), max_per_day=20)

    assert (report.due, report.held, report.disabled) == (6, 6, 0)
    [entry] = world.held_entries()
    assert entry.details["done_today"] == 15
    assert "15 already carried out today" in entry.message


def test_more_end_dates_entered_in_a_day_than_the_cap_alert_once(world: World) -> None:
    """20 end dates entered in a day: no alert; the 21st: one alerting entry at the next
    run (nothing due); a 22nd the same day: still one."""
    morning = datetime(2026, 10, 20, 7, 0, tzinfo=UTC)
    world.leavers(20, planned_at=morning)
    world.run(morning + timedelta(minutes=5), max_per_day=20)
    assert world.entered_alerts() == []

    world.leaver("Ann", planned_at=morning + timedelta(hours=1))
    world.run(morning + timedelta(hours=1, minutes=5), max_per_day=20)
    world.leaver("Bob", planned_at=morning + timedelta(hours=2))
    world.run(morning + timedelta(hours=2, minutes=5), max_per_day=20)

    [alert] = world.entered_alerts()
    assert alert.alert
    assert alert.details["entered"] == 21 and alert.details["day"] == "2026-10-20"
    assert "MAX_DEACTIVATIONS_PER_DAY=20" in alert.message
