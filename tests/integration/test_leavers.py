"""The leaver timer with the real clients: Lucca and Graph sandboxes over HTTP, Azurite.

Each test makes employees in the Lucca sandbox, their accounts in the Graph sandbox, links
them, schedules their actions as the sync would (`ScheduleStore.replace` with the re-plan's
upcoming actions), then runs the timer at chosen instants."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.domain.access import AccessPlanner
from connector.domain.contract_dates import PlannedAction, local_midnight_utc
from connector.domain.entries import Action, LogEntry
from connector.entra.directory import GraphDirectory
from connector.flows.dates import actions_to_keep
from connector.flows.leaver_report import RunReport
from connector.flows.leavers import LeaverRun
from connector.lucca.client import LuccaClient
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.ratelimit import LuccaRateLimiter
from connector.storage.schedule import DUE_PARTITION, SCHEDULE_TABLE, ScheduleStore
from connector.storage.tables import Storage
from tests.integration.test_directory import GRAPH_AUDIENCE, FakeCredential, jwt
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox, problem_body

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"
PARIS = ZoneInfo("Europe/Paris")
TICK = timedelta(milliseconds=3)  # a timer firing a few milliseconds early
PATCHES = r"^/v1\.0/users/[^/]+$"
REVOKES = r"^/v1\.0/users/[^/]+/revokeSignInSessions$"
LAST_DAY = date(2026, 10, 24)  # disabled from 2026-10-24T22:00Z
DISABLE_AT = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)


def midnight_after(day: date) -> datetime:
    """The UTC instant of 00:00 Paris the day after `day`."""
    return local_midnight_utc(day + timedelta(days=1), PARIS)


class World:
    """Lucca, Entra and storage for the timer, and a clock the test moves."""

    def __init__(self, lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage) -> None:
        self.lucca, self.graph, self.storage = lucca, graph, storage
        self.now = datetime(2020, 1, 1, tzinfo=UTC)
        self.client = LuccaClient(
            base_url=lucca.base_url,
            token_url=f"{lucca.base_url}/connect/token",
            client_id="lucca-client",
            client_secret="lucca-client-secret",
            limiter=LuccaRateLimiter(storage, per_minute=50, window_seconds=1),
        )
        self.directory = GraphDirectory(f"{graph.base_url}/v1.0")
        self.planner = AccessPlanner(
            self.client, time_zone="Europe/Paris", contract_gap_days=0, enable_days_before_start=0
        )
        self.schedule = ScheduleStore(storage, clock=self.clock)
        self.links = Links(storage)
        self.leases = EmployeeLeases(storage)
        self.log = IntegrationLog(storage)
        self._names = itertools.count(1)
        self._made: list[GraphDirectory] = [self.directory]

    def clock(self) -> datetime:
        """The test's now."""
        return self.now

    def close(self) -> None:
        """Close the clients."""
        self.client.close()
        for directory in self._made:
            directory.close()

    def directory_with(self, **options: Any) -> GraphDirectory:
        """Another directory on the sandbox (a token with roles, no retries…)."""
        directory = GraphDirectory(f"{self.graph.base_url}/v1.0", **options)
        self._made.append(directory)
        return directory

    def hire(
        self,
        *,
        start: date,
        end: date | None = None,
        enabled: bool = True,
        linked: bool = True,
        disabled_by_connector: bool = False,
    ) -> tuple[str, str]:
        """An employee in Lucca with an account in Entra (linked unless told): their ids."""
        name = f"person{next(self._names)}"
        email = f"{name}@{DOMAIN}"
        employee_id = self.lucca.add_employee(name.title(), "Test", email, start=start, end=end)
        user = self.graph.add_user(
            userPrincipalName=email, mail=email, displayName=name, accountEnabled=enabled
        )
        if linked:
            # A read first makes the table: `link` is a transaction, which cannot.
            assert self.links.of_employee(employee_id) is None
            self.links.link(employee_id, user["id"], how="test", at=self.now)
            if disabled_by_connector:
                self.links.set_disabled_by_connector(employee_id, True)
        return employee_id, user["id"]

    def plan_at(self, employee_id: str, moment: datetime) -> None:
        """Schedule the employee's upcoming actions as a sync at `moment` would."""
        self.now = moment
        plan = self.planner.plan(self.client.employee(employee_id), moment)
        self.schedule.replace(employee_id, plan.upcoming)

    def run(
        self, moment: datetime, directory: GraphDirectory | None = None, **options: Any
    ) -> RunReport:
        """One timer run at `moment` (Lucca's today follows)."""
        self.now = moment
        self.lucca.today = moment.astimezone(PARIS).date()
        return LeaverRun(
            schedule=self.schedule,
            planner=self.planner,
            lucca=self.client,
            directory=directory or self.directory,
            links=self.links,
            leases=self.leases,
            log=self.log,
            clock=self.clock,
            **options,
        ).run(moment)

    def enabled(self, object_id: str) -> bool:
        """Whether the account is enabled in Entra."""
        return bool(self.graph.user(object_id)["accountEnabled"])

    def entries(self, employee_id: str, action: Action | None = None) -> list[LogEntry]:
        """The employee's log entries (of one action), newest first."""
        found = self.log.for_employee(employee_id)
        return [e for e in found if action is None or e.action is action]

    def held_entries(self) -> list[LogEntry]:
        """The "run held" entries waiting for an operator."""
        return [e for e in self.log.for_attention() if e.action is Action.RUN_HELD]


