"""Per-employee leases: at most one sync runs for an employee at a time, across instances.

The lease is the row `lease` in the employee's partition of `EmployeeSync` (beside its
`pending` and `applied` rows). Taking it is an insert, or a replace of an expired lease
guarded by its ETag, so two instances can never both hold it; it expires on its own so a
crashed worker does not block the employee for longer than `duration`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from connector.core.clock import utc_now
from connector.storage.changes import EMPLOYEE_SYNC_TABLE
from connector.storage.tables import Storage

LEASE_ROW = "lease"
# Longer than host.json's functionTimeout (10 min): the host stops a sync before its lease
# can expire, so two syncs of one employee never overlap; a crashed worker blocks the
# employee for this long at most.
LEASE_DURATION = timedelta(minutes=12)


class EmployeeLeases:
    """Takes and gives back per-employee leases."""

    def __init__(
        self,
        storage: Storage,
        *,
        duration: timedelta = LEASE_DURATION,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._storage = storage
        self._duration = duration
        self._clock = clock

    def acquire(self, employee_id: str) -> str | None:
        """Take the employee's lease: its token, or None when another sync holds it."""
        token = secrets.token_hex(8)
        now = self._clock()
        entity = {
            "PartitionKey": employee_id,
            "RowKey": LEASE_ROW,
            "Holder": token,
            "ExpiresAt": now + self._duration,
        }
        try:
            self._storage.on_table(EMPLOYEE_SYNC_TABLE, lambda t: t.create_entity(entity))
            return token
        except ResourceExistsError:
            pass
        current = self._storage.read(EMPLOYEE_SYNC_TABLE, employee_id, LEASE_ROW)
        if current is None:
            return self.acquire(employee_id)  # released in between: try again
        if current["ExpiresAt"] > now:
            return None
        try:
            self._storage.on_table(
                EMPLOYEE_SYNC_TABLE,
                lambda t: t.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=current.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None  # another instance took the expired lease first
        return token

    def release(self, employee_id: str, token: str) -> None:
        """Give the lease back, if this token still holds it."""
        current = self._storage.read(EMPLOYEE_SYNC_TABLE, employee_id, LEASE_ROW)
        if current is None or current.get("Holder") != token:
            return
        # Expired and taken by another sync meanwhile: then it is theirs, left alone.
        with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):
            self._storage.on_table(
                EMPLOYEE_SYNC_TABLE,
                lambda t: t.delete_entity(
                    employee_id,
                    LEASE_ROW,
                    etag=current.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                ),
            )
