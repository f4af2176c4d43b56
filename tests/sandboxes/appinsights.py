"""A loopback Application Insights ingestion endpoint ("Breeze") for the real Azure Monitor
exporter (`azure-monitor-opentelemetry-exporter`).

It speaks the one route the exporter posts to, `POST /v2.1/track` (and the older `/v2/track`):
a JSON array of envelopes, gzip-compressed or not (`Content-Encoding: gzip`), or one envelope
per line. It keeps the service's habits:

- Each envelope must carry `name`, `time`, the resource's `iKey` and `data.baseType`; one that
  does not is refused on its own (`errors: [{index, statusCode: 400, message}]`) while the
  others are accepted: `206` when some went through, `400` when none did.
- The answer is Breeze's body: `{"itemsReceived": n, "itemsAccepted": m, "errors": [...]}`.
- Accepted envelopes are recorded in order; `traces()` gives the `MessageData` ones (what lands
  in the `traces` table), with their `properties` (the table's `customDimensions`).

Faults for transient failures (`429`, `500`, `503`) come from `Sandbox.inject`.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any, Self

from tests.sandboxes.base import RecordedRequest, Response, Sandbox

TRACK_PATHS = frozenset({"/v2.1/track", "/v2/track"})
DEFAULT_IKEY = "00000000-0000-0000-0000-000000000000"
MESSAGE_DATA = "MessageData"


@dataclass(frozen=True, kw_only=True)
class Trace:
    """One `MessageData` envelope as the `traces` table would show it."""

    message: str
    severity_level: int | str | None  # the traces table shows 1 for Information
    properties: dict[str, str]  # customDimensions
    tags: dict[str, str]  # cloud_RoleName, operation_Id, ...
    raw: dict[str, Any]


class AppInsightsSandbox(Sandbox):
    """Application Insights' ingestion endpoint on a loopback port."""

    def __init__(self, instrumentation_key: str = DEFAULT_IKEY) -> None:
        super().__init__()
        self.instrumentation_key = instrumentation_key
        self._envelopes: list[dict[str, Any]] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    # -- configuration and inspection ------------------------------------------------------
    @property
    def connection_string(self) -> str:
        """The connection string the portal shows, pointed at this sandbox."""
        return f"InstrumentationKey={self.instrumentation_key};IngestionEndpoint={self.base_url}/"

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        """Every accepted envelope, in the order received."""
        with self._lock:
            return list(self._envelopes)

    def traces(self) -> list[Trace]:
        """The accepted `MessageData` envelopes (the `traces` table)."""
        found = []
        for envelope in self.envelopes:
            data = envelope.get("data") or {}
            if data.get("baseType") != MESSAGE_DATA:
                continue
            base = data.get("baseData") or {}
            found.append(
                Trace(
                    message=str(base.get("message", "")),
                    severity_level=base.get("severityLevel"),
                    properties=dict(base.get("properties") or {}),
                    tags=dict(envelope.get("tags") or {}),
                    raw=envelope,
                )
            )
        return found

    def reset(self) -> None:
        """Forget envelopes, faults and the request log."""
        with self._lock:
            self._envelopes.clear()
        self.clear_faults()
        self.reset_log()

    # -- request handling -------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        """Accept a batch of envelopes on the track route."""
        if request.path not in TRACK_PATHS:
            return Response.json({"error": "Not found"}, status=404)
        if request.method != "POST":
            return Response.json({"error": "Method not allowed"}, status=405)
        try:
            items = _parse_batch(_decoded_body(request))
        except ValueError as err:
            return _answer(0, 0, [{"index": 0, "statusCode": 400, "message": str(err)}], 400)
        errors: list[dict[str, Any]] = []
        accepted = 0
        for index, item in enumerate(items):
            refused = self._refusal(item)
            if refused is not None:
                errors.append({"index": index, "statusCode": 400, "message": refused})
                continue
            self._envelopes.append(item)
            accepted += 1
        status = 200 if not errors else 206 if accepted else 400
        return _answer(len(items), accepted, errors, status)

    def _refusal(self, item: Any) -> str | None:
        """Why Breeze would refuse one envelope, or None."""
        if not isinstance(item, dict):
            return "Telemetry item must be a JSON object"
        for field in ("name", "time", "iKey"):
            if not item.get(field):
                return f"Field '{field}' on type 'Envelope' is required but missing or empty."
        if item["iKey"] != self.instrumentation_key:
            return "Invalid instrumentation key"
        data = item.get("data")
        if not isinstance(data, dict) or not data.get("baseType"):
            return "Field 'baseType' on type 'Data' is required but missing or empty."
        return None


def _decoded_body(request: RecordedRequest) -> bytes:
    """The body, gunzipped when the client compressed it."""
    encoding = (request.header("Content-Encoding") or "").strip().lower()
    if encoding == "gzip":
        try:
            return gzip.decompress(request.body)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError("The request body is not valid gzip.") from err
    if encoding not in ("", "identity"):
        raise ValueError(f"Unsupported Content-Encoding '{encoding}'.")
    return request.body


def _parse_batch(body: bytes) -> list[Any]:
    """A JSON array of envelopes, or one JSON envelope per line."""
    text = body.decode("utf-8").strip()
    if not text:
        raise ValueError("The request body is empty.")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise ValueError("The request body is not valid JSON.") from err
    return parsed if isinstance(parsed, list) else [parsed]


def _answer(received: int, accepted: int, errors: list[dict[str, Any]], status: int) -> Response:
    body = {"itemsReceived": received, "itemsAccepted": accepted, "errors": errors}
    return Response.json(body, status=status)
