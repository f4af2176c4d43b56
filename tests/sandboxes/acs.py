"""A loopback Azure Communication Services Email for the real `azure.communication.email` client.

It speaks the two routes `EmailClient.begin_send` uses: `POST /emails:send` (answered `202`
with an `Operation-Location`) and `GET /emails/operations/{id}` (the status the `LROPoller`
polls until `Succeeded`, `Failed` or `Canceled`). It keeps the service's habits:

- Every request must carry the HMAC-SHA256 signature the SDK's `HMACCredentialsPolicy` makes
  from the access key (`x-ms-date`, `host` and `x-ms-content-sha256` signed); a bad or missing
  signature, a body that does not match its content hash or a date more than 15 minutes off
  answers `401` with code `Denied`.
- `api-version` is required; the send body is checked (sender, at least one recipient,
  subject, plain text or HTML) and refused with `400` code `BadRequest`.
- The caller's `Operation-Id` header is an idempotency key: sending again under an id already
  accepted answers the same operation and sends nothing more.
- An accepted message is processed whether or not anyone polls; polls answer `Running` a set
  number of times, then the outcome (`Succeeded`, or `Failed` with an `error` when
  `fail_operations` said so). Polling answers carry `retry-after-ms` so pollers are fast.
- Optional per-minute / per-hour limits on accepted sends answer `429` with `Retry-After`.

Faults for transient failures (`500`, `503`, ...) come from `Sandbox.inject`.

Note: the SDK's `EmailClient.from_connection_string` drops the endpoint's scheme and rebuilds it
as `https://`, so it cannot reach this plain-HTTP sandbox; build the client from `endpoint` and
`AzureKeyCredential(key)` instead (`connection_string` is there for code that parses it itself).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Self
from urllib.parse import quote, unquote, urlencode, urlsplit

from tests.sandboxes.base import RecordedRequest, Response, Sandbox

SEND_PATH = "/emails:send"
OPERATIONS_PREFIX = "/emails/operations/"
API_VERSIONS = frozenset({"2023-03-31", "2024-07-01-preview", "2025-09-01"})
DEFAULT_API_VERSION = "2025-09-01"
MAX_CLOCK_SKEW = timedelta(minutes=15)
MAX_RECIPIENTS = 50
SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
RUNNING = "Running"
DEFAULT_FAILURE_CODE = "EmailDeliveryFailed"
DEFAULT_FAILURE_MESSAGE = "The email could not be delivered."


# -- signing ---------------------------------------------------------------------------------
def content_hash(body: bytes) -> str:
    """The `x-ms-content-sha256` value of a body: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def string_to_sign(method: str, path_and_query: str, signed_values: list[str]) -> str:
    """What ACS signs: `VERB\\n/path?query\\n` then the signed headers' values joined by `;`."""
    return f"{method.upper()}\n{path_and_query}\n{';'.join(signed_values)}"


def compute_signature(key: str, text: str) -> str:
    """Base64 of HMAC-SHA256 of `text` under the base64-decoded access `key`."""
    digest = hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign(
    key: str,
    method: str,
    url: str,
    body: bytes = b"",
    *,
    date: datetime | None = None,
    content_sha256: str | None = None,
) -> dict[str, str]:
    """The headers `HMACCredentialsPolicy` would add to a request, for hand-made requests.

    `date` defaults to now; `content_sha256` defaults to the hash of `body` (pass another to
    sign a hash that does not match the body).
    """
    parts = urlsplit(url)
    path_and_query = parts.path + (f"?{parts.query}" if parts.query else "")
    when = format_datetime((date or datetime.now(UTC)).astimezone(UTC), usegmt=True)
    body_hash = content_sha256 if content_sha256 is not None else content_hash(body)
    signature = compute_signature(
        key, string_to_sign(method, path_and_query, [when, parts.netloc, body_hash])
    )
    return {
        "x-ms-date": when,
        "x-ms-content-sha256": body_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature}",
    }


