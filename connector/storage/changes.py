"""The change feed between the webhook and the sync: journal, resource index, queue, state.

Tables (every lookup here is a point read on PartitionKey + RowKey):
- `EventJournal`: one row per Lucca event, PartitionKey = the UTC day it occurred,
  RowKey = its key (SHA-256 of `source` + `id`). Ids, topic, times and the body's hash only:
  never `data`, which holds personal data.
- `ResourceIndex`: PartitionKey = `employment` | `job-position`, RowKey = its Lucca id,
  `EmployeeId`: how a `*.deleted` event that names no employee is mapped to one.
- `EmployeeSync`: PartitionKey = the Lucca employee id; row `pending` (is a message for the
  employee waiting on the queue, see `PendingState`), row `applied` with the instant up to which
  Lucca's state has been applied (set by the sync when it succeeds); the sync's `lease` and
  `last-error` rows live here too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from connector.domain.messages import ChangeMessage
from connector.storage.tables import Storage

JOURNAL_TABLE = "EventJournal"
RESOURCE_INDEX_TABLE = "ResourceIndex"
EMPLOYEE_SYNC_TABLE = "EmployeeSync"
CHANGES_QUEUE = "lucca-changes"
PENDING_ROW = "pending"
ERROR_ROW = "last-error"
APPLIED_ROW = "applied"

# A message for an employee is taken as still waiting for this long after it becomes
# visible; past that (a message deleted by hand, say) a new event queues a fresh one.
PENDING_GRACE = timedelta(minutes=30)
# A claim older than this belongs to a delivery that died between claim and message.
CLAIM_TIMEOUT = timedelta(seconds=30)
# Azure Storage refuses a visibility timeout over 7 days (OUT_OF_RANGE_QUERY_PARAMETER_VALUE):
# https://learn.microsoft.com/rest/api/storageservices/put-message#uri-parameters
# Every delay is kept an hour below it.
MAX_QUEUE_DELAY_SECONDS = 7 * 24 * 3600 - 3600


def retry_delays(value: str) -> tuple[int, ...]:
    """RETRY_DELAYS_SECONDS: whole seconds separated by commas, each at most
    `MAX_QUEUE_DELAY_SECONDS`; ValueError naming no value."""
    parts = [part.strip() for part in value.split(",")]
    if not all(part.isdigit() for part in parts):
        raise ValueError("must be whole seconds separated by commas, e.g. 60,300,900,3600")
    delays = tuple(int(part) for part in parts)
    if max(delays) > MAX_QUEUE_DELAY_SECONDS:
        raise ValueError(f"each wait must be at most {MAX_QUEUE_DELAY_SECONDS} s (under 7 days)")
    return delays


def checked_retry_delays(value: str) -> str:
    """The setting's value, once `retry_delays` reads it."""
    retry_delays(value)
    return value


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
    last_outcome: Outcome

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
            "LastOutcome": self.last_outcome.value,
        }


def journal_partition(occurred_at: datetime) -> str:
    """`YYYY-MM-DD`, the UTC day: purging old entries reads whole partitions."""
    return occurred_at.astimezone(UTC).strftime("%Y-%m-%d")


class PendingState(StrEnum):
    """The `pending` row of an employee: where its next sync stands."""

    QUEUING = "queuing"  # a delivery has claimed the row and is writing the message
    QUEUED = "queued"  # a message waits on the queue; later events coalesce into it
    STARTED = "started"  # a sync took the message: later events need a new one


@dataclass(frozen=True, kw_only=True)
class Claim:
    """The right to queue the employee's next sync, held by one delivery."""

    employee_id: str
    etag: str


@dataclass(frozen=True, kw_only=True)
class PendingRow:
    """The employee's `pending` row as read."""

    state: PendingState
    since: datetime
    visible_at: datetime | None
    etag: str

    def waiting(self, now: datetime) -> bool:
        """A message for the employee waits on the queue (and is not long overdue)."""
        return (
            self.state is PendingState.QUEUED
            and self.visible_at is not None
            and now <= self.visible_at + PENDING_GRACE
        )

    def in_flight(self, now: datetime) -> bool:
        """Another delivery is writing the message right now."""
        return self.state is PendingState.QUEUING and now - self.since <= CLAIM_TIMEOUT


