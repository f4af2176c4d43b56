"""The change feed between the webhook and the sync: journal, resource index, queue, state.

Tables (every lookup here is a point read on PartitionKey + RowKey):
- `EventJournal`: one row per Lucca event, PartitionKey = the UTC day it occurred,
  RowKey = its key (SHA-256 of `source` + `id`). Ids, topic, times and the body's hash only:
  never `data`, which holds personal data.
- `ResourceIndex`: PartitionKey = `employment` | `job-position`, RowKey = its Lucca id,
  `EmployeeId`: how a `*.deleted` event that names no employee is mapped to one.
- `EmployeeSync`: PartitionKey = the Lucca employee id; row `pending` while a message for the
  employee waits on the queue, row `applied` with the instant up to which Lucca's state has been
  applied (set by the sync when it succeeds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from connector.store import Storage

JOURNAL_TABLE = "EventJournal"
RESOURCE_INDEX_TABLE = "ResourceIndex"
EMPLOYEE_SYNC_TABLE = "EmployeeSync"
CHANGES_QUEUE = "lucca-changes"
PENDING_ROW = "pending"
APPLIED_ROW = "applied"

# A message for an employee is taken as still waiting for this long after it becomes
# visible; past that (a message deleted by hand, say) a new event queues a fresh one.
PENDING_GRACE = timedelta(minutes=30)


class Outcome(StrEnum):
    """What the intake did with an event."""

    QUEUED = "queued"
    COALESCED = "coalesced"
    ALREADY_APPLIED = "already-applied"
    UNMAPPED = "unmapped"


@dataclass(frozen=True, kw_only=True)
class JournalEntry:
    """What the journal keeps of one event."""

    key: str
    occurred_at: datetime
    topic: str
    event_id: str | None
    source: str
    body_sha256: str
    resource_id: str | None
    employee_id: str | None
    first_received_at: datetime
    deliveries: int
    outcome: Outcome

    @property
    def partition(self) -> str:
        """The journal's partition: the UTC day the event occurred."""
        return journal_partition(self.occurred_at)

    def to_entity(self, received_at: datetime) -> dict[str, Any]:
        """The table row."""
        return {
            "PartitionKey": self.partition,
            "RowKey": self.key,
            "Topic": self.topic,
            "EventId": self.event_id,
            "Source": self.source,
            "OccurredAt": self.occurred_at,
            "BodySha256": self.body_sha256,
            "ResourceId": self.resource_id,
            "EmployeeId": self.employee_id,
            "FirstReceivedAt": self.first_received_at,
            "LastReceivedAt": received_at,
            "Deliveries": self.deliveries,
            "Outcome": self.outcome.value,
        }


def journal_partition(occurred_at: datetime) -> str:
    """`YYYY-MM-DD`, the UTC day: purging old entries reads whole partitions."""
    return occurred_at.astimezone(UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, kw_only=True)