def new_key() -> str:
    """A random access key shaped like ACS's (64 random bytes, base64)."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


class ManualClock:
    """A clock for the rate limits that only moves when told (seconds, like `time.time`)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        """The current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


# -- records ---------------------------------------------------------------------------------
@dataclass(kw_only=True)
class SentEmail:
    """One message the sandbox accepted (once per operation id).

    `status` is the operation's outcome, fixed when it was accepted (`Succeeded` or `Failed`,
    with `error` then): like the service, the sandbox processes a message whether or not the
    caller polls. `reported_status` is what the last poll answered (`Running` until then).
    """

    operation_id: str
    sender: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    subject: str
    plain_text: str | None
    html: str | None
    headers: dict[str, str]
    raw: dict[str, Any]
    status: str = SUCCEEDED
    error: dict[str, str] | None = None
    polls: int = 0
    reported_status: str = RUNNING

    @property
    def recipients(self) -> list[str]:
        """Every recipient address: to, then cc, then bcc."""
        return [*self.to, *self.cc, *self.bcc]

    @property
    def delivered(self) -> bool:
        """Whether the operation succeeded."""
        return self.status == SUCCEEDED


@dataclass(kw_only=True)
class _FailureRule:
    remaining: int | None
    code: str
    message: str
    when: Callable[[SentEmail], bool] | None

    def take(self, email: SentEmail) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.when is not None and not self.when(email):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    all_headers = {"x-ms-error-code": code}
    all_headers.update(headers or {})
    return Response.json(
        {"error": {"code": code, "message": message}}, status=status, headers=all_headers
    )


def _addresses(value: Any, where: str) -> list[str]:
    """The addresses of a list of `{address, displayName}`; raises ValueError if malformed."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"'{where}' must be an array.")
    found: list[str] = []
    for entry in value:
        address = entry.get("address") if isinstance(entry, dict) else None
        if not isinstance(address, str) or "@" not in address.strip("@"):
            raise ValueError(f"'{where}' has an invalid email address: {entry!r}.")
        found.append(address)
    return found


def _parse_message(operation_id: str, payload: Any) -> SentEmail:
    """The message in a send body; raises ValueError the way the service answers 400."""
    if not isinstance(payload, dict):
        raise ValueError("The request body must be a JSON object.")
    sender = payload.get("senderAddress")
    if not isinstance(sender, str) or "@" not in sender.strip("@"):
        raise ValueError("'senderAddress' is required and must be an email address.")
    recipients = payload.get("recipients")
    if not isinstance(recipients, dict):
        raise ValueError("'recipients' is required.")
    to = _addresses(recipients.get("to"), "recipients.to")
    cc = _addresses(recipients.get("cc"), "recipients.cc")
    bcc = _addresses(recipients.get("bcc"), "recipients.bcc")
    total = len(to) + len(cc) + len(bcc)
    if total == 0:
        raise ValueError("At least one recipient is required (to, cc or bcc).")
    if total > MAX_RECIPIENTS:
        raise ValueError(f"At most {MAX_RECIPIENTS} recipients are allowed, got {total}.")
    content = payload.get("content")
    if not isinstance(content, dict):
        raise ValueError("'content' is required.")
    subject = content.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        raise ValueError("'content.subject' is required.")
    plain_text = content.get("plainText")
    html = content.get("html")
    if not any(isinstance(body, str) and body for body in (plain_text, html)):
        raise ValueError("'content.plainText' or 'content.html' is required.")
    headers = payload.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ValueError("'headers' must map header names to string values.")
    return SentEmail(
        operation_id=operation_id,
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        reply_to=_addresses(payload.get("replyTo"), "replyTo"),
        subject=subject,
        plain_text=plain_text if isinstance(plain_text, str) else None,
        html=html if isinstance(html, str) else None,
        headers=dict(headers),
        raw=payload,
    )


