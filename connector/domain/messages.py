"""What the webhook hands the sync: one employee to sync, as a message on `lucca-changes`.

`connector.storage.changes` queues it; the worker reads it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class ChangeMessage:
    """The message on `lucca-changes`: sync this employee (the event is for the record)."""

    employee_id: str
    event_key: str
    topic: str
    queued_at: datetime
    event_id: str | None = None  # Lucca's id of the event, when it has one

    @property
    def reference(self) -> str:
        """How the integration log names the change: Lucca's event id, else the journal key."""
        return self.event_id or self.event_key

    def to_json(self) -> str:
        """The message text (the queue client base64-encodes it)."""
        return json.dumps(
            {
                "employeeId": self.employee_id,
                "eventKey": self.event_key,
                "eventId": self.event_id,
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
            event_id=payload.get("eventId"),
        )
