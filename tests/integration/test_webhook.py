"""The `lucca_webhook` function end to end: FunctionApp object, Azurite, Lucca's own events."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from connector.domain.messages import ChangeMessage
from connector.flows.intake import CLOCK_MARGIN, Intake
from connector.storage.changes import CHANGES_QUEUE, EMPLOYEE_SYNC_TABLE, JOURNAL_TABLE, ChangeFeed
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import (
    PREVIOUS_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    AppLoader,
    app_functions,
    http_request,
    user_function,
)
from tests.sandboxes.lucca import LuccaSandbox, signed_delivery

pytestmark = pytest.mark.azurite


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    """Lucca, with one employee hired (so its events exist)."""
    with LuccaSandbox() as sandbox:
        sandbox.add_employee("Zoé", "O'Brien", "zoe.obrien@acme.fr", job_title="Comptable")
        yield sandbox


@pytest.fixture
def app(load_app: AppLoader) -> ModuleType:
    """The Functions app with the test settings on the session's Azurite."""
    return load_app()


def deliver(app: ModuleType, body: bytes, headers: dict[str, str]) -> func.HttpResponse:
    """POST one delivery to `lucca_webhook` as the Functions host would."""
    webhook = user_function(app, "lucca_webhook")
    return webhook(http_request("POST", body=body, headers=headers))  # type: ignore[no-any-return]


def event_for(lucca: LuccaSandbox, topic: str) -> dict[str, Any]:
    """The last event Lucca recorded with this topic."""
    return lucca.recorded_events(topic)[-1]


def queue(connection_string: str) -> QueueClient:
    """A plain SDK client on `lucca-changes`, to look at what the intake wrote."""
    return QueueClient.from_connection_string(connection_string, CHANGES_QUEUE)


def queued_messages(connection_string: str) -> list[ChangeMessage]:
    """Every message on `lucca-changes`, decoded as the queue trigger would (base64)."""
    client = queue(connection_string)
    try:
        peeked = client.peek_messages(max_messages=32)
    except Exception:  # the queue does not exist yet: nothing was queued
        return []
    return [ChangeMessage.from_json(base64.b64decode(m.content).decode()) for m in peeked]


def table_rows(connection_string: str, table: str) -> list[dict[str, Any]]:
    """Every row of a table (empty when the table was never made)."""
    client = TableClient.from_connection_string(connection_string, table)
    try:
        return [dict(row) for row in client.list_entities()]
    except Exception:
        return []


# -- declarations ---------------------------------------------------------------------------
def test_function_declaration(app: ModuleType) -> None:
    """The webhook is `lucca_webhook` on route lucca/webhook, GET and POST, function key."""
    bindings = [json.loads(b) for b in app_functions(app)["lucca_webhook"].get_raw_bindings()]
    trigger = next(b for b in bindings if b["type"] == "httpTrigger")
    assert trigger["route"] == "lucca/webhook"
    assert trigger["authLevel"] == "FUNCTION"
    assert sorted(trigger["methods"]) == ["GET", "POST"]


# -- handshake ------------------------------------------------------------------------------
@pytest.mark.parametrize("parameter", ["echo", "challenge"])
def test_activation_handshake(app: ModuleType, parameter: str) -> None:
    """GET ?echo=V or ?challenge=V answers 200 text/plain with V."""
    webhook = user_function(app, "lucca_webhook")
    response = webhook(http_request("GET", params={parameter: "a1b2-c3d4"}))
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_body() == b"a1b2-c3d4"


def test_get_without_challenge_is_400(app: ModuleType) -> None:
    """A GET that is not a handshake gets a 400, not an empty 200."""
    response = user_function(app, "lucca_webhook")(http_request("GET"))
    assert response.status_code == 400


# -- accepted deliveries --------------------------------------------------------------------
def test_valid_event_is_queued(app: ModuleType, lucca: LuccaSandbox, azurite: Azurite) -> None:
    """A signed employee.created → 202 and one message for that employee on the real queue."""
    event = event_for(lucca, "employee.created")
    response = deliver(app, *signed_delivery(event, WEBHOOK_SECRET))
    assert response.status_code == 202
    messages = queued_messages(azurite.connection_string)
    assert [(m.employee_id, m.topic) for m in messages] == [(event["data"]["id"], event["topic"])]


