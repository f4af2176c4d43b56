"""`python -m connector webhook register|status|ping` and the client's webhook and event calls,
against the Lucca sandbox over HTTP and Azurite (issue 7)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from connector.core.errors import Denied, Throttled
from connector.lucca.client import EVENTS_SCOPE, LuccaClient
from connector.lucca.models import WEBHOOK_TOPICS
from connector.runtime.clients import lucca_client
from connector.runtime.settings import load_settings
from connector.runtime.storage import storage_from_settings
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import run_cli, sandbox_settings
from tests.sandboxes.lucca import CONNECTOR_SCOPES, LuccaSandbox

pytestmark = pytest.mark.azurite
URL = "https://func.example.net/api/lucca/webhook?code=s3cr3t-key"


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    sandbox = LuccaSandbox(rate_limit=1000, window_seconds=1)
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def environ(lucca: LuccaSandbox, azurite: Azurite, storage: Storage) -> dict[str, str]:
    return sandbox_settings(azurite.connection_string, lucca)


run = run_cli


def test_register_prints_the_secret_once_with_the_next_steps(
    lucca: LuccaSandbox, environ: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code, out, err = run(environ, "webhook", "register", "--url", URL)
    assert (code, err) == (0, "")
    secret = lucca.webhook_secret()
    assert out.count(secret) == 1
    assert "Registered webhook endpoint 301" in out
    assert "lucca-webhook-secret" in out and "LUCCA_WEBHOOK_ENDPOINT_ID=301" in out
    assert "s3cr3t-key" not in out and "code=***" in out
    assert secret not in caplog.text
    [posted] = [
        r for r in lucca.requests if r.path == "/lucca-api/webhook-endpoints" and r.method == "POST"
    ]
    body = posted.json()
    assert body["topics"] == list(WEBHOOK_TOPICS) and body["webhookUrl"] == URL
    # The token asked for the write scope only.
    token_request = next(r for r in lucca.requests if r.path == "/connect/token")
    assert "scope=webhook-endpoints.readwrite" in token_request.body.decode()
    assert "employees" not in token_request.body.decode()

    again, out2, err2 = run(environ, "webhook", "register", "--url", URL)
    assert again == 1 and "already has endpoint 301" in err2 and secret not in out2 + err2
    assert "--rotate" in err2
    assert lucca.count("POST", r"^/lucca-api/webhook-endpoints$") == 1  # nothing created
    rotated, out3, _ = run(environ, "webhook", "register", "--url", URL, "--rotate", "--json")
    second = json.loads(out3)
    assert rotated == 0 and second["id"] != "301" and second["secret"] != secret
    assert lucca.count("POST", r"^/lucca-api/webhook-endpoints$") == 2


def test_register_refuses_a_url_without_https_or_function_key(environ: dict[str, str]) -> None:
    code, _, err = run(environ, "webhook", "register", "--url", "https://x.example/api/h")
    assert code == 2 and "code=" in err
    code, _, err = run(environ, "webhook", "register", "--url", "http://x.example/h?code=k")
    assert code == 2 and "https" in err


def test_register_json_carries_the_secret_and_the_setting(
    lucca: LuccaSandbox, environ: dict[str, str]
) -> None:
    code, out, _ = run(environ, "webhook", "register", "--url", URL, "--json")
    document = json.loads(out)
    assert code == 0 and document["secret"] == lucca.webhook_secret()
    assert document["setting"] == {"LUCCA_WEBHOOK_ENDPOINT_ID": "301"}
    assert document["url"].endswith("code=***")


def test_status_exit_1_when_suspended_or_missing_topics(
    lucca: LuccaSandbox, environ: dict[str, str]
) -> None:
    assert run(environ, "webhook", "status")[0] == 1  # none registered
    run(environ, "webhook", "register", "--url", URL)
    code, out, _ = run(environ, "webhook", "status")
    assert code == 0 and "Endpoint 301: active" in out and "code=***" in out
    assert "s3cr3t-key" not in out

    lucca.set_endpoint_status("301", "suspended")
    code, out, _ = run(environ | {"LUCCA_WEBHOOK_ENDPOINT_ID": "301"}, "webhook", "status")
    assert code == 1 and "Endpoint 301: suspended" in out and "reactivate" in out

    lucca.set_endpoint_status("301", "active")
    scopes = ("webhook-endpoints.readwrite",)
    settings = load_settings(environ)
    with lucca_client(settings, storage_from_settings(settings), scopes) as client:
        client._post(  # a second endpoint with fewer topics (through the client's own POST)
            "webhook-endpoints",
            None,
            {
                "name": "partial",
                "webhookUrl": "https://other.example/h?code=k",
                "apiVersion": "2024-11-01",
                "topics": ["employee.updated"],
            },
            scopes[0],
        )
    code, out, _ = run(environ, "webhook", "status", "--json")
    listed = json.loads(out)
    assert code == 1 and [e["id"] for e in listed] == ["301", "302"]
    assert "employment.updated" in listed[1]["missing_topics"] and listed[0]["missing_topics"] == []


def test_ping_sends_a_ping_event_to_the_endpoint(
    lucca: LuccaSandbox, environ: dict[str, str]
) -> None:
    run(environ, "webhook", "register", "--url", URL)
    received: list[str] = []

    def deliver(event: dict[str, Any]) -> int:
        received.append(event["topic"])
        return 200

    lucca.deliver_to = deliver
    code, out, err = run(environ, "webhook", "ping")
    assert (code, err) == (0, "") and received == ["ping"]
    assert "delivered" in out
    ping = next(r for r in lucca.requests if r.path == "/lucca-api/webhook-deliveries")
    assert ping.query == {"webhookEndpoint.id": ["301"], "event.topic": ["ping"]}

    lucca.deliver_to = None
    code, out, _ = run(environ, "webhook", "ping", "--id", "301", "--json")
    assert code == 0 and json.loads(out)["status"] == "undelivered"
    code, _, err = run(environ, "webhook", "ping", "--id", "999")
    assert code == 1 and "no webhook endpoint 999" in err  # Lucca answered: not an outage
    code, _, err = run(environ, "webhook", "status", "--id", "999")
    assert code == 1 and "no webhook endpoint 999" in err


def test_ping_without_the_deliveries_scope_names_it(azurite: Azurite, storage: Storage) -> None:
    with LuccaSandbox(scopes=CONNECTOR_SCOPES - {"webhook-deliveries.readwrite"}) as lucca:
        environ = sandbox_settings(azurite.connection_string, lucca)
        run(environ, "webhook", "register", "--url", URL)
        code, _, err = run(environ, "webhook", "ping", "--id", "301")
    assert code == 4 and "webhook-deliveries.readwrite" in err


# -- the client's event list ----------------------------------------------------------------
def client_of(lucca: LuccaSandbox, storage: Storage, *scopes: str) -> LuccaClient:
    environ = sandbox_settings("UseDevelopmentStorage=true", lucca)
    return lucca_client(load_settings(environ), storage, scopes)


def test_events_are_paged_by_100_and_filtered_after_an_instant(
    lucca: LuccaSandbox, storage: Storage
) -> None:
    for n in range(70):  # 3 events each: 210 events, 3 pages
        lucca.add_employee(f"E{n}", "Doe", None)
    recorded = lucca.recorded_events()
    with client_of(lucca, storage, EVENTS_SCOPE) as client:
        events = list(client.events())
        assert [e["id"] for e in events] == [e["id"] for e in recorded]
        assert lucca.count("GET", r"^/lucca-api/events$") == 3
        cut = recorded[150]["occurredAt"]
        from connector.lucca.client import _occurred_at  # noqa: PLC0415

        after = list(client.events(after=_occurred_at(recorded[150])))
    assert all(e["occurredAt"] > cut for e in after)
    assert len(after) <= len(recorded) - 151


def test_events_without_the_scope_and_throttled(lucca: LuccaSandbox, storage: Storage) -> None:
    lucca.add_employee("Ada", "Lovelace", None)
    with client_of(lucca, storage, "employees.readonly") as client, pytest.raises(Denied) as err:
        list(client.events())
    assert "events.readonly" in err.value.message
    lucca.throttle(times=1, retry_after=1, path=r"^/lucca-api/events")
    with client_of(lucca, storage, EVENTS_SCOPE) as client, pytest.raises(Throttled):
        list(client.events())


LUCCA_ONLY = ("AzureWebJobsStorage", "LUCCA_BASE_URL", "LUCCA_TOKEN_URL", "LUCCA_CLIENT_ID")


def test_the_webhook_commands_need_only_storage_and_lucca(
    lucca: LuccaSandbox, environ: dict[str, str]
) -> None:
    """At setup, before any signing secret exists: `webhook register`, `status` and `ping` run
    with storage and Lucca's client settings alone (no LUCCA_WEBHOOK_SECRET, no Graph or email
    setting); without the client secret they stop naming it (exit 3)."""
    lucca_only = {k: v for k, v in environ.items() if k in LUCCA_ONLY}
    lucca_only["LUCCA_CLIENT_SECRET"] = environ["LUCCA_CLIENT_SECRET"]
    assert "LUCCA_WEBHOOK_SECRET" not in lucca_only and "GRAPH_BASE_URL" not in lucca_only

    code, out, err = run(lucca_only, "webhook", "register", "--url", URL)
    assert (code, err) == (0, "") and "Registered webhook endpoint 301" in out
    code, out, err = run(lucca_only, "webhook", "status", "--id", "301")
    assert (code, err) == (0, "") and "301" in out
    code, _, err = run(lucca_only, "webhook", "ping", "--id", "301")
    assert (code, err) == (0, "")

    without = {k: v for k, v in lucca_only.items() if k != "LUCCA_CLIENT_SECRET"}
    code, _, err = run(without, "webhook", "status")
    assert code == 3 and "LUCCA_CLIENT_SECRET is missing" in err
    assert "LUCCA_WEBHOOK_SECRET" not in err
