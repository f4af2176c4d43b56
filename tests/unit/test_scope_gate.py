"""SYNC_SCOPE's gate in the sync and its planner in the timer, at their ports: in-memory stores
and small fakes of Lucca and Entra (connector/flows/scope_gate.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.core.errors import NotFound
from connector.domain.access import AccessPlanner
from connector.domain.entries import Action
from connector.domain.mapping import DEFAULT_ATTRIBUTES, owned
from connector.domain.scope_facts import ScopeJudge
from connector.domain.sync_scope import parse_sync_scope
from connector.flows.leavers import LeaverRun
from connector.flows.scope_gate import SCOPE_EXIT, ExitAction, ScopedPlanner, ScopeGate
from connector.flows.sync import SyncService
from connector.lucca.scope_reads import LuccaEmploymentTemplate
from tests.unit.fakes import FakeDirectory, FakeLucca
from tests.unit.memory import MemoryFeed, MemoryLeases, MemoryLinks, MemoryLog, MemorySchedule

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 2026-03-03 00:00 Paris (CET)
EXIT_KEY = f"action-disable-{SCOPE_EXIT}"


class FakeScopeReader:
    """The department tree, templates and custom fields SYNC_SCOPE reads (none by default)."""

    def __init__(self) -> None:
        self.parents: dict[str, str] = {}
        self.extensions: dict[tuple[str, str], tuple[str, ...]] = {}
        self.calls: list[tuple[str, str, str]] = []

    def department_chain(self, department_id: str) -> tuple[str, ...]:
        """The department, then its parents."""
        chain = [department_id]
        while chain[-1] in self.parents:
            chain.append(self.parents[chain[-1]])
        return tuple(chain)

    def employment_template(self, template_id: str) -> LuccaEmploymentTemplate:
        """No template is visible."""
        raise NotFound(f"no template {template_id}", service="lucca")

    def extension_values(self, employee_id: str, definition_id: str) -> tuple[str, ...]:
        """The employee's values of a custom field."""
        self.calls.append(("values", employee_id, definition_id))
        return self.extensions.get((employee_id, definition_id), ())

    def preload_extensions(self, definition_id: str, employee_ids: Any) -> int:
        """Recorded."""
        self.calls.append(("preload", ",".join(employee_ids), definition_id))
        return 0

    def forget_extensions(self, definition_id: str) -> None:
        """Recorded."""
        self.calls.append(("forget", "", definition_id))


class World:
    """Lucca (establishment 30), Entra, the stores, and the scope `establishment = 30`."""

    def __init__(self) -> None:
        self.now = NOW
        self.lucca = FakeLucca()
        self.directory = FakeDirectory()
        self.links = MemoryLinks()
        self.log = MemoryLog()
        self.schedule = MemorySchedule(clock=self.clock)
        self.planner = AccessPlanner(
            self.lucca, time_zone="Europe/Paris", contract_gap_days=0, enable_days_before_start=0
        )
        scope = parse_sync_scope("establishment = 30")
        assert scope is not None
        self.judge = ScopeJudge(scope, FakeScopeReader())
        self.scoped = ScopedPlanner(self.planner, self.judge, self.schedule)

    def clock(self) -> datetime:
        """The test's now."""
        return self.now

    def gate(self, exit_action: ExitAction, *, observe: bool = False) -> ScopeGate:
        """The gate, as scope_build.py makes it."""
        return ScopeGate(
            judge=self.judge,
            links=self.links,
            directory=self.directory,
            log=self.log,
            planner=self.scoped if exit_action == "disable" else None,
            schedule=self.schedule if exit_action == "disable" else None,
            exit_action=exit_action,
            observe=observe,
            clock=self.clock,
        )

    def service(self, exit_action: ExitAction = "ignore", *, observe: bool = False) -> SyncService:
        """The sync with the gate."""
        return SyncService(
            lucca=self.lucca,
            directory=self.directory,
            feed=MemoryFeed(),
            links=self.links,
            log=self.log,
            planner=self.planner,
            schedule=self.schedule,
            clock=self.clock,
            observe=observe,
            scope_gate=self.gate(exit_action, observe=observe),
            attributes=owned(DEFAULT_ATTRIBUTES),
        )

    def linked(self, name: str, **hire: Any) -> tuple[str, str]:
        """An employee in scope synced once (created, linked): its and its account's ids."""
        employee = self.lucca.hire(name, "Test", start=date(2020, 1, 6), **hire)
        entry = self.service().sync(employee.id)
        assert entry.action is Action.CREATED and entry.object_id is not None
        return employee.id, entry.object_id

    def leave(self, employee_id: str) -> None:
        """Move the employee to establishment 31: out of scope."""
        self.lucca.change_job(employee_id, establishment_id="31")

    def timer(self, moment: datetime, **options: Any) -> Any:
        """One run of the timer with the scoped planner."""
        self.now = moment
        return LeaverRun(
            schedule=self.schedule,
            planner=self.scoped,
            lucca=self.lucca,
            directory=self.directory,
            links=self.links,
            leases=MemoryLeases(clock=self.clock),
            log=self.log,
            clock=self.clock,
            **options,
        ).run(moment)