@pytest.fixture
def world(storage: Storage) -> Iterator[World]:
    """A fresh world: Lucca, Entra with the company's domain, Azurite."""
    lucca, graph = LuccaSandbox(rate_limit=1000, window_seconds=1), GraphSandbox()
    with lucca, graph:
        graph.add_domain(DOMAIN, is_verified=True, is_default=True)
        made = World(lucca, graph, storage)
        yield made
        made.close()


# -- never early, on time --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last_day", "instant"),
    [
        (date(2023, 10, 19), datetime(2023, 10, 19, 22, 0, tzinfo=UTC)),  # Lucca's example
        (date(2026, 3, 28), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # clocks go forward
        (date(2026, 10, 24), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),  # clocks go back
    ],
    ids=["2023-10-19", "spring-2026", "autumn-2026"],
)
def test_disabled_at_local_midnight_after_the_last_day_never_before(
    world: World, last_day: date, instant: datetime
) -> None:
    """A run milliseconds before D+1 00:00 Paris does nothing; the run at it disables the
    account and revokes its sessions."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=last_day)
    world.plan_at(employee_id, instant - timedelta(days=30))
    [scheduled] = world.schedule.upcoming(employee_id)
    assert scheduled.at == instant

    early = world.run(instant - TICK)

    assert (early.due, early.rows_read, early.acted) == (0, 0, 0)
    assert world.graph.count() == 0
    assert world.enabled(account)

    report = world.run(instant)

    assert (report.due, report.disabled) == (1, 1)
    assert not world.enabled(account)
    assert world.graph.count("POST", REVOKES) == 1
    link = world.links.of_employee(employee_id)
    assert link is not None and link.disabled_by_connector
    assert world.schedule.upcoming(employee_id) == []
    [entry] = world.entries(employee_id, Action.DEACTIVATED)
    local = f"{last_day + timedelta(days=1):%Y-%m-%d} 00:00 Europe/Paris"
    assert f"disabled at {local}, after the last day {last_day:%Y-%m-%d}" in entry.message
    assert "sessions were revoked" in entry.message


def test_missed_run_is_caught_up(world: World) -> None:
    """No run for three days: the next one still disables, and says it caught up."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))

    report = world.run(DISABLE_AT + timedelta(days=3, hours=9))

    assert report.disabled == 1
    assert not world.enabled(account)
    [entry] = world.entries(employee_id, Action.DEACTIVATED)
    assert "caught up at 2026-10-28 08:00 Europe/Paris" in entry.message


def test_revoke_sessions_off(world: World) -> None:
    """REVOKE_SESSIONS=false: the account is disabled, its sessions left alone."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))

    assert world.run(DISABLE_AT, revoke_sessions=False).disabled == 1

    assert not world.enabled(account)
    assert world.graph.count("POST", REVOKES) == 0


# -- Lucca changed after scheduling ----------------------------------------------------------
def test_end_date_moved_later_is_rescheduled_not_acted_on(world: World) -> None:
    """Lucca's end date moved ten days later: the run at the old date re-plans, logs the new
    date and disables nothing; the run at the new date disables."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    world.lucca.end_employment(employee_id, LAST_DAY + timedelta(days=10))

    report = world.run(DISABLE_AT)

    assert (report.rescheduled, report.acted) == (1, 0)
    assert world.graph.count("PATCH") == 0 and world.enabled(account)
    [moved] = world.schedule.upcoming(employee_id)
    assert moved.at == datetime(2026, 11, 3, 23, 0, tzinfo=UTC)
    [entry] = world.entries(employee_id, Action.SCHEDULED)
    assert entry.message.startswith(
        "disable rescheduled from 2026-10-25 00:00 Europe/Paris to 2026-11-04 00:00 Europe/Paris"
    )

    assert world.run(moved.at - TICK).due == 0
    assert world.run(moved.at).disabled == 1
    assert not world.enabled(account)


