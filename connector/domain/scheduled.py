"""The schedule's actions: an enable or disable as the schedule keeps it, and how replacing an
employee's schedule with a new plan changes it (`connector.storage.schedule` keeps them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from connector.domain.contract_dates import Kind, PlannedAction

ACTION_PREFIX = "action-"

Change = Literal["scheduled", "rescheduled", "cancelled"]


def instant_key(moment: datetime) -> str:
    """A UTC instant as text that sorts like time (fixed width, microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, kw_only=True)
class ScheduledAction:
    """An action as stored: what, when, why, and since when it has been planned so."""

    employee_id: str
    kind: Kind
    at: datetime
    local_day: date
    contract_day: date
    employment_id: str
    zone: str
    scheduled_at: datetime
    attempts: int = 0

    @property
    def key(self) -> str:
        """The employee's row for this action: one per kind and employment."""
        return f"{ACTION_PREFIX}{self.kind}-{self.employment_id}"

    @property
    def due_key(self) -> str:
        """The action's row in the `due` index."""
        return f"{instant_key(self.at)}|{self.employee_id}|{self.kind}|{self.employment_id}"

    def describe(self) -> str:
        """`disable on 2026-10-25 00:00 Europe/Paris (last day 2026-10-24, employment 77)`."""
        day = "last day" if self.kind == "disable" else "first day"
        return (
            f"{self.kind} on {self.local_day:%Y-%m-%d} 00:00 {self.zone} "
            f"({day} {self.contract_day:%Y-%m-%d}, employment {self.employment_id})"
        )

    @classmethod
    def planned(
        cls, employee_id: str, action: PlannedAction, scheduled_at: datetime
    ) -> ScheduledAction:
        """A planned action, to be stored."""
        return cls(
            employee_id=employee_id,
            kind=action.kind,
            at=action.at,
            local_day=action.local_day,
            contract_day=action.contract_day,
            employment_id=action.employment_id,
            zone=action.zone,
            scheduled_at=scheduled_at,
        )


@dataclass(frozen=True, kw_only=True)
class ScheduleChange:
    """One change of an employee's schedule, for the integration log."""

    change: Change
    action: ScheduledAction
    before: ScheduledAction | None = None

    def describe(self) -> str:
        """`disable scheduled for 2026-10-25 00:00 Europe/Paris (…)` and the like."""
        action = self.action
        when = f"{action.local_day:%Y-%m-%d} 00:00 {action.zone}"
        if self.change == "scheduled":
            return f"{action.kind} scheduled for {when} ({self._why()})"
        if self.change == "rescheduled" and self.before is not None:
            was = f"{self.before.local_day:%Y-%m-%d} 00:00 {self.before.zone}"
            return f"{action.kind} rescheduled from {was} to {when} ({self._why()})"
        return f"{action.kind} for {when} cancelled"

    def _why(self) -> str:
        day = "last day" if self.action.kind == "disable" else "first day"
        return f"{day} {self.action.contract_day:%Y-%m-%d}, employment {self.action.employment_id}"


@dataclass(frozen=True, kw_only=True)
class Replacement:
    """What making an employee's schedule exactly a plan takes."""

    changes: list[ScheduleChange]  # empty: the schedule is the plan already
    written: list[ScheduledAction]  # new or moved: to write
    kept: list[ScheduledAction]  # every action the schedule keeps, as it will be stored
    cancelled: list[ScheduledAction]  # stored, no longer planned: to delete

    @property
    def unindexed(self) -> list[ScheduledAction]:
        """The actions whose index rows point nowhere once written: moved or cancelled."""
        return [
            change.before or change.action
            for change in self.changes
            if change.before is not None or change.change == "cancelled"
        ]


def replacement(
    employee_id: str,
    stored: Mapping[str, ScheduledAction],
    given_up: Mapping[str, datetime],
    planned: Sequence[PlannedAction],
    now: datetime,
) -> Replacement:
    """How `planned` replaces the `stored` actions (by key); `given_up` holds the instant of
    each action left for an operator, by key."""
    # An action left for an operator is not planned again at the same instant.
    planned = [
        a
        for a in planned
        if given_up.get(ScheduledAction.planned(employee_id, a, a.at).key) != a.at
    ]
    changes: list[ScheduleChange] = []
    wanted: dict[str, ScheduledAction] = {}
    for action in planned:
        new = ScheduledAction.planned(employee_id, action, now)
        old = stored.get(new.key)
        if old is not None and old.at == new.at:
            continue  # unchanged: keeps its ScheduledAt and its attempts
        wanted[new.key] = new
        change: Change = "scheduled" if old is None else "rescheduled"
        changes.append(ScheduleChange(change=change, action=new, before=old))
    keep = {ScheduledAction.planned(employee_id, a, now).key for a in planned}
    cancelled = [old for key, old in stored.items() if key not in keep]
    changes.extend(ScheduleChange(change="cancelled", action=old) for old in cancelled)
    return Replacement(
        changes=changes,
        written=list(wanted.values()),
        kept=[wanted.get(key) or stored[key] for key in keep],
        cancelled=cancelled,
    )