@pytest.fixture
def world() -> World:
    """Empty stores, an empty tenant, an empty Lucca."""
    return World()


# -- the gate ---------------------------------------------------------------------------------
@pytest.mark.parametrize("exit_action", ["ignore", "disable"])
def test_out_of_scope_is_never_created_nor_matched(world: World, exit_action: ExitAction) -> None:
    """An employee outside the scope whose email is an account's: one "out of scope" entry,
    no write, no link, whatever the exit action."""
    employee = world.lucca.hire("Zoe", "Lambert", start=date(2024, 1, 1))
    world.lucca.change_job(employee.id, establishment_id="31")
    world.directory.add(user_principal_name=employee.email, mail=employee.email)

    entry = world.service(exit_action).sync(employee.id)

    assert entry.action is Action.OUT_OF_SCOPE
    assert entry.details == {"scope": "outside"}
    assert world.directory.writes == []
    assert world.links.of_employee(employee.id) is None
    assert world.schedule.upcoming(employee.id) == []


def test_in_scope_goes_on_to_the_sync(world: World) -> None:
    """The scope keeps the employee: the sync creates the account as without a scope."""
    employee_id, object_id = world.linked("Ada")
    assert world.links.of_employee(employee_id) is not None
    assert world.directory.users[object_id].account_enabled is True


def test_leaving_with_ignore_keeps_the_account(world: World) -> None:
    """Linked, out of scope, SCOPE_EXIT_ACTION=ignore: nothing written, nothing scheduled,
    the entry says the account is kept and why."""
    employee_id, object_id = world.linked("Ada")
    world.directory.writes.clear()
    world.leave(employee_id)
    world.lucca.change_job(employee_id, job_title="Manager")  # a change it no longer follows

    entry = world.service("ignore").sync(employee_id)

    assert entry.action is Action.OUT_OF_SCOPE
    assert entry.object_id == object_id
    assert entry.details == {"scope": "left", "exit": "ignore"}
    assert "SCOPE_EXIT_ACTION=ignore" in entry.message
    assert world.directory.writes == []
    assert world.schedule.upcoming(employee_id) == []


def test_leaving_with_disable_schedules_the_next_local_midnight(world: World) -> None:
    """SCOPE_EXIT_ACTION=disable: a disable at the next 00:00 Paris in the schedule (logged),
    nothing written to Entra now; a second sync the same day keeps the same instant."""
    employee_id, _ = world.linked("Ada")
    world.directory.writes.clear()
    world.leave(employee_id)

    entry = world.service("disable").sync(employee_id)

    assert entry.action is Action.OUT_OF_SCOPE
    assert "will be disabled at 2026-03-03 00:00 Europe/Paris" in entry.message
    [action] = world.schedule.upcoming(employee_id)
    assert (action.key, action.at) == (EXIT_KEY, MIDNIGHT)
    assert world.directory.writes == []
    assert any(e.action is Action.SCHEDULED for e in world.log.for_employee(employee_id))

    world.now = NOW + timedelta(hours=10)  # 20:00 Paris: same evening
    world.service("disable").sync(employee_id)
    [again] = world.schedule.upcoming(employee_id)
    assert again.at == MIDNIGHT


