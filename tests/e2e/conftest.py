"""The whole connector on loopback: Lucca and Graph sandboxes, Azurite, the Functions app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from connector.domain.entries import LogEntry
from connector.domain.messages import ChangeMessage
from connector.storage.changes import ChangeFeed
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import WEBHOOK_SECRET, AppLoader, http_request, user_function
from tests.host import QueueHost
from tests.sandboxes.acs import AcsSandbox, SentEmail
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox, signed_delivery

DOMAIN = "acme.fr"
NOTIFY_TO = "it-team@acme.fr"
NOTIFY_FROM = "DoNotReply@connector.acme.fr"
LUCCA_CLIENT = {"client_id": "connector-e2e", "client_secret": "lucca-e2e-secret-8f2c"}


@dataclass
class World:
    """Everything a scenario touches, wired as in production."""

    lucca: LuccaSandbox
    graph: GraphSandbox
    app: ModuleType
    host: QueueHost
    storage: Storage
    acs: AcsSandbox | None = None

    def deliver(self, event: dict[str, Any]) -> func.HttpResponse:
        """Lucca delivers one event to the webhook."""
        body, headers = signed_delivery(event, WEBHOOK_SECRET)
        webhook = user_function(self.app, "lucca_webhook")
        return webhook(http_request("POST", body=body, headers=headers))  # type: ignore[no-any-return]

    def deliver_all(self, *, since: int = 0) -> int:
        """Deliver every event Lucca recorded after the first `since`; returns the count."""
        events = self.lucca.recorded_events()[since:]
        for event in events:
            assert self.deliver(event).status_code in (200, 202)
        return len(events)

    def enqueue(self, message: ChangeMessage) -> None:
        """Put a change on the queue directly, as a second delivery path would."""
        ChangeFeed(self.storage).enqueue(message, 0)

    def set_clock(self, moment: datetime) -> None:
        """Move the connector's clock (and Lucca's idea of today) to `moment`."""
        self.app.clock = lambda: moment
        self.lucca.today = moment.astimezone(ZoneInfo("Europe/Paris")).date()

    def tick(self, moment: datetime, *, past_due: bool = False) -> None:
        """The timer fires at `moment`: `deactivate_leavers` runs what is due."""
        self.set_clock(moment)
        timer = user_function(self.app, "deactivate_leavers")
        timer(TimerRequest(past_due=past_due))

    def notify(self, moment: datetime | None = None, *, past_due: bool = False) -> None:
        """The notification timer fires (at `moment`, if given): the outbox is sent."""
        if moment is not None:
            self.set_clock(moment)
        timer = user_function(self.app, "send_notifications")
        timer(TimerRequest(past_due=past_due))

    def emails(self) -> list[SentEmail]:
        """The messages ACS accepted, in order."""
        assert self.acs is not None, "this world sends no email (make_world(notify=True))"
        return self.acs.sent

    def sync(self, *, instances: int = 1) -> int:
        """Let the host run the queued syncs; returns how many function calls it made."""
        return self.host.drain(instances=instances)

    def entries(self, employee_id: str) -> list[LogEntry]:
        """The employee's integration log, newest first."""
        return IntegrationLog(self.storage).for_employee(employee_id)

    def account_of(self, employee_id: str) -> dict[str, Any]:
        """The Entra user linked to a Lucca employee."""
        link = Links(self.storage).of_employee(employee_id)
        assert link is not None, f"employee {employee_id} is not linked"
        return self.graph.user(link.object_id)

    def graph_writes(self) -> int:
        """Requests that change the directory."""
        return sum(1 for r in self.graph.requests if r.method in ("POST", "PATCH", "PUT", "DELETE"))


@pytest.fixture
def make_world(load_app: AppLoader, azurite: Azurite, storage: Storage) -> Iterator[Any]:
    """Builds a world; keyword arguments override settings (e.g. CONNECTOR_MODE)."""
    sandboxes: list[Any] = []

    def make(*, notify: bool = False, **settings: str) -> World:
        lucca = LuccaSandbox(**LUCCA_CLIENT, rate_limit=1000, window_seconds=1)
        graph = GraphSandbox()
        lucca.start()
        graph.start()
        sandboxes.extend([lucca, graph])
        acs = None
        if notify:
            acs = AcsSandbox()
            acs.start()
            sandboxes.append(acs)
            settings = {
                "NOTIFY_RECIPIENTS": NOTIFY_TO,
                "NOTIFY_SENDER": NOTIFY_FROM,
                "ACS_CONNECTION_STRING": acs.connection_string,
            } | settings
        graph.add_domain(DOMAIN, is_verified=True, is_default=True)
        app = load_app(
            LUCCA_BASE_URL=lucca.base_url,
            LUCCA_TOKEN_URL=f"{lucca.base_url}/connect/token",
            LUCCA_CLIENT_ID=LUCCA_CLIENT["client_id"],
            LUCCA_CLIENT_SECRET=LUCCA_CLIENT["client_secret"],
            GRAPH_BASE_URL=f"{graph.base_url}/v1.0",
            LUCCA_MAX_RPM="50",
            LUCCA_RATE_WINDOW_SECONDS="1",
            **settings,
        )
        host = QueueHost(app, azurite.connection_string)
        return World(lucca=lucca, graph=graph, app=app, host=host, storage=storage, acs=acs)

    yield make
    for sandbox in sandboxes:
        sandbox.stop()


@pytest.fixture
def world(make_world: Any) -> World:
    """The connector in apply mode with default settings."""
    return make_world()  # type: ignore[no-any-return]
