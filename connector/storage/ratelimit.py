"""One Lucca request budget shared by every instance and the command line, kept in Table Storage.

Lucca allows 50 requests a minute per tenant, shared by all its integrations; the connector
keeps to `LUCCA_MAX_RPM` of them, whichever instance asks. The budget is a token bucket held
in one row of table `LuccaRateLimit`: `Tokens` (the level at `UpdatedAt`; negative when
callers have reserved tokens not yet refilled) and `NotBefore` (set after a 429: nobody sends
before it). Every change is a conditional write (ETag, `If-Match`); a caller that loses the
race (412) reads the row again and retries, so no reservation is lost or given twice.

Algorithm (a token bucket in its "virtual scheduling" form, GCRA): capacity B (`burst`),
refill r = (N - B + 1) / W tokens a second, N = `per_minute`, W = `window_seconds`, with
τ = (B - 1) / r. A caller takes a token with one write and gets a slot: now when a token is
there, else the instant its token will have been refilled; it sleeps until that slot. Callers
never poll, and they are served in the order of their writes.

Bound: let TAT be the instant the bucket would be full again, and a caller's arrival
max(now, NotBefore). Reservation k gets tat_k = max(TAT, arrival_k) and
slot_k = max(arrival_k, tat_k - τ), and leaves TAT = tat_k + 1/r; so for i < j,
tat_j ≥ tat_i + (j - i)/r and slot_j - slot_i ≥ (j - i)/r - τ. If n slots fall in a window
shorter than W, (n - 1)/r - τ < W, so n < rW + B = N + 1: at most N slots in any rolling
window of W seconds, all instances together (up to their clock skew, milliseconds under NTP).
The price of the burst is the sustained rate, N - B + 1 per window: 28 a minute for the
default N = 30, B = 3. The bound is on the slots, the instants `acquire` lets callers go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from connector.core.clock import utc_now
from connector.core.errors import Throttled, Transient
from connector.storage.tables import Storage

TABLE = "LuccaRateLimit"
PARTITION = "lucca"
ROW = "bucket"
MAX_CONFLICTS = 100  # lost conditional writes in one call before storage is deemed unusable
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class _Bucket:
    """The row as read: level at `updated_at`, the 429 barrier, and the ETag (None: no row)."""

    tokens: float
    updated_at: datetime
    not_before: datetime
    etag: str | None


class LuccaRateLimiter:
    """Keeps all callers together under `per_minute` Lucca requests in any rolling minute."""

    def __init__(
        self,
        storage: Storage,
        *,
        per_minute: int,
        window_seconds: float = 60.0,
        max_wait_seconds: float = 20.0,
        burst: int | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1 or window_seconds <= 0:
            raise ValueError("per_minute must be at least 1 and window_seconds positive")
        self.per_minute = per_minute
        self.burst = burst if burst is not None else max(1, min(5, per_minute // 10))
        if not 1 <= self.burst <= per_minute:
            raise ValueError("burst must be between 1 and per_minute")
        self.rate = (per_minute - self.burst + 1) / window_seconds  # tokens a second
        self._tolerance = (self.burst - 1) / self.rate  # τ, in seconds
        self._max_wait = timedelta(seconds=max_wait_seconds)
        self._storage = storage
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> datetime:
        """Block until one request may go out, and return its slot (the instant the budget
        granted it); `Throttled` if that is beyond the maximum wait."""
        deadline = self._clock() + self._max_wait
        conflicts = 0
        while True:
            bucket = self._read()
            now = self._clock()
            at = max(now, bucket.updated_at)  # a lagging clock never refills twice
            # Seconds from `at`: to the caller's arrival, to its TAT (floats, so no drift).
            arrival = max(0.0, (bucket.not_before - at).total_seconds())
            full = (self.burst - bucket.tokens) / self.rate
            tat = max(full - (at - bucket.updated_at).total_seconds(), arrival)
            slot = at + timedelta(seconds=max(arrival, tat - self._tolerance))
            if slot > deadline:
                wait = (slot - now).total_seconds()
                raise Throttled(
                    f"the Lucca request budget ({self.per_minute} a minute, shared by every "
                    f"instance) is spent for the next {wait:.1f} s",
                    retry_after=wait,
                    service="lucca",
                )
            tokens = self.burst - 1 - self.rate * tat
            if not self._write(bucket, tokens=tokens, updated_at=at, not_before=bucket.not_before):
                conflicts = self._conflict(conflicts)
                continue
            wait = (slot - self._clock()).total_seconds()
            if wait <= 0:
                return slot
            self._sleep(wait)
            if self._read().not_before <= self._clock():
                return slot
            # A 429 came in while we slept: this slot is void, queue again behind `NotBefore`.

    def penalise(self, retry_after: float) -> None:
        """After a 429: no caller sends before now + `retry_after` seconds."""
        conflicts = 0
        while True:
            bucket = self._read()
            until = self._clock() + timedelta(seconds=max(0.0, retry_after))
            if bucket.not_before >= until:
                return
            if self._write(
                bucket, tokens=bucket.tokens, updated_at=bucket.updated_at, not_before=until
            ):
                return
            conflicts = self._conflict(conflicts)

    def _read(self) -> _Bucket:
        try:
            row = self._storage.on_table(TABLE, lambda table: table.get_entity(PARTITION, ROW))
        except ResourceNotFoundError:
            return _Bucket(tokens=self.burst, updated_at=_EPOCH, not_before=_EPOCH, etag=None)
        return _Bucket(
            tokens=float(row["Tokens"]),
            updated_at=row["UpdatedAt"],
            not_before=row["NotBefore"],
            etag=row.metadata["etag"],
        )

    def _write(
        self, bucket: _Bucket, *, tokens: float, updated_at: datetime, not_before: datetime
    ) -> bool:
        """Store a new state if the row is still as read; False when another caller won."""
        entity: dict[str, Any] = {
            "PartitionKey": PARTITION,
            "RowKey": ROW,
            "Tokens": float(tokens),
            "UpdatedAt": updated_at,
            "NotBefore": not_before,
        }
        etag = bucket.etag

        def replace(table: TableClient) -> bool:
            if etag is None:
                table.create_entity(entity)
                return True
            try:
                table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:  # 412: someone wrote since we read
                return False
            return True

        try:
            return self._storage.on_table(TABLE, replace)
        except (ResourceExistsError, ResourceNotFoundError):  # created or removed meanwhile
            return False

    @staticmethod
    def _conflict(conflicts: int) -> int:
        if conflicts + 1 >= MAX_CONFLICTS:
            raise Transient(
                f"the shared Lucca rate limit row changed under {MAX_CONFLICTS} writes in a row",
                service="storage",
            )
        return conflicts + 1
