"""The signature check and the event envelope, without storage."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from connector.lucca.webhook import (
    BadSignature,
    EventKey,
    MalformedEvent,
    identify,
    parse_event,
    sign,
    verify_signature,
)

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
BODY = json.dumps(
    {
        "id": "8812",
        "topic": "employee.updated",
        "occurredAt": "2026-03-29T00:29:58.120Z",
        "source": "https://acme.ilucca.net",
        "data": {"id": "416", "type": "employee"},
    }
).encode()


def stamp(moment: datetime) -> str:
    """Lucca-Timestamp's format."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_signature_is_lucca_hmac() -> None:
    """The signature is base64(HMAC-SHA256(secret, timestamp + '.' + body))."""
    timestamp = stamp(NOW)
    expected = base64.b64encode(
        hmac.new(b"s3cret", f"{timestamp}.".encode() + BODY, hashlib.sha256).digest()
    ).decode()
    assert sign("s3cret", timestamp, BODY) == expected


@pytest.mark.parametrize(
    ("signed_at", "secret", "body", "reason"),
    [
        (NOW - timedelta(minutes=4, seconds=59), "current", BODY, None),
        (NOW + timedelta(minutes=4, seconds=59), "current", BODY, None),
        (NOW - timedelta(minutes=4), "previous", BODY, None),
        (NOW - timedelta(minutes=5, seconds=1), "current", BODY, "more than 5 minutes"),
        (NOW + timedelta(minutes=5, seconds=1), "current", BODY, "more than 5 minutes"),
        (NOW, "stranger", BODY, "does not match"),
        (NOW, "current", BODY.replace(b"416", b"417"), "does not match"),
    ],
)
def test_verify(signed_at: datetime, secret: str, body: bytes, reason: str | None) -> None:
    """Either secret within ±5 minutes passes; anything else is refused with its reason."""
    timestamp = stamp(signed_at)
    signature = sign(secret, timestamp, BODY)

    def check() -> None:
        verify_signature(
            secrets=("current", "previous"),
            signature=signature,
            timestamp=timestamp,
            body=body,
            now=NOW,
        )

    if reason is None:
        check()
    else:
        with pytest.raises(BadSignature, match=reason):
            check()


@pytest.mark.parametrize(
    ("signature", "timestamp", "reason"),
    [
        (None, stamp(NOW), "missing Lucca-Signature"),
        ("", stamp(NOW), "missing Lucca-Signature"),
        ("abc", None, "missing Lucca-Timestamp"),
        ("abc", "yesterday", "not an ISO 8601"),
        ("abc", "2026-03-29T00:30:00", "no time zone"),
    ],
)
def test_missing_or_garbled_headers(
    signature: str | None, timestamp: str | None, reason: str
) -> None:
    """Missing or unreadable headers are a 401 reason, not a crash."""
    with pytest.raises(BadSignature, match=reason) as raised:
        verify_signature(
            secrets=("current",), signature=signature, timestamp=timestamp, body=BODY, now=NOW
        )
    assert raised.value.status == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"hello": "world"}', "'topic' missing"),
        (
            b'{"topic": "employee.updated", "source": "s", "data": {}}',
            "'occurredAt' missing",
        ),
        (
            b'{"topic": "employee.updated", "occurredAt": "2026-01-01T00:00:00", '
            b'"source": "s", "data": {}}',
            "'occurredAt' input should have timezone info",
        ),
        (
            b'{"topic": "employee.updated", "occurredAt": "2026-01-01T00:00:00Z", '
            b'"source": "s", "data": "x"}',
            "'data' input should be a valid dictionary",
        ),
    ],
)
def test_not_an_event(body: bytes, reason: str) -> None:
    """A body that is not a Lucca event gets a one-line reason."""
    with pytest.raises(MalformedEvent) as raised:
        parse_event(body)
    assert reason in str(raised.value)
    assert "\n" not in str(raised.value)
    assert raised.value.status == 400