def test_end_date_moved_earlier_is_rescheduled_then_disabled(world: World) -> None:
    """Moved to three days earlier, unseen by the sync: the run re-plans (a disable due now,
    scheduled just now), and the next run disables: never on a moved action in the same run."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    world.lucca.end_employment(employee_id, LAST_DAY - timedelta(days=3))

    first = world.run(DISABLE_AT)

    assert (first.rescheduled, first.acted) == (1, 0)
    assert world.enabled(account)
    [moved] = world.schedule.upcoming(employee_id)
    assert moved.at == midnight_after(LAST_DAY - timedelta(days=3))

    second = world.run(DISABLE_AT + timedelta(minutes=5))

    assert (second.due, second.sudden, second.disabled) == (1, 1, 1)
    assert not world.enabled(account)


def test_end_date_removed_cancels_the_disable(world: World) -> None:
    """The end date is gone from Lucca: cancelled and logged, the account stays enabled."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    world.lucca.end_employment(employee_id, None)

    report = world.run(DISABLE_AT)

    assert (report.rescheduled, report.acted) == (1, 0)
    assert world.graph.count("PATCH") == 0 and world.enabled(account)
    assert world.schedule.upcoming(employee_id) == []
    [entry] = world.entries(employee_id, Action.SCHEDULED)
    assert entry.message.startswith("disable for 2026-10-25 00:00 Europe/Paris cancelled")


def test_new_contract_from_the_next_day_keeps_the_account(world: World) -> None:
    """A contract starting on D+1, added after the disable was scheduled: no disable."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    world.lucca.add_employment(employee_id, LAST_DAY + timedelta(days=1))

    report = world.run(DISABLE_AT)

    assert (report.rescheduled, report.acted) == (1, 0)
    assert world.graph.count("PATCH") == 0 and world.enabled(account)
    assert world.schedule.upcoming(employee_id) == []


def test_rehire_a_month_later_is_disabled_then_enabled(world: World) -> None:
    """A contract starting a month after the last day: disabled at D+1, enabled on its first
    day and not a moment before."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    rehired = date(2026, 11, 24)
    world.lucca.add_employment(employee_id, rehired)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    enable_at = local_midnight_utc(rehired, PARIS)

    assert world.run(DISABLE_AT).disabled == 1
    assert not world.enabled(account)
    assert world.run(enable_at - TICK).due == 0
    assert not world.enabled(account)

    assert world.run(enable_at).enabled == 1

    assert world.enabled(account)
    link = world.links.of_employee(employee_id)
    assert link is not None and not link.disabled_by_connector
    [entry] = world.entries(employee_id, Action.ENABLED)
    assert "enabled at 2026-11-24 00:00 Europe/Paris, the first day 2026-11-24" in entry.message


# -- only what the connector may touch -------------------------------------------------------
def test_already_disabled_account_counts_as_done(world: World) -> None:
    """Someone disabled it before the timer: done, no PATCH, and it is not marked as the
    connector's to enable again."""
    employee_id, _ = world.hire(start=date(2021, 1, 4), end=LAST_DAY, enabled=False)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))

    report = world.run(DISABLE_AT)

    assert (report.unchanged, report.disabled) == (1, 0)
    assert world.graph.count("PATCH") == 0
    assert world.graph.count("POST", REVOKES) == 0
    link = world.links.of_employee(employee_id)
    assert link is not None and not link.disabled_by_connector
    assert world.schedule.upcoming(employee_id) == []
    [entry] = world.entries(employee_id, Action.UNCHANGED)
    assert "already disabled in Entra (not by the connector)" in entry.message
    assert "nothing was changed" in entry.message