def test_leaving_with_disable_in_observe_mode_writes_no_schedule(world: World) -> None:
    """CONNECTOR_MODE=observe: the planned exit is in the entry's details, not the schedule."""
    employee_id, _ = world.linked("Ada")
    world.leave(employee_id)

    entry = world.service("disable", observe=True).sync(employee_id)

    assert world.schedule.upcoming(employee_id) == []
    [planned] = entry.details["schedule"]
    assert planned.startswith("disable scheduled for 2026-03-03 00:00 Europe/Paris")


def test_leaving_with_an_account_already_disabled_schedules_nothing(world: World) -> None:
    """The linked account is disabled already: nothing to do, nothing scheduled."""
    employee_id, object_id = world.linked("Ada")
    user = world.directory.users[object_id]
    world.directory.users[object_id] = replace(user, account_enabled=False)  # by an admin
    world.leave(employee_id)

    entry = world.service("disable").sync(employee_id)

    assert "is disabled, nothing more to do" in entry.message
    assert world.schedule.upcoming(employee_id) == []


def test_back_in_scope_the_sync_cancels_the_exit(world: World) -> None:
    """Out then back in scope the same day: the sync replaces the schedule, the exit goes."""
    employee_id, _ = world.linked("Ada")
    world.leave(employee_id)
    world.service("disable").sync(employee_id)
    world.lucca.change_job(employee_id, establishment_id="30")

    world.service("disable").sync(employee_id)

    assert world.schedule.upcoming(employee_id) == []


# -- the timer's planner ----------------------------------------------------------------------
def test_the_timer_disables_at_midnight_not_before(world: World) -> None:
    """The exit disable is carried out by the first run at or after 00:00 Paris."""
    employee_id, object_id = world.linked("Ada")
    world.leave(employee_id)
    world.service("disable").sync(employee_id)
    world.directory.writes.clear()

    early = world.timer(MIDNIGHT - timedelta(milliseconds=3))
    assert early.due == 0 and world.directory.writes == []
    report = world.timer(MIDNIGHT)

    assert report.disabled == 1
    assert ("update", object_id, {"accountEnabled": False}) in world.directory.writes
    assert world.log.for_employee(employee_id)[0].action is Action.DEACTIVATED


def test_the_timer_cancels_when_back_in_scope(world: World) -> None:
    """Back in scope in Lucca, not synced yet: the timer re-plans and disables nothing."""
    employee_id, _ = world.linked("Ada")
    world.leave(employee_id)
    world.service("disable").sync(employee_id)
    world.lucca.change_job(employee_id, establishment_id="30")
    world.directory.writes.clear()

    report = world.timer(MIDNIGHT)

    assert report.disabled == 0
    assert world.directory.writes == []
    assert world.schedule.upcoming(employee_id) == []


def test_the_timer_holds_sudden_exits(world: World) -> None:
    """Two exits scheduled hours before midnight, MAX_SUDDEN_DEACTIVATIONS=1: held."""
    first, _ = world.linked("Ada")
    second, _ = world.linked("Bob")
    for employee_id in (first, second):
        world.leave(employee_id)
        world.service("disable").sync(employee_id)
    world.directory.writes.clear()

    report = world.timer(MIDNIGHT, max_sudden=1)

    assert (report.held, report.disabled) == (2, 0)
    assert world.directory.writes == []