def test_journal_keeps_no_personal_data(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite
) -> None:
    """The journal row has ids, topic, times and the hash; nothing of `data`."""
    event = event_for(lucca, "employee.created")
    body, headers = signed_delivery(event, WEBHOOK_SECRET)
    assert deliver(app, body, headers).status_code == 202
    [row] = table_rows(azurite.connection_string, JOURNAL_TABLE)
    assert row["Topic"] == "employee.created"
    assert row["EventId"] == str(event["id"])
    assert row["EmployeeId"] == event["data"]["id"]
    assert row["Outcome"] == "queued"
    assert row["Deliveries"] == 1
    assert row["PartitionKey"] == event["occurredAt"][:10]
    assert "/" not in row["RowKey"] and len(row["RowKey"]) == 64
    stored = json.dumps({k: str(v) for k, v in row.items()})
    for personal in ("Zoé", "O'Brien", "zoe.obrien@acme.fr", "Comptable"):
        assert personal not in stored
    assert not set(row) & set(event["data"])


def test_redelivery_queues_once_until_applied(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite, storage: Storage
) -> None:
    """The same event 5 times → one message while unapplied; none more once applied."""
    event = event_for(lucca, "employee.created")
    employee_id = event["data"]["id"]
    for _ in range(5):
        response = deliver(app, *signed_delivery(event, WEBHOOK_SECRET))
        assert response.status_code == 202
    assert len(queued_messages(azurite.connection_string)) == 1
    [row] = table_rows(azurite.connection_string, JOURNAL_TABLE)
    assert (row["Deliveries"], row["Outcome"], row["LastOutcome"]) == (5, "queued", "coalesced")

    # The sync takes the message and applies Lucca's state as read a little later (more
    # than the margin allowed for clocks that differ between instances).
    feed = ChangeFeed(storage)
    queue(azurite.connection_string).clear_messages()
    feed.mark_started(employee_id, datetime.now(UTC))
    feed.mark_applied(employee_id, datetime.now(UTC) + CLOCK_MARGIN + timedelta(seconds=1))

    for _ in range(5):
        response = deliver(app, *signed_delivery(event, WEBHOOK_SECRET))
        assert response.status_code == 202
        assert response.get_body() == b"already-applied\n"
    assert queued_messages(azurite.connection_string) == []


def test_unapplied_event_is_queued_again_once_its_message_was_taken(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite, storage: Storage
) -> None:
    """A sync that started but did not apply (it failed) → a redelivery queues it again."""
    event = event_for(lucca, "employee.created")
    assert deliver(app, *signed_delivery(event, WEBHOOK_SECRET)).status_code == 202
    queue(azurite.connection_string).clear_messages()
    ChangeFeed(storage).mark_started(event["data"]["id"], datetime.now(UTC))

    response = deliver(app, *signed_delivery(event, WEBHOOK_SECRET))
    assert response.status_code == 202
    assert response.get_body() == b"queued\n"
    assert len(queued_messages(azurite.connection_string)) == 1


def test_three_events_of_one_hire_coalesce(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite
) -> None:
    """employee, employment and job-position .created for one hire → one message."""
    employee_id = lucca.add_employee("Léa", "Martin", "lea.martin@acme.fr")
    topics = ("employee.created", "employment.created", "job-position.created")
    for topic in topics:
        event = next(e for e in lucca.recorded_events(topic) if employee_of(e) == employee_id)
        assert deliver(app, *signed_delivery(event, WEBHOOK_SECRET)).status_code == 202
    assert [m.employee_id for m in queued_messages(azurite.connection_string)] == [employee_id]


def employee_of(event: dict[str, Any]) -> str | None:
    """The employee an event's data names."""
    if event["topic"].startswith("employee."):
        return str(event["data"]["id"])
    reference = event["data"].get("employee")
    return str(reference["id"]) if reference else None


def test_message_waits_sync_delay(
    load_app: AppLoader, lucca: LuccaSandbox, azurite: Azurite
) -> None:
    """With SYNC_DELAY_SECONDS, the message is on the queue but invisible until the delay."""
    app = load_app(SYNC_DELAY_SECONDS="30")
    event = event_for(lucca, "employee.created")
    assert deliver(app, *signed_delivery(event, WEBHOOK_SECRET)).status_code == 202
    client = queue(azurite.connection_string)
    assert client.get_queue_properties().approximate_message_count == 1
    assert list(client.peek_messages()) == []  # not visible yet


