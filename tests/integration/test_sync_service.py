"""The sync service and its worker with the real clients, for what the webhook path cannot
set up: a token with chosen Graph roles, a concurrent creation, a busy lease, the log order."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.queue import QueueClient, QueueMessage

from connector.domain.entries import Action, LogEntry
from connector.domain.mapping import DEFAULT_ATTRIBUTES, anchor, graph_properties, owned
from connector.domain.messages import ChangeMessage
from connector.entra.directory import GraphDirectory
from connector.flows.sync import SyncService
from connector.flows.worker import ChangeWorker
from connector.lucca.client import LuccaClient
from connector.storage.changes import CHANGES_QUEUE, ChangeFeed
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links
from connector.storage.log import ALERT_PREFIX, IntegrationLog
from connector.storage.ratelimit import LuccaRateLimiter
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.integration.test_directory import GRAPH_AUDIENCE, FakeCredential, jwt
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    """Lucca."""
    with LuccaSandbox(rate_limit=1000, window_seconds=1) as sandbox:
        yield sandbox


@pytest.fixture
def graph() -> Iterator[GraphSandbox]:
    """Entra, with the company's verified domain."""
    with GraphSandbox() as sandbox:
        sandbox.add_domain(DOMAIN, is_verified=True, is_default=True)
        yield sandbox


def service(
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    storage: Storage,
    *,
    roles: list[str] | None = None,
) -> SyncService:
    """The sync with real clients; `roles` puts a token with those Graph roles in play."""
    credential = (
        None if roles is None else FakeCredential(jwt({"aud": GRAPH_AUDIENCE, "roles": roles}))
    )
    return SyncService(
        lucca=LuccaClient(
            base_url=lucca.base_url,
            token_url=f"{lucca.base_url}/connect/token",
            client_id="lucca-client",
            client_secret="lucca-client-secret",
            limiter=LuccaRateLimiter(storage, per_minute=50, window_seconds=1),
        ),
        directory=GraphDirectory(
            f"{graph.base_url}/v1.0", properties=graph_properties(), credential=credential
        ),
        feed=ChangeFeed(storage),
        links=Links(storage),
        log=IntegrationLog(storage),
        attributes=owned(DEFAULT_ATTRIBUTES),
    )


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        (["User.Read.All"], "lacks the Microsoft Graph permission User.ReadWrite.All"),
        (["User.ReadWrite.All"], "holds a privileged administrator role"),
    ],
)
def test_403_names_the_missing_permission_or_the_privileged_target(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, roles: list[str], expected: str
) -> None:
    """Graph's 403 is explained from the token's roles: grant consent, or a privileged target."""
    employee_id = lucca.add_employee("Ada", "Admin", f"ada@{DOMAIN}")
    sync = service(lucca, graph, storage, roles=roles)
    assert sync.sync(employee_id).action is Action.CREATED
    account = graph.users[0]
    graph.deny(account["id"])
    lucca.update_employee(employee_id, family_name="Administratrice")

    entry = sync.sync(employee_id)

    assert entry.action is Action.FAILED
    assert expected in entry.message
    assert entry.request_id
    assert graph.user(account["id"])["surname"] == "Admin"


def test_concurrent_creation_is_linked_not_duplicated(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage
) -> None:
    """The account appears between the searches and the POST (another instance, or the SDK
    retrying a POST that had gone through): ObjectConflict, the holder carries our anchor,
    it is linked and no second account exists."""
    employee_id = lucca.add_employee("Noé", "Blanc", f"noe.blanc@{DOMAIN}")
    ours = graph.add_user(
        userPrincipalName=f"noe.blanc@{DOMAIN}", mail=f"noe.blanc@{DOMAIN}",
        employeeId=anchor(employee_id), displayName="Noé Blanc",
    )  # fmt: skip
    graph.inject(200, method="GET", path=r"^/v1\.0/users$", times=3, body={"value": []})

    entry = service(lucca, graph, storage).sync(employee_id)

    assert graph.count("POST", r"^/v1\.0/users$") == 1
    assert len(graph.users) == 1
    assert entry.object_id == ours["id"]
    link = Links(storage).of_employee(employee_id)
    assert link is not None and link.object_id == ours["id"]


