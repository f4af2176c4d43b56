"""The Application Insights ingestion sandbox answers as Breeze does."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.sandboxes.appinsights import DEFAULT_IKEY, AppInsightsSandbox


@pytest.fixture
def sandbox() -> Iterator[AppInsightsSandbox]:
    """A running sandbox."""
    with AppInsightsSandbox() as running:
        yield running


def envelope(message: str, **overrides: Any) -> dict[str, Any]:
    """A trace envelope as the exporter builds it."""
    item: dict[str, Any] = {
        "name": "Microsoft.ApplicationInsights.Message",
        "time": "2026-03-02T09:30:00.000000Z",
        "iKey": DEFAULT_IKEY,
        "tags": {"ai.cloud.role": "func-lucca-connector"},
        "data": {
            "baseType": "MessageData",
            "baseData": {
                "ver": 2,
                "message": message,
                "severityLevel": 1,
                "properties": {"employee_id": "42"},
            },
        },
    }
    item.update(overrides)
    return item


def post(sandbox: AppInsightsSandbox, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.base_url}/v2.1/track",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


def test_a_gzipped_batch_is_accepted_and_recorded(sandbox: AppInsightsSandbox) -> None:
    """A gzip-compressed array of envelopes: 200, Breeze's counts, the traces recorded."""
    body = gzip.compress(json.dumps([envelope("one"), envelope("two")]).encode())
    answer = post(sandbox, body, **{"Content-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.json() == {"itemsReceived": 2, "itemsAccepted": 2, "errors": []}
    assert [t.message for t in sandbox.traces()] == ["one", "two"]
    assert sandbox.traces()[0].properties == {"employee_id": "42"}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"iKey": "11111111-1111-1111-1111-111111111111"}, "Invalid instrumentation key"),
        ({"time": ""}, "Field 'time'"),
        ({"data": {"baseData": {}}}, "Field 'baseType'"),
    ],
)
def test_a_bad_envelope_is_refused_alone(
    sandbox: AppInsightsSandbox, bad: dict[str, Any], reason: str
) -> None:
    """One bad envelope among good ones: 206, an error at its index, the others recorded."""
    body = json.dumps([envelope("good"), envelope("bad", **bad)]).encode()
    answer = post(sandbox, body)
    assert answer.status_code == 206
    payload = answer.json()
    assert (payload["itemsReceived"], payload["itemsAccepted"]) == (2, 1)
    [error] = payload["errors"]
    assert (error["index"], error["statusCode"]) == (1, 400)
    assert reason in error["message"]
    assert [t.message for t in sandbox.traces()] == ["good"]


def test_nothing_valid_is_a_400_and_unknown_routes_a_404(sandbox: AppInsightsSandbox) -> None:
    """Only bad envelopes, or a body that is not JSON: 400; another path: 404."""
    assert post(sandbox, json.dumps([envelope("x", iKey="nope")]).encode()).status_code == 400
    assert post(sandbox, b"not json").status_code == 400
    assert httpx.post(f"{sandbox.base_url}/v2.1/other", content=b"[]").status_code == 404
    assert sandbox.envelopes == []


def test_injected_faults_answer_before_the_handler(sandbox: AppInsightsSandbox) -> None:
    """A 503 injected for the next request is answered, then ingestion resumes."""
    sandbox.inject(503, path=r"/track$")
    body = json.dumps([envelope("later")]).encode()
    assert post(sandbox, body).status_code == 503
    assert post(sandbox, body).status_code == 200
    assert [t.message for t in sandbox.traces()] == ["later"]
