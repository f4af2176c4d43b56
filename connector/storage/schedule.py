"""The schedule of dated actions (enable, disable), in Table Storage.

Table `Schedule`, two kinds of partitions:
- `employee-<Lucca id>`: the employee's action rows (`action-<kind>-<employment id>`) and its
  `pointer` row (the version of the employee's schedule). A reschedule rewrites them in one
  transaction, guarded by the pointer's ETag, so two syncs can never interleave their writes.
- `due`: one index row per action, RowKey = `<UTC instant>|<employee>|<kind>|<employment>`, so
  that "what is due" is one range query on one partition: the timer reads O(due) rows, never
  O(employees). An index row is only a pointer: the employee's row decides. A stale index row
  (the action moved or was cancelled since) is dropped when the timer meets it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from connector.core.clock import utc_now
from connector.core.errors import Transient
from connector.domain.contract_dates import Kind, PlannedAction
from connector.storage.tables import Storage

SCHEDULE_TABLE = "Schedule"
DUE_PARTITION = "due"
POINTER_ROW = "pointer"
ACTION_PREFIX = "action-"
GIVEN_UP_PREFIX = "given-up-"
RUNS_PARTITION = "runs"
RELEASED_ROW = "released"

Change = Literal["scheduled", "rescheduled", "cancelled"]


def employee_partition(employee_id: str) -> str:
    """The partition of one employee's schedule."""
    return f"employee-{employee_id}"