# -- rejected deliveries --------------------------------------------------------------------
def _now_stamp(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("tampered body", 401, b"does not match"),
        ("stale timestamp", 401, b"more than 5 minutes"),
        ("future timestamp", 401, b"more than 5 minutes"),
        ("missing signature", 401, b"missing Lucca-Signature"),
        ("missing timestamp", 401, b"missing Lucca-Timestamp"),
        ("unknown secret", 401, b"does not match"),
        ("malformed JSON", 400, b"body is not JSON"),
        ("not an event", 400, b"body is not a Lucca event"),
        ("id dot-dot", 400, b"not a Lucca id"),
        ("id with a slash", 400, b"not a Lucca id"),
        ("year 9999 occurredAt", 400, b"cannot be placed in a UTC day"),
    ],
)
def test_rejected_deliveries(
    app: ModuleType,
    lucca: LuccaSandbox,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
    case: str,
    status: int,
    reason: bytes,
) -> None:
    """Bad signatures → 401, bodies that are not events → 400; a trace, nothing queued."""
    event = event_for(lucca, "employee.created")
    body, headers = signed_delivery(event, WEBHOOK_SECRET)
    if case == "tampered body":
        body = body.replace(b"zoe.obrien", b"eve.obrien")
    elif case == "stale timestamp":
        body, headers = signed_delivery(
            event, WEBHOOK_SECRET, timestamp=_now_stamp(-timedelta(minutes=6))
        )
    elif case == "future timestamp":
        body, headers = signed_delivery(
            event, WEBHOOK_SECRET, timestamp=_now_stamp(timedelta(minutes=6))
        )
    elif case == "missing signature":
        headers = {k: v for k, v in headers.items() if k != "Lucca-Signature"}
    elif case == "missing timestamp":
        headers = {k: v for k, v in headers.items() if k != "Lucca-Timestamp"}
    elif case == "unknown secret":
        body, headers = signed_delivery(event, "not-the-secret")
    elif case == "malformed JSON":
        body, headers = signed_raw(b'{"topic": "employee.updated",')
    elif case == "not an event":
        body, headers = signed_raw(b'{"employee": {"id": "416"}}')
    elif case == "id dot-dot":
        body, headers = signed_delivery(
            {**event, "data": {**event["data"], "id": ".."}}, WEBHOOK_SECRET
        )
    elif case == "id with a slash":
        body, headers = signed_delivery(
            {**event, "data": {**event["data"], "id": "4/16"}}, WEBHOOK_SECRET
        )
    elif case == "year 9999 occurredAt":
        body, headers = signed_delivery(
            {**event, "occurredAt": "9999-12-31T23:00-05:00"}, WEBHOOK_SECRET
        )

    response = deliver(app, body, headers)

    assert response.status_code == status
    assert reason in response.get_body()
    assert response.get_body().count(b"\n") == 1
    assert queued_messages(azurite.connection_string) == []
    assert table_rows(azurite.connection_string, JOURNAL_TABLE) == []
    assert any(
        "webhook delivery rejected" in r.getMessage() and str(status) in r.getMessage()
        for r in caplog.records
    )
    assert WEBHOOK_SECRET not in caplog.text


def signed_raw(body: bytes) -> tuple[bytes, dict[str, str]]:
    """Any body, correctly signed (to reach the envelope check)."""
    from connector.lucca.webhook import sign  # noqa: PLC0415

    timestamp = _now_stamp()
    return body, {
        "Content-Type": "application/json",
        "Lucca-Timestamp": timestamp,
        "Lucca-Signature": sign(WEBHOOK_SECRET, timestamp, body),
    }