def test_unlinked_account_is_never_touched(world: World) -> None:
    """An account the connector has not linked is neither read nor written."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY, linked=False)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))

    report = world.run(DISABLE_AT)

    assert (report.skipped, report.acted) == (1, 0)
    assert world.graph.count() == 0
    assert world.enabled(account)
    assert world.schedule.upcoming(employee_id) == []
    [entry] = world.entries(employee_id, Action.SKIPPED)
    assert "no linked account" in entry.message


def test_upcoming_hire_is_enabled_on_the_first_day_only_if_the_connector_closed_it(
    world: World,
) -> None:
    """Two future hires with disabled accounts: the one the connector created closed opens at
    00:00 on the first day (not before); the one someone else disabled stays disabled."""
    first_day = date(2026, 11, 2)
    enable_at = local_midnight_utc(first_day, PARIS)
    ours, our_account = world.hire(start=first_day, enabled=False, disabled_by_connector=True)
    theirs, their_account = world.hire(start=first_day, enabled=False)
    for employee_id in (ours, theirs):
        world.plan_at(employee_id, enable_at - timedelta(days=10))

    assert world.run(enable_at - TICK).due == 0
    assert world.graph.count() == 0

    report = world.run(enable_at)

    assert (report.enabled, report.skipped) == (1, 1)
    assert world.enabled(our_account)
    assert not world.enabled(their_account)
    assert world.graph.count("PATCH") == 1
    link = world.links.of_employee(ours)
    assert link is not None and not link.disabled_by_connector
    [skipped] = world.entries(theirs, Action.SKIPPED)
    assert "disabled by someone else" in skipped.message
    assert world.schedule.upcoming(theirs) == []


# -- safety rails ----------------------------------------------------------------------------
def _leavers(world: World, count: int, *, scheduled_before: timedelta) -> list[str]:
    """`count` leavers whose last day is LAST_DAY, scheduled that long before DISABLE_AT."""
    accounts = []
    for _ in range(count):
        employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
        world.plan_at(employee_id, DISABLE_AT - scheduled_before)
        accounts.append(account)
    return accounts


def test_sudden_disables_are_held_until_released(world: World) -> None:
    """21 disables scheduled an hour before they fall due: the run acts on none and says so
    once, with the id that releases it; released, all 21 are disabled."""
    accounts = _leavers(world, 21, scheduled_before=timedelta(hours=1))
    world.lucca.reset_log()

    held = world.run(DISABLE_AT)

    assert (held.held, held.sudden, held.acted) == (21, 21, 0)
    assert held.run_id is not None and len(held.run_id) == 12
    assert world.graph.count() == 0
    assert world.lucca.api_calls.total() == 0
    [entry] = world.held_entries()
    assert entry.details["run_id"] == held.run_id
    assert f"RELEASE_HELD_RUN={held.run_id}" in entry.message
    assert "21 of the 21 disables" in entry.message

    again = world.run(DISABLE_AT + timedelta(minutes=5))

    assert (again.held, again.run_id) == (21, held.run_id)
    assert len(world.held_entries()) == 1
    assert world.run(DISABLE_AT + timedelta(minutes=10), release_id="0" * 12).held == 21

    released = world.run(DISABLE_AT + timedelta(minutes=15), release_id=held.run_id)

    assert (released.held, released.disabled, released.run_id) == (0, 21, held.run_id)
    [entry, *_] = world.entries(world.links.employee_of(accounts[0]) or "", Action.DEACTIVATED)
    assert entry.details["released_run"] == held.run_id
    assert not any(world.enabled(account) for account in accounts)
    assert len(world.held_entries()) == 1


def test_a_burst_of_link_alerts_does_not_repeat_the_run_held_entry(world: World) -> None:
    """60 accounts linked by email (alerting entries) after a run was held: the next runs
    still find their "run held" entry and say nothing new."""
    _leavers(world, 21, scheduled_before=timedelta(hours=1))
    held = world.run(DISABLE_AT)
    for number in range(60):
        world.log.write(
            LogEntry(
                time=DISABLE_AT + timedelta(seconds=number + 1),
                action=Action.LINKED,
                message="Linked an existing account by its mail: check it is this employee's.",
                employee_id=str(9000 + number),
                alert=True,
            )
        )

    again = world.run(DISABLE_AT + timedelta(minutes=5))

    assert (again.held, again.run_id) == (21, held.run_id)
    assert len(world.held_entries()) == 1


def test_planned_disables_are_not_held(world: World) -> None:
    """20 disables scheduled a month ahead (a month end, at MAX_DEACTIVATIONS_PER_DAY): all
    done in one run."""
    accounts = _leavers(world, 20, scheduled_before=timedelta(days=30))

    report = world.run(DISABLE_AT)

    assert (report.sudden, report.held, report.disabled) == (0, 0, 20)
    assert report.summary().startswith("20 due (20 rows read): 20 disabled, 0 enabled")
    assert not any(world.enabled(account) for account in accounts)
    assert world.held_entries() == []


def test_disables_carried_out_earlier_in_the_day_count(world: World) -> None:
    """15 disables at 00:00 Paris, then 6 last days of yesterday entered that morning (due at
    once): the stored count of the day's disables holds the second run (15 + 6 > 20)."""
    _leavers(world, 15, scheduled_before=timedelta(days=2))
    assert world.run(DISABLE_AT).disabled == 15
    morning = DISABLE_AT + timedelta(hours=10)
    for _ in range(6):
        employee_id, _ = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
        world.now = morning
        plan = world.planner.plan(world.client.employee(employee_id), morning)
        world.schedule.replace(employee_id, actions_to_keep(plan, account_enabled=True))

    report = world.run(morning + timedelta(minutes=5))

    assert (report.due, report.held, report.disabled) == (6, 6, 0)
    assert report.rails == ("MAX_DEACTIVATIONS_PER_DAY",)
    [entry] = world.held_entries()
    assert entry.details["done_today"] == 15
    next_day = datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # 00:00 Paris (CET since the 25th)
    assert world.run(next_day - TICK).held == 6
    assert world.run(next_day).disabled == 6