def _instant(moment: datetime) -> str:
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
        return f"{_instant(self.at)}|{self.employee_id}|{self.kind}|{self.employment_id}"

    def describe(self) -> str:
        """`disable on 2026-10-25 00:00 Europe/Paris (last day 2026-10-24, employment 77)`."""
        day = "last day" if self.kind == "disable" else "first day"
        return (
            f"{self.kind} on {self.local_day:%Y-%m-%d} 00:00 {self.zone} "
            f"({day} {self.contract_day:%Y-%m-%d}, employment {self.employment_id})"
        )

    def to_entity(self) -> dict[str, Any]:
        """The employee partition's row."""
        return {
            "PartitionKey": employee_partition(self.employee_id),
            "RowKey": self.key,
            "Kind": self.kind,
            "At": self.at,
            "LocalDay": self.local_day.isoformat(),
            "ContractDay": self.contract_day.isoformat(),
            "EmploymentId": self.employment_id,
            "Zone": self.zone,
            "ScheduledAt": self.scheduled_at,
            "Attempts": self.attempts,
        }

    @classmethod
    def from_entity(cls, employee_id: str, row: dict[str, Any]) -> ScheduledAction:
        """Read a row written by `to_entity`."""
        return cls(
            employee_id=employee_id,
            kind=row["Kind"],
            at=row["At"],
            local_day=date.fromisoformat(row["LocalDay"]),
            contract_day=date.fromisoformat(row["ContractDay"]),
            employment_id=str(row["EmploymentId"]),
            zone=str(row["Zone"]),
            scheduled_at=row["ScheduledAt"],
            attempts=int(row.get("Attempts") or 0),
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


class ScheduleStore:
    """Keeps each employee's upcoming actions and finds those that are due."""

    def __init__(self, storage: Storage, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._storage = storage
        self._clock = clock
        self.rows_read = 0  # index rows the last `due` read: its cost, for telemetry and tests

    def upcoming(self, employee_id: str) -> list[ScheduledAction]:
        """The employee's stored actions, soonest first (one partition)."""
        rows, _ = self._partition(employee_id)
        return sorted(
            (
                ScheduledAction.from_entity(employee_id, r)
                for r in rows
                if r["RowKey"].startswith(ACTION_PREFIX)
            ),
            key=lambda a: a.at,
        )

    def replace(self, employee_id: str, planned: Sequence[PlannedAction]) -> list[ScheduleChange]:
        """Make the employee's schedule exactly `planned`; returns what changed."""
        rows, pointer = self._partition(employee_id)
        stored = {
            r["RowKey"]: ScheduledAction.from_entity(employee_id, r)
            for r in rows
            if r["RowKey"].startswith(ACTION_PREFIX)
        }
        given_up = {
            r["RowKey"].removeprefix(GIVEN_UP_PREFIX): r["At"]
            for r in rows
            if r["RowKey"].startswith(GIVEN_UP_PREFIX)
        }
        # An action left for an operator is not planned again at the same instant.
        planned = [
            a
            for a in planned
            if given_up.get(ScheduledAction.planned(employee_id, a, a.at).key) != a.at
        ]
        now = self._clock()
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
        # The index rows first, for every action kept (idempotent): a crash after them leaves
        # only stale rows, which the timer drops; a crash before the partition write is
        # mended by the next replace, since it re-indexes unchanged actions too.
        for key in keep:
            self._index(wanted.get(key) or stored[key])
        if not changes:
            return []
        self._write(employee_id, pointer, wanted.values(), cancelled)
        for change_ in changes:
            if change_.before is not None or change_.change == "cancelled":
                self._unindex(change_.before or change_.action)
        return changes

    def due(self, now: datetime) -> list[ScheduledAction]:
        """Every indexed action whose instant is at or before `now` (reads only those)."""
        upper = f"{_instant(now)}|~"

        def query(table: TableClient) -> list[dict[str, Any]]:
            return [
                dict(row)
                for row in table.query_entities(
                    "PartitionKey eq @due and RowKey le @upper",
                    parameters={"due": DUE_PARTITION, "upper": upper},
                )
            ]

        rows = self._storage.on_table(SCHEDULE_TABLE, query)
        self.rows_read = len(rows)
        found = []
        for row in rows:
            current = self.current(str(row["EmployeeId"]), str(row["ActionKey"]))
            if current is None or current.due_key != row["RowKey"]:
                with contextlib.suppress(ResourceNotFoundError):  # stale: moved or cancelled
                    self._storage.delete(SCHEDULE_TABLE, DUE_PARTITION, row["RowKey"])
                continue
            found.append(current)
        return found

    def between(self, start: datetime, end: datetime) -> list[ScheduledAction]:
        """The indexed actions due in [start, end), soonest first (reads only those; a stale
        index row is skipped, not mended: the timer does that)."""

        def query(table: TableClient) -> list[dict[str, Any]]:
            return [
                dict(row)
                for row in table.query_entities(
                    "PartitionKey eq @due and RowKey ge @lower and RowKey lt @upper",
                    parameters={
                        "due": DUE_PARTITION,
                        "lower": _instant(start),
                        "upper": _instant(end),
                    },
                )
            ]

        found = []
        for row in self._storage.on_table(SCHEDULE_TABLE, query):
            current = self.current(str(row["EmployeeId"]), str(row["ActionKey"]))
            if current is not None and current.due_key == row["RowKey"]:
                found.append(current)
        return found

    def current(self, employee_id: str, key: str) -> ScheduledAction | None:
        """One stored action of an employee, or None."""
        row = self._storage.read(SCHEDULE_TABLE, employee_partition(employee_id), key)
        return ScheduledAction.from_entity(employee_id, row) if row else None

    def done(self, action: ScheduledAction) -> None:
        """The action was carried out (or found already done): drop it and its index row."""
        rows, pointer = self._partition(action.employee_id)
        if any(r["RowKey"] == action.key for r in rows):
            self._write(action.employee_id, pointer, (), [action])
        self._unindex(action)

    def give_up(self, action: ScheduledAction) -> None:
        """The action failed too often: drop it, and remember not to plan it again at this
        instant (an operator acts by hand; a new date plans it anew)."""
        marker = {
            "PartitionKey": employee_partition(action.employee_id),
            "RowKey": GIVEN_UP_PREFIX + action.key,
            "At": action.at,
        }
        self._storage.on_table(
            SCHEDULE_TABLE, lambda t: t.upsert_entity(marker, mode=UpdateMode.REPLACE)
        )
        self.done(action)

    def failed_once_more(self, action: ScheduledAction) -> int:
        """Count a failed attempt on the action; returns the attempts so far."""
        attempts = action.attempts + 1
        entity = {**action.to_entity(), "Attempts": attempts}
        self._storage.on_table(
            SCHEDULE_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.MERGE)
        )
        return attempts

    # -- released runs ------------------------------------------------------------------------
    def released(self) -> frozenset[str]:
        """Due keys of disables an operator released (RELEASE_HELD_RUN): no longer sudden."""
        row = self._storage.read(SCHEDULE_TABLE, RUNS_PARTITION, RELEASED_ROW)
        return frozenset(json.loads(row["Keys"])) if row else frozenset()

    def release(self, due_keys: Sequence[str]) -> None:
        """Remember that these disables were released, so a later run (after a 429, or with
        more disables due) does not hold them again."""
        keys = sorted(self.released() | set(due_keys))
        entity = {"PartitionKey": RUNS_PARTITION, "RowKey": RELEASED_ROW, "Keys": json.dumps(keys)}
        self._storage.on_table(
            SCHEDULE_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    # -- helpers ----------------------------------------------------------------------------
    def _partition(self, employee_id: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        partition = employee_partition(employee_id)

        def query(table: TableClient) -> list[Any]:
            return list(table.query_entities("PartitionKey eq @p", parameters={"p": partition}))

        rows = self._storage.on_table(SCHEDULE_TABLE, query)
        pointer = next((r for r in rows if r["RowKey"] == POINTER_ROW), None)
        return [dict(r) for r in rows], pointer

    def _write(
        self,
        employee_id: str,
        pointer: Any,
        upserts: Any,
        deletes: Sequence[ScheduledAction],
    ) -> None:
        """One transaction: the pointer (guarded by its ETag), upserts and deletes."""
        version = int(pointer["Version"]) + 1 if pointer is not None else 1
        pointer_entity = {
            "PartitionKey": employee_partition(employee_id),
            "RowKey": POINTER_ROW,
            "Version": version,
        }
        operations: list[Any] = []
        if pointer is None:
            operations.append(("create", pointer_entity))
        else:
            operations.append(
                (
                    "update",
                    pointer_entity,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": pointer.metadata["etag"],
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
        operations.extend(("upsert", a.to_entity(), {"mode": UpdateMode.REPLACE}) for a in upserts)
        operations.extend(
            ("delete", {"PartitionKey": employee_partition(employee_id), "RowKey": a.key})
            for a in deletes
        )
        try:
            self._storage.on_table(SCHEDULE_TABLE, lambda t: t.submit_transaction(operations))
        except (TableTransactionError, ResourceExistsError, ResourceModifiedError) as err:
            raise Transient(
                f"the schedule of employee {employee_id} changed meanwhile",
                service="storage",
                code="ScheduleChanged",
            ) from err

    def _index(self, action: ScheduledAction) -> None:
        entity = {
            "PartitionKey": DUE_PARTITION,
            "RowKey": action.due_key,
            "EmployeeId": action.employee_id,
            "ActionKey": action.key,
        }
        self._storage.on_table(
            SCHEDULE_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def _unindex(self, action: ScheduledAction) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._storage.delete(SCHEDULE_TABLE, DUE_PARTITION, action.due_key)
