"""The schedule of dated actions (enable, disable), in Table Storage.

Table `Schedule`, two kinds of partitions:
- `employee-<Lucca id>`: the employee's action rows (`action-<kind>-<employment id>`) and its
  `pointer` row (the version of the employee's schedule). A reschedule rewrites them in one
  transaction, guarded by the pointer's ETag, so two syncs can never interleave their writes.
  Its `who` row holds the employee's name and login as the last sync gave them, for the daily
  digest (whose timer never reads Lucca); written only when they change.
- `due`: one index row per action, RowKey = `<UTC instant>|<employee>|<kind>|<employment>`, so
  that "what is due" is one range query on one partition: the timer reads O(due) rows, never
  O(employees). An index row is only a pointer: the employee's row decides. A stale index row
  (the action moved or was cancelled since) is dropped when the timer meets it.
- `entered` and `disabled`: for the daily cap (connector/flows/holds.py), one row per disable
  scheduled (or moved) by a replace and one per disable carried out, RowKey =
  `<UTC instant>|<due key>`: a day's count is one range read of that day's rows. Insert-only,
  so concurrent syncs never contend on a counter row.
- `runs`: the released disables, and a marker per local day once the "entered" alert is said.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from connector.core.clock import utc_now
from connector.core.errors import Transient
from connector.domain.contract_dates import PlannedAction
from connector.domain.notices import Who
from connector.domain.scheduled import (
    ACTION_PREFIX,
    ScheduleChange,
    ScheduledAction,
    instant_key,
    replacement,
)
from connector.storage.tables import Storage

SCHEDULE_TABLE = "Schedule"
DUE_PARTITION = "due"
POINTER_ROW = "pointer"
GIVEN_UP_PREFIX = "given-up-"
RUNS_PARTITION = "runs"
RELEASED_ROW = "released"
ENTERED_PARTITION = "entered"
DISABLED_PARTITION = "disabled"
ENTERED_ALERT_PREFIX = "entered-alert-"
WHO_ROW = "who"


def employee_partition(employee_id: str) -> str:
    """The partition of one employee's schedule."""
    return f"employee-{employee_id}"


def to_entity(action: ScheduledAction) -> dict[str, Any]:
    """The employee partition's row of an action."""
    return {
        "PartitionKey": employee_partition(action.employee_id),
        "RowKey": action.key,
        "Kind": action.kind,
        "At": action.at,
        "LocalDay": action.local_day.isoformat(),
        "ContractDay": action.contract_day.isoformat(),
        "EmploymentId": action.employment_id,
        "Zone": action.zone,
        "ScheduledAt": action.scheduled_at,
        "Attempts": action.attempts,
    }