def test_busy_employee_is_requeued_not_failed(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, azurite: Azurite
) -> None:
    """A change that finds the employee's lease taken goes back on the queue, with a delay."""
    employee_id = lucca.add_employee("Emma", "Roux", f"emma.roux@{DOMAIN}")
    leases = EmployeeLeases(storage)
    worker = ChangeWorker(
        feed=ChangeFeed(storage),
        leases=leases,
        service=service(lucca, graph, storage),
        log=IntegrationLog(storage),
        busy_delay_seconds=1,
    )
    message = ChangeMessage(
        employee_id=employee_id,
        event_key="k",
        topic="employee.created",
        queued_at=datetime.now(UTC),
    )
    held = leases.acquire(employee_id)
    assert held is not None

    assert worker.handle(message.to_json()) == "busy"

    queue = QueueClient.from_connection_string(azurite.connection_string, CHANGES_QUEUE)
    assert queue.get_queue_properties().approximate_message_count == 1
    assert list(queue.peek_messages()) == []  # waiting out its delay
    assert graph.count("POST") == 0
    received: list[QueueMessage] = []
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:  # Azurite keeps real time
        received = list(queue.receive_messages(visibility_timeout=30))
        time.sleep(0.1)
    [requeued] = received
    text = base64.b64decode(requeued.content).decode()
    assert ChangeMessage.from_json(text).employee_id == employee_id

    leases.release(employee_id, held)
    assert worker.handle(text) == "created"


def test_an_expired_lease_can_be_taken_over(storage: Storage) -> None:
    """A worker that died holding the lease blocks the employee only until it expires."""
    now = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    clock = [now]
    leases = EmployeeLeases(storage, duration=timedelta(minutes=5), clock=lambda: clock[0])
    first = leases.acquire("416")
    assert first is not None
    assert leases.acquire("416") is None
    clock[0] = now + timedelta(minutes=5, seconds=1)
    second = leases.acquire("416")
    assert second is not None and second != first
    leases.release("416", first)  # the old holder's release no longer frees anything
    assert leases.acquire("416") is None


def test_log_reads_newest_first_per_day_and_per_employee(storage: Storage) -> None:
    """Entries come back newest first, from one partition per day and per employee."""
    log = IntegrationLog(storage)
    start = datetime(2026, 10, 24, 21, 58, tzinfo=UTC)
    for minutes, employee in [(0, "1"), (1, "2"), (2, "1"), (3, None)]:
        log.write(
            LogEntry(
                time=start + timedelta(minutes=minutes),
                action=Action.UPDATED,
                employee_id=employee,
                message=f"at +{minutes} min",
            )
        )
    assert [e.message for e in log.for_employee("1")] == ["at +2 min", "at +0 min"]
    assert [e.message for e in log.for_day(start)] == [
        "at +3 min",
        "at +2 min",
        "at +1 min",
        "at +0 min",
    ]
    assert log.for_day(start + timedelta(days=1)) == []


def test_entries_an_operator_must_see_raise_one_alert_line(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """What the Azure Monitor alert queries: one warning per failed, held or left entry, with
    the action and the employee id and never the message (it may carry names)."""
    log = IntegrationLog(storage)
    now = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    cases = [
        (Action.FAILED, "7", False, True),
        (Action.FAILED, "8", True, True),  # observe mode: a change that failed still alerts
        (Action.RUN_HELD, None, False, True),
        (Action.DEACTIVATION_FAILED, "9", False, True),
        (Action.CREATION_FAILED, "10", True, False),  # observe mode: only planned
        (Action.UPDATED, "11", False, False),
        (Action.CONFLICT, "12", False, False),  # an email and the daily digest tell of it
    ]
    with caplog.at_level(logging.WARNING, logger="connector.storage.log"):
        for action, employee, observed, _ in cases:
            log.write(
                LogEntry(
                    time=now,
                    action=action,
                    employee_id=employee,
                    observed=observed,
                    message="Jeanne <Dupont> could not be handled",
                )
            )
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith(ALERT_PREFIX)]
    expected = [
        f"{ALERT_PREFIX} {action.value} (employee {employee or '-'}"
        for action, employee, _, alerts_ in cases
        if alerts_
    ]
    assert [a.split(", log entry")[0] for a in alerts] == expected
    assert not any("Dupont" in a for a in alerts)


def test_an_entry_marked_alert_alerts_and_waits_for_an_operator(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A routine action marked `alert` (a link by mail to check) raises the warning line and is
    listed for an operator, the mark read back from the table; observed, it does neither."""
    log = IntegrationLog(storage)
    now = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    with caplog.at_level(logging.WARNING, logger="connector.storage.log"):
        for employee, observed in (("21", False), ("22", True)):
            log.write(
                LogEntry(
                    time=now,
                    action=Action.LINKED,
                    employee_id=employee,
                    observed=observed,
                    alert=True,
                    message="Linked to the existing account a@acme.fr (matched by mail).",
                )
            )
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith(ALERT_PREFIX)]
    assert [a.split(", log entry")[0] for a in alerts] == [f"{ALERT_PREFIX} linked (employee 21"]
    [listed] = log.for_attention()
    assert (listed.employee_id, listed.alert) == ("21", True)
    assert log.for_employee("22")[0].alert
