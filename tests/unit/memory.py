"""In-memory stores at the engines' ports: identity links, schedule, integration log, change
feed and leases.

They behave like the Azurite-backed ones for what the sync and the timer use (a link taken
twice is refused, a lease held is not given to another, a schedule's due actions come soonest
first and its stale index entries are dropped, the log lists newest first:
tests/integration/test_memory_stores.py runs the same scenarios on both), so an engine's unit
test needs no Azurite. Test code only: nothing here ships.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from connector.core.errors import Transient
from connector.domain.contract_dates import PlannedAction
from connector.domain.entries import Action, LogEntry
from connector.domain.links import Link
from connector.domain.messages import ChangeMessage
from connector.domain.notices import Who
from connector.domain.scheduled import ScheduleChange, ScheduledAction, instant_key, replacement
from connector.storage.lease import LEASE_DURATION
from connector.storage.log import for_an_operator

Clock = Callable[[], datetime]


class MemoryLinks:
    """Identity links both ways, and the reports waiting for their manager's link."""

    def __init__(self) -> None:
        self._links: dict[str, Link] = {}
        self._employee_of: dict[str, str] = {}
        self._waiting: dict[str, set[str]] = {}
        self._refused: set[tuple[str, str]] = set()

    def of_employee(self, employee_id: str) -> Link | None:
        """The employee's link, or None."""
        return self._links.get(employee_id)

    def employee_of(self, object_id: str) -> str | None:
        """The employee an account is linked to, or None."""
        return self._employee_of.get(object_id)

    def all(self) -> list[Link]:
        """Every link."""
        return list(self._links.values())

    def link(
        self, employee_id: str, object_id: str, *, how: str, at: datetime, stamped: bool = False
    ) -> Link:
        """Link both ways; refused (`Transient`, as the table's transaction) if either side is
        linked already."""
        if employee_id in self._links or object_id in self._employee_of:
            raise Transient(
                f"employee {employee_id} or account {object_id} was linked meanwhile",
                service="storage",
                code="LinkExists",
            )
        self._links[employee_id] = Link(
            employee_id=employee_id, object_id=object_id, linked_at=at, how=how, stamped=stamped
        )
        self._employee_of[object_id] = employee_id
        return self._links[employee_id]

    def set_stamped(self, employee_id: str) -> None:
        """Record that the account holds the employee's anchor."""
        self._change(employee_id, stamped=True)

    def unlink(self, employee_id: str, *, at: datetime, why: str) -> Link | None:
        """Drop the link both ways and refuse that account to that employee."""
        link = self._links.get(employee_id)
        if link is None:
            return None
        self.set_pending_manager(employee_id, None)
        del self._links[employee_id], self._employee_of[link.object_id]
        self._refused.add((employee_id, link.object_id))
        return link

    def is_refused(self, employee_id: str, object_id: str) -> bool:
        """Whether an operator unlinked this account from this employee."""
        return (employee_id, object_id) in self._refused

    def clear_refusal(self, employee_id: str, object_id: str) -> None:
        """An operator linked this account to this employee again."""
        self._refused.discard((employee_id, object_id))

    def set_disabled_by_connector(self, employee_id: str, value: bool) -> None:
        """Record whether the connector disabled the account."""
        self._change(employee_id, disabled_by_connector=value)

    def set_lifecycle(self, employee_id: str, hire: str | None, leave: str | None) -> None:
        """Record the lifecycle dates last written."""
        self._change(employee_id, lifecycle=(hire or None, leave or None))

    def set_pending_manager(self, report_id: str, manager_id: str | None) -> None:
        """Record (or clear) the manager a report waits for."""
        link = self._links.get(report_id)
        previous = link.pending_manager_id if link else None
        if previous and previous != manager_id:
            self._waiting.get(previous, set()).discard(report_id)
        if manager_id:
            self._waiting.setdefault(manager_id, set()).add(report_id)
        self._change(report_id, pending_manager_id=manager_id or None)

    def pending_reports(self, manager_id: str) -> list[str]:
        """The reports waiting for this manager, in key order."""
        return sorted(self._waiting.get(manager_id, set()))

    def _change(self, employee_id: str, **values: Any) -> None:
        link = self._links.get(employee_id)
        if link is not None:
            self._links[employee_id] = replace(link, **values)