@pytest.mark.parametrize(
    ("roles", "reason"),
    [
        (["User.Read.All"], "lacks the Microsoft Graph permission User.EnableDisableAccount.All"),
        (["User.ReadWrite.All"], "holds a privileged administrator role"),
    ],
    ids=["permission-missing", "privileged-account"],
)
def test_403_is_tried_for_three_runs_then_left_for_an_operator(
    world: World, roles: list[str], reason: str
) -> None:
    """Entra refuses the disable: a "deactivation failed" entry saying why and what to do at
    each of three runs, then one marking it for an operator, and no fourth try."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    world.graph.deny(account)
    token = jwt({"aud": GRAPH_AUDIENCE, "roles": roles})
    directory = world.directory_with(credential=FakeCredential(token))

    for run in range(3):
        report = world.run(DISABLE_AT + timedelta(minutes=5 * run), directory)
        assert report.failed == 1
        [newest, *_] = world.entries(employee_id, Action.DEACTIVATION_FAILED)
        assert reason in newest.message
        assert f"attempt {run + 1} of 3" in newest.message

    fourth = world.run(DISABLE_AT + timedelta(minutes=15), directory)

    assert fourth.due == 0
    assert world.graph.count("PATCH") == 3
    assert world.enabled(account)
    assert len(world.entries(employee_id, Action.DEACTIVATION_FAILED)) == 3
    [operator] = world.entries(employee_id, Action.LEFT_FOR_OPERATOR)
    assert "An operator must disable it by hand" in operator.message
    assert [e.employee_id for e in IntegrationLog(world.storage).for_attention()] == [employee_id]
    assert world.schedule.upcoming(employee_id) == []
    # The next sync, the account still enabled, plans the past disable again (dates.py's
    # `keep_schedule`): it is not brought back for three more tries.
    plan = world.planner.plan(world.client.employee(employee_id), DISABLE_AT + timedelta(hours=1))
    assert plan.last is not None and plan.last.kind == "disable"
    assert world.schedule.replace(employee_id, [plan.last]) == []
    assert world.schedule.upcoming(employee_id) == []


def test_employee_lucca_no_longer_shows_is_left_for_an_operator(world: World) -> None:
    """Lucca answers 404 for the employee: nothing is disabled, an operator decides."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    world.lucca.inject(
        404,
        path=rf"^/lucca-api/employees/{employee_id}$",
        body=problem_body(404, f"No employee with id {employee_id}."),
        headers={"Content-Type": "application/problem+json"},
    )

    report = world.run(DISABLE_AT)

    assert report.acted == 0
    assert world.graph.count() == 0 and world.enabled(account)
    [entry] = [e for e in world.log.for_attention() if e.action is Action.NOT_IN_LUCCA]
    assert entry.employee_id == employee_id
    assert world.schedule.upcoming(employee_id) == []


def test_throttled_run_stops_and_the_next_run_finishes(world: World) -> None:
    """Graph's 429 stops the run: the other leaver is not even read; the next run does both."""
    accounts = _leavers(world, 2, scheduled_before=timedelta(days=30))
    directory = world.directory_with(max_retries=0)
    world.graph.throttle(times=1, method="GET")

    stopped = world.run(DISABLE_AT, directory)

    assert stopped.throttled
    assert (stopped.deferred, stopped.acted) == (2, 0)
    assert world.graph.count() == 1
    assert world.run(DISABLE_AT + timedelta(minutes=5), directory).disabled == 2
    assert not any(world.enabled(account) for account in accounts)