def test_planner_in_scope_is_the_contract_plan(world: World) -> None:
    """In scope, the scoped planner plans exactly as the contract-date planner."""
    employee = world.lucca.hire("Ada", "Test", start=date(2020, 1, 6), end=date(2026, 3, 20))
    assert world.scoped.plan(employee, NOW) == world.planner.plan(employee, NOW)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW, MIDNIGHT),
        # The spring change: 2026-03-29 00:00 Paris is still CET, 2026-03-30 00:00 is CEST.
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
        (datetime(2026, 3, 29, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
        # 23:30 Paris: the next midnight is half an hour away, not a day.
        (datetime(2026, 3, 2, 22, 30, tzinfo=UTC), MIDNIGHT),
    ],
)
def test_planner_out_of_scope_disables_at_the_next_local_midnight(
    world: World, now: datetime, expected: datetime
) -> None:
    """Out of scope, nothing stored: the exit disable is upcoming at the next 00:00 Paris."""
    employee = world.lucca.hire("Ada", "Test", start=date(2020, 1, 6))
    world.leave(employee.id)

    plan = world.scoped.plan(world.lucca.employee(employee.id), now)

    [exit_] = plan.upcoming
    assert (exit_.kind, exit_.at, exit_.employment_id) == ("disable", expected, SCOPE_EXIT)
    assert plan.enabled_now


def test_planner_keeps_the_stored_instant_then_makes_it_the_last(world: World) -> None:
    """The schedule holds the exit: re-planned later it keeps that instant (so the timer acts
    on it); at that instant it is the plan's last action (disabled now)."""
    employee_id, _ = world.linked("Ada")
    world.leave(employee_id)
    world.service("disable").sync(employee_id)
    employee = world.lucca.employee(employee_id)

    later = world.scoped.plan(employee, NOW + timedelta(hours=12))
    [exit_] = later.upcoming
    assert exit_.at == MIDNIGHT
    due = world.scoped.plan(employee, MIDNIGHT)
    assert due.upcoming == () and due.last is not None
    assert (due.last.kind, due.last.at) == ("disable", MIDNIGHT)


def test_planner_keeps_a_leavers_own_disable(world: World) -> None:
    """An employee out of scope whose contract ended already keeps the contract's disable."""
    employee = world.lucca.hire("Ada", "Test", start=date(2020, 1, 6), end=date(2026, 2, 27))
    world.leave(employee.id)

    plan = world.scoped.plan(world.lucca.employee(employee.id), NOW)

    assert plan.upcoming == ()
    assert plan.last is not None and plan.last.employment_id != SCOPE_EXIT
    assert plan.last.at == datetime(2026, 2, 27, 23, 0, tzinfo=UTC)


def test_reading_ahead_preloads_each_custom_field_then_forgets_it() -> None:
    """Judging many employees: each custom field the scope reads is preloaded for them once,
    and dropped afterwards (even when judging fails), so a later sync reads it afresh."""
    reader = FakeScopeReader()
    reader.extensions[("1", "e_site")] = ("Lyon",)
    scope = parse_sync_scope("extension.e_site = lyon and not extension.e_team = ops")
    assert scope is not None
    judge = ScopeJudge(scope, reader)
    lucca = FakeLucca()
    kept = lucca.hire("Ada", "Test", start=date(2020, 1, 6))
    dropped = lucca.hire("Bob", "Test", start=date(2020, 1, 6))

    with judge.reading_ahead(["1", "2"]):
        assert [judge.keeps(kept), judge.keeps(dropped)] == [True, False]

    assert reader.calls[:2] == [("preload", "1,2", "e_site"), ("preload", "1,2", "e_team")]
    assert reader.calls[-2:] == [("forget", "", "e_site"), ("forget", "", "e_team")]
    reader.calls.clear()
    with pytest.raises(RuntimeError), judge.reading_ahead(["1"]):
        raise RuntimeError
    assert [c[0] for c in reader.calls] == ["preload", "preload", "forget", "forget"]