class ChangeFeed:
    """Reads and writes the journal, the resource index, the employee state and the queue."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    # -- journal ----------------------------------------------------------------------------
    def journal_entry(self, key: str, occurred_at: datetime) -> dict[str, Any] | None:
        """The journal row of an event, or None."""
        return self._storage.read(JOURNAL_TABLE, journal_partition(occurred_at), key)

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
        row = self._storage.read(RESOURCE_INDEX_TABLE, resource, resource_id)
        return str(row["EmployeeId"]) if row else None

    # -- employee state ---------------------------------------------------------------------
    # Deliveries and syncs coordinate through the employee's `pending` row, with ETags, so that
    # an event is coalesced only into a message no sync has taken yet: a delivery claims the
    # row (insert, or replace of a `started` or stale row), writes the message, then marks the
    # row `queued` only if no sync has marked it `started` meanwhile.

    def pending(self, employee_id: str) -> PendingRow | None:
        """The employee's `pending` row, or None."""
        row = self._storage.read(EMPLOYEE_SYNC_TABLE, employee_id, PENDING_ROW)
        if row is None:
            return None
        return PendingRow(
            state=PendingState(row["State"]),
            since=row["Since"],
            visible_at=row.get("VisibleAt"),
            etag=str(row.metadata["etag"]),
        )

    def claim(self, employee_id: str, now: datetime, current: PendingRow | None) -> Claim | None:
        """Claim the right to queue the employee's next sync; None if another delivery won."""
        entity = {
            "PartitionKey": employee_id,
            "RowKey": PENDING_ROW,
            "State": PendingState.QUEUING.value,
            "Since": now,
        }
        try:
            if current is None:
                written = self._storage.on_table(
                    EMPLOYEE_SYNC_TABLE, lambda t: t.create_entity(entity)
                )
            else:
                written = self._storage.on_table(
                    EMPLOYEE_SYNC_TABLE,
                    lambda t: t.update_entity(
                        entity,
                        mode=UpdateMode.REPLACE,
                        etag=current.etag,
                        match_condition=MatchConditions.IfNotModified,
                    ),
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return None
        return Claim(employee_id=employee_id, etag=str(written["etag"]))

    def confirm(self, claim: Claim, now: datetime, visible_at: datetime) -> None:
        """The message is written: mark it `queued`, unless a sync has already started."""
        entity = {
            "PartitionKey": claim.employee_id,
            "RowKey": PENDING_ROW,
            "State": PendingState.QUEUED.value,
            "Since": now,
            "VisibleAt": visible_at,
        }
        # A sync that took the message already marked the row `started`: leave it so.
        with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
            self._storage.on_table(
                EMPLOYEE_SYNC_TABLE,
                lambda t: t.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=claim.etag,
                    match_condition=MatchConditions.IfNotModified,
                ),
            )

    def abandon(self, claim: Claim) -> None:
        """The message could not be written: give the claim up (best effort)."""
        with contextlib.suppress(Exception):
            self._storage.on_table(
                EMPLOYEE_SYNC_TABLE,
                lambda t: t.delete_entity(
                    claim.employee_id,
                    PENDING_ROW,
                    etag=claim.etag,
                    match_condition=MatchConditions.IfNotModified,
                ),
            )

    def mark_started(self, employee_id: str, now: datetime) -> None:
        """The sync's first step, before it reads Lucca: later events need a new message."""
        entity = {
            "PartitionKey": employee_id,
            "RowKey": PENDING_ROW,
            "State": PendingState.STARTED.value,
            "Since": now,
        }
        self._storage.on_table(
            EMPLOYEE_SYNC_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def applied_through(self, employee_id: str) -> datetime | None:
        """The instant up to which a sync has applied Lucca's state, or None."""
        row = self._storage.read(EMPLOYEE_SYNC_TABLE, employee_id, APPLIED_ROW)
        return row["Through"] if row else None

    def mark_applied(self, employee_id: str, read_started_at: datetime) -> None:
        """Called by the sync once Lucca's state read at `read_started_at` is applied."""
        previous = self.applied_through(employee_id)
        if previous is not None and previous >= read_started_at:
            return  # never move backwards (a slower, older sync finishing last)
        entity = {"PartitionKey": employee_id, "RowKey": APPLIED_ROW, "Through": read_started_at}
        self._storage.on_table(
            EMPLOYEE_SYNC_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    # -- the last failure, for the poison entry ------------------------------------------------
    def remember_error(
        self, employee_id: str, sentence: str, request_id: str | None, at: datetime
    ) -> None:
        """Keep why the employee's last sync failed (a sentence: never a payload or secret)."""
        entity = {
            "PartitionKey": employee_id,
            "RowKey": ERROR_ROW,
            "Message": sentence,
            "RequestId": request_id or "",
            "At": at,
        }
        self._storage.on_table(
            EMPLOYEE_SYNC_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def last_error(self, employee_id: str) -> tuple[str, str | None] | None:
        """Why the employee's last sync failed, and Graph's request id, if it failed."""
        row = self._storage.read(EMPLOYEE_SYNC_TABLE, employee_id, ERROR_ROW)
        return (str(row["Message"]), row.get("RequestId") or None) if row else None

    def forget_error(self, employee_id: str) -> None:
        """A sync succeeded: no failure to quote any more."""
        with contextlib.suppress(ResourceNotFoundError):
            self._storage.delete(EMPLOYEE_SYNC_TABLE, employee_id, ERROR_ROW)

    # -- queue ------------------------------------------------------------------------------
    def enqueue(self, message: ChangeMessage, delay_seconds: int) -> None:
        """Put the message on `lucca-changes`, invisible for `delay_seconds` (at most
        `MAX_QUEUE_DELAY_SECONDS`), never expiring (the default 7 days would drop changes while
        the app is stopped)."""
        text = message.to_json()
        delay_seconds = min(max(0, delay_seconds), MAX_QUEUE_DELAY_SECONDS)
        self._storage.on_queue(
            CHANGES_QUEUE,
            lambda q: q.send_message(
                text, visibility_timeout=delay_seconds or None, time_to_live=-1
            ),
        )