class MemorySchedule:
    """Each employee's actions, and an index of them by instant that may hold stale entries
    (moved or cancelled actions), dropped when `due` meets them, as the table's index rows.
    The real store guards a replace with an ETag; one thread cannot interleave two."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self.rows_read = 0
        self._actions: dict[str, dict[str, ScheduledAction]] = {}
        self._given_up: dict[str, dict[str, datetime]] = {}
        self._index: dict[str, tuple[str, str]] = {}  # due key → (employee, action key)
        self._released: set[str] = set()
        self._entered: list[tuple[datetime, str]] = []  # (when, employee) per disable entered
        self._disabled: list[datetime] = []  # when each disable was carried out
        self._alerted: set[date] = set()
        self.who: dict[str, Who] = {}  # each employee's name and login, as the last sync gave

    def upcoming(self, employee_id: str) -> list[ScheduledAction]:
        """The employee's actions, soonest first."""
        return sorted(self._actions.get(employee_id, {}).values(), key=lambda a: a.at)

    def replace(
        self, employee_id: str, planned: Sequence[PlannedAction], *, who: Who | None = None
    ) -> list[ScheduleChange]:
        """Make the employee's schedule exactly `planned`; returns what changed (and keeps
        `who`, as the table does)."""
        if who is not None:
            self.who[employee_id] = who
        actions = self._actions.setdefault(employee_id, {})
        given_up = self._given_up.get(employee_id, {})
        result = replacement(employee_id, dict(actions), given_up, planned, self._clock())
        self._index.update({a.due_key: (employee_id, a.key) for a in result.kept})
        actions.update({a.key: a for a in result.written})
        for gone in result.cancelled:
            del actions[gone.key]
        for stale in result.unindexed:
            self._index.pop(stale.due_key, None)
        now = self._clock()
        self._entered.extend(
            (now, employee_id)
            for c in result.changes
            if c.change != "cancelled" and c.action.kind == "disable"
        )
        return result.changes

    def due(self, now: datetime) -> list[ScheduledAction]:
        """The indexed actions at or before `now`, soonest first; stale entries dropped."""
        upper = f"{instant_key(now)}|~"
        keys = sorted(key for key in self._index if key <= upper)
        self.rows_read = len(keys)
        found = []
        for key in keys:
            current = self.current(*self._index[key])
            if current is None or current.due_key != key:
                del self._index[key]
            else:
                found.append(current)
        return found

    def current(self, employee_id: str, key: str) -> ScheduledAction | None:
        """One stored action, or None."""
        return self._actions.get(employee_id, {}).get(key)

    def done(self, action: ScheduledAction) -> None:
        """Drop the action and its index entry."""
        self._actions.get(action.employee_id, {}).pop(action.key, None)
        self._index.pop(action.due_key, None)

    def give_up(self, action: ScheduledAction) -> None:
        """Drop the action; never plan it again at this instant."""
        self._given_up.setdefault(action.employee_id, {})[action.key] = action.at
        self.done(action)

    def failed_once_more(self, action: ScheduledAction) -> int:
        """Count a failed attempt (the row is written whole, as the table's merge does)."""
        attempts = action.attempts + 1
        self._actions.setdefault(action.employee_id, {})[action.key] = replace(
            action, attempts=attempts
        )
        return attempts

    def released(self) -> frozenset[str]:
        """Due keys of released disables."""
        return frozenset(self._released)

    def release(self, due_keys: Sequence[str]) -> None:
        """Remember released disables."""
        self._released.update(due_keys)

    def count_disabled(self, action: ScheduledAction, at: datetime) -> None:
        """Remember a disable carried out."""
        self._disabled.append(at)

    def disabled_between(self, start: datetime, end: datetime) -> int:
        """Disables carried out in [start, end)."""
        return sum(1 for at in self._disabled if start <= at < end)

    def entered_between(self, start: datetime, end: datetime, limit: int) -> list[str]:
        """Employees of the disables entered in [start, end), at most `limit`."""
        return [e for at, e in self._entered if start <= at < end][:limit]

    def entered_alerted(self, day: date) -> bool:
        """Whether the day's "entered" alert was said."""
        return day in self._alerted

    def mark_entered_alerted(self, day: date) -> None:
        """The day's "entered" alert was said."""
        self._alerted.add(day)