def test_busy_employee_waits_for_the_next_run(world: World) -> None:
    """A sync holds the employee's lease: the run leaves the action; the next one acts."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    token = world.leases.acquire(employee_id)
    assert token is not None

    busy = world.run(DISABLE_AT)

    assert (busy.deferred, busy.acted) == (1, 0)
    assert world.graph.count() == 0
    world.leases.release(employee_id, token)
    assert world.run(DISABLE_AT + timedelta(minutes=5)).disabled == 1
    assert not world.enabled(account)


# -- cost ------------------------------------------------------------------------------------
def test_a_run_reads_only_what_is_due(world: World) -> None:
    """2,000 scheduled actions, 3 of them due: the run reads 3 rows and 3 employees."""
    leavers = [world.hire(start=date(2021, 1, 4), end=LAST_DAY) for _ in range(3)]
    for employee_id, _ in leavers:
        world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    later = [
        PlannedAction(
            kind="disable",
            at=midnight_after(LAST_DAY + timedelta(days=n + 1)),
            local_day=LAST_DAY + timedelta(days=n + 2),
            zone="Europe/Paris",
            employment_id=str(n),
            contract_day=LAST_DAY + timedelta(days=n + 1),
        )
        for n in range(10)
    ]
    others = [(f"9{n:04d}", later if n < 199 else later[:7]) for n in range(200)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda other: world.schedule.replace(*other), others))
    indexed = world.storage.on_table(
        SCHEDULE_TABLE,
        lambda t: sum(1 for _ in t.query_entities(f"PartitionKey eq '{DUE_PARTITION}'")),
    )
    assert indexed == 2000
    world.lucca.reset_log()

    report = world.run(DISABLE_AT + timedelta(minutes=2))

    assert (report.rows_read, report.due, report.disabled) == (3, 3, 3)
    employee_reads = [p for p in world.lucca.api_calls if p.startswith("/lucca-api/employees/")]
    assert sorted(employee_reads) == sorted(f"/lucca-api/employees/{e}" for e, _ in leavers)
    assert not any(world.enabled(account) for _, account in leavers)
    assert len(world.schedule.upcoming("90000")) == 10


def test_a_released_run_is_not_held_again_when_more_fall_due(world: World) -> None:
    """Released, then throttled half-way, with one more sudden disable due by the next run:
    the released ones are not held again (the operator's release stays valid)."""
    accounts = _leavers(world, 21, scheduled_before=timedelta(hours=1))
    held = world.run(DISABLE_AT)
    world.graph.throttle(times=1, retry_after=600, path=r"^/v1\.0/users/")
    first = world.run(DISABLE_AT + timedelta(minutes=5), release_id=held.run_id)
    assert first.throttled
    _leavers(world, 1, scheduled_before=timedelta(hours=1))
    second = world.run(DISABLE_AT + timedelta(minutes=10))
    assert second.held == 0
    assert not any(world.enabled(account) for account in accounts)


def test_lucca_refusing_the_timer_stops_the_run_without_using_attempts(world: World) -> None:
    """Lucca's 401/403 for the connector itself (expired secret, missing scope) stops the
    run: nothing is done, nothing is counted against the actions, they wait."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    world.lucca.inject(403, path=r"^/lucca-api/employees/", times=10, body={
        "title": "Forbidden", "status": 403, "detail": "needs the scope employees.readonly",
    })  # fmt: skip
    for minutes in (0, 5, 10, 15):
        assert world.run(DISABLE_AT + timedelta(minutes=minutes)).acted == 0
    [action] = world.schedule.upcoming(employee_id)
    assert action.attempts == 0
    assert world.entries(employee_id, Action.LEFT_FOR_OPERATOR) == []
    world.lucca.clear_faults()
    assert world.run(DISABLE_AT + timedelta(minutes=20)).disabled == 1
    assert not world.enabled(account)


def test_observe_mode_timer_changes_nothing(world: World) -> None:
    """CONNECTOR_MODE=observe: the timer carries nothing out; the actions stay due."""
    employee_id, account = world.hire(start=date(2021, 1, 4), end=LAST_DAY)
    world.plan_at(employee_id, DISABLE_AT - timedelta(days=30))
    report = world.run(DISABLE_AT, observe=True)
    assert (report.acted, report.deferred) == (0, 1)
    assert world.enabled(account)
    assert len(world.schedule.upcoming(employee_id)) == 1
