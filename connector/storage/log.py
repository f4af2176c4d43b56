"""The integration log: one entry per processed change, for the administrator.

Table `IntegrationLog`. Each entry is written twice, under the two views it serves newest
first: PartitionKey `day-YYYY-MM-DD` (the UTC day) and `employee-<Lucca id>`, RowKey = the
inverted instant + a random suffix, so a query on one partition reads newest entries first.
Entries hold ids, attribute names and values, and sentences: never a secret or a password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from connector.core.clock import utc_now
from connector.core.operation import current_operation
from connector.domain.entries import Action, Change, LogEntry
from connector.storage.dimensions import DIMENSIONS, TELEMETRY_LOGGER, dimensions
from connector.storage.tables import MAX_STRING_BYTES, Storage, cut_text, utf16_bytes

logger = logging.getLogger(__name__)
telemetry = logging.getLogger(
    TELEMETRY_LOGGER
)  # exported with dimensions (connector/runtime/telemetry.py)

LOG_TABLE = "IntegrationLog"
ATTENTION_PARTITION = "attention"
_MAX_MICROSECONDS = 10**17  # beyond year 5000: keeps inverted keys positive and fixed-width
# `search`: how far back it reads by default, how many entries it returns at most, and how
# many days it walks at most (the longest LOG_RETENTION_DAYS keeps), one query per day.
SEARCH_DEFAULT_WINDOW = timedelta(days=7)
SEARCH_MAX_LIMIT = 1000
SEARCH_MAX_DAYS = 3660

# Entries an operator must act on, listed together as well.
NEEDS_AN_OPERATOR = frozenset(
    {
        Action.NOT_IN_LUCCA,
        Action.RUN_HELD,
        Action.LEFT_FOR_OPERATOR,
        Action.NOTIFICATION_FAILED,
        Action.ENDPOINT_SUSPENDED,
        Action.RECONCILIATION_HELD,
        Action.UNLINKED_IN_ENTRA,
    }
)
# Entries the Azure Monitor alert (infra/modules/alert.bicep) fires on: each is also written to
# the Functions log as one warning that starts with ALERT_PREFIX, carrying the action and the
# employee id, never the message (it may hold names). Observed entries do not alert, except a
# change that could not be applied at all.
ALERTING = NEEDS_AN_OPERATOR | {
    Action.FAILED,
    Action.CREATION_FAILED,
    Action.DEACTIVATION_FAILED,
    Action.CATCHUP_FAILED,
}
ALERT_PREFIX = "connector alert:"


def for_an_operator(entry: LogEntry) -> bool:
    """Whether the entry goes to the list of what an operator must act on."""
    return (entry.action in NEEDS_AN_OPERATOR or entry.alert) and not entry.observed


def alerts(entry: LogEntry) -> bool:
    """Whether the entry fires the alert (observed ones do not, but a failure to apply)."""
    if entry.action is Action.FAILED:
        return True
    return (entry.action in ALERTING or entry.alert) and not entry.observed


# A sync ending so opens (or refreshes) the employee's conflict; ending in one of
# `SETTLED` closes it. Open conflicts are listed in the daily digest.
OPENS_A_CONFLICT = frozenset({Action.CONFLICT, Action.CREATION_FAILED})
SETTLES_A_CONFLICT = frozenset(
    {Action.CREATED, Action.LINKED, Action.UPDATED, Action.UNCHANGED, Action.RESTORED}
)
CONFLICTS_PARTITION = "open-conflicts"


def to_entity(entry: LogEntry, partition: str, row: str) -> dict[str, Any]:
    """The table row of an entry under one view."""
    return {
        "PartitionKey": partition,
        "RowKey": row,
        "Time": entry.time,
        "Action": entry.action.value,
        "Message": cut_text(entry.message),
        "EmployeeId": entry.employee_id or "",
        "ObjectId": entry.object_id or "",
        "Changes": _json_within(
            [{"attribute": c.attribute, "old": c.old, "new": c.new} for c in entry.changes]
        ),
        "EventKeys": ",".join(entry.event_keys),
        "RequestId": entry.request_id or "",
        "Observed": entry.observed,
        "Details": _json_within(entry.details),
        "Alert": entry.alert,
        "OperationId": entry.operation_id or "",
        "EmployeeName": cut_text(entry.name),
        "Login": entry.login or "",
    }


# Each string inside a JSON column is cut to the first of these (UTF-16 bytes) that lets the
# column fit in a table property: the column stays JSON, every value keeps its beginning.
_JSON_VALUE_BYTES = (MAX_STRING_BYTES, 8_000, 2_000, 500, 100, 0)


def _json_within(value: Any) -> str:
    """`value` as JSON that fits in one table property, its long strings cut if needed."""
    for limit in _JSON_VALUE_BYTES:
        text = json.dumps(_cut_strings(value, limit), ensure_ascii=False, default=str)
        if utf16_bytes(text) <= MAX_STRING_BYTES:
            break
    return text


def _cut_strings(value: Any, limit: int) -> Any:
    """`value` with every string in it (not the keys) cut to `limit` bytes."""
    if isinstance(value, str):
        return cut_text(value, limit)
    if isinstance(value, dict):
        return {k: _cut_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cut_strings(v, limit) for v in value]
    return value if value is None or isinstance(value, bool | int | float) else str(value)


def from_entity(row: dict[str, Any]) -> LogEntry:
    """Read a row written by `to_entity`."""
    return LogEntry(
        time=row["Time"],
        action=Action(row["Action"]),
        message=row["Message"],
        employee_id=row.get("EmployeeId") or None,
        object_id=row.get("ObjectId") or None,
        changes=tuple(Change(**c) for c in json.loads(row.get("Changes") or "[]")),
        event_keys=tuple(k for k in (row.get("EventKeys") or "").split(",") if k),
        request_id=row.get("RequestId") or None,
        observed=bool(row.get("Observed")),
        details=json.loads(row.get("Details") or "{}"),
        alert=bool(row.get("Alert")),
        operation_id=row.get("OperationId") or None,
        name=row.get("EmployeeName") or "",
        login=row.get("Login") or None,
    )


def _inverted(moment: datetime) -> str:
    """A RowKey prefix that sorts newest first."""
    micros = int(moment.astimezone(UTC).timestamp() * 1_000_000)
    return f"{_MAX_MICROSECONDS - micros:017d}"


def day_partition(moment: datetime) -> str:
    """The partition of the UTC day."""
    return "day-" + moment.astimezone(UTC).strftime("%Y-%m-%d")


def employee_partition(employee_id: str) -> str:
    """The partition of one employee."""
    return f"employee-{employee_id}"


class IntegrationLog:
    """Writes and reads integration log entries."""

    def __init__(self, storage: Storage, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._storage = storage
        self._clock = clock

    def write(self, entry: LogEntry) -> None:
        """Store the entry under the day view, the employee view, and the list of what an
        operator must decide (an employee Lucca no longer shows, a link to check), stamped
        with the operation it is written under (the invocation's) when it names none."""
        if entry.operation_id is None:
            current = current_operation()
            if current is not None:
                entry = replace(entry, operation_id=current.trace_id)
        row = f"{_inverted(entry.time)}-{secrets.token_hex(4)}"
        partitions = [day_partition(entry.time)]
        if entry.employee_id:
            partitions.append(employee_partition(entry.employee_id))
        if for_an_operator(entry):
            partitions.append(ATTENTION_PARTITION)
        for partition in partitions:
            self._upsert(to_entity(entry, partition, row))
        if entry.employee_id and not entry.observed:
            if entry.action in OPENS_A_CONFLICT:
                self._upsert(to_entity(entry, CONFLICTS_PARTITION, entry.employee_id))
            elif entry.action in SETTLES_A_CONFLICT:
                with contextlib.suppress(ResourceNotFoundError):
                    self._storage.delete(LOG_TABLE, CONFLICTS_PARTITION, entry.employee_id)
        # One structured record per entry, once it is stored: ids as custom dimensions, a
        # message readable without them, never the entry's sentence (it may hold names).
        telemetry.info(
            "integration log: %s (employee %s)",
            entry.action.value,
            entry.employee_id or "-",
            extra={DIMENSIONS: dimensions(entry, row)},
        )
        if alerts(entry):
            logger.warning(
                "%s %s (employee %s, log entry %s)",
                ALERT_PREFIX,
                entry.action.value,
                entry.employee_id or "-",
                row,
            )

    def _upsert(self, entity: dict[str, Any]) -> None:
        self._storage.on_table(
            LOG_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def for_employee(self, employee_id: str, limit: int = 50) -> list[LogEntry]:
        """The employee's entries, newest first."""
        return self._read(employee_partition(employee_id), limit)

    def for_attention(self, limit: int = 200, action: Action | None = None) -> list[LogEntry]:
        """What waits for an operator's decision, newest first (only `action`'s when given,
        filtered by the table service, so other entries never crowd them out)."""
        return self._read(ATTENTION_PARTITION, limit, action=action)

    def open_conflicts(self, limit: int = 500) -> list[LogEntry]:
        """The latest conflict or failed creation of each employee still in one."""
        return self._read(CONFLICTS_PARTITION, limit)

    def for_day(self, moment: datetime, limit: int = 200) -> list[LogEntry]:
        """The entries of the UTC day of `moment`, newest first."""
        return self._read(day_partition(moment), limit)

    def search(
        self,
        *,
        employee_id: str | None = None,
        since: datetime | None = None,
        action: Action | None = None,
        limit: int = 200,
    ) -> list[LogEntry]:
        """Entries at or after `since` (default: 7 days ago), newest first, at most `limit`
        (capped at 1000): one employee's partition, else the day partitions from today back to
        since's day (at most 3660 days), one query each, stopping once `limit` are found."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        limit = min(limit, SEARCH_MAX_LIMIT)
        now = self._clock()
        since = since if since is not None else now - SEARCH_DEFAULT_WINDOW
        since = max(since, now - timedelta(days=SEARCH_MAX_DAYS))
        # RowKey = `_inverted(time)-<suffix>`: an entry at `since` itself has the same 17 digits
        # and sorts below them followed by "." ("-" < "."); older entries have larger digits.
        bound = _inverted(since) + "."
        if employee_id is not None:
            return self._read(employee_partition(employee_id), limit, bound, action)
        entries: list[LogEntry] = []
        day = now.astimezone(UTC).date()
        first = since.astimezone(UTC).date()
        while day >= first and len(entries) < limit:
            partition = "day-" + day.isoformat()
            entries += self._read(partition, limit - len(entries), bound, action)
            day -= timedelta(days=1)
        return entries

    def _read(
        self,
        partition: str,
        limit: int,
        below: str | None = None,
        action: Action | None = None,
    ) -> list[LogEntry]:
        """Up to `limit` entries of one partition, newest first; only RowKeys below `below`
        and entries of `action` when given (filtered by the table service)."""
        conditions = ["PartitionKey eq @partition"]
        parameters: dict[str, Any] = {"partition": partition}
        if below is not None:
            conditions.append("RowKey lt @below")
            parameters["below"] = below
        if action is not None:
            conditions.append("Action eq @action")
            parameters["action"] = action.value

        def query(table: Any) -> list[LogEntry]:
            rows = table.query_entities(
                " and ".join(conditions),
                parameters=parameters,
                results_per_page=min(limit, SEARCH_MAX_LIMIT),
            )
            entries = []
            for row in rows:
                entries.append(from_entity(dict(row)))
                if len(entries) >= limit:
                    break
            return entries

        return self._storage.on_table(LOG_TABLE, query)
