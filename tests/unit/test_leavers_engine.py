"""The leaver run at its ports: in-memory schedule, links, leases and log, and small fakes of
Lucca and Entra, so the timer's rules are fast unit tests (no Azurite, no sandbox)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.domain.access import AccessPlanner
from connector.domain.entries import Action
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
        self.schedule.replace(employee.id, self.planner.plan(employee, planned_at).upcoming)
        return employee.id, user.id

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