def from_entity(employee_id: str, row: dict[str, Any]) -> ScheduledAction:
    """Read a row written by `to_entity`."""
    return ScheduledAction(
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
            (from_entity(employee_id, r) for r in rows if r["RowKey"].startswith(ACTION_PREFIX)),
            key=lambda a: a.at,
        )

    def replace(
        self, employee_id: str, planned: Sequence[PlannedAction], *, who: Who | None = None
    ) -> list[ScheduleChange]:
        """Make the employee's schedule exactly `planned`; returns what changed. `who` is
        kept in the partition (written only when it differs) for the daily digest."""
        rows, pointer = self._partition(employee_id)
        if who is not None and planned:
            self._keep_who(
                employee_id, who, next((r for r in rows if r["RowKey"] == WHO_ROW), None)
            )
        stored = {
            r["RowKey"]: from_entity(employee_id, r)
            for r in rows
            if r["RowKey"].startswith(ACTION_PREFIX)
        }
        given_up = {
            r["RowKey"].removeprefix(GIVEN_UP_PREFIX): r["At"]
            for r in rows
            if r["RowKey"].startswith(GIVEN_UP_PREFIX)
        }
        plan = replacement(employee_id, stored, given_up, planned, self._clock())
        # The index rows first, for every action kept (idempotent): a crash after them leaves
        # only stale rows, which the timer drops; a crash before the partition write is
        # mended by the next replace, since it re-indexes unchanged actions too.
        for action in plan.kept:
            self._index(action)
        if not plan.changes:
            return []
        self._write(employee_id, pointer, plan.written, plan.cancelled)
        for action in plan.unindexed:
            self._unindex(action)
        entered = [c.action for c in plan.changes if c.change != "cancelled"]
        for action in entered:
            if action.kind == "disable":
                self._mark(ENTERED_PARTITION, action, self._clock())
        return plan.changes

    def due(self, now: datetime) -> list[ScheduledAction]:
        """Every indexed action whose instant is at or before `now` (reads only those)."""
        upper = f"{instant_key(now)}|~"

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
                        "lower": instant_key(start),
                        "upper": instant_key(end),
                    },
                )
            ]

        found = []
        for row in self._storage.on_table(SCHEDULE_TABLE, query):
            current = self.current(str(row["EmployeeId"]), str(row["ActionKey"]))
            if current is not None and current.due_key == row["RowKey"]:
                found.append(current)
        return found

    def who(self, employee_id: str) -> Who | None:
        """The employee's name and login as the last sync gave them (one point read)."""
        row = self._storage.read(SCHEDULE_TABLE, employee_partition(employee_id), WHO_ROW)
        if row is None:
            return None
        return Who(str(row.get("Name") or ""), str(row.get("Login") or "") or None)

    def _keep_who(self, employee_id: str, who: Who, row: dict[str, Any] | None) -> None:
        if row is not None and (row.get("Name") or "", row.get("Login") or None) == (
            who.name,
            who.login,
        ):
            return
        entity = {
            "PartitionKey": employee_partition(employee_id),
            "RowKey": WHO_ROW,
            "Name": who.name,
            "Login": who.login or "",
        }
        self._storage.on_table(
            SCHEDULE_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def current(self, employee_id: str, key: str) -> ScheduledAction | None:
        """One stored action of an employee, or None."""
        row = self._storage.read(SCHEDULE_TABLE, employee_partition(employee_id), key)
        return from_entity(employee_id, row) if row else None

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
        entity = {**to_entity(action), "Attempts": attempts}
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

    # -- the daily cap ------------------------------------------------------------------------
    def count_disabled(self, action: ScheduledAction, at: datetime) -> None:
        """Remember that the action's disable was carried out at `at`."""
        self._mark(DISABLED_PARTITION, action, at)

    def disabled_between(self, start: datetime, end: datetime) -> int:
        """Disables carried out in [start, end)."""
        return len(self._between(DISABLED_PARTITION, start, end, limit=None))

    def entered_between(self, start: datetime, end: datetime, limit: int) -> list[str]:
        """The employees of the disables scheduled or moved in [start, end), at most `limit`
        rows read (one per disable entered)."""
        keys = self._between(ENTERED_PARTITION, start, end, limit=limit)
        return [key.split("|")[2] for key in keys]

    def entered_alerted(self, day: date) -> bool:
        """Whether the "entered" alert of that local day was said."""
        row = self._storage.read(SCHEDULE_TABLE, RUNS_PARTITION, ENTERED_ALERT_PREFIX + str(day))
        return row is not None

    def mark_entered_alerted(self, day: date) -> None:
        """The "entered" alert of that local day was said."""
        entity = {"PartitionKey": RUNS_PARTITION, "RowKey": ENTERED_ALERT_PREFIX + str(day)}
        self._storage.on_table(
            SCHEDULE_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def _mark(self, partition: str, action: ScheduledAction, at: datetime) -> None:
        entity = {"PartitionKey": partition, "RowKey": f"{instant_key(at)}|{action.due_key}"}
        self._storage.on_table(
            SCHEDULE_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def _between(
        self, partition: str, start: datetime, end: datetime, *, limit: int | None
    ) -> list[str]:
        """The RowKeys of `partition` whose instant is in [start, end), at most `limit`."""

        def query(table: TableClient) -> list[str]:
            rows = table.query_entities(
                "PartitionKey eq @p and RowKey ge @lower and RowKey lt @upper",
                parameters={"p": partition, "lower": instant_key(start), "upper": instant_key(end)},
                select=["RowKey"],
                results_per_page=limit,
            )
            return [str(row["RowKey"]) for row in itertools.islice(rows, limit)]

        return self._storage.on_table(SCHEDULE_TABLE, query)

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
        operations.extend(("upsert", to_entity(a), {"mode": UpdateMode.REPLACE}) for a in upserts)
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
