"""The Lucca API client: OAuth2 client credentials, one request choke point.

Every API request goes through `_request`, which takes a token, waits for the shared rate
limiter, sends, and maps every failure to the connector's error tree once (`answers`); the
token's own request shares its transport handling. The client raises and never logs; it never
puts a token or the client secret in a message. The documents are in `connector.lucca.models`.
https://developers.lucca.fr/api-reference/ (version 2024-11-01)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel

from connector.core.errors import Invalid, Throttled, Transient
from connector.lucca.answers import document, granted_token, items, parse
from connector.lucca.models import (
    EmployeeStatus,
    LuccaDepartment,
    LuccaEmployee,
    LuccaEmployment,
    LuccaEstablishment,
    LuccaJobPosition,
    LuccaLegalEntity,
    LuccaWebhookDelivery,
    LuccaWebhookEndpoint,
    _ref_id,
    is_lucca_id,
)
from connector.lucca.paging import EmployeePaging

API_VERSION = "2024-11-01"
BASE_SCOPES = (
    "employees.readonly",
    "employments.readonly",
    "job-positions.readonly",
    "departments.readonly",
)
# Asked for only when a setting needs them: a Lucca API client without them still works.
LEGAL_ENTITY_SCOPE = "legal-entities.readonly"  # companyName, usageLocation
ESTABLISHMENT_SCOPE = "business-establishments.readonly"  # officeLocation, a leaver's zone
DEFAULT_SCOPES = (*BASE_SCOPES, LEGAL_ENTITY_SCOPE, ESTABLISHMENT_SCOPE)
# Webhook endpoints and events: asked for only by the `webhook` commands and the catch-up.
WEBHOOK_WRITE_SCOPE = "webhook-endpoints.readwrite"  # register; also what `status` asks for
PING_SCOPE = "webhook-deliveries.readwrite"  # POST /lucca-api/webhook-deliveries (OpenAPI)
EVENTS_SCOPE = "events.readonly"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # Lucca itself gives up after 5 s (408)
PAGE_SIZE = 100  # Lucca's maximum
REFRESH_MARGIN = 60.0  # seconds before expiry a token is replaced
CACHE_TTL = 15 * 60.0

Method = Literal["GET", "POST"]
M = TypeVar("M", bound=BaseModel)


# The rarely changing collections the client caches, by path.
_CACHEABLE: dict[str, type[LuccaDepartment | LuccaLegalEntity | LuccaEstablishment]] = {
    "departments": LuccaDepartment,
    "legal-entities": LuccaLegalEntity,
    "business-establishments": LuccaEstablishment,
}


class RequestLimiter(Protocol):
    """What the client needs of a rate limiter."""

    def acquire(self) -> object:
        """Block until one request may go out."""

    def penalise(self, retry_after: float) -> None:
        """Make every caller wait `retry_after` seconds."""


class LuccaClient(EmployeePaging):
    """Reads employees and their organisation from the Lucca API."""

    def __init__(
        self,
        *,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        limiter: RequestLimiter,
        http: httpx.Client | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        cache_ttl: float = CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = base_url.rstrip("/") + "/lucca-api"
        self._origin = urlsplit(base_url)[:2]
        self._token_url = token_url
        self._credentials = {"client_id": client_id, "client_secret": client_secret}
        self._scopes = tuple(scopes)
        self._limiter = limiter
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=DEFAULT_TIMEOUT)
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self._cache_lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, BaseModel]] = {}

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> LuccaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resources ----------------------------------------------------------------------------
    def employee(self, employee_id: str) -> LuccaEmployee:
        """The employee as Lucca has it now (one request when Lucca embeds the related ones)."""
        doc = self._get(f"employees/{_segment(employee_id)}", {"include": "embedded"})
        return self._employee(doc, doc.get("embedded"))

    def employees(
        self, *, statuses: Iterable[EmployeeStatus] | None = None
    ) -> Iterator[LuccaEmployee]:
        """Every employee (optionally of some statuses), a page of 100 at a time."""
        params = {"limit": str(PAGE_SIZE), "include": "embedded,links"}
        if statuses is not None:
            params["status"] = ",".join(statuses)
        for page in self._pages("employees", params):
            for item in items(page):
                yield self._employee(item, page.get("embedded"))

    def employments(self, employee_id: str) -> list[LuccaEmployment]:
        """All of the employee's employments, in Lucca's order (by id)."""
        params = {"employee.id": employee_id, "limit": str(PAGE_SIZE), "include": "links"}
        return [
            parse(LuccaEmployment, item, "employment")
            for page in self._pages("employments", params)
            for item in items(page)
        ]

    def employments_of(self, employee_ids: Iterable[str]) -> dict[str, list[LuccaEmployment]]:
        """The employments of many employees, 100 employees a request (Lucca's `employee.id`
        filter takes at most 100), in Lucca's order; an employee without one maps to []."""
        ids = sorted(set(employee_ids), key=lambda i: (len(i), i))
        found: dict[str, list[LuccaEmployment]] = {i: [] for i in ids}
        for start in range(0, len(ids), PAGE_SIZE):
            batch = ids[start : start + PAGE_SIZE]
            params = {"employee.id": ",".join(batch), "limit": str(PAGE_SIZE), "include": "links"}
            for page in self._pages("employments", params):
                for item in items(page):
                    employment = parse(LuccaEmployment, item, "employment")
                    found.setdefault(employment.employee_id, []).append(employment)
        return found

    def department(self, department_id: str) -> LuccaDepartment:
        """A department (cached)."""
        return self._cached("departments", department_id, LuccaDepartment)

    def legal_entity(self, legal_entity_id: str) -> LuccaLegalEntity:
        """A legal entity (cached)."""
        return self._cached("legal-entities", legal_entity_id, LuccaLegalEntity)

    def establishment(self, establishment_id: str) -> LuccaEstablishment:
        """A business establishment (cached)."""
        return self._cached("business-establishments", establishment_id, LuccaEstablishment)

    def _employee(self, doc: dict[str, Any], embedded: Any) -> LuccaEmployee:
        """An employee document with its applicable employment and job position attached."""
        employee = parse(LuccaEmployee, doc, "employee")
        employment = self._related(doc, embedded, "applicableEmployment", LuccaEmployment)
        position = self._related(doc, embedded, "applicableJobPosition", LuccaJobPosition)
        return employee.model_copy(update={"employment": employment, "job_position": position})

    def _related(self, doc: dict[str, Any], embedded: Any, key: str, model: type[M]) -> M | None:
        """What a reference designates: from `embedded` (by type, then id), else one GET."""
        related_id = _ref_id(doc.get(key))
        if not related_id:
            return None
        type_ = "employment" if model is LuccaEmployment else "job-position"  # `embedded` keys
        by_id = embedded.get(type_) if isinstance(embedded, dict) else None
        found = by_id.get(str(related_id)) if isinstance(by_id, dict) else None
        if not isinstance(found, dict):
            found = self._get(f"{type_}s/{_segment(str(related_id))}")
        return parse(model, found, type_)

    def preload(self, kind: str) -> int:
        """Read a whole collection (`departments`, `legal-entities`, `business-establishments`)
        into the cache, 100 a request, instead of one request per item later; returns how
        many were read."""
        model = _CACHEABLE[kind]
        read = 0
        for page in self._pages(kind, {"limit": str(PAGE_SIZE), "include": "links"}):
            for item in items(page):
                value = parse(model, item, kind)
                with self._cache_lock:
                    self._cache[(kind, value.id)] = (self._clock() + self._cache_ttl, value)
                read += 1
        return read

    def _cached(self, kind: str, resource_id: str, model: type[M]) -> M:
        """A rarely changing resource, kept `cache_ttl` seconds."""
        key = (kind, resource_id)
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock() and isinstance(hit[1], model):
            return hit[1]
        value = parse(model, self._get(f"{kind}/{_segment(resource_id)}"), kind)
        with self._cache_lock:
            self._cache[key] = (self._clock() + self._cache_ttl, value)
        return value

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """A collection's pages, following `links.next.href`."""
        page = self._get(path, params)
        while True:
            yield page
            links = page.get("links")
            href = (links.get("next") or {}).get("href") if isinstance(links, dict) else None
            if not href:
                return
            page = self._follow(href)

    def _follow(self, href: str) -> dict[str, Any]:  # never send the token elsewhere
        if urlsplit(href)[:2] != self._origin:
            raise Invalid(f"Lucca's next-page link leaves {self._api}", service="lucca")
        return self._request("GET", href)

    # -- the choke point ------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self._request("GET", f"{self._api}/{path}", params)

    def _post(
        self,
        path: str,
        params: Mapping[str, str] | None,
        body: dict[str, Any] | None,
        scope: str,
    ) -> dict[str, Any]:
        return self._request("POST", f"{self._api}/{path}", params, body=body, scope=scope)

    def _request(
        self,
        method: Method,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        body: dict[str, Any] | None = None,
        scope: str | None = None,
    ) -> dict[str, Any]:
        """Send one API request (GET, or POST `body` expecting 201 or 200); every failure
        becomes one of the connector's errors, a 403 naming `scope` when Lucca does not."""
        where = f"{method} {urlsplit(url).path}"
        token = self._access_token()
        response = self._send(method, url, where, token, params=params, json=body)
        if response.status_code == 401:  # expired or revoked: one new token, one new try
            self._drop_token(token)
            token = self._access_token()
            response = self._send(method, url, where, token, params=params, json=body)
        try:
            return document(response, where, scope=scope, created=method == "POST")
        except Throttled as err:  # every instance waits, not only this one
            self._limiter.penalise(err.retry_after)
            raise

    def _send(
        self, method: Method, url: str, where: str, token: str, **request: Any
    ) -> httpx.Response:
        """Wait for the shared limiter, then send with the token and the API version."""
        self._limiter.acquire()
        headers = {"Authorization": f"Bearer {token}", "Api-Version": API_VERSION}
        return self._exchange(method, url, where, headers=headers, **request)

    def _exchange(self, method: Method, url: str, where: str, **request: Any) -> httpx.Response:
        """Send as given (an API request, or the token's); a transport failure is `Transient`."""
        try:
            return self._http.request(method, url, **request)
        except httpx.TimeoutException as err:
            raise Transient(f"Lucca did not answer {where} in time", service="lucca") from err
        except httpx.HTTPError as err:
            message = f"Lucca could not be reached for {where} ({type(err).__name__})"
            raise Transient(message, service="lucca") from err

    # -- OAuth2 client credentials ------------------------------------------------------------
    def _access_token(self) -> str:
        """The cached token, or a new one (one fetch however many threads ask at once)."""
        with self._token_lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._token, lifetime = self._fetch_token()
                self._refresh_at = self._clock() + lifetime - min(REFRESH_MARGIN, lifetime / 2)
            return self._token

    def _drop_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:  # another thread may have replaced it already
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        """POST the client credentials (not counted by the limiter); the access token and its
        lifetime in seconds."""
        form = self._credentials | {"grant_type": "client_credentials"}
        form["scope"] = " ".join(self._scopes)
        where = "POST " + urlsplit(self._token_url).path
        response = self._exchange("POST", self._token_url, where, data=form)
        return granted_token(response, self._scopes)

    # -- webhook endpoints and events (the `webhook` commands and the catch-up) ----------------
    def webhook_endpoints(self) -> list[LuccaWebhookEndpoint]:
        """The API client's webhook endpoints (`webhook-endpoints.readwrite` or `.readonly`)."""
        params = {"limit": str(PAGE_SIZE), "include": "links"}
        return [
            parse(LuccaWebhookEndpoint, item, "webhook-endpoint")
            for page in self._pages("webhook-endpoints", params)
            for item in items(page)
        ]

    def webhook_endpoint(self, endpoint_id: str) -> LuccaWebhookEndpoint:
        """One webhook endpoint, with its status; `NotFound` when Lucca has none of that id."""
        doc = self._get(f"webhook-endpoints/{_segment(endpoint_id)}")
        return parse(LuccaWebhookEndpoint, doc, "webhook-endpoint")

    def create_webhook_endpoint(
        self, *, name: str, webhook_url: str, topics: Iterable[str]
    ) -> tuple[LuccaWebhookEndpoint, str]:
        """Register an endpoint (`webhook-endpoints.readwrite`): the endpoint and its signing
        secret, which Lucca gives in this answer only. The secret is never put in a message."""
        body = {
            "name": name,
            "webhookUrl": webhook_url,
            "apiVersion": API_VERSION,
            "topics": list(topics),
            "status": "active",  # as Lucca's own example; the catch-up replays what fails
        }
        doc = self._post("webhook-endpoints", None, body, WEBHOOK_WRITE_SCOPE)
        secret = doc.get("secret")
        endpoint = parse(LuccaWebhookEndpoint, doc, "webhook-endpoint")
        if not isinstance(secret, str) or not secret:
            message = (
                f"Lucca created webhook endpoint {endpoint.id} but gave no signing secret: "
                "delete it in Lucca and register again"
            )
            raise Invalid(message, service="lucca")
        return endpoint, secret

    def ping_webhook_endpoint(self, endpoint_id: str) -> LuccaWebhookDelivery:
        """Have Lucca send a `ping` event to the endpoint (`webhook-deliveries.readwrite`)."""
        params = {"webhookEndpoint.id": endpoint_id, "event.topic": "ping"}
        doc = self._post("webhook-deliveries", params, None, PING_SCOPE)
        return parse(LuccaWebhookDelivery, doc, "webhook-delivery")

    def events(
        self, *, after: datetime | None = None, status: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Lucca's kept events (two months; `events.readonly`), 100 a page, in Lucca's order;
        with `status`, only those of that delivery status (`scheduled`, `delivered`, `failed`:
        the one filter the API documents for events).

        The API documents no time filter and no sort for events, so every page is read and
        the events at or before `after` are dropped here; callers must not assume an order.
        Each event is the JSON object as Lucca gives it (what a delivery's body holds)."""
        params = {"limit": str(PAGE_SIZE), "include": "links"}
        if status is not None:
            params["status"] = status
        for page in self._pages("events", params):
            for item in items(page):
                if not isinstance(item, dict):
                    raise Invalid("Lucca's events page holds a non-object", service="lucca")
                if after is not None and _readable_before(item, after):
                    continue
                yield item

    # -- the doctor (`python -m connector doctor`) -------------------------------------------
    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes this client's token asks for."""
        return self._scopes

    def check_token(self) -> None:
        """Get a token for this client's scopes: one POST to the token endpoint, not counted by
        the limiter; `Denied` (code `invalid_scope`) when Lucca refuses one of them. The token
        is kept for this client's next request, never returned."""
        self._access_token()

    def check_api(self) -> None:
        """One cheap API request, `GET employees?limit=1`: one request of the shared budget."""
        self._get("employees", {"limit": "1"})


def _segment(value: str) -> str:
    """An id as one path segment; `Invalid` for what is not a Lucca id (`..` would climb)."""
    if not is_lucca_id(value):
        raise Invalid("not a Lucca id: it must start with a letter or a digit", service="lucca")
    return quote(value, safe="")


def _readable_before(event: dict[str, Any], after: datetime) -> bool:
    """Whether the event occurred at or before `after`; an event without a readable
    `occurredAt` is not dropped here but passed on, for the caller to skip and count."""
    try:
        return _occurred_at(event) <= after
    except Invalid:
        return False


def _occurred_at(event: dict[str, Any]) -> datetime:
    """An event's `occurredAt` as an aware instant; `Invalid` when it has none."""
    value = event.get("occurredAt")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise Invalid("Lucca's event lacks or mangles occurredAt", service="lucca") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
