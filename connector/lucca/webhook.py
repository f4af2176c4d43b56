"""Lucca webhook deliveries: the signature check, the event envelope, and its employee."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from connector.lucca.models import is_lucca_id

# https://developers.lucca.fr: Lucca signs `Lucca-Timestamp + "." + raw body` with the
# endpoint's secret (HMAC-SHA256, base64) and puts the result in `Lucca-Signature`.
SIGNATURE_HEADER = "Lucca-Signature"
TIMESTAMP_HEADER = "Lucca-Timestamp"
REPLAY_WINDOW = timedelta(minutes=5)

TRACKED_RESOURCES = ("employee", "employment", "job-position")


class RejectedDelivery(Exception):
    """A delivery the connector refuses; `status` is the HTTP answer, the message its reason."""

    status = 400


class BadSignature(RejectedDelivery):
    """The signature or timestamp is missing, wrong or outside the replay window."""

    status = 401


class MalformedEvent(RejectedDelivery):
    """The body is not a Lucca event."""

    status = 400


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Lucca's signature of a delivery."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_signature(
    *,
    secrets: Iterable[str],
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: datetime,
) -> int:
    """Which of `secrets` signed this body (0: the current one); `BadSignature` when none did
    or the timestamp is outside the replay window."""
    if not signature:
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    if not timestamp:
        raise BadSignature(f"missing {TIMESTAMP_HEADER} header")
    try:
        signed_at = datetime.fromisoformat(timestamp.strip())
    except ValueError:
        raise BadSignature(f"{TIMESTAMP_HEADER} is not an ISO 8601 instant") from None
    if signed_at.tzinfo is None:
        raise BadSignature(f"{TIMESTAMP_HEADER} has no time zone")
    if abs(now - signed_at) > REPLAY_WINDOW:
        raise BadSignature(f"{TIMESTAMP_HEADER} is more than 5 minutes from now")
    presented = signature.strip().encode()
    # Compare against every secret, without stopping early, in constant time.
    matches = [hmac.compare_digest(sign(s, timestamp, body).encode(), presented) for s in secrets]
    if not any(matches):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match the body")
    return matches.index(True)


class Event(BaseModel):
    """The envelope of a Lucca event (schema `event` of the Lucca API)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str | int | None = None
    topic: str = Field(min_length=1)
    occurred_at: AwareDatetime = Field(alias="occurredAt")
    source: str = Field(min_length=1)
    data: dict[str, Any] | None = None

    @property
    def resource(self) -> str:
        """`employee` for `employee.updated`; the topic itself when it has no dot."""
        return self.topic.rpartition(".")[0] or self.topic

    @property
    def tracked(self) -> bool:
        """Whether the topic can change an employee's Entra account."""
        return self.resource in TRACKED_RESOURCES

    def data_id(self) -> str | None:
        """The id of the resource in `data`."""
        return _as_id((self.data or {}).get("id"))

    def data_reference(self, name: str) -> str | None:
        """The id of the reference `name` in `data` (`employee`, `employment`)."""
        value = (self.data or {}).get(name)
        return _as_id(value.get("id")) if isinstance(value, dict) else None

    def direct_employee_id(self) -> str | None:
        """The employee id the event carries itself, if it carries one."""
        if self.resource == "employee":
            return self.data_id()
        return self.data_reference("employee")


# Azure Tables' Edm.DateTime range (https://learn.microsoft.com/rest/api/storageservices/
# understanding-the-table-service-data-model#property-types): the journal stores occurredAt
# and files it under its UTC day.
_FIRST_STORABLE = datetime(1601, 1, 1, tzinfo=UTC)
_LAST_STORABLE = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def _as_id(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | str) or not str(value).strip():
        return None
    text = str(value).strip()
    if not is_lucca_id(text):
        raise MalformedEvent(
            "body is not a Lucca event: an id is not a Lucca id (it must start with a letter "
            "or a digit and hold only letters, digits, '.', '_' and '-')"
        )
    return text


def _check_day(occurred_at: datetime) -> None:
    """`MalformedEvent` for an occurredAt that has no storable UTC day (year 9999 at -05:00
    is in year 10000 in UTC)."""
    try:
        utc = occurred_at.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not _FIRST_STORABLE <= utc <= _LAST_STORABLE:
        raise MalformedEvent(
            "body is not a Lucca event: 'occurredAt' cannot be placed in a UTC day "
            "between 1601 and 9999"
        )


def parse_event(body: bytes) -> Event:
    """The event in a delivery's body; `MalformedEvent` with a one-line reason otherwise."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError and JSONDecodeError
        raise MalformedEvent("body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedEvent("body is not a Lucca event: expected a JSON object")
    try:
        event = Event.model_validate(payload)
    except ValidationError as err:
        first = err.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        reason = "missing" if first["type"] == "missing" else str(first["msg"]).lower()
        raise MalformedEvent(f"body is not a Lucca event: '{where}' {reason}") from None
    if event.tracked and event.data is None:
        raise MalformedEvent(f"body is not a Lucca event: '{event.topic}' without 'data'")
    event.direct_employee_id()  # refuses ids that could not be keys, here, as a 400
    event.data_id()
    _as_id(event.id)
    _check_day(event.occurred_at)
    return event


class EventKey(StrEnum):
    """How an event's journal key was made."""

    SOURCE_AND_ID = "source+id"
    BODY_HASH = "body-sha256"


@dataclass(frozen=True, kw_only=True)
class Identity:
    """What identifies a delivery: its journal key, and the body's hash."""

    key: str
    made_from: EventKey
    body_sha256: str


def identify(event: Event, body: bytes) -> Identity:
    """The journal key of an event: SHA-256 of `source` + `id`, or of the body without an id."""
    body_sha256 = hashlib.sha256(body).hexdigest()
    event_id = _as_id(event.id)
    if event_id is None:
        return Identity(key=body_sha256, made_from=EventKey.BODY_HASH, body_sha256=body_sha256)
    key = hashlib.sha256(f"{event.source.rstrip('/')}\n{event_id}".encode()).hexdigest()
    return Identity(key=key, made_from=EventKey.SOURCE_AND_ID, body_sha256=body_sha256)