# -- the sandbox -----------------------------------------------------------------------------
class AcsSandbox(Sandbox):
    """Azure Communication Services Email on a loopback port, for the real `EmailClient`.

    `key` is the access key (base64; random by default) and `secondary_key` an optional second
    valid key, as a resource has two. `running_polls` is how many status polls answer
    `Running` before the outcome (read at each poll, so a test may raise it to hold operations
    and lower it to release them); `poll_interval_ms` goes out as `retry-after-ms`.
    `per_minute` / `per_hour` limit accepted sends (off when None), measured by `clock`
    (seconds; real time by default). Request dates are always checked against real time.
    """

    def __init__(
        self,
        key: str | None = None,
        *,
        secondary_key: str | None = None,
        running_polls: int = 1,
        poll_interval_ms: int = 20,
        per_minute: int | None = None,
        per_hour: int | None = None,
        clock: Callable[[], float] = time.time,
        api_versions: Collection[str] = API_VERSIONS,
        max_clock_skew: timedelta = MAX_CLOCK_SKEW,
    ) -> None:
        super().__init__()
        self.key = key if key is not None else new_key()
        self.secondary_key = secondary_key
        for candidate in (self.key, secondary_key):
            if candidate is not None:
                try:
                    base64.b64decode(candidate, validate=True)
                except binascii.Error as exc:
                    raise ValueError("an ACS access key must be base64") from exc
        self.running_polls = running_polls
        self.poll_interval_ms = poll_interval_ms
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.clock = clock
        self.api_versions = frozenset(api_versions)
        self.max_clock_skew = max_clock_skew
        self._sent: list[SentEmail] = []
        self._operations: dict[str, SentEmail] = {}
        self._accepted_at: deque[float] = deque()
        self._failure_rules: list[_FailureRule] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    # -- configuration and inspection ------------------------------------------------------
    @property
    def endpoint(self) -> str:
        """The resource endpoint to give `EmailClient` (`http://127.0.0.1:PORT`)."""
        return self.base_url

    @property
    def connection_string(self) -> str:
        """`endpoint=http://127.0.0.1:PORT/;accesskey=<key>`, as the portal shows it."""
        return f"endpoint={self.base_url}/;accesskey={self.key}"

    @property
    def sent(self) -> list[SentEmail]:
        """Every accepted message, once per operation id, in order (failed ones included)."""
        with self._lock:
            return list(self._sent)

    @property
    def delivered(self) -> list[SentEmail]:
        """The accepted messages whose operation succeeded."""
        with self._lock:
            return [email for email in self._sent if email.status == SUCCEEDED]

    @property
    def failed(self) -> list[SentEmail]:
        """The accepted messages whose operation failed."""
        with self._lock:
            return [email for email in self._sent if email.status == FAILED]

    def operation(self, operation_id: str) -> SentEmail | None:
        """The message accepted under `operation_id`, if any."""
        with self._lock:
            return self._operations.get(operation_id)

    def fail_operations(
        self,
        times: int | None = 1,
        *,
        code: str = DEFAULT_FAILURE_CODE,
        message: str = DEFAULT_FAILURE_MESSAGE,
        when: Callable[[SentEmail], bool] | None = None,
    ) -> None:
        """Make the next `times` accepted sends (all when None) matching `when` end `Failed`.

        The send itself is still accepted (`202`) and recorded; its polls end with status
        `Failed` and `error: {code, message}`.
        """
        with self._lock:
            self._failure_rules.append(
                _FailureRule(remaining=times, code=code, message=message, when=when)
            )

    def reset(self) -> None:
        """Forget messages, operations, rate-limit history, failure rules, faults and log."""
        with self._lock:
            self._sent.clear()
            self._operations.clear()
            self._accepted_at.clear()
            self._failure_rules.clear()
        self.clear_faults()
        self.reset_log()

    # -- request handling -------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        """Authenticate, check `api-version`, then route to send or operation status."""
        denied = self._authenticate(request)
        if denied is not None:
            return _error(401, "Denied", denied)
        api_version = request.param("api-version")
        if not api_version:
            return _error(
                400, "MissingApiVersionParameter", "The api-version query parameter is required."
            )
        if api_version not in self.api_versions:
            supported = ", ".join(sorted(self.api_versions))
            return _error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{api_version}' is invalid. Supported versions: {supported}.",
            )
        if request.path == SEND_PATH:
            if request.method != "POST":
                return _error(405, "MethodNotAllowed", f"{request.method} is not allowed here.")
            return self._send(request, api_version)
        if request.path.startswith(OPERATIONS_PREFIX):
            operation_id = unquote(request.path.removeprefix(OPERATIONS_PREFIX))
            if "/" in operation_id or not operation_id:
                return _error(404, "NotFound", "Resource not found.")
            if request.method != "GET":
                return _error(405, "MethodNotAllowed", f"{request.method} is not allowed here.")
            return self._status(operation_id)
        return _error(404, "NotFound", "Resource not found.")

    def _authenticate(self, request: RecordedRequest) -> str | None:
        """Why the request's HMAC signature is refused, or None when it is valid."""
        authorization = request.header("Authorization")
        if not authorization:
            return "Missing Authorization header."
        scheme, _, parameters = authorization.partition(" ")
        if scheme != "HMAC-SHA256":
            return "Authorization scheme must be HMAC-SHA256."
        fields: dict[str, str] = {}
        for part in parameters.strip().split("&"):
            name, _, value = part.partition("=")
            fields[name.strip()] = value.strip()
        signed_headers = fields.get("SignedHeaders")
        signature = fields.get("Signature")
        if not signed_headers or not signature:
            return "Authorization header must carry SignedHeaders and Signature."
        names = [name.strip().lower() for name in signed_headers.split(";")]
        if "host" not in names or "x-ms-content-sha256" not in names:
            return "SignedHeaders must include host and x-ms-content-sha256."
        date_header = "x-ms-date" if "x-ms-date" in names else "date" if "date" in names else None
        if date_header is None:
            return "SignedHeaders must include x-ms-date."
        values: list[str] = []
        for name in names:
            header = request.header(name)
            if header is None:
                return f"Signed header '{name}' is missing from the request."
            values.append(header)
        try:
            sent_at = parsedate_to_datetime(request.header(date_header) or "")
        except (TypeError, ValueError):
            return f"The {date_header} header is not a valid RFC 1123 date."
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - sent_at) > self.max_clock_skew:
            return f"The {date_header} header is too far from the current time."
        claimed_hash = request.header("x-ms-content-sha256") or ""
        if not hmac.compare_digest(claimed_hash.encode(), content_hash(request.body).encode()):
            return "The x-ms-content-sha256 header does not match the request body."
        query = urlencode(request.query, doseq=True)
        path_and_query = request.path + (f"?{query}" if query else "")
        text = string_to_sign(request.method, path_and_query, values)
        for key in (self.key, self.secondary_key):
            if key is not None and hmac.compare_digest(
                compute_signature(key, text).encode(), signature.encode()
            ):
                return None
        return "The request signature does not match (wrong access key?)."

    def _send(self, request: RecordedRequest, api_version: str) -> Response:
        operation_id = request.header("Operation-Id")
        if operation_id is not None:
            operation_id = operation_id.strip()
            if not operation_id:
                return _error(400, "BadRequest", "The Operation-Id header must not be empty.")
            existing = self._operations.get(operation_id)
            if existing is not None:
                return self._accepted(request, existing, api_version)
        else:
            operation_id = str(uuid.uuid4())
        try:
            payload = request.json()
        except ValueError:  # json.JSONDecodeError and UnicodeDecodeError
            return _error(400, "BadRequest", "The request body is not valid JSON.")
        try:
            email = _parse_message(operation_id, payload)
        except ValueError as exc:
            return _error(400, "BadRequest", str(exc))
        now = self.clock()
        limited = self._rate_limited(now)
        if limited is not None:
            return limited
        for rule in self._failure_rules:
            if rule.take(email):
                email.status = FAILED
                email.error = {"code": rule.code, "message": rule.message}
                break
        self._accepted_at.append(now)
        self._operations[operation_id] = email
        self._sent.append(email)
        return self._accepted(request, email, api_version)

    def _rate_limited(self, now: float) -> Response | None:
        while self._accepted_at and self._accepted_at[0] <= now - 3600:
            self._accepted_at.popleft()
        wait = 0.0
        for limit, window in ((self.per_minute, 60), (self.per_hour, 3600)):
            if limit is None:
                continue
            recent = [at for at in self._accepted_at if at > now - window]
            if len(recent) >= limit:
                frees_at = recent[len(recent) - limit] + window if limit > 0 else now + window
                wait = max(wait, frees_at - now)
        if wait <= 0:
            return None
        seconds = max(1, math.ceil(wait))
        return _error(
            429,
            "TooManyRequests",
            f"The email sending rate limit was exceeded. Try again in {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
        )

    def _accepted(self, request: RecordedRequest, email: SentEmail, api_version: str) -> Response:
        host = request.header("Host") or urlsplit(self.base_url).netloc
        location = (
            f"http://{host}{OPERATIONS_PREFIX}{quote(email.operation_id, safe='')}"
            f"?api-version={api_version}"
        )
        headers = {"Operation-Location": location, "retry-after-ms": str(self.poll_interval_ms)}
        return Response.json(self._status_body(email), status=202, headers=headers)

    def _status(self, operation_id: str) -> Response:
        email = self._operations.get(operation_id)
        if email is None:
            return _error(404, "NotFound", f"Operation '{operation_id}' was not found.")
        email.polls += 1
        email.reported_status = RUNNING if email.polls <= self.running_polls else email.status
        headers = (
            {"retry-after-ms": str(self.poll_interval_ms)}
            if email.reported_status == RUNNING
            else {}
        )
        return Response.json(self._status_body(email), headers=headers)

    @staticmethod
    def _status_body(email: SentEmail) -> dict[str, Any]:
        body: dict[str, Any] = {"id": email.operation_id, "status": email.reported_status}
        if email.reported_status == FAILED:
            body["error"] = dict(email.error or {})
        return body