@pytest.mark.parametrize(
    ("topic", "data", "employee_id"),
    [
        ("employee.created", {"id": "416"}, "416"),
        ("employee.updated", {"id": 416}, "416"),
        ("employment.updated", {"id": "77", "employee": {"id": "416"}}, "416"),
        ("job-position.created", {"id": "90", "employee": {"id": "416"}}, "416"),
        ("employment.deleted", {"id": "77"}, None),
        ("job-position.deleted", {"id": "90", "employee": None}, None),
    ],
)
def test_direct_employee_id(topic: str, data: dict[str, object], employee_id: str | None) -> None:
    """Each tracked topic names its employee in `data` where it can."""
    event = parse_event(
        json.dumps(
            {"topic": topic, "occurredAt": "2026-01-01T00:00:00Z", "source": "s", "data": data}
        ).encode()
    )
    assert event.tracked
    assert event.direct_employee_id() == employee_id


@pytest.mark.parametrize("topic", ["ping", "confirmation", "employee-extension.updated", "x"])
def test_untracked_topics(topic: str) -> None:
    """Topics other than employee, employment and job-position change no account."""
    event = parse_event(
        json.dumps(
            {"topic": topic, "occurredAt": "2026-01-01T00:00:00Z", "source": "s", "data": {}}
        ).encode()
    )
    assert not event.tracked


def test_key_from_source_and_id() -> None:
    """The key hashes source + id: the same event re-serialised has the same key."""
    event = parse_event(BODY)
    identity = identify(event, BODY)
    reordered = json.dumps(dict(reversed(list(json.loads(BODY).items())))).encode()
    assert identify(parse_event(reordered), reordered).key == identity.key
    assert identity.made_from is EventKey.SOURCE_AND_ID
    assert len(identity.key) == 64
    assert all(c in "0123456789abcdef" for c in identity.key)
    assert identity.body_sha256 == hashlib.sha256(BODY).hexdigest()


def test_key_from_body_without_id() -> None:
    """Without an id, the key is the SHA-256 of the body."""
    payload = json.loads(BODY)
    del payload["id"]
    body = json.dumps(payload).encode()
    identity = identify(parse_event(body), body)
    assert identity.made_from is EventKey.BODY_HASH
    assert identity.key == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("data", "."),
        ("data", ".."),
        ("data", "../416"),
        ("data", "4/16"),
        ("data", "4\\16"),
        ("data", "416?x=1"),
        ("data", "416#x"),
        ("data", "%2e%2e"),
        ("data", "4 16"),
        ("data", "-416"),
        ("data", "_416"),
        ("employee", ".."),
        ("event", ".."),
    ],
)
def test_ids_that_are_not_lucca_ids_are_refused(where: str, value: str) -> None:
    """An id not starting with a letter or digit, or holding a separator, is a 400."""
    payload = json.loads(BODY)
    if where == "data":
        payload["data"]["id"] = value
    elif where == "employee":
        payload["topic"] = "employment.updated"
        payload["data"] = {"id": "77", "employee": {"id": value}}
    else:
        payload["id"] = value
    with pytest.raises(MalformedEvent, match="not a Lucca id") as raised:
        parse_event(json.dumps(payload).encode())
    assert raised.value.status == 400


@pytest.mark.parametrize("value", ["416", "a1", "E-416_b.2", "9" * 128])
def test_lucca_ids_pass(value: str) -> None:
    """Ids of letters and digits (with inner '.', '-', '_') pass."""
    payload = json.loads(BODY) | {"data": {"id": value}}
    assert parse_event(json.dumps(payload).encode()).direct_employee_id() == value


@pytest.mark.parametrize(
    "occurred_at",
    ["9999-12-31T23:00-05:00", "0001-01-01T00:30+01:00", "1000-01-01T00:00:00Z"],
)
def test_occurred_at_outside_a_utc_day_is_refused(occurred_at: str) -> None:
    """An occurredAt that cannot be placed in a stored UTC day is a 400, not an error."""
    payload = json.loads(BODY) | {"occurredAt": occurred_at}
    with pytest.raises(MalformedEvent, match="cannot be placed in a UTC day") as raised:
        parse_event(json.dumps(payload).encode())
    assert raised.value.status == 400
    assert "\n" not in str(raised.value)