def test_previous_secret_after_rotation(
    load_app: AppLoader, lucca: LuccaSandbox, azurite: Azurite
) -> None:
    """During a rotation, deliveries signed with either secret are accepted."""
    app = load_app(
        LUCCA_WEBHOOK_SECRET="whsec-next-77aa", LUCCA_WEBHOOK_SECRET_PREVIOUS=WEBHOOK_SECRET
    )
    old = signed_delivery(event_for(lucca, "employee.created"), WEBHOOK_SECRET)
    new = signed_delivery(event_for(lucca, "employment.created"), "whsec-next-77aa")
    stale = signed_delivery(event_for(lucca, "job-position.created"), PREVIOUS_WEBHOOK_SECRET)
    assert deliver(app, *old).status_code == 202
    assert deliver(app, *new).status_code == 202
    assert deliver(app, *stale).status_code == 401


# -- topics ---------------------------------------------------------------------------------
@pytest.mark.parametrize("topic", ["ping", "confirmation"])
def test_ping_and_confirmation(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite, topic: str
) -> None:
    """ping and confirmation → 200 and nothing else."""
    event = lucca.ping_event() if topic == "ping" else lucca.confirmation_event()
    response = deliver(app, *signed_delivery(event, WEBHOOK_SECRET))
    assert response.status_code == 200
    assert queued_messages(azurite.connection_string) == []
    assert table_rows(azurite.connection_string, JOURNAL_TABLE) == []


def test_deleted_employment_is_mapped_through_recorded_ids(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite, storage: Storage
) -> None:
    """An employment.deleted naming no employee reaches the employee it was recorded for."""
    employee_id = lucca.add_employee(
        "Hugo", "Bernard", "hugo.bernard@acme.fr", start="2024-01-01", end="2026-12-31"
    )
    created = next(
        e for e in lucca.recorded_events("employment.created") if employee_of(e) == employee_id
    )
    rehire = lucca.add_employment(employee_id, start="2027-01-04")
    assert deliver(app, *signed_delivery(created, WEBHOOK_SECRET)).status_code == 202
    assert (
        deliver(
            app, *signed_delivery(event_for(lucca, "employment.created"), WEBHOOK_SECRET)
        ).status_code
        == 202
    )

    queue(azurite.connection_string).clear_messages()
    ChangeFeed(storage).mark_started(employee_id, datetime.now(UTC))
    lucca.delete_employment(rehire)
    deleted = event_for(lucca, "employment.deleted")
    assert employee_of(deleted) is None  # the event itself does not say whose it was

    response = deliver(app, *signed_delivery(deleted, WEBHOOK_SECRET))
    assert response.status_code == 202
    assert [m.employee_id for m in queued_messages(azurite.connection_string)] == [employee_id]


def test_deleted_event_of_unknown_resource_is_logged_unmapped(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite, caplog: pytest.LogCaptureFixture
) -> None:
    """A *.deleted for an id never recorded → 200, journaled as unmapped, nothing queued."""
    employee_id = lucca.add_employee("Inès", "Petit", "ines.petit@acme.fr")
    position = next(
        e for e in lucca.recorded_events("job-position.created") if employee_of(e) == employee_id
    )
    lucca.delete_job_position(position["data"]["id"])
    deleted = event_for(lucca, "job-position.deleted")

    response = deliver(app, *signed_delivery(deleted, WEBHOOK_SECRET))

    assert response.status_code == 200
    assert queued_messages(azurite.connection_string) == []
    [row] = table_rows(azurite.connection_string, JOURNAL_TABLE)
    assert (row["Topic"], row["Outcome"], row.get("EmployeeId")) == (
        "job-position.deleted",
        "unmapped",
        None,
    )
    assert "maps to no known employee" in caplog.text


# -- storage outage -------------------------------------------------------------------------
def test_storage_down_is_503_then_the_same_delivery_succeeds(
    load_app: AppLoader, lucca: LuccaSandbox
) -> None:
    """Azurite stopped → 503 (Lucca retries); back up → the same delivery is accepted."""
    with Azurite() as own:
        app = load_app(connection_string=own.connection_string)
        delivery = signed_delivery(event_for(lucca, "employee.created"), WEBHOOK_SECRET)
        own.stop()
        down = deliver(app, *delivery)
        assert down.status_code == 503
        assert b"Traceback" not in down.get_body()

        own.start()
        assert deliver(app, *delivery).status_code == 202
        assert len(queued_messages(own.connection_string)) == 1
        assert len(table_rows(own.connection_string, EMPLOYEE_SYNC_TABLE)) == 1


