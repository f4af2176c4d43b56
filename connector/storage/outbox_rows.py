"""The outbox's row keys and records: a notice or daily digest as JSON, a waiting notice, a digest.

`connector/storage/outbox.py` says what each row is for, and reads and writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector.domain.notices import DailyDigest, DailyItem, Kind, Notice

OUTBOX_TABLE = "Outbox"
PARTITION = "outbox"
KEY_PREFIX = "key-"
WAIT_PREFIX = "wait-"
INTENT_PREFIX = "intent-"
DIGEST_PREFIX = "digest-"
RATE_ROW = "rate"
DAILY_EMPLOYEE = "-"  # the daily digest is about no one employee


def daily_key(day: str) -> str:
    """The notice key of the daily digest of one local day."""
    return f"{DAILY_EMPLOYEE}|{Kind.DAILY.value}|-|{day}"


# -- (de)serialising -----------------------------------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def notice_to_json(notice: Notice) -> str:
    """The notice as the outbox stores it."""
    return json.dumps(
        {
            "kind": notice.kind.value,
            "employee_id": notice.employee_id,
            "name": notice.name,
            "raised_at": _iso(notice.raised_at),
            "login": notice.login,
            "object_id": notice.object_id,
            "reason": notice.reason,
            "when": _iso(notice.when),
            "zone": notice.zone,
            "occurrence": notice.occurrence,
            "matched_by": notice.matched_by,
            "already_disabled": notice.already_disabled,
        },
        ensure_ascii=False,
    )


def notice_from_json(text: str) -> Notice:
    """Read what `notice_to_json` wrote."""
    data = json.loads(text)
    return Notice(
        kind=Kind(data["kind"]),
        employee_id=data["employee_id"],
        name=data["name"],
        raised_at=datetime.fromisoformat(data["raised_at"]),
        login=data.get("login"),
        object_id=data.get("object_id"),
        reason=data.get("reason"),
        when=_instant(data.get("when")),
        zone=data.get("zone") or "Europe/Paris",
        occurrence=data.get("occurrence") or "",
        matched_by=data.get("matched_by"),
        already_disabled=bool(data.get("already_disabled")),
    )


def _item(data: dict[str, Any]) -> DailyItem:
    return DailyItem(
        employee_id=data["employee_id"],
        name=data.get("name", ""),
        what=data["what"],
        object_id=data.get("object_id"),
        login=data.get("login"),
    )


def _item_json(item: DailyItem) -> dict[str, Any]:
    return {
        "employee_id": item.employee_id,
        "name": item.name,
        "what": item.what,
        "object_id": item.object_id,
        "login": item.login,
    }


def daily_to_json(digest: DailyDigest) -> str:
    """The daily digest as the outbox stores it."""
    return json.dumps(
        {
            "kind": Kind.DAILY.value,
            "day": digest.day,
            "zone": digest.zone,
            "raised_at": _iso(digest.raised_at),
            "starts": [_item_json(i) for i in digest.starts],
            "leavers": [_item_json(i) for i in digest.leavers],
            "held_runs": list(digest.held_runs),
            "held_people": [_item_json(i) for i in digest.held_people],
            "conflicts": [_item_json(i) for i in digest.conflicts],
        },
        ensure_ascii=False,
    )


def daily_from_json(text: str) -> DailyDigest:
    """Read what `daily_to_json` wrote."""
    data = json.loads(text)
    return DailyDigest(
        day=data["day"],
        zone=data["zone"],
        raised_at=datetime.fromisoformat(data["raised_at"]),
        starts=tuple(_item(i) for i in data["starts"]),
        leavers=tuple(_item(i) for i in data["leavers"]),
        held_runs=tuple(data["held_runs"]),
        held_people=tuple(_item(i) for i in data.get("held_people", ())),
        conflicts=tuple(_item(i) for i in data["conflicts"]),
    )


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """A notice waiting to be sent, as its `wait-` row holds it."""

    key: str
    kind: Kind
    payload: str
    raised_at: datetime
    attempts: int
    next_attempt: datetime
    operation_id: str
    last_error: str
    etag: str
    maybe_sent: bool = False  # an attempt's outcome was unknown: keep its operation id

    @property
    def notice(self) -> Notice:
        """The employee notice (not for the daily digest)."""
        return notice_from_json(self.payload)

    @property
    def daily(self) -> DailyDigest:
        """The daily digest (kind DAILY only)."""
        return daily_from_json(self.payload)

    def to_entity(self) -> dict[str, Any]:
        """The `wait-` row."""
        return {
            "PartitionKey": PARTITION,
            "RowKey": WAIT_PREFIX + self.key,
            "Kind": self.kind.value,
            "Payload": self.payload,
            "RaisedAt": self.raised_at,
            "Attempts": self.attempts,
            "NextAttempt": self.next_attempt,
            "OperationId": self.operation_id,
            "LastError": self.last_error,
            "MaybeSent": self.maybe_sent,
        }

    @classmethod
    def from_entity(cls, row: Any) -> Waiting:
        """Read a `wait-` row."""
        return cls(
            key=str(row["RowKey"]).removeprefix(WAIT_PREFIX),
            kind=Kind(row["Kind"]),
            payload=row["Payload"],
            raised_at=row["RaisedAt"],
            attempts=int(row.get("Attempts") or 0),
            next_attempt=row["NextAttempt"],
            operation_id=row.get("OperationId") or "",
            last_error=row.get("LastError") or "",
            etag=row.metadata["etag"],
            maybe_sent=bool(row.get("MaybeSent")),
        )


@dataclass(frozen=True, kw_only=True)
class PendingDigest:
    """A digest started but not known to be sent."""

    digest_id: str
    keys: tuple[str, ...]
    operation_id: str
    reason: str
    started_at: datetime
    attempts: int = 0  # attempts whose outcome was unknown (ACS may have accepted it)
