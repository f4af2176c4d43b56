"""The email outbox, in Table Storage: what to send, what was sent, and the sending window.

Table `Outbox`, one partition (`outbox`), so that the rows of one notice change together in
one transaction:
- `key-<notice key>`: one row per notice ever raised (employee + kind + Entra object +
  occurrence). Creating it is what makes a notice exist: a second `put` of the same key is
  refused by the table itself (409), so a redelivered event or a retried sync never queues an
  email twice. Once the email is sent (or given up) the row keeps the state, the time and the
  ACS operation id, and drops the names and sentences.
- `wait-<notice key>`: the notice while it waits to be sent, with its attempts, the time of
  the next one and the ACS `Operation-Id` to reuse after an answer that was lost (ACS treats
  it as an idempotency key). Created in the same transaction as its key row; the sender reads
  them with one range query (O(waiting), not O(every notice ever)).
- `intent-<employee id>`: written before the connector POSTs a new account. If the sync
  stops between Graph's answer and the notice (a crash, a timeout), the retry finds the
  account by its anchor, sees the intent, and raises the "account created" notice then.
- `digest-<id>`: a digest being sent, with the keys it covers and its operation id, so a
  digest whose answer was lost is sent again with the same id and covers the same notices.
- `rate`: the emails sent in the last hour, in 10-second buckets (the sending window).

Payloads hold names, logins and the connector's sentences (what the email says), never a
secret or a password.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from connector.core.clock import utc_now
from connector.domain.notices import DailyDigest, Kind, Notice
from connector.storage.outbox_rows import (
    DIGEST_PREFIX,
    INTENT_PREFIX,
    KEY_PREFIX,
    OUTBOX_TABLE,
    PARTITION,
    RATE_ROW,
    WAIT_PREFIX,
    PendingDigest,
    Waiting,
    daily_key,
    daily_to_json,
    notice_to_json,
)
from connector.storage.tables import Storage

BUCKET_SECONDS = 10


class Outbox:
    """Reads and writes the outbox rows."""

    def __init__(self, storage: Storage, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._storage = storage
        self._clock = clock

    # -- raising notices --------------------------------------------------------------------
    def put(self, notice: Notice) -> bool:
        """Queue the notice unless its key was ever queued; True if queued now."""
        return self._put(
            notice.key,
            notice.kind,
            notice_to_json(notice),
            notice.raised_at,
            {
                "EmployeeId": notice.employee_id,
                "ObjectId": notice.object_id or "",
            },
        )

    def put_daily(self, digest: DailyDigest) -> bool:
        """Queue the daily digest of `digest.day` unless it was queued already."""
        return self._put(
            daily_key(digest.day), Kind.DAILY, daily_to_json(digest), digest.raised_at, {}
        )

    def _put(
        self, key: str, kind: Kind, payload: str, raised_at: datetime, extra: dict[str, Any]
    ) -> bool:
        key_row = {
            "PartitionKey": PARTITION,
            "RowKey": KEY_PREFIX + key,
            "Kind": kind.value,
            "State": "waiting",
            "RaisedAt": raised_at,
            **extra,
        }
        wait = Waiting(
            key=key,
            kind=kind,
            payload=payload,
            raised_at=raised_at,
            attempts=0,
            next_attempt=raised_at,
            operation_id="",
            last_error="",
            etag="",
        )
        operations: list[Any] = [
            ("create", key_row),
            ("upsert", wait.to_entity(), {"mode": UpdateMode.REPLACE}),
        ]
        try:
            self._storage.on_table(OUTBOX_TABLE, lambda t: t.submit_transaction(operations))
        except (TableTransactionError, ResourceExistsError):
            if self.state(key) is None:
                raise
            return False  # raised before: the table refused a second key row
        return True

    def state(self, key: str) -> str | None:
        """`waiting`, `sent`, `digested`, `failed`, or None for a key never raised."""
        row = self._storage.read(OUTBOX_TABLE, PARTITION, KEY_PREFIX + key)
        return None if row is None else str(row.get("State") or "")

    # -- creation intents -------------------------------------------------------------------
    def intend(self, employee_id: str) -> None:
        """Record, before the POST, that the connector is creating the employee's account."""
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": INTENT_PREFIX + employee_id,
            "At": self._clock(),
        }
        self._storage.on_table(
            OUTBOX_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.REPLACE)
        )

    def intended_at(self, employee_id: str) -> datetime | None:
        """When the connector last set out to create the employee's account, if it did."""
        row = self._storage.read(OUTBOX_TABLE, PARTITION, INTENT_PREFIX + employee_id)
        return None if row is None else row["At"]

    def forget_intent(self, employee_id: str) -> None:
        """The creation is settled (notice raised, or no account made)."""
        self._storage.delete(OUTBOX_TABLE, PARTITION, INTENT_PREFIX + employee_id)

    # -- sending ----------------------------------------------------------------------------
    def waiting(self) -> list[Waiting]:
        """Every notice waiting to be sent, oldest first (one range query)."""

        def query(table: TableClient) -> list[Any]:
            return list(
                table.query_entities(
                    "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
                    parameters={"p": PARTITION, "lo": WAIT_PREFIX, "hi": WAIT_PREFIX[:-1] + "."},
                )
            )

        rows = self._storage.on_table(OUTBOX_TABLE, query)
        return sorted((Waiting.from_entity(r) for r in rows), key=lambda w: (w.raised_at, w.key))

    def claim(self, wait: Waiting, *, until: datetime) -> Waiting | None:
        """Take the notice for one send (another sender skips it until `until`); it gets an
        operation id if it has none. None if someone else changed it meanwhile."""
        claimed = replace(
            wait, next_attempt=until, operation_id=wait.operation_id or str(uuid.uuid4())
        )
        try:
            metadata = self._storage.on_table(
                OUTBOX_TABLE,
                lambda t: t.update_entity(
                    claimed.to_entity(),
                    mode=UpdateMode.REPLACE,
                    etag=wait.etag,
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        return replace(claimed, etag=metadata["etag"])

    def retry_later(
        self, wait: Waiting, *, at: datetime, error: str, count: bool, unknown: bool
    ) -> Waiting:
        """Put the notice back for a later attempt; `count` spends an attempt. After an
        outcome that is `unknown` (ACS may have accepted it), and ever after, the notice keeps
        its operation id; otherwise it gets a fresh one (the last one sent nothing)."""
        maybe_sent = wait.maybe_sent or unknown
        again = replace(
            wait,
            attempts=wait.attempts + (1 if count else 0),
            next_attempt=at,
            last_error=error[:2000],
            operation_id=wait.operation_id if maybe_sent else str(uuid.uuid4()),
            maybe_sent=maybe_sent,
        )
        self._storage.on_table(
            OUTBOX_TABLE, lambda t: t.upsert_entity(again.to_entity(), mode=UpdateMode.REPLACE)
        )
        return again

    def settle(
        self, key: str, *, state: str, at: datetime, operation_id: str, error: str = ""
    ) -> None:
        """The notice is sent (`sent`, `digested`) or given up (`failed`): its key row keeps
        the state without the payload, and its `wait-` row goes."""
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": KEY_PREFIX + key,
            "State": state,
            "SettledAt": at,
            "OperationId": operation_id,
            "LastError": error[:2000],
        }
        both: list[Any] = [
            ("upsert", entity, {"mode": UpdateMode.MERGE}),
            ("delete", {"PartitionKey": PARTITION, "RowKey": WAIT_PREFIX + key}),
        ]
        try:  # one transaction: a crash cannot leave a settled notice waiting
            self._storage.on_table(OUTBOX_TABLE, lambda t: t.submit_transaction(both))
        except (TableTransactionError, ResourceNotFoundError):  # no wait row left: settle it
            self._storage.on_table(
                OUTBOX_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.MERGE)
            )

    # -- digests ----------------------------------------------------------------------------
    def start_digest(self, keys: Iterable[str], reason: str) -> PendingDigest:
        """Record the digest before sending it (the keys it covers, its operation id)."""
        pending = PendingDigest(
            digest_id=uuid.uuid4().hex,
            keys=tuple(keys),
            operation_id=str(uuid.uuid4()),
            reason=reason,
            started_at=self._clock(),
        )
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": DIGEST_PREFIX + pending.digest_id,
            "Keys": json.dumps(pending.keys),
            "OperationId": pending.operation_id,
            "Reason": reason,
            "StartedAt": pending.started_at,
        }
        self._storage.on_table(OUTBOX_TABLE, lambda t: t.create_entity(entity))
        return pending

    def pending_digests(self) -> list[PendingDigest]:
        """Digests started and not finished (their answer was lost, or the run stopped)."""

        def query(table: TableClient) -> list[Any]:
            return list(
                table.query_entities(
                    "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi",
                    parameters={
                        "p": PARTITION,
                        "lo": DIGEST_PREFIX,
                        "hi": DIGEST_PREFIX[:-1] + ".",
                    },
                )
            )

        rows = self._storage.on_table(OUTBOX_TABLE, query)
        return [
            PendingDigest(
                digest_id=str(r["RowKey"]).removeprefix(DIGEST_PREFIX),
                keys=tuple(json.loads(r["Keys"])),
                operation_id=r["OperationId"],
                reason=r.get("Reason") or "",
                started_at=r["StartedAt"],
                attempts=int(r.get("Attempts") or 0),
            )
            for r in rows
        ]

    def digest_unknown(self, digest: PendingDigest) -> int:
        """Count one more attempt whose outcome is unknown; the new count."""
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": DIGEST_PREFIX + digest.digest_id,
            "Attempts": digest.attempts + 1,
        }
        self._storage.on_table(
            OUTBOX_TABLE, lambda t: t.upsert_entity(entity, mode=UpdateMode.MERGE)
        )
        return digest.attempts + 1

    def finish_digest(
        self, digest: PendingDigest, *, at: datetime, state: str = "digested", error: str = ""
    ) -> None:
        """Every notice it covers is settled (sent in it, or given up); the digest row goes
        last, so a run that stops midway finishes it next time."""
        for key in digest.keys:
            self.settle(key, state=state, at=at, operation_id=digest.operation_id, error=error)
        self._storage.delete(OUTBOX_TABLE, PARTITION, DIGEST_PREFIX + digest.digest_id)

    def drop_digest(self, digest: PendingDigest) -> None:
        """The digest certainly was not sent: its notices wait again, one by one."""
        with contextlib.suppress(ResourceNotFoundError):
            self._storage.delete(OUTBOX_TABLE, PARTITION, DIGEST_PREFIX + digest.digest_id)

    # -- the sending window -----------------------------------------------------------------
    def window(self) -> tuple[dict[int, int], str | None]:
        """Emails sent per 10-second bucket (epoch second of the bucket → count), and the
        row's ETag."""
        row = self._storage.read(OUTBOX_TABLE, PARTITION, RATE_ROW)
        if row is None:
            return {}, None
        buckets = {int(k): int(v) for k, v in json.loads(row.get("Buckets") or "{}").items()}
        return buckets, row.metadata["etag"]

    def record_sent(self, at: datetime, count: int = 1) -> None:
        """Count `count` emails sent at `at` (buckets older than an hour are dropped)."""
        bucket = int(at.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
        for _ in range(5):
            buckets, etag = self.window()
            buckets = {k: v for k, v in buckets.items() if k > bucket - 3600}
            buckets[bucket] = buckets.get(bucket, 0) + count
            if self._write_window(buckets, etag):
                return

    def _write_window(self, buckets: dict[int, int], etag: str | None) -> bool:
        """Write the window over the version read; False if another sender wrote meanwhile."""
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": RATE_ROW,
            "Buckets": json.dumps({str(k): v for k, v in sorted(buckets.items())}),
        }

        def write(table: TableClient) -> None:
            if etag is None:
                table.create_entity(entity)
            else:
                table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )

        try:
            self._storage.on_table(OUTBOX_TABLE, write)
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True


def sent_within(buckets: dict[int, int], now: datetime, seconds: int) -> int:
    """Emails counted in the buckets that overlap the last `seconds` (rounded up: safe)."""
    start = now.timestamp() - seconds
    return sum(count for bucket, count in buckets.items() if bucket + BUCKET_SECONDS > start)


def later(now: datetime, seconds: float) -> datetime:
    """`now` + `seconds`."""
    return now + timedelta(seconds=seconds)
