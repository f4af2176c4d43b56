"""The integration log's entries: what the connector did about one change, for the administrator.

An entry holds ids, attribute names and values, and sentences: never a secret or a password
(`connector.storage.log` keeps them in Table Storage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    """What the connector did (or, in observe mode, would do)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    LINKED = "linked"
    CONFLICT = "conflict"
    CREATION_FAILED = "creation failed"
    SKIPPED = "skipped"
    NOT_IN_LUCCA = "no longer visible in Lucca"
    FAILED = "failed"
    RETRYING = "will retry"  # a transient failure: the change is re-queued (once per change)
    SCHEDULED = "schedule changed"
    DEACTIVATED = "deactivated"
    ENABLED = "enabled"
    DEACTIVATION_FAILED = "deactivation failed"
    RUN_HELD = "run held"
    LEFT_FOR_OPERATOR = "left for an operator"
    NOTIFICATION_FAILED = "notification failed"
    ENDPOINT_SUSPENDED = "endpoint suspended"  # Lucca stopped delivering (catch-up)
    ENDPOINT_ACTIVE = "endpoint active again"
    CATCHUP_FAILED = "catch-up failed"  # the catch-up cannot read Lucca (once per failure)
    RECONCILED = "reconciled"  # the nightly reconciliation's one summary entry
    RECONCILIATION_HELD = "reconciliation held"  # it would change more than its threshold
    UNLINKED_IN_ENTRA = "unlinked in Entra"  # employeeId cleared or changed there: link dropped
    UNLINKED = "unlinked"  # an operator's `unlink` command
    LINKED_BY_OPERATOR = "linked by an operator"  # an operator's `link` command
    OUT_OF_SCOPE = "out of scope"  # outside SYNC_SCOPE: nothing written (or the exit action)
    RESTORED = "restored"  # a deleted account restored from Entra's recycle bin, then linked


# A details key: an entry whose action does not alert by itself, but this one must (an
# administrator's account an employee's email pointed at, say); its value says why.
ALERT = "alert"


@dataclass(frozen=True, kw_only=True)
class Change:
    """One attribute's change: old → new."""

    attribute: str
    old: str | None
    new: str | None

    def __str__(self) -> str:
        return f"{self.attribute}: {self.old!r} → {self.new!r}"


@dataclass(frozen=True, kw_only=True)
class LogEntry:
    """One integration log entry."""

    time: datetime
    action: Action
    message: str
    employee_id: str | None = None
    object_id: str | None = None
    changes: tuple[Change, ...] = ()
    event_keys: tuple[str, ...] = ()  # Lucca's event ids (the journal key without one)
    request_id: str | None = None
    observed: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    # An operator must check it although its action is routine (an existing account linked
    # by its mail or login): it alerts and is listed for an operator as the failures are.
    alert: bool = False
    # The invocation that wrote it (Application Insights' operation_Id); None outside one.
    operation_id: str | None = None
    # Who the employee is, for the daily digest's open conflicts (a sync's entry): the name
    # as Lucca has it and the login (the account's, or the address it would have).
    name: str = ""
    login: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as the command line's `--json` and `GET /api/logs` show it."""
        return {
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "action": self.action.value,
            "employee_id": self.employee_id,
            "object_id": self.object_id,
            "message": self.message,
            "observed": self.observed,
            "changes": [
                {"attribute": c.attribute, "old": c.old, "new": c.new} for c in self.changes
            ],
            "event_keys": list(self.event_keys),
            "request_id": self.request_id,
            "operation_id": self.operation_id,
        }