class ChangeMessage:
    """The message on `lucca-changes`: sync this employee (the event is for the record)."""

    employee_id: str
    event_key: str
    topic: str
    queued_at: datetime

    def to_json(self) -> str:
        """The message text (the queue client base64-encodes it)."""
        return json.dumps(
            {
                "employeeId": self.employee_id,
                "eventKey": self.event_key,
                "topic": self.topic,
                "queuedAt": self.queued_at.isoformat(),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> ChangeMessage:
        """Read a message written by `to_json`."""
        payload = json.loads(text)
        return cls(
            employee_id=str(payload["employeeId"]),
            event_key=str(payload["eventKey"]),
            topic=str(payload["topic"]),
            queued_at=datetime.fromisoformat(payload["queuedAt"]),
        )


@dataclass(frozen=True, kw_only=True)
class EmployeeSyncState:
    """Whether a sync is waiting on the queue for an employee, and how far it has applied."""

    pending_since: datetime | None = None
    pending_visible_at: datetime | None = None
    applied_through: datetime | None = None

    def is_pending(self, now: datetime) -> bool:
        """A message for this employee is waiting on the queue."""
        if self.pending_visible_at is None:
            return False
        return now <= self.pending_visible_at + PENDING_GRACE

    def has_applied(self, received_at: datetime) -> bool:
        """A sync read Lucca after this instant and succeeded."""
        return self.applied_through is not None and self.applied_through >= received_at


class ChangeFeed:
    """Reads and writes the journal, the resource index, the employee state and the queue."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    # -- journal ----------------------------------------------------------------------------
    def journal_entry(self, key: str, occurred_at: datetime) -> dict[str, Any] | None:
        """The journal row of an event, or None."""
        return self._get(JOURNAL_TABLE, journal_partition(occurred_at), key)

    def record(self, entry: JournalEntry, received_at: datetime) -> None:
        """Write (or overwrite) the journal row of an event."""
        entity = entry.to_entity(received_at)
        self._storage.on_table(
            JOURNAL_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    # -- resource index ---------------------------------------------------------------------
    def remember_resource(self, resource: str, resource_id: str, employee_id: str) -> None:
        """Record that an employment or job position belongs to an employee."""
        entity = {"PartitionKey": resource, "RowKey": resource_id, "EmployeeId": employee_id}
        self._storage.on_table(
            RESOURCE_INDEX_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def employee_of(self, resource: str, resource_id: str) -> str | None:
        """The employee an employment or job position was recorded for, or None."""
        row = self._get(RESOURCE_INDEX_TABLE, resource, resource_id)
        return str(row["EmployeeId"]) if row else None

    # -- employee state ---------------------------------------------------------------------
    def state(self, employee_id: str) -> EmployeeSyncState:
        """The sync state of an employee (one partition: its `pending` and `applied` rows)."""
        rows: dict[str, dict[str, Any]] = self._storage.on_table(
            EMPLOYEE_SYNC_TABLE,
            lambda t: {
                str(row["RowKey"]): dict(row)
                for row in t.query_entities(
                    "PartitionKey eq @employee", parameters={"employee": employee_id}
                )
            },
        )
        pending = rows.get(PENDING_ROW, {})
        return EmployeeSyncState(
            pending_since=pending.get("Since"),
            pending_visible_at=pending.get("VisibleAt"),
            applied_through=rows.get(APPLIED_ROW, {}).get("Through"),
        )

    def mark_pending(self, employee_id: str, since: datetime, visible_at: datetime) -> None:
        """Note that a message for the employee is waiting on the queue."""
        self._put_state(employee_id, PENDING_ROW, {"Since": since, "VisibleAt": visible_at})

    def mark_started(self, employee_id: str) -> None:
        """Called by the sync before it reads Lucca: later events need a new message."""
        self._storage.on_table(
            EMPLOYEE_SYNC_TABLE, lambda t: t.delete_entity(employee_id, PENDING_ROW)
        )

    def mark_applied(self, employee_id: str, read_started_at: datetime) -> None:
        """Called by the sync once Lucca's state read at `read_started_at` is applied."""
        self._put_state(employee_id, APPLIED_ROW, {"Through": read_started_at})

    def _put_state(self, employee_id: str, row: str, values: dict[str, Any]) -> None:
        entity = {"PartitionKey": employee_id, "RowKey": row, **values}
        self._storage.on_table(
            EMPLOYEE_SYNC_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    # -- queue ------------------------------------------------------------------------------
    def enqueue(self, message: ChangeMessage, delay_seconds: int) -> None:
        """Put the message on `lucca-changes`, invisible for `delay_seconds`."""
        text = message.to_json()
        self._storage.on_queue(
            CHANGES_QUEUE,
            lambda q: q.send_message(text, visibility_timeout=delay_seconds or None),
        )

    # -- helpers ----------------------------------------------------------------------------
    def _get(self, table: str, partition: str, row: str) -> dict[str, Any] | None:
        def read(client: TableClient) -> dict[str, Any] | None:
            try:
                return dict(client.get_entity(partition, row))
            except ResourceNotFoundError as err:
                if getattr(err, "error_code", None) == "TableNotFound":
                    raise
                return None

        return self._storage.on_table(table, read)
