"""What the webhook hands the sync: one employee to sync, as a message on `lucca-changes`.

`connector.storage.changes` queues it; the worker reads it back, and re-queues it with its
retry state (first failure, tries) while a transient failure lasts (the escrow).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ChangeMessage:
    """The message on `lucca-changes`: sync this employee (the event is for the record)."""

    employee_id: str
    event_key: str
    topic: str
    queued_at: datetime
    event_id: str | None = None  # Lucca's id of the event, when it has one
    # The escrow: when the first transient failure happened, how many tries failed since, and
    # whether the "will retry" entry was written (once per change).
    first_failed_at: datetime | None = None
    failed_tries: int = 0
    retry_noted: bool = False
    # The first brief failure (a replication delay): its minutes of patience count from here,
    # whatever failed before it.
    brief_since: datetime | None = None

    @property
    def reference(self) -> str:
        """How the integration log names the change: Lucca's event id, else the journal key."""
        return self.event_id or self.event_key

    def to_json(self) -> str:
        """The message text (the queue client base64-encodes it)."""
        payload: dict[str, Any] = {
            "employeeId": self.employee_id,
            "eventKey": self.event_key,
            "eventId": self.event_id,
            "topic": self.topic,
            "queuedAt": self.queued_at.isoformat(),
        }
        if self.first_failed_at is not None:
            payload |= {
                "firstFailedAt": self.first_failed_at.isoformat(),
                "failedTries": self.failed_tries,
                "retryNoted": self.retry_noted,
            }
        if self.brief_since is not None:
            payload["briefSince"] = self.brief_since.isoformat()
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ChangeMessage:
        """Read a message written by `to_json`."""
        payload = json.loads(text)
        return cls(
            employee_id=str(payload["employeeId"]),
            event_key=str(payload["eventKey"]),
            topic=str(payload["topic"]),
            queued_at=datetime.fromisoformat(payload["queuedAt"]),
            event_id=payload.get("eventId"),
            first_failed_at=(
                datetime.fromisoformat(payload["firstFailedAt"])
                if payload.get("firstFailedAt")
                else None
            ),
            failed_tries=int(payload.get("failedTries") or 0),
            retry_noted=bool(payload.get("retryNoted")),
            brief_since=(
                datetime.fromisoformat(payload["briefSince"]) if payload.get("briefSince") else None
            ),
        )

    def failed_once_more(self, now: datetime, *, noted: bool, brief: bool = False) -> ChangeMessage:
        """The same change after one more failed try (the first one starts the escrow; the
        first brief one its patience)."""
        return replace(
            self,
            first_failed_at=self.first_failed_at or now,
            failed_tries=self.failed_tries + 1,
            retry_noted=self.retry_noted or noted,
            brief_since=self.brief_since or (now if brief else None),
        )
