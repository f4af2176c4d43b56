"""SYNC_SCOPE in the sync and the timer: out of scope is never created, matched or changed.

`ScopeGate` runs first in a sync: an employee SYNC_SCOPE keeps goes on to the sync as before;
one it does not keep gets one `out of scope` entry and nothing written to Entra. A LINKED one
(it has left the scope) gets SCOPE_EXIT_ACTION: `ignore` (the entry says so, the account is
kept as it is), or `disable` at the next local midnight through the leavers' schedule, so the
timer's holds apply. `ScopedPlanner` is the timer's planner: it plans that exit disable again
at the same instant (the schedule remembers it) while the employee is still out of scope, and
plans from the contract dates once it is back in, which cancels the disable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from connector.domain.contract_dates import AccessPlan, PlannedAction, local_midnight_utc
from connector.domain.entries import Action, LogEntry
from connector.domain.ports import Accounts, LinkStore, Log, Schedule, ZonedPlanner
from connector.domain.scope_facts import ScopeJudge
from connector.flows.dates import actions_to_keep

if TYPE_CHECKING:
    from connector.flows.sync_run import SyncRun
    from connector.lucca.models import LuccaEmployee

ExitAction = Literal["ignore", "disable"]
# The exit disable's stand-in for an employment id: its schedule row is `action-disable-scope`.
SCOPE_EXIT = "scope"


class ScopedPlanner:
    """The contract-date planner, with the scope-exit disable for employees out of scope."""

    def __init__(self, planner: ZonedPlanner, judge: ScopeJudge, schedule: Schedule) -> None:
        self._planner = planner
        self._judge = judge
        self._schedule = schedule

    def zone_of(self, employee: LuccaEmployee) -> ZoneInfo:
        """The employee's time zone, as the contract-date planner has it."""
        return self._planner.zone_of(employee)

    def plan(self, employee: LuccaEmployee, now: datetime) -> AccessPlan:
        """The contract-date plan in scope; out of scope, the exit disable."""
        if self._judge.keeps(employee):
            return self._planner.plan(employee, now)
        return self.exit_plan(employee, now)

    def exit_plan(self, employee: LuccaEmployee, now: datetime) -> AccessPlan:
        """Disabled at the next local midnight (or at the instant already scheduled); a leaver
        already past its last day keeps its own disable."""
        base = self._planner.plan(employee, now)
        if base.last is not None and base.last.kind == "disable":
            return AccessPlan(last=base.last, upcoming=())
        zone = self.zone_of(employee)
        key = f"action-disable-{SCOPE_EXIT}"
        stored = self._schedule.current(employee.id, key)
        if stored is not None:
            at, day = stored.at, stored.local_day
        else:
            day = now.astimezone(zone).date() + timedelta(days=1)
            at = local_midnight_utc(day, zone)
        exit_ = PlannedAction(
            kind="disable",
            at=at,
            local_day=day,
            zone=zone.key,
            employment_id=SCOPE_EXIT,
            contract_day=day - timedelta(days=1),  # the last day in scope
        )
        if at <= now:
            return AccessPlan(last=exit_, upcoming=())
        return AccessPlan(last=base.last, upcoming=(exit_,))


class ScopeGate:
    """Stops the sync of an employee SYNC_SCOPE does not keep, after the exit action."""

    def __init__(
        self,
        *,
        judge: ScopeJudge,
        links: LinkStore,
        directory: Accounts,
        log: Log,
        planner: ScopedPlanner | None,
        schedule: Schedule | None,
        exit_action: ExitAction,
        observe: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._judge = judge
        self._links = links
        self._directory = directory
        self._log = log
        self._planner = planner
        self._schedule = schedule
        self._exit = exit_action
        self._observe = observe
        self._clock = clock

    def outside(self, run: SyncRun, employee: LuccaEmployee) -> LogEntry | None:
        """None when the scope keeps the employee; else the run's one entry, after the exit
        action for a linked employee. Nothing is ever written to an unlinked account."""
        if self._judge.keeps(employee):
            return None
        link = self._links.of_employee(employee.id)
        who = f"Employee {employee.id}"
        if link is None:
            return run.finish(
                Action.OUT_OF_SCOPE,
                f"{who} is outside SYNC_SCOPE: no account is created, matched or changed.",
                details={"scope": "outside"},
            )
        run.object_id = link.object_id
        left = f"{who} left the scope (SYNC_SCOPE)"
        if self._exit == "ignore" or self._planner is None or self._schedule is None:
            return run.finish(
                Action.OUT_OF_SCOPE,
                f"{left}: nothing changed, account {link.object_id} kept as it is "
                "(SCOPE_EXIT_ACTION=ignore).",
                details={"scope": "left", "exit": "ignore"},
            )
        user = self._directory.get_user(link.object_id)
        if user is None or user.account_enabled is False:
            self._keep(run, employee.id, [])  # nothing to enable while out of scope
            state = "is disabled" if user is not None else "is no longer in Entra"
            return run.finish(
                Action.OUT_OF_SCOPE,
                f"{left}: account {link.object_id} {state}, nothing more to do.",
                details={"scope": "left", "exit": "disable"},
            )
        run.know(employee, user)  # the daily digest names this leaver
        access = self._planner.exit_plan(employee, self._clock())
        actions = actions_to_keep(access, account_enabled=True)
        self._keep(run, employee.id, actions)
        disable = next((a for a in actions if a.employment_id == SCOPE_EXIT), None)
        when = (
            f"at {disable.at.astimezone(ZoneInfo(disable.zone)):%Y-%m-%d %H:%M} {disable.zone}"
            if disable is not None
            else "by its contract's own disable"
        )
        return run.finish(
            Action.OUT_OF_SCOPE,
            f"{left}: account {user.user_principal_name or user.id} will be disabled {when} "
            "(SCOPE_EXIT_ACTION=disable), unless the employee comes back into the scope "
            "before then; nothing else is changed.",
            details={"scope": "left", "exit": "disable"},
        )

    def _keep(self, run: SyncRun, employee_id: str, actions: list[PlannedAction]) -> None:
        """Make the employee's schedule `actions`; each change is an entry of its own."""
        if self._schedule is None:
            return
        if self._observe:
            run.details["schedule"] = [a.describe() for a in actions]
            return
        for change in self._schedule.replace(employee_id, actions, who=run.who):
            self._log.write(
                LogEntry(
                    time=self._clock(),
                    action=Action.SCHEDULED,
                    employee_id=employee_id,
                    object_id=run.object_id,
                    event_keys=run.event_keys,
                    message=change.describe() + " (left SYNC_SCOPE)",
                )
            )