# -- races and clocks -----------------------------------------------------------------------
class EagerSyncFeed(ChangeFeed):
    """The feed as seen when a sync takes each message the instant it is written."""

    def enqueue(self, message: ChangeMessage, delay_seconds: int) -> None:
        """Write the message, then let 'the sync' take it at once."""
        super().enqueue(message, delay_seconds)
        self.mark_started(message.employee_id, datetime.now(UTC))


def test_event_after_the_sync_took_the_message_is_queued_anew(
    lucca: LuccaSandbox, storage: Storage, azurite: Azurite
) -> None:
    """A sync that starts between the message and its `queued` mark: the next event is not
    coalesced into a message that is gone."""
    intake = Intake(feed=EagerSyncFeed(storage), secrets=(WEBHOOK_SECRET,), delay_seconds=0)
    employee_id = lucca.add_employee("Léa", "Martin", "lea.martin@acme.fr")
    first, second = (
        next(e for e in lucca.recorded_events(t) if employee_of(e) == employee_id)
        for t in ("employee.created", "employment.created")
    )
    for event in (first, second):
        body, headers = signed_delivery(event, WEBHOOK_SECRET)
        answer = intake.receive(method="POST", params={}, headers=headers, body=body)
        assert (answer.status, answer.body) == (202, "queued\n")
    assert len(queued_messages(azurite.connection_string)) == 2


def test_concurrent_deliveries_for_one_employee_coalesce(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite
) -> None:
    """Five events of one employee delivered at the same instant → one message."""
    employee_id = lucca.add_employee("Léa", "Martin", "lea.martin@acme.fr")
    lucca.update_employee(employee_id, given_name="Léana")
    lucca.update_employee(employee_id, family_name="Martin-Roy")
    events = [e for e in lucca.recorded_events() if employee_of(e) == employee_id]
    assert len(events) == 5
    deliveries = [signed_delivery(e, WEBHOOK_SECRET) for e in events]
    start = threading.Barrier(len(deliveries))

    def send(delivery: tuple[bytes, dict[str, str]]) -> int:
        start.wait()
        return deliver(app, *delivery).status_code

    with ThreadPoolExecutor(len(deliveries)) as pool:
        statuses = list(pool.map(send, deliveries))
    assert statuses == [202] * 5
    assert [m.employee_id for m in queued_messages(azurite.connection_string)] == [employee_id]


def test_new_event_is_never_taken_as_applied_by_a_clock_ahead(
    app: ModuleType, lucca: LuccaSandbox, azurite: Azurite, storage: Storage
) -> None:
    """A sync instance whose clock runs an hour ahead cannot make a first delivery look
    applied: only redeliveries are checked against it."""
    event = event_for(lucca, "employee.created")
    ChangeFeed(storage).mark_applied(event["data"]["id"], datetime.now(UTC) + timedelta(hours=1))
    response = deliver(app, *signed_delivery(event, WEBHOOK_SECRET))
    assert response.get_body() == b"queued\n"
    assert len(queued_messages(azurite.connection_string)) == 1


@pytest.fixture
def silent_storage() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung storage endpoint)."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_hung_storage_is_503_inside_luccas_three_seconds(
    load_app: AppLoader, lucca: LuccaSandbox, silent_storage: int
) -> None:
    """Storage that never answers → 503 before Lucca's 3-second limit, so it retries."""
    hung = Azurite(queue_port=silent_storage, table_port=silent_storage).connection_string
    app = load_app(connection_string=hung)
    started = time.monotonic()
    response = deliver(app, *signed_delivery(event_for(lucca, "employee.created"), WEBHOOK_SECRET))
    assert response.status_code == 503
    assert time.monotonic() - started < 3.0


def test_old_secret_refused_once_the_rotation_is_over(
    load_app: AppLoader, lucca: LuccaSandbox
) -> None:
    """With LUCCA_WEBHOOK_SECRET_PREVIOUS emptied again, the old secret gets a 401."""
    app = load_app(LUCCA_WEBHOOK_SECRET="whsec-next-77aa", LUCCA_WEBHOOK_SECRET_PREVIOUS="")
    old = signed_delivery(event_for(lucca, "employee.created"), WEBHOOK_SECRET)
    assert deliver(app, *old).status_code == 401