class MemoryLog:
    """The integration log: every entry kept, listed newest first."""

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def write(self, entry: LogEntry) -> None:
        """Keep one entry."""
        self.entries.append(entry)

    def for_attention(self, limit: int = 200, action: Action | None = None) -> list[LogEntry]:
        """What an operator must act on, newest first (only `action`'s when given)."""
        kept = [e for e in self.entries if for_an_operator(e)]
        return self._newest([e for e in kept if action is None or e.action is action], limit)

    def for_employee(self, employee_id: str, limit: int = 50) -> list[LogEntry]:
        """One employee's entries, newest first."""
        return self._newest([e for e in self.entries if e.employee_id == employee_id], limit)

    @staticmethod
    def _newest(entries: list[LogEntry], limit: int) -> list[LogEntry]:
        # Written later first among entries of the same instant.
        return sorted(reversed(entries), key=lambda e: e.time, reverse=True)[:limit]


class MemoryFeed:
    """The change feed: the resource index, the queue (a list) and each employee's state."""

    def __init__(self) -> None:
        self.resources: dict[tuple[str, str], str] = {}
        self.queued: list[tuple[ChangeMessage, int]] = []
        self.started: dict[str, datetime] = {}
        self.applied: dict[str, datetime] = {}
        self.errors: dict[str, tuple[str, str | None]] = {}

    def remember_resource(self, resource: str, resource_id: str, employee_id: str) -> None:
        """Record whose employment or job position this is."""
        self.resources[(resource, resource_id)] = employee_id

    def enqueue(self, message: ChangeMessage, delay_seconds: int) -> None:
        """Queue the message (with its delay)."""
        self.queued.append((message, delay_seconds))

    def mark_started(self, employee_id: str, now: datetime) -> None:
        """A sync took the employee's message."""
        self.started[employee_id] = now

    def mark_applied(self, employee_id: str, read_started_at: datetime) -> None:
        """Lucca's state read then is applied; never moves backwards."""
        previous = self.applied.get(employee_id)
        if previous is None or previous < read_started_at:
            self.applied[employee_id] = read_started_at

    def remember_error(
        self, employee_id: str, sentence: str, request_id: str | None, at: datetime
    ) -> None:
        """Keep why the last sync failed."""
        self.errors[employee_id] = (sentence, request_id)

    def last_error(self, employee_id: str) -> tuple[str, str | None] | None:
        """Why the last sync failed, if it did."""
        return self.errors.get(employee_id)

    def forget_error(self, employee_id: str) -> None:
        """The last sync succeeded."""
        self.errors.pop(employee_id, None)


class MemoryLeases:
    """Per-employee leases that expire, as the table's: one holder at a time."""

    def __init__(self, *, clock: Clock, duration: timedelta = LEASE_DURATION) -> None:
        self._clock = clock
        self._duration = duration
        self._held: dict[str, tuple[str, datetime]] = {}  # employee → (token, expires at)

    def acquire(self, employee_id: str) -> str | None:
        """The lease's token, or None while another holds it unexpired."""
        now = self._clock()
        held = self._held.get(employee_id)
        if held is not None and held[1] > now:
            return None
        token = secrets.token_hex(8)
        self._held[employee_id] = (token, now + self._duration)
        return token

    def release(self, employee_id: str, token: str) -> None:
        """Give the lease back if this token holds it."""
        held = self._held.get(employee_id)
        if held is not None and held[0] == token:
            del self._held[employee_id]
