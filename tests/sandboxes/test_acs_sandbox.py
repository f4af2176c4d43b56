"""The ACS Email sandbox, driven by the real `azure.communication.email.EmailClient` over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azure.communication.email import EmailClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.rest import HttpResponse

from tests.sandboxes.acs import AcsSandbox, ManualClock, SentEmail, new_key, sign

SEND = r"^/emails:send$"
OPERATIONS = r"^/emails/operations/"
API = "api-version=2025-09-01"


def message(**overrides: Any) -> dict[str, Any]:
    """A valid send body, with top-level `overrides` applied."""
    body: dict[str, Any] = {
        "senderAddress": "DoNotReply@notices.acme.fr",
        "recipients": {
            "to": [{"address": "jeanne.martin@acme.fr", "displayName": "Jeanne Martin"}],
            "cc": [{"address": "rh@acme.fr"}],
        },
        "content": {
            "subject": "Votre compte est prêt",
            "plainText": "Bonjour Jeanne",
            "html": "<p>Bonjour Jeanne</p>",
        },
        "headers": {"X-Connector-Run": "run-42"},
        "replyTo": [{"address": "support@acme.fr"}],
    }
    body.update(overrides)
    return body


def make_client(acs: AcsSandbox, key: str | None = None, **kwargs: Any) -> EmailClient:
    """A real client for the sandbox (the default key unless `key` is given)."""
    return EmailClient(acs.endpoint, AzureKeyCredential(key or acs.key), **kwargs)


def raw(
    acs: AcsSandbox,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    *,
    signed_body: bytes | None = None,
    **sign_options: Any,
) -> httpx.Response:
    """A hand-made request, signed as the SDK signs (over `signed_body` when given)."""
    url = acs.endpoint + path_and_query
    headers = sign(
        acs.key, method, url, body if signed_body is None else signed_body, **sign_options
    )
    headers["Content-Type"] = "application/json"
    return httpx.request(method, url, content=body, headers=headers)


@pytest.fixture
def acs() -> Iterator[AcsSandbox]:
    """A started sandbox."""
    with AcsSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def client(acs: AcsSandbox) -> Iterator[EmailClient]:
    """A real client that does not retry, so each failure is seen once."""
    with make_client(acs, retry_total=0) as email_client:
        yield email_client


def test_a_send_succeeds_and_is_recorded(acs: AcsSandbox) -> None:
    with make_client(acs) as email_client:
        poller = email_client.begin_send(message())
        result = poller.result(timeout=5)

    assert result["status"] == "Succeeded"
    assert poller.status() == "Succeeded"
    [sent] = acs.sent
    assert isinstance(sent, SentEmail)
    assert result["id"] == sent.operation_id
    assert sent.sender == "DoNotReply@notices.acme.fr"
    assert sent.to == ["jeanne.martin@acme.fr"]
    assert sent.cc == ["rh@acme.fr"]
    assert sent.recipients == ["jeanne.martin@acme.fr", "rh@acme.fr"]
    assert sent.reply_to == ["support@acme.fr"]
    assert sent.subject == "Votre compte est prêt"
    assert sent.plain_text == "Bonjour Jeanne"
    assert sent.html == "<p>Bonjour Jeanne</p>"
    assert sent.headers == {"X-Connector-Run": "run-42"}
    assert sent.raw["recipients"]["to"][0]["displayName"] == "Jeanne Martin"
    assert (sent.status, sent.reported_status, sent.error) == ("Succeeded", "Succeeded", None)
    assert acs.delivered == [sent]
    assert acs.operation(sent.operation_id) is sent
    assert acs.count("POST", SEND) == 1
    # One `Running` answer (the default), then the outcome.
    assert acs.count("GET", OPERATIONS) == sent.polls == 2


def test_the_operation_location_is_absolute_and_polled_with_the_api_version(
    acs: AcsSandbox, client: EmailClient
) -> None:
    client.begin_send(message(), operation_id="op-1").result(timeout=5)

    post = acs.requests[0]
    assert post.param("api-version") == "2025-09-01"
    assert post.header("Operation-Id") == "op-1"
    polls = [r for r in acs.requests if r.method == "GET"]
    assert {r.path for r in polls} == {"/emails/operations/op-1"}
    assert all(r.param("api-version") == "2025-09-01" for r in polls)
    assert all(r.header("Authorization") for r in polls)


def test_a_wrong_key_is_denied_and_nothing_is_sent(acs: AcsSandbox) -> None:
    with (
        make_client(acs, key=new_key(), retry_total=0) as email_client,
        pytest.raises(ClientAuthenticationError) as caught,
    ):
        email_client.begin_send(message())

    assert caught.value.status_code == 401
    assert caught.value.error is not None
    assert caught.value.error.code == "Denied"
    assert acs.sent == []


def test_the_secondary_key_is_accepted() -> None:
    secondary = new_key()
    with AcsSandbox(secondary_key=secondary) as acs, make_client(acs, key=secondary) as email:
        assert email.begin_send(message()).result(timeout=5)["status"] == "Succeeded"
    assert len(acs.sent) == 1


def test_a_hand_signed_request_is_accepted(acs: AcsSandbox) -> None:
    response = raw(acs, "POST", f"/emails:send?{API}", json.dumps(message()).encode())

    assert response.status_code == 202, response.text
    assert response.headers["Operation-Location"].startswith(f"{acs.endpoint}/emails/operations/")
    assert response.json()["status"] == "Running"


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("body signed differently", {"signed_body": b'{"other": true}'}),
        ("hash not of the body", {"content_sha256": "bm90IHRoZSBoYXNo"}),
        ("date too old", {"date": -timedelta(minutes=16)}),
        ("date too far ahead", {"date": timedelta(minutes=16)}),
    ],
)
def test_tampered_requests_are_denied(acs: AcsSandbox, case: str, options: dict[str, Any]) -> None:
    if "date" in options:  # an offset from the time the test runs, not from collection
        options = {"date": datetime.now(UTC) + options["date"]}
    response = raw(acs, "POST", f"/emails:send?{API}", json.dumps(message()).encode(), **options)

    assert response.status_code == 401, case
    assert response.json()["error"]["code"] == "Denied"
    assert acs.sent == []


def test_requests_without_a_valid_authorization_are_denied(acs: AcsSandbox) -> None:
    url = f"{acs.endpoint}/emails:send?{API}"
    body = json.dumps(message()).encode()
    headers = sign(acs.key, "POST", url, body)
    for authorization in (None, "Bearer abc", "HMAC-SHA256 Signature=abc", "HMAC-SHA256 garbage"):
        sent_headers = {k: v for k, v in headers.items() if k != "Authorization"}
        if authorization is not None:
            sent_headers["Authorization"] = authorization
        response = httpx.post(url, content=body, headers=sent_headers)
        assert response.status_code == 401, authorization
        assert response.json()["error"]["code"] == "Denied"
    assert acs.sent == []


def test_a_reused_operation_id_sends_once(acs: AcsSandbox, client: EmailClient) -> None:
    first = client.begin_send(message(), operation_id="notice-1001-welcome").result(timeout=5)
    again = client.begin_send(
        message(content={"subject": "Changed", "plainText": "x"}),
        operation_id="notice-1001-welcome",
    ).result(timeout=5)

    assert first["id"] == again["id"] == "notice-1001-welcome"
    assert again["status"] == "Succeeded"
    assert acs.count("POST", SEND) == 2
    [sent] = acs.sent
    assert sent.subject == "Votre compte est prêt"


def test_without_an_operation_id_each_send_is_new(acs: AcsSandbox, client: EmailClient) -> None:
    ids = {client.begin_send(message()).result(timeout=5)["id"] for _ in range(2)}

    assert len(ids) == 2
    assert len(acs.sent) == 2


def test_injected_server_errors_fail_then_the_send_succeeds(
    acs: AcsSandbox, client: EmailClient
) -> None:
    error = {"error": {"code": "InternalServerError", "message": "try again"}}
    acs.inject(500, method="POST", path=SEND, times=2, body=error)

    for _ in range(2):
        with pytest.raises(HttpResponseError) as caught:
            client.begin_send(message(), operation_id="op-retry")
        assert caught.value.status_code == 500
    result = client.begin_send(message(), operation_id="op-retry").result(timeout=5)

    assert result["status"] == "Succeeded"
    assert len(acs.sent) == 1
    assert acs.count("POST", SEND) == 3


def test_a_failed_operation_raises_from_the_poller(acs: AcsSandbox, client: EmailClient) -> None:
    acs.fail_operations(code="EmailDroppedAllRecipientsSuppressed", message="All suppressed.")

    poller = client.begin_send(message())
    with pytest.raises(HttpResponseError) as caught:
        poller.result(timeout=5)

    assert poller.status() == "Failed"
    # The error is the failed status poll's: HTTP 200 carrying the operation's error.
    assert caught.value.status_code == 200
    assert caught.value.error is not None
    assert caught.value.error.code == "EmailDroppedAllRecipientsSuppressed"
    assert caught.value.error.message == "All suppressed."
    [failed] = acs.sent
    assert (failed.status, failed.reported_status) == ("Failed", "Failed")
    assert failed.error == {
        "code": "EmailDroppedAllRecipientsSuppressed",
        "message": "All suppressed.",
    }
    assert acs.failed == [failed]
    assert acs.delivered == []
    # Only the next send was made to fail.
    assert client.begin_send(message()).result(timeout=5)["status"] == "Succeeded"
    assert len(acs.delivered) == 1


def test_failures_can_target_messages(acs: AcsSandbox, client: EmailClient) -> None:
    acs.fail_operations(None, when=lambda email: "bounce@" in email.recipients[0])
    bounced = message(recipients={"to": [{"address": "bounce@acme.fr"}]})

    with pytest.raises(HttpResponseError):
        client.begin_send(bounced).result(timeout=5)
    client.begin_send(message()).result(timeout=5)
    with pytest.raises(HttpResponseError):
        client.begin_send(bounced).result(timeout=5)

    assert [e.to[0] for e in acs.failed] == ["bounce@acme.fr", "bounce@acme.fr"]
    assert [e.to[0] for e in acs.delivered] == ["jeanne.martin@acme.fr"]


def test_a_held_operation_stays_running_until_released(
    acs: AcsSandbox, client: EmailClient
) -> None:
    acs.running_polls = 1_000_000

    poller = client.begin_send(message())
    # result() with a timeout does not raise: it hands back the last `Running` status body.
    assert poller.result(timeout=0.2)["status"] == "Running"
    assert not poller.done()
    assert acs.sent[0].status == "Succeeded"  # the outcome is fixed; only the polls lag

    acs.running_polls = 0
    assert poller.result(timeout=5)["status"] == "Succeeded"
    assert poller.done()


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("no subject", message(content={"plainText": "Bonjour"})),
        ("blank subject", message(content={"subject": " ", "plainText": "Bonjour"})),
        ("no text nor html", message(content={"subject": "Hello"})),
        ("no sender", {k: v for k, v in message().items() if k != "senderAddress"}),
        ("no recipients", message(recipients={"to": [], "cc": [], "bcc": []})),
        ("bad recipient", message(recipients={"to": [{"address": "not-an-address"}]})),
        ("too many", message(recipients={"bcc": [{"address": f"u{i}@a.fr"} for i in range(51)]})),
    ],
)
def test_invalid_messages_are_refused(
    acs: AcsSandbox, client: EmailClient, case: str, body: dict[str, Any]
) -> None:
    with pytest.raises(HttpResponseError) as caught:
        client.begin_send(body)

    assert caught.value.status_code == 400, case
    assert caught.value.error is not None
    assert caught.value.error.code == "BadRequest"
    assert acs.sent == []


def test_bcc_only_is_enough(acs: AcsSandbox, client: EmailClient) -> None:
    client.begin_send(message(recipients={"bcc": [{"address": "audit@acme.fr"}]})).result(timeout=5)

    assert acs.sent[0].bcc == ["audit@acme.fr"]


def test_the_api_version_is_required(acs: AcsSandbox) -> None:
    body = json.dumps(message()).encode()

    missing = raw(acs, "POST", "/emails:send", body)
    unknown = raw(acs, "POST", "/emails:send?api-version=2020-01-01", body)

    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    assert unknown.status_code == 400
    assert acs.sent == []


def test_an_unknown_operation_is_not_found(acs: AcsSandbox) -> None:
    response = raw(acs, "GET", f"/emails/operations/nope?{API}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"


def test_the_rate_limits_answer_429_with_retry_after() -> None:
    clock = ManualClock()
    with (
        AcsSandbox(per_minute=2, per_hour=3, clock=clock) as acs,
        make_client(acs, retry_total=0) as email,
    ):
        for _ in range(2):
            email.begin_send(message(), polling=False)
        with pytest.raises(HttpResponseError) as per_minute:
            email.begin_send(message(), polling=False)

        clock.advance(60)
        email.begin_send(message(), polling=False)
        with pytest.raises(HttpResponseError) as per_hour:
            email.begin_send(message(), polling=False)

        clock.advance(3600)
        email.begin_send(message(), operation_id="after-the-hour").result(timeout=5)

    for caught, retry_after in ((per_minute, "60"), (per_hour, "3540")):
        assert caught.value.status_code == 429
        assert isinstance(caught.value.response, HttpResponse)
        assert caught.value.response.headers["Retry-After"] == retry_after
        assert caught.value.error is not None
        assert caught.value.error.code == "TooManyRequests"
    assert len(acs.sent) == 4
    assert acs.count("POST", SEND) == 6


def test_a_replayed_operation_id_is_not_rate_limited(acs: AcsSandbox, client: EmailClient) -> None:
    acs.per_minute = 1
    for _ in range(3):
        client.begin_send(message(), operation_id="once").result(timeout=5)

    assert len(acs.sent) == 1


def test_endpoint_and_connection_string(acs: AcsSandbox) -> None:
    assert acs.endpoint == acs.base_url
    assert acs.connection_string == f"endpoint={acs.base_url}/;accesskey={acs.key}"
    with pytest.raises(ValueError, match="base64"):
        AcsSandbox(key="not base64!")
