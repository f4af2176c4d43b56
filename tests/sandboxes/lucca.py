"""A loopback Lucca: the Lucca API 2024-11-01, its OAuth2 token endpoint and signed webhook events.

Documents follow Lucca's published OpenAPI document (`lucca-api@2024-11-01.json`);
`test_lucca_sandbox.py` validates every one served against it. The shapes rest on these facts:

- An employee carries `applicableEmployment` / `applicableJobPosition` as references only; the
  contract dates live on the employment; job title, manager, department and establishment on the
  job position, which references its `employment` and its `employee`.
- `links` and `totalCount` come only when asked for (`include=links,totalCount`), `embedded`
  only with `include=embedded`: related resources keyed by type, then by id.
- Collections are sorted by id ascending (events too: newest last) and paged with an opaque
  cursor; `links.next.href` is absolute and keeps every other query parameter.
- Events carry the resource just after the change in `data`; `*.deleted` events carry only the
  `{id, type, url}` of what was deleted (Lucca documents nothing more for deletions).
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import math
import secrets
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.sandboxes.base import Fault, RecordedRequest, Response, Sandbox

API_VERSION = "2024-11-01"
CONNECTOR_SCOPES = (
    frozenset(
        f"{name}.readonly"
        for name in ("employees", "employments", "job-positions", "departments", "events")
    )
    | {"business-establishments.readonly", "legal-entities.readonly", "webhook-endpoints.readwrite"}
    | {"webhook-deliveries.readwrite"}  # POST /webhook-deliveries: a ping
    | {"employment-templates.readonly", "employee-extensions.readonly"}  # SYNC_SCOPE
)
INCLUDES = frozenset({"embedded", "links", "totalCount"})
WEBHOOK_STATUSES = frozenset({"active", "suspended", "inactive"})
FOREVER = "9999-12-31"

# collection -> (resource type, first id); distinct id ranges make mixed-up ids visible.
_KINDS: dict[str, tuple[str, int]] = {
    "legal-entities": ("legal-entity", 1),
    "business-establishments": ("business-establishment", 11),
    "departments": ("department", 101),
    "webhook-endpoints": ("webhook-endpoint", 301),
    "employees": ("employee", 1001),
    "employments": ("employment", 20001),
    "job-positions": ("job-position", 40001),
    "events": ("event", 900001),
    "employment-templates": ("employment-template", 501),
    # Not among the OpenAPI document's paths; its schemas, scopes and example URL are
    # (`employee-extensions?…`): filtered by `employee.id` and `extensionDefinition.id`.
    "employee-extensions": ("employee-extension", 700001),
}
_PLURAL = {type_: kind for kind, (type_, _) in _KINDS.items()}
_PLURAL["employee-extension-definition"] = "employee-extension-definitions"
_OWNERS = {"employments": "employee", "job-positions": "employment"}  # kind → owner field
# Records keep related ids; these keys are rendered as `{id, type, url}` references.
_REFS: dict[str, dict[str, str]] = {
    "business-establishments": {"legalEntity": "legal-entity"},
    "departments": {"parent": "department", "manager": "employee"},
    "employments": {"employee": "employee", "legalEntity": "legal-entity"}
    | {"template": "employment-template"},
    "job-positions": {"employment": "employment", "businessEstablishment": "business-establishment"}
    | {"manager": "employee", "department": "department"},
    "employee-extensions": {"employee": "employee"}
    | {"extensionDefinition": "employee-extension-definition"},
}
# Attributes Lucca has that the sandbox always leaves null.
_NULLS = {
    "legal-entities": "remoteId taxIdentificationNumber industryCode lastArchivedAt",
    "business-establishments": "remoteId taxIdentificationNumber industryCode address "
    "lastArchivedAt",
    "departments": "remoteId description",
    "employees": "remoteId portrait birthDay",
    "employments": "remoteId document",
    "job-positions": "remoteId jobQualification occupationCategory workingTimeArrangement "
    "document notes",
}
# Equality filters (comma-separated values, `null` for none) the OpenAPI document lists, plus
# `employee.id` on job-positions (a convenience; Lucca links with `employment.employee.id`).
_FILTERS = {
    "legal-entities": "countryCode",
    "business-establishments": "legalEntity.id",
    "departments": "",
    "employees": "id email status applicableEmployment.legalEntity.id "
    "applicableEmployment.endsOn.between "
    "applicableJobPosition.businessEstablishment.id applicableJobPosition.department.id "
    "applicableJobPosition.manager.id",
    "employments": "id remoteId employee.id legalEntity.id template.id status",
    "job-positions": "id remoteId employment.id employee.id employment.employee.id "
    "businessEstablishment.id department.id manager.id jobQualification.id "
    "occupationCategory.id status",
    "webhook-endpoints": "status",
    "events": "",  # `status` (delivery status) is filtered apart: it is not in the document
    "employment-templates": "",
    "employee-extensions": "employee.id extensionDefinition.id",
}
# What `include=embedded` embeds: the references held under these keys.
_EMBEDS = {
    "employees": ("applicableEmployment", "applicableJobPosition"),
    "employments": ("employee",),
    "job-positions": ("department", "employee", "employment"),
    "business-establishments": ("legalEntity",),
}
# `links` (with `include=links`), relative to `/lucca-api/`.
_LINKS = {
    "employees": {
        "employments": "employments?employee.id={}",
        "jobPositions": "job-positions?employment.employee.id={}",
    },
    "employments": {"jobPositions": "job-positions?employment.id={}"},
    "departments": {"activeEmployees": "employees?applicableJobPosition.department.id={}"},
    "legal-entities": {"businessEstablishments": "business-establishments?legalEntity.id={}"},
}
_TEMPLATE = {"legalEntities": [], "term": "permanent", "audience": "employee", "t9n": {}}
_EMPLOYEE_FIELDS = {"given_name": "givenName", "family_name": "familyName", "email": "email"} | {
    "employee_number": "employeeNumber",
    "remote_id": "remoteId",
    "phone_number": "phoneNumber",
}
_JOB_FIELDS = {"job_title": "jobTitle", "manager_id": "manager", "department_id": "department"}
_JOB_FIELDS["establishment_id"] = "businessEstablishment"
_CHANGED_ATTRIBUTES = ("jobTitle", "department")  # those of `job-position-changed-attributes`
_WEBHOOK_REQUIRED = frozenset({"name", "webhookUrl", "apiVersion", "topics"})
_WEBHOOK_FIELDS = _WEBHOOK_REQUIRED | {"businessEstablishments", "status"}
_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("https://tools.ietf.org/html/rfc7231#section-6.5.1", "Bad Request"),
    401: ("https://datatracker.ietf.org/doc/html/rfc7235#section-3.1", "Unauthorized"),
    403: ("https://tools.ietf.org/html/rfc7231#section-6.5.3", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc7231#section-6.5.4", "Not Found"),
    405: ("https://tools.ietf.org/html/rfc7231#section-6.5.5", "Method Not Allowed"),
    429: ("https://datatracker.ietf.org/doc/html/rfc6585#section-4", "Too Many Requests"),
    503: ("https://tools.ietf.org/html/rfc7231#section-6.6.4", "Service Unavailable"),
}


def lucca_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`Lucca-Signature`: base64(HMAC-SHA256(secret, timestamp + "." + raw body))."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


def signed_delivery(
    event: dict[str, Any], secret: str, *, timestamp: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The exact body and headers of Lucca's POST delivering `event` to a webhook endpoint."""
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    stamp = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = lucca_signature(secret, stamp, body)
    return body, {
        "Content-Type": "application/json",
        "Lucca-Signature": signature,
        "Lucca-Timestamp": stamp,
    }


