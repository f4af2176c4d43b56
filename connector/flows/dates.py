"""The sync's part in start and end dates: an account closed by the connector opens once its
employment has started; with LIFECYCLE_DATES, employeeHireDate and employeeLeaveDateTime follow
the plan; and the schedule keeps the upcoming enables and disables for the timer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connector.domain.contract_dates import AccessPlan, PlannedAction, local_midnight_utc
from connector.domain.entries import Action, Change, LogEntry
from connector.domain.ports import Accounts, LinkStore, Log, Schedule, ZonedPlanner
from connector.flows.sync_run import SyncRun

if TYPE_CHECKING:
    from connector.entra.users import DirectoryUser
    from connector.lucca.models import LuccaEmployee


def actions_to_keep(access: AccessPlan, *, account_enabled: bool) -> list[PlannedAction]:
    """The actions the schedule keeps for an employee: the upcoming ones, and a disable
    already due while the account is still enabled (the next timer run disables it)."""
    actions = list(access.upcoming)
    if access.last is not None and access.last.kind == "disable" and account_enabled:
        actions.insert(0, access.last)
    return actions


def _graph_instant(moment: datetime) -> str:
    """A DateTimeOffset as Graph writes it back: `2026-10-24T22:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AccessDates:
    """Opens accounts whose employment started, writes the lifecycle dates, keeps the schedule."""

    def __init__(
        self,
        *,
        directory: Accounts,
        links: LinkStore,
        log: Log,
        planner: ZonedPlanner | None,
        schedule: Schedule | None,
        lifecycle_dates: bool,
        observe: bool,
        clock: Callable[[], datetime],
    ) -> None:
        self._directory = directory
        self._links = links
        self._log = log
        self._planner = planner
        self._schedule = schedule
        self._lifecycle_dates = lifecycle_dates
        self._observe = observe
        self._clock = clock

    def open_if_due(self, run: SyncRun, employee: LuccaEmployee, user: DirectoryUser) -> bool:
        """An employment that has started opens an account the connector had closed; one
        closed by someone else stays closed. Returns whether the account is enabled now."""
        enabled = user.account_enabled is not False
        if enabled and run.disabled_by_connector and not self._observe:
            # Someone enabled it since the connector closed it: from now on it is theirs.
            self._links.set_disabled_by_connector(employee.id, False)
            run.disabled_by_connector = False
        access = run.access
        if access is None or enabled or not access.enabled_now:
            return enabled
        if not run.disabled_by_connector:
            run.details["disabled_by_someone_else"] = True
            return False
        run.may_change(user.id)
        run.changes.append(Change(attribute="accountEnabled", old="False", new="True"))
        if self._observe:
            return True
        self._directory.update_user(user.id, {"accountEnabled": True})
        self._links.set_disabled_by_connector(employee.id, False)
        run.wrote = run.wrote or Action.UPDATED
        return True

    def write_lifecycle(self, run: SyncRun, employee: LuccaEmployee, object_id: str) -> None:
        """With LIFECYCLE_DATES: employeeHireDate (the current employment's first day) and
        employeeLeaveDateTime (the planned disable), for Entra Lifecycle Workflows; written
        when they differ from what was last written (Graph's values are not read: that needs
        a permission more)."""
        access = run.access
        if not self._lifecycle_dates or access is None or self._planner is None:
            return
        start = employee.employment.start if employee.employment else None
        zone = self._planner.zone_of(employee)
        hire = _graph_instant(local_midnight_utc(start, zone)) if start else None
        disables = [a.at for a in access.upcoming if a.kind == "disable"]
        if not disables and access.last is not None and access.last.kind == "disable":
            disables = [access.last.at]
        leave = _graph_instant(disables[0]) if disables else None
        if (hire, leave) == run.lifecycle:
            return
        run.may_change(object_id)
        run.changes.append(Change(attribute="employeeHireDate", old=run.lifecycle[0], new=hire))
        run.changes.append(
            Change(attribute="employeeLeaveDateTime", old=run.lifecycle[1], new=leave)
        )
        if self._observe:
            return
        self._directory.update_user(
            object_id, {"employeeHireDate": hire, "employeeLeaveDateTime": leave}
        )
        self._links.set_lifecycle(employee.id, hire, leave)
        run.wrote = run.wrote or Action.UPDATED

    def keep_schedule(self, run: SyncRun, employee_id: str, *, account_enabled: bool) -> None:
        """Store the upcoming enables and disables (and a disable already due, for the
        timer and its safety rails); each change of the schedule is an entry of its own."""
        access = run.access
        if access is None or self._schedule is None:
            return
        actions = actions_to_keep(access, account_enabled=account_enabled)
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
                    message=change.describe(),
                )
            )