def problem_body(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """A `problem` document (RFC 7807) as the Lucca API answers errors."""
    type_, title = _PROBLEMS.get(status, ("about:blank", "Error"))
    return {"type": type_, "title": title, "status": status, "detail": detail, **extra}


def problem(
    status: int,
    detail: str,
    *,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An `application/problem+json` answer."""
    body = problem_body(status, detail, **({"errors": errors} if errors else {}))
    all_headers = {"Content-Type": "application/problem+json", "Api-Version": API_VERSION}
    return Response.json(body, status, all_headers | (headers or {}))


def _ok(document: dict[str, Any], status: int = 200, **headers: str) -> Response:
    """A JSON answer with the `Api-Version` header."""
    return Response.json(document, status, {"Api-Version": API_VERSION, **headers})


def _timestamp() -> str:
    """Now, UTC, as Lucca writes instants: `2024-02-01T09:34:23.001Z`."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _iso(day: date | str) -> str:
    """A date as `YYYY-MM-DD` (validated)."""
    return date.fromisoformat(day).isoformat() if isinstance(day, str) else day.isoformat()


def _day(bound: dict[str, str] | None) -> str | None:
    """The date inside an employment's `start` / `end`."""
    return bound["date"] if bound else None


def _in_range(value: Any, ranges: set[str]) -> bool:
    """Whether a date (`YYYY-MM-DD`, None for none) lies in a Lucca date range."""
    if not isinstance(value, str):
        return False
    for raw in ranges:
        low, _, high = raw.partition("--")
        if (low in ("..", "") or value[:10] >= low) and (high in ("..", "") or value[:10] <= high):
            return True
    return False


def _values(request: RecordedRequest, name: str) -> set[str]:
    """Every value of a list parameter, whether repeated or comma-separated."""
    return {v for raw in request.query.get(name, []) for v in raw.split(",") if v}


class LuccaSandbox(Sandbox):
    """Lucca as the connector sees it: OAuth2, `/lucca-api` resources, rate limit and events."""

    def __init__(
        self,
        *,
        client_id: str = "lucca-client",
        client_secret: str = "lucca-client-secret",  # noqa: S107 (a sandbox credential)
        scopes: Iterable[str] = CONNECTOR_SCOPES,
        token_lifetime: float = 1800,
        rate_limit: int = 50,
        window_seconds: float = 60,
        today: date | None = None,
        previous_attributes_in_data: bool = False,
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.scopes = frozenset(scopes)
        self.token_lifetime = token_lifetime
        self.rate_limit, self.window_seconds = rate_limit, window_seconds
        self.today = today
        self.previous_attributes_in_data = previous_attributes_in_data
        self.api_calls: Counter[str] = Counter()
        self._tokens: dict[str, tuple[float, frozenset[str]]] = {}
        self._admitted: deque[float] = deque()
        self._owner_index_size = (-1, -1)
        self._owner_index: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._store: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in _KINDS}
        self._next_id = {kind: first for kind, (_, first) in _KINDS.items()}
        self._secrets: dict[str, str] = {}
        # Pings (POST /webhook-deliveries): each event sent; `deliver_to`, when set, is called
        # with the event and answers an HTTP status (a test wires the app's webhook to it).
        self.pings: list[dict[str, Any]] = []
        # Lucca's delivery status of each event (the `status` filter of GET /events):
        # `delivered` unless a test says it was not (`set_event_status`).
        self.event_status: dict[str, str] = {}
        self.deliver_to: Callable[[dict[str, Any]], int] | None = None

    # -- HTTP ---------------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        """Token endpoint, then authentication, rate limit, Api-Version, route and scope."""
        if request.path == "/connect/token":
            return self._token(request)
        if not request.path.startswith("/lucca-api/"):
            return problem(404, f"No route for {request.path}.")
        scopes = self._authenticate(request)
        if scopes is None:
            detail = "Missing, unknown or expired bearer token."
            return problem(401, detail, headers={"WWW-Authenticate": "Bearer"})
        retry_after = self._admit()
        if retry_after is not None:
            detail = f"More than {self.rate_limit} requests in {self.window_seconds:g} s."
            return problem(429, detail, headers={"Retry-After": str(retry_after)})
        self.api_calls[request.path] += 1
        if request.header("Api-Version") != API_VERSION:
            errors = {"Api-Version": [f"The Api-Version header must be {API_VERSION}."]}
            return problem(400, "Missing or unsupported Api-Version header.", errors=errors)
        return self._route(request, scopes)

    def _token(self, request: RecordedRequest) -> Response:
        """OAuth2 client credentials, form-encoded as Lucca documents."""
        content_type = request.header("Content-Type") or ""
        if request.method != "POST" or "x-www-form-urlencoded" not in content_type:
            return Response.json({"error": "invalid_request"}, 400)
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return Response.json({"error": "unsupported_grant_type"}, 400)
        given = f"{form.get('client_id')}\n{form.get('client_secret')}".encode()
        if not hmac.compare_digest(given, f"{self.client_id}\n{self.client_secret}".encode()):
            return Response.json({"error": "invalid_client"}, 400)
        requested = frozenset(form.get("scope", "").split()) or self.scopes
        if not requested <= self.scopes:
            return Response.json({"error": "invalid_scope"}, 400)
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (time.monotonic() + self.token_lifetime, requested)
        lifetime = max(1, math.ceil(self.token_lifetime))
        return Response.json(
            {"access_token": token, "token_type": "Bearer", "expires_in": lifetime}
        )

    def _authenticate(self, request: RecordedRequest) -> frozenset[str] | None:
        """The scopes of a valid, unexpired bearer token, or None."""
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        entry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return entry[1] if entry is not None and entry[0] > time.monotonic() else None

    def _admit(self) -> int | None:
        """Count one API request in the sliding window; seconds to wait if it is full."""
        now = time.monotonic()
        while self._admitted and self._admitted[0] <= now - self.window_seconds:
            self._admitted.popleft()
        if len(self._admitted) >= self.rate_limit:
            return max(1, math.ceil(self._admitted[0] + self.window_seconds - now))
        self._admitted.append(now)
        return None

    def _route(self, request: RecordedRequest, scopes: frozenset[str]) -> Response:
        """Dispatch `/lucca-api/{kind}[/{id}]` after checking method and scope."""
        parts = request.path.removeprefix("/lucca-api/").split("/")
        kind, rid = parts[0], (parts[1] if len(parts) == 2 else None)
        if parts == ["webhook-deliveries"]:
            return self._ping(request, scopes)
        if kind not in _KINDS or len(parts) > 2 or rid == "":
            return problem(404, f"No route for {request.path}.")
        methods = {"GET"} | (
            {"POST" if rid is None else "PATCH"} if kind == "webhook-endpoints" else set()
        )
        if request.method not in methods:
            allow = {"Allow": ", ".join(sorted(methods))}
            return problem(405, f"{request.method} is not allowed here.", headers=allow)
        needed = {f"{kind}.readwrite"} | (
            {f"{kind}.readonly"} if request.method == "GET" else set()
        )
        if not needed & scopes:
            return problem(403, f"This request needs the scope {' or '.join(sorted(needed))}.")
        if request.method == "POST":
            return self._create_endpoint(request)
        if request.method == "PATCH" and rid is not None:
            return self._patch_endpoint(request, rid)
        return self._get(request, kind, rid)

    def _get(self, request: RecordedRequest, kind: str, rid: str | None) -> Response:
        """One resource or a page of a collection, with the includes asked for."""
        allowed = {"include"} | (
            set() if rid else {"page", "limit", "sort", *_FILTERS[kind].split()}
        )
        if kind == "events" and not rid:
            allowed.add("status")  # the delivery status: filtered in `_collection`
        unknown = sorted(request.query.keys() - allowed)
        if unknown:
            errors = {name: ["Unknown or unsupported query parameter."] for name in unknown}
            return problem(400, "Unsupported query parameter.", errors=errors)
        include = _values(request, "include")
        if not include <= INCLUDES:
            errors = {"include": [f"Allowed values: {', '.join(sorted(INCLUDES))}."]}
            return problem(400, "Unknown include.", errors=errors)
        if rid is None:
            return self._collection(request, kind, include)
        record = self._store[kind].get(rid)
        if record is None:
            return problem(404, f"No {_KINDS[kind][0]} with id {rid}.")
        doc = self._doc(kind, record, "links" in include)
        if "embedded" in include:
            doc["embedded"] = self._embedded(kind, [doc], "links" in include)
        return _ok(doc)

    def _collection(self, request: RecordedRequest, kind: str, include: set[str]) -> Response:
        """A page: `limit` (≤ 100), opaque `page` cursor, filters, `include`."""
        raw_limit = request.param("limit") or "25"
        limit = int(raw_limit) if raw_limit.isdigit() else -1
        if not 0 <= limit <= 100:
            return problem(400, "Invalid limit.", errors={"limit": ["Between 0 and 100."]})
        if (request.param("sort") or "id") != "id":
            return problem(400, "Unsupported sort.", errors={"sort": ["Only `id` is supported."]})
        names = request.query.keys() & set(_FILTERS[kind].split())
        filters = {name: _values(request, name) for name in names}
        records = sorted(self._store[kind].values(), key=lambda r: int(r["id"]))
        after = self._after(records, request.param("page"))
        if filters and after is not None and kind != "events" and "totalCount" not in include:
            # Keyset paging: only the records from the cursor's id on need filtering, and only
            # as many as the page shows and one more (a 20,000-employee night stays fast).
            wanted = limit + 2
            kept = []
            for record in after:
                if self._matches(kind, record, filters):
                    kept.append(record)
                    if len(kept) >= wanted:
                        break
            records = kept
        elif filters:
            records = [r for r in records if self._matches(kind, r, filters)]
        if kind == "events" and "status" in request.query:
            statuses = _values(request, "status")
            if not statuses <= {"scheduled", "delivered", "failed"}:
                return problem(400, "Invalid status.", errors={"status": ["Unknown status."]})
            filters["status"] = statuses
            status_of = self.event_status.get
            records = [r for r in records if status_of(r["id"], "delivered") in statuses]
        mark = hashlib.sha256(f"{kind}{sorted(filters.items())}".encode()).hexdigest()[:8]
        start = self._start(request.param("page"), records, limit, mark)
        if start is None:
            return problem(400, "Invalid page cursor.", errors={"page": ["Unknown cursor."]})
        links = "links" in include
        chunk = [self._doc(kind, r, links) for r in records[start : start + limit]]
        body: dict[str, Any] = {"type": kind, "url": self._request_url(request), "items": chunk}
        if "totalCount" in include:
            body["totalCount"] = len(records)
        if links:
            more = bool(chunk) and start + limit < len(records)
            resumed = start > 0 or (request.param("page") or "").startswith("!")
            before = chunk[0]["id"] if chunk and resumed else None
            body["links"] = {
                "prev": self._link(request, "before", before, mark) if before else None,
                "next": self._link(request, "after", chunk[-1]["id"], mark) if more else None,
            }
        if "embedded" in include:
            body["embedded"] = self._embedded(kind, chunk, links)
        return _ok(body)

    @staticmethod
    def _after(records: list[dict[str, Any]], page: str | None) -> list[dict[str, Any]] | None:
        """The records the first page or a cursor `after:<id>` can show (None: another cursor)."""
        if not page:
            return records
        try:
            direction, anchor, _ = base64.urlsafe_b64decode(page[1:]).decode().split(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if not page.startswith("!") or direction != "after" or not anchor.isdigit():
            return None
        # Keep the record the cursor names (if still there) so `_start` finds its place.
        return [r for r in records if int(r["id"]) >= int(anchor)]

    def _matches(self, kind: str, record: dict[str, Any], filters: dict[str, set[str]]) -> bool:
        """Whether a record passes every filter: equality, or a date range for `….between`
        (`2024-01-01--2024-12-31`, either end `..` for open, both ends included)."""
        doc = self._doc(kind, record)
        for name, wanted in filters.items():
            if name.endswith(".between"):
                # The filter says `endsOn`; the employment document holds it as `end.date`.
                path = name.removesuffix(".between").replace(".endsOn", ".end.date")
                if not _in_range(self._lookup(doc, path), wanted):
                    return False
                continue
            value = self._lookup(doc, name)
            if ("null" if value is None else str(value)) not in wanted:
                return False
        return True

    def _lookup(self, doc: dict[str, Any], path: str) -> Any:
        """`a.b.c` in a document, resolving `{id, type, url}` references on the way."""
        value: Any = doc
        for key in path.split("."):
            if isinstance(value, dict) and key not in value and {"id", "type"} <= value.keys():
                kind = _PLURAL[value["type"]]
                record = self._store.get(kind, {}).get(value["id"])
                value = self._doc(kind, record) if record else {}
            value = value.get(key) if isinstance(value, dict) else None
        return value

    @staticmethod
    def _start(
        page: str | None, records: list[dict[str, Any]], limit: int, mark: str
    ) -> int | None:
        """Index of the first item of the page a cursor (or a page number) designates."""
        if not page:
            return 0
        if page.isdigit():
            return (int(page) - 1) * limit if int(page) >= 1 else None
        try:
            direction, anchor, fingerprint = base64.urlsafe_b64decode(page[1:]).decode().split(":")
            position = int(anchor)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if not page.startswith("!") or fingerprint != mark or direction not in {"after", "before"}:
            return None
        ids = [int(record["id"]) for record in records]
        if direction == "after":
            return sum(1 for i in ids if i <= position)
        return max(0, sum(1 for i in ids if i < position) - limit)

    def _link(
        self, request: RecordedRequest, direction: str, anchor: str, mark: str
    ) -> dict[str, str]:
        """A `link` to the page before or after `anchor`, keeping the other parameters."""
        cursor = "!" + base64.urlsafe_b64encode(f"{direction}:{anchor}:{mark}".encode()).decode()
        query = [(k, v) for k, vs in request.query.items() if k != "page" for v in vs]
        return {"href": f"{self.base_url}{request.path}?{urlencode([*query, ('page', cursor)])}"}

    def _request_url(self, request: RecordedRequest) -> str:
        """The absolute URL of a request."""
        query = urlencode(request.query, doseq=True)
        return f"{self.base_url}{request.path}" + (f"?{query}" if query else "")

    def _embedded(self, kind: str, docs: list[dict[str, Any]], links: bool) -> dict[str, Any]:
        """`embedded`: related resources keyed by type, then id (empty where none are defined)."""
        embedded: dict[str, dict[str, Any]] = {}
        for doc in docs:
            for ref in filter(None, (doc.get(key) for key in _EMBEDS.get(kind, ()))):
                related = _PLURAL[ref["type"]]
                record = self._store[related][ref["id"]]
                embedded.setdefault(ref["type"], {})[ref["id"]] = self._doc(related, record, links)
        return embedded

    # -- webhook endpoints ----------------------------------------------------------------------
    def _ping(self, request: RecordedRequest, scopes: frozenset[str]) -> Response:
        """POST /webhook-deliveries?webhookEndpoint.id=…&event.topic=ping: 201 `webhook-delivery`.
        The ping event goes to `deliver_to` when set (else it stays `undelivered`)."""
        if request.method != "POST":
            return problem(405, f"{request.method} is not allowed here.", headers={"Allow": "POST"})
        if "webhook-deliveries.readwrite" not in scopes:
            return problem(403, "This request needs the scope webhook-deliveries.readwrite.")
        errors = {
            name: ["Unknown or unsupported query parameter."]
            for name in request.query.keys() - {"webhookEndpoint.id", "event.topic", "include"}
        }
        endpoint_id = request.param("webhookEndpoint.id")
        if not endpoint_id:
            errors["webhookEndpoint.id"] = ["Required."]
        if (request.param("event.topic") or "ping") != "ping":
            errors["event.topic"] = ["Allowed values: ping."]
        if errors:
            return problem(400, "One or more validation errors occurred.", errors=errors)
        assert endpoint_id is not None
        if endpoint_id not in self._store["webhook-endpoints"]:
            return problem(404, f"No webhook-endpoint with id {endpoint_id}.")
        event = self._event("ping", self._ref("webhook-endpoint", endpoint_id))
        self.pings.append(event)
        status, attempts = "undelivered", 0
        if self.deliver_to is not None:
            answer = self.deliver_to(copy.deepcopy(event))
            status, attempts = ("delivered" if 200 <= answer < 300 else "undelivered"), 1
        did = str(uuid.uuid4())
        url = f"{self.base_url}/lucca-api/webhook-deliveries/{did}"
        attempts_url = (
            f"{self.base_url}/lucca-api/webhook-delivery-attempts?webhookDelivery.id={did}"
        )
        doc = {
            "id": did,
            "type": "webhook-delivery",
            "url": url,
            "nextAttemptAt": _timestamp(),
            "attemptsCount": attempts,
            "status": status,
            "event": {"id": event["id"], "type": "ping", "url": event["url"]},
            "webhookEndpoint": self._ref("webhook-endpoint", endpoint_id),
            "links": {"attempts": {"href": attempts_url}},
        }
        return _ok(doc, 201, Location=url)

    def _create_endpoint(self, request: RecordedRequest) -> Response:
        """POST /webhook-endpoints: 201 with the signing `secret`, shown this once."""
        body, error = self._endpoint_body(request, partial=False)
        if error is not None:
            return error
        fields = {"status": "inactive", "businessEstablishments": None} | body
        rid = self._insert("webhook-endpoints", fields)
        self._secrets[rid] = secrets.token_urlsafe(48)
        doc = self._doc("webhook-endpoints", self._store["webhook-endpoints"][rid])
        return _ok(doc | {"secret": self._secrets[rid]}, 201, Location=doc["url"])

    def _patch_endpoint(self, request: RecordedRequest, rid: str) -> Response:
        """PATCH /webhook-endpoints/{id}: change what the body gives."""
        record = self._store["webhook-endpoints"].get(rid)
        if record is None:
            return problem(404, f"No webhook-endpoint with id {rid}.")
        body, error = self._endpoint_body(request, partial=True)
        if error is not None:
            return error
        record.update(body, lastUpdatedAt=_timestamp())
        return _ok(self._doc("webhook-endpoints", record))

    def _endpoint_body(
        self, request: RecordedRequest, *, partial: bool
    ) -> tuple[dict[str, Any], Response | None]:
        """A webhook-endpoint body in stored form, or the 400 problem saying what is wrong."""
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return {}, problem(400, "The body must be a JSON object.")
        topics, refs = body.get("topics"), body.get("businessEstablishments")
        known = self._store["business-establishments"]
        refs_ok = refs is None or (
            isinstance(refs, list)
            and bool(refs)
            and all(isinstance(r, dict) and r.get("id") in known for r in refs)
        )
        valid = {
            "name": isinstance(body.get("name"), str) and body.get("name") != "",
            "webhookUrl": str(body.get("webhookUrl")).startswith("https://"),
            "apiVersion": body.get("apiVersion") == API_VERSION,
            "topics": isinstance(topics, list)
            and bool(topics)
            and all(isinstance(t, str) for t in topics),
            "status": body.get("status") in WEBHOOK_STATUSES,
            "businessEstablishments": refs_ok,
        }
        errors = {key: ["Unknown or read-only property."] for key in body.keys() - _WEBHOOK_FIELDS}
        errors |= {key: ["Required."] for key in _WEBHOOK_REQUIRED - body.keys() if not partial}
        for key in body.keys() & {key for key, ok in valid.items() if not ok}:
            errors[key] = ["MUST use the https:// schema." if key == "webhookUrl" else "Invalid."]
        if errors:
            return {}, problem(400, "One or more validation errors occurred.", errors=errors)
        if refs:
            body["businessEstablishments"] = [str(ref["id"]) for ref in refs]
        return body, None

    # -- documents ----------------------------------------------------------------------------
    def _url(self, kind: str, rid: str) -> str:
        """Absolute URL of a resource."""
        return f"{self.base_url}/lucca-api/{kind}/{rid}"

    def _ref(self, type_: str, rid: str) -> dict[str, Any]:
        """A `{id, type, url}` reference."""
        return {"id": rid, "type": type_, "url": self._url(_PLURAL[type_], rid)}

    def _status(self, start: str, end: str | None) -> str:
        """`active`, `upcoming` or `deactivated` for a span of days (both ends included)."""
        today = (self.today or datetime.now(UTC).date()).isoformat()
        if start > today:
            return "upcoming"
        return "deactivated" if end is not None and end < today else "active"

    def _by_owner(self, kind: str, owner: str) -> dict[str, list[dict[str, Any]]]:
        """`kind`'s records by `owner` id, rebuilt when a record was added or removed: without
        it a page of thousands of employees is quadratic (an employee's employment and job
        position found by scanning them all)."""
        size = (len(self._store["employments"]), len(self._store["job-positions"]))
        if size != self._owner_index_size:
            self._owner_index_size, self._owner_index = size, {}
        if kind not in self._owner_index:
            found: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for record in self._store[kind].values():
                found[record[owner]].append(record)
            self._owner_index[kind] = found
        return self._owner_index[kind]

    def _employments(self, employee_id: str) -> list[dict[str, Any]]:
        """An employee's employments, oldest first."""
        mine = self._by_owner("employments", "employee").get(employee_id, [])
        return sorted(mine, key=lambda r: (r["start"]["date"], int(r["id"])))

    def _positions(self, employment_id: str) -> list[dict[str, Any]]:
        """An employment's job positions, oldest first."""
        mine = self._by_owner("job-positions", "employment").get(employment_id, [])
        return sorted(mine, key=lambda r: (r["startsOn"], int(r["id"])))

    def limit(self, requests: int, window_seconds: float) -> None:
        """Refuse more than `requests` API requests in any `window_seconds`, from now on."""
        with self._lock:
            self.rate_limit, self.window_seconds = requests, window_seconds
            self._admitted.clear()

    def _ends_on(self, position: dict[str, Any]) -> str | None:
        """A job position ends the day before the next one starts, or with its employment."""
        later = [p["startsOn"] for p in self._positions(position["employment"])]
        later = [day for day in later if day > position["startsOn"]]
        if later:
            return (date.fromisoformat(min(later)) - timedelta(days=1)).isoformat()
        return _day(self._store["employments"][position["employment"]]["end"])

    def _employment_status(self, record: dict[str, Any]) -> str:
        """Status of one employment today."""
        return self._status(record["start"]["date"], _day(record["end"]))

    def _applicable_employment(self, employee_id: str) -> dict[str, Any] | None:
        """The current employment, else the next one, else the last one."""
        employments = self._employments(employee_id)
        current = [e for e in employments if self._employment_status(e) != "deactivated"]
        return current[0] if current else (employments[-1] if employments else None)

    def _applicable_position(self, employment_id: str) -> dict[str, Any] | None:
        """The employment's current job position, else its next one, else its last one."""
        positions = self._positions(employment_id)
        current = [
            p for p in positions if self._status(p["startsOn"], self._ends_on(p)) != "deactivated"
        ]
        return current[0] if current else (positions[-1] if positions else None)

    def _current_position(self, employee_id: str) -> dict[str, Any] | None:
        """The employee's applicable job position."""
        employment = self._applicable_employment(employee_id)
        return self._applicable_position(employment["id"]) if employment else None

    def _doc(self, kind: str, record: dict[str, Any], links: bool = False) -> dict[str, Any]:
        """The JSON representation of a stored record, as of today."""
        if kind == "events":
            return {k: v for k, v in copy.deepcopy(record).items() if links or k != "links"}
        rid = record["id"]
        doc, refs = self._ref(_KINDS[kind][0], rid), _REFS.get(kind, {})
        for key, value in record.items():
            if key != "id":
                doc[key] = (
                    self._ref(refs[key], value) if key in refs and value else copy.copy(value)
                )
        if kind == "employees":
            statuses = {self._employment_status(e) for e in self._employments(rid)}
            doc["status"] = next(
                (s for s in ("active", "upcoming") if s in statuses), "deactivated"
            )
            employment, position = self._applicable_employment(rid), self._current_position(rid)
            if employment:
                doc["applicableEmployment"] = self._ref("employment", employment["id"])
            if position:
                doc["applicableJobPosition"] = self._ref("job-position", position["id"])
        elif kind == "employments":
            doc["status"] = self._employment_status(record)
        elif kind == "job-positions":
            employee_id = self._store["employments"][record["employment"]]["employee"]
            doc["employee"] = self._ref("employee", employee_id)
            doc["endsOn"] = self._ends_on(record)
            doc["status"] = self._status(record["startsOn"], doc["endsOn"])
        elif kind == "departments":
            level, parent = 1, record["parent"]
            while parent:
                level, parent = level + 1, self._store["departments"][parent]["parent"]
            doc["level"] = level
        elif kind == "webhook-endpoints" and record["businessEstablishments"] is not None:
            ids = record["businessEstablishments"]
            doc["businessEstablishments"] = [self._ref("business-establishment", i) for i in ids]
        if links:
            api = f"{self.base_url}/lucca-api"
            templates = _LINKS.get(kind, {}).items()
            doc["links"] = {name: {"href": f"{api}/{tpl.format(rid)}"} for name, tpl in templates}
        return doc

    # -- events -------------------------------------------------------------------------------
    def _event(
        self,
        topic: str,
        data: dict[str, Any],
        establishment_id: str | None = None,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new event document with a fresh id."""
        eid = self._new_id("events")
        establishment = establishment_id and self._ref("business-establishment", establishment_id)
        event: dict[str, Any] = {
            "id": eid,
            "type": "event",
            "url": self._url("events", eid),
            "apiVersion": API_VERSION,
            "topic": topic,
            "occurredAt": _timestamp(),
            "source": self.base_url,
            "businessEstablishment": establishment or None,
            "data": data,
        }
        if previous:
            (data if self.previous_attributes_in_data else event)["previousAttributes"] = previous
        event["links"] = {"retry": {"href": f"{self.base_url}/lucca-api/webhook-deliveries"}}
        return event

    def _emit(
        self, kind: str, rid: str, change: str, previous: dict[str, Any] | None = None
    ) -> None:
        """Record `{type}.{change}` carrying the resource as it is now."""
        data = self._doc(kind, self._store[kind][rid])
        establishment = self._establishment_of(kind, rid)
        event = self._event(f"{_KINDS[kind][0]}.{change}", data, establishment, previous)
        self._store["events"][event["id"]] = event

    def _establishment_of(self, kind: str, rid: str) -> str | None:
        """The business-establishment an employee, employment or job position belongs to."""
        if kind == "employees":
            position = self._current_position(rid)
        elif kind == "employments":
            position = self._applicable_position(rid)
        else:
            position = self._store["job-positions"].get(rid)
        return position["businessEstablishment"] if position else None

    def _delete(self, kind: str, rid: str) -> None:
        """Remove a record; its `*.deleted` event carries only its reference."""
        establishment = self._establishment_of(kind, rid)
        del self._store[kind][rid]
        type_ = _KINDS[kind][0]
        event = self._event(f"{type_}.deleted", self._ref(type_, rid), establishment)
        self._store["events"][event["id"]] = event

    # -- builders -----------------------------------------------------------------------------
    def _new_id(self, kind: str) -> str:
        """The next id of a kind."""
        self._next_id[kind] += 1
        return str(self._next_id[kind] - 1)

    def _insert(self, kind: str, fields: dict[str, Any]) -> str:
        """Store a new record (nulls, `isArchived`, timestamps filled in); returns its id."""
        rid = self._new_id(kind)
        record: dict[str, Any] = {"id": rid, **dict.fromkeys(_NULLS.get(kind, "").split())}
        if kind in {"legal-entities", "business-establishments", "departments"}:
            record["isArchived"] = False
        record |= fields
        if kind != "departments":  # the department schema has no timestamps
            record["createdAt"] = record["lastUpdatedAt"] = _timestamp()
        before = (len(self._store["employments"]), len(self._store["job-positions"]))
        self._store[kind][rid] = record
        owner = _OWNERS.get(kind)
        if owner is not None and before == self._owner_index_size:
            # Keep the index by owner in step (rebuilding it at each insert is quadratic).
            index = self._owner_index.get(kind)
            if index is not None:
                index[record[owner]].append(record)
            self._owner_index_size = (
                len(self._store["employments"]),
                len(self._store["job-positions"]),
            )
        return rid

    def _update(self, kind: str, rid: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply changes; returns the changed attributes' previous (rendered) values."""
        record = self._store[kind][rid]
        before = self._doc(kind, record)
        changed = {key: value for key, value in changes.items() if record.get(key) != value}
        if changed:
            record.update(changed, lastUpdatedAt=_timestamp())
        return {key: before.get(key) for key in changed}

    def _require(self, kind: str, rid: str | None) -> None:
        """Fail loudly on a reference to nothing."""
        if rid is not None and rid not in self._store[kind]:
            raise ValueError(f"no {_KINDS[kind][0]} with id {rid!r}")

    def _default(self, kind: str) -> str:
        """The first record of a kind, created when there is none."""
        if self._store[kind]:
            return min(self._store[kind], key=int)
        if kind == "legal-entities":
            return self.add_legal_entity("Acme SAS")
        if kind == "business-establishments":
            return self.add_establishment("Acme Paris")
        if kind == "employment-templates":
            return self._insert("employment-templates", _TEMPLATE | {"title": "CDI"})
        return self.add_department("General")

    def _job_changes(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Builder keyword arguments as job-position attributes, checked."""
        unknown = changes.keys() - _JOB_FIELDS.keys()
        if unknown:
            raise TypeError(f"not job-position attributes: {sorted(unknown)}")
        record = {_JOB_FIELDS[key]: value for key, value in changes.items()}
        if record.get("jobTitle") == "":
            record["jobTitle"] = None
        self._require("employees", record.get("manager"))
        self._require("departments", record.get("department"))
        self._require("business-establishments", record.get("businessEstablishment"))
        return record

    def _new_position(self, employment_id: str, starts_on: str, job: dict[str, Any]) -> str:
        """Store a job position (default department and establishment when not given)."""
        fields = {"employment": employment_id, "startsOn": starts_on, "updatedAttributes": []}
        fields |= {"jobTitle": None, "manager": None} | {k: v for k, v in job.items() if v}
        fields.setdefault("businessEstablishment", self._default("business-establishments"))
        fields.setdefault("department", self._default("departments"))
        return self._insert("job-positions", fields)

    def _hire(
        self, employee_id: str, start: date | str, end: date | str | None, job: dict[str, Any]
    ) -> tuple[str, str]:
        """A new employment with its first job position (checked: no overlap); their ids."""
        first, last = _iso(start), (_iso(end) if end else None)
        if last is not None and last < first:
            raise ValueError(f"employment ends ({last}) before it starts ({first})")
        for other in self._employments(employee_id):
            if (
                first <= (_day(other["end"]) or FOREVER)
                and (last or FOREVER) >= other["start"]["date"]
            ):
                raise ValueError(f"employment {other['id']} overlaps {first}..{last}")
        establishment = job.get("businessEstablishment") or self._default("business-establishments")
        fields = {
            "employee": employee_id,
            "legalEntity": self._store["business-establishments"][establishment]["legalEntity"],
            "start": {"date": first},
            "end": {"date": last} if last else None,
            "template": self._default("employment-templates"),
        }
        employment_id = self._insert("employments", fields)
        job = job | {"businessEstablishment": establishment}
        return employment_id, self._new_position(employment_id, first, job)

    def add_legal_entity(
        self, name: str, *, country_code: str = "FRA", currency_code: str = "EUR"
    ) -> str:
        """A legal entity; returns its id."""
        fields = {"legalName": name, "countryCode": country_code, "currencyCode": currency_code}
        with self._lock:
            return self._insert("legal-entities", fields)

    def add_establishment(
        self, name: str, timezone_id: str = "Europe/Paris", *, legal_entity_id: str | None = None
    ) -> str:
        """A business establishment (the first of its legal entity is the headquarters)."""
        with self._lock:
            self._require("legal-entities", legal_entity_id)
            entity = legal_entity_id or self._default("legal-entities")
            others = self._store["business-establishments"].values()
            first = all(e["legalEntity"] != entity for e in others)
            fields = {"name": name, "legalEntity": entity, "isHeadquarters": first}
            return self._insert("business-establishments", fields | {"timezoneId": timezone_id})

    def add_employment_template(
        self, title: str, term: str = "permanent", audience: str = "employee"
    ) -> str:
        """An employment template (a contract type); returns its id."""
        with self._lock:
            fields = _TEMPLATE | {"title": title, "term": term, "audience": audience}
            return self._insert("employment-templates", fields)

    def set_employment_template(self, employee_id: str, template_id: str) -> None:
        """Change the template of the employee's applicable employment (employment.updated)."""
        with self._lock:
            self._require("employment-templates", template_id)
            employment = self._applicable_employment(employee_id)
            if employment is None:
                raise ValueError(f"employee {employee_id!r} has no applicable employment")
            previous = self._update("employments", employment["id"], {"template": template_id})
            if previous:
                self._emit("employments", employment["id"], "updated", previous)

    def set_extension(self, employee_id: str, definition_id: str, *values: Any) -> None:
        """Replace the employee's values of a custom field (no event: the connector does not
        subscribe to employee-extension topics)."""
        with self._lock:
            self._require("employees", employee_id)
            store = self._store["employee-extensions"]
            for rid in [
                rid
                for rid, r in store.items()
                if r["employee"] == employee_id and r["extensionDefinition"] == definition_id
            ]:
                del store[rid]
            for value in values:
                fields = {"employee": employee_id, "extensionDefinition": definition_id}
                self._insert("employee-extensions", fields | {"value": value})

    def add_department(
        self, name: str, *, parent_id: str | None = None, manager_id: str | None = None
    ) -> str:
        """A department, optionally under a parent and with a head; returns its id."""
        with self._lock:
            self._require("departments", parent_id)
            self._require("employees", manager_id)
            siblings = [d for d in self._store["departments"].values() if d["parent"] == parent_id]
            fields = {"name": name, "parent": parent_id, "manager": manager_id}
            return self._insert("departments", fields | {"sortOrder": len(siblings)})

    def add_employee(
        self,
        given_name: str,
        family_name: str,
        email: str | None,
        *,
        start: date | str = "2024-01-01",
        end: date | str | None = None,
        job_title: str | None = None,
        manager_id: str | None = None,
        department_id: str | None = None,
        establishment_id: str | None = None,
        employee_number: str | None = None,
        remote_id: str | None = None,
        phone_number: str | None = None,
    ) -> str:
        """An employee with one employment and one job position; records the three events."""
        job = {"job_title": job_title, "manager_id": manager_id, "department_id": department_id}
        with self._lock:
            attributes = self._job_changes(job | {"establishment_id": establishment_id})
            first, last = _iso(start), (_iso(end) if end is not None else None)
            if last is not None and last < first:
                raise ValueError(f"employment ends ({last}) before it starts ({first})")
            fields = {"givenName": given_name, "familyName": family_name, "email": email}
            fields |= {"employeeNumber": employee_number, "remoteId": remote_id}
            fields["phoneNumber"] = phone_number  # Lucca's `phone` schema, e.g. +33612345678
            employee_id = self._insert("employees", fields)
            employment_id, position_id = self._hire(employee_id, first, last, attributes)
            self._emit("employees", employee_id, "created")
            self._emit("employments", employment_id, "created")
            self._emit("job-positions", position_id, "created")
            return employee_id

    def update_employee(self, employee_id: str, **changes: Any) -> None:
        """Change given_name, family_name, email, employee_number, remote_id or phone_number."""
        unknown = changes.keys() - _EMPLOYEE_FIELDS.keys()
        if unknown:
            raise TypeError(f"not employee attributes: {sorted(unknown)} (see update_job_position)")
        with self._lock:
            self._require("employees", employee_id)
            fields = {_EMPLOYEE_FIELDS[key]: value for key, value in changes.items()}
            previous = self._update("employees", employee_id, fields)
            if previous:
                self._emit("employees", employee_id, "updated", previous)

    def update_job_position(self, job_position_id: str, **changes: Any) -> None:
        """Change job_title, manager_id, department_id or establishment_id of a job position."""
        with self._lock:
            self._require("job-positions", job_position_id)
            previous = self._update("job-positions", job_position_id, self._job_changes(changes))
            if previous:
                self._emit("job-positions", job_position_id, "updated", previous)

    def add_job_position(self, employee_id: str, starts_on: date | str, **changes: Any) -> str:
        """A new job position in the applicable employment from `starts_on` (a promotion…)."""
        with self._lock:
            employment = self._applicable_employment(employee_id)
            day = _iso(starts_on)
            if employment is None or not (
                employment["start"]["date"] <= day <= (_day(employment["end"]) or FOREVER)
            ):
                raise ValueError(f"{day} is in no employment of employee {employee_id!r}")
            positions = self._positions(employment["id"])
            base = ([p for p in positions if p["startsOn"] <= day] or positions or [{}])[-1]
            job = {key: base.get(key) for key in _JOB_FIELDS.values()}
            job |= self._job_changes(changes)
            position_id = self._new_position(employment["id"], day, job)
            changed = [key for key in _CHANGED_ATTRIBUTES if base and job[key] != base[key]]
            self._store["job-positions"][position_id]["updatedAttributes"] = changed
            self._emit("job-positions", position_id, "created")
            return position_id

    def end_employment(self, employee_id: str, day: date | str | None) -> None:
        """Set (or, with None, clear) the last day of the employee's applicable employment."""
        with self._lock:
            employment = self._applicable_employment(employee_id)
            end = _iso(day) if day is not None else None
            if employment is None or (end is not None and end < employment["start"]["date"]):
                raise ValueError(f"employee {employee_id!r} has no employment to end on {end}")
            change = {"end": {"date": end} if end else None}
            previous = self._update("employments", employment["id"], change)
            if previous:
                self._emit("employments", employment["id"], "updated", previous)

    def add_employment(
        self, employee_id: str, start: date | str, end: date | str | None = None, **job: Any
    ) -> str:
        """A rehire: a new employment and job position (the last one's attributes unless given)."""
        with self._lock:
            self._require("employees", employee_id)
            last = self._employments(employee_id)[-1:]
            positions = self._positions(last[0]["id"]) if last else []
            carried = {key: positions[-1][key] for key in _JOB_FIELDS.values()} if positions else {}
            employment_id, position_id = self._hire(
                employee_id, start, end, carried | self._job_changes(job)
            )
            self._emit("employments", employment_id, "created")
            self._emit("job-positions", position_id, "created")
            return employment_id

    def delete_job_position(self, job_position_id: str) -> None:
        """Delete a job position (records `job-position.deleted`)."""
        with self._lock:
            self._require("job-positions", job_position_id)
            self._delete("job-positions", job_position_id)

    def delete_employment(self, employment_id: str) -> None:
        """Delete an employment and its job positions (each records its `*.deleted`)."""
        with self._lock:
            self._require("employments", employment_id)
            for position in self._positions(employment_id):
                self._delete("job-positions", position["id"])
            self._delete("employments", employment_id)

    # -- helpers for tests ----------------------------------------------------------------------
    def employment_of(self, employee_id: str) -> str | None:
        """Id of the employee's applicable employment."""
        with self._lock:
            employment = self._applicable_employment(employee_id)
            return employment["id"] if employment else None

    def job_position_of(self, employee_id: str) -> str | None:
        """Id of the employee's applicable job position."""
        with self._lock:
            position = self._current_position(employee_id)
            return position["id"] if position else None

    def set_event_status(self, event_id: str, status: str) -> None:
        """Lucca's delivery status of an event: `scheduled`, `delivered` or `failed`."""
        with self._lock:
            self.event_status[event_id] = status

    def keep_event(self, event: dict[str, Any]) -> None:
        """Keep `event` as given in the event list (an odd one Lucca's list might hold)."""
        with self._lock:
            self._store["events"][str(event["id"])] = copy.deepcopy(event)

    def recorded_events(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Copies of the recorded events (oldest first), optionally of one topic."""
        with self._lock:
            events = sorted(self._store["events"].values(), key=lambda e: int(e["id"]))
            return [copy.deepcopy(e) for e in events if topic in (None, e["topic"])]

    def ping_event(self, endpoint_id: str | None = None) -> dict[str, Any]:
        """A `ping` event, as Lucca sends to test an endpoint (not kept in the event list)."""
        with self._lock:
            data = self._ref("webhook-endpoint", endpoint_id) if endpoint_id else {}
            return self._event("ping", data)

    def confirmation_event(self, endpoint_id: str | None = None) -> dict[str, Any]:
        """A `confirmation` event, as sent while (re)activating an endpoint."""
        with self._lock:
            data = self._ref("webhook-endpoint", endpoint_id) if endpoint_id else {}
            return self._event("confirmation", data)

    def set_endpoint_status(self, endpoint_id: str, status: str) -> None:
        """What Lucca does to an endpoint: `suspended` after failed deliveries (404, 410,
        repeated errors), `active` again once reactivated."""
        if status not in WEBHOOK_STATUSES:
            raise ValueError(f"not a webhook-endpoint status: {status!r}")
        with self._lock:
            self._require("webhook-endpoints", endpoint_id)
            record = self._store["webhook-endpoints"][endpoint_id]
            record.update(status=status, lastUpdatedAt=_timestamp())

    def webhook_secret(self, endpoint_id: str | None = None) -> str:
        """The signing secret Lucca gave an endpoint (the latest one by default)."""
        with self._lock:
            if not self._secrets:
                raise LookupError("no webhook endpoint registered")
            return self._secrets[endpoint_id or max(self._secrets, key=int)]

    def issued_tokens(self) -> list[str]:
        """Every access token the token endpoint has handed out."""
        with self._lock:
            return list(self._tokens)

    def expire_tokens(self) -> None:
        """Make every issued access token expired."""
        with self._lock:
            self._tokens = {token: (0.0, scopes) for token, (_, scopes) in self._tokens.items()}

    def throttle(
        self, times: int = 1, retry_after: int = 30, *, path: str = r"^/lucca-api/"
    ) -> Fault:
        """Answer the next `times` API requests with 429 and `Retry-After`."""
        body = problem_body(429, "Rate limit exceeded (injected).")
        headers = {"Content-Type": "application/problem+json", "Retry-After": str(retry_after)}
        return self.inject(429, path=path, times=times, body=body, headers=headers)

    def unavailable(self, times: int = 1, *, path: str = r"^/lucca-api/") -> Fault:
        """Answer the next `times` API requests with 503."""
        body = problem_body(503, "Service unavailable (injected).")
        headers = {"Content-Type": "application/problem+json"}
        return self.inject(503, path=path, times=times, body=body, headers=headers)

    def requests_by_path(self) -> Counter[str]:
        """How many requests (of any outcome) each path received."""
        with self._lock:
            return Counter(r.path for r in self.requests)

    def reset_log(self) -> None:
        """Forget the recorded requests and the API call counter."""
        with self._lock:
            super().reset_log()
            self.api_calls.clear()
