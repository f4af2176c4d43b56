"""The Lucca API client: OAuth2 client credentials, one request choke point, typed documents.

Every API request goes through `_request`, which takes a token, waits for the shared rate
limiter, sends, and maps every failure to the connector's error tree once. The client raises
and never logs; it never puts a token or the client secret in a message.
https://developers.lucca.fr/api-reference/ (version 2024-11-01)
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from connector.core.errors import Denied, Invalid, NotFound, Throttled, Transient

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
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # Lucca itself gives up after 5 s (408)
PAGE_SIZE = 100  # Lucca's maximum
REFRESH_MARGIN = 60.0  # seconds before expiry a token is replaced
DEFAULT_RETRY_AFTER = 60.0
MAX_RETRY_AFTER = 3600.0  # a longer Retry-After is read as an hour
CACHE_TTL = 15 * 60.0
_SCOPE = re.compile(r"\b[a-z][a-z-]*\.read(?:only|write)\b")
_CREDENTIALS = "check LUCCA_CLIENT_ID / LUCCA_CLIENT_SECRET"

EmployeeStatus = Literal["active", "upcoming", "deactivated"]
M = TypeVar("M", bound=BaseModel)


def _ref_id(value: Any) -> Any:
    """A `{id, type, url}` reference as its id."""
    return value.get("id") if isinstance(value, dict) else value


def _day(value: Any) -> Any:
    """An employment bound `{date}` as its date."""
    return value.get("date") if isinstance(value, dict) else value


Ref = Annotated[str, BeforeValidator(_ref_id)]
OptionalRef = Annotated[str | None, BeforeValidator(_ref_id)]


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class LuccaEmployment(_Document):
    """A contract: `end` is the last day worked (included), None for a permanent one."""

    id: str
    employee_id: Ref = Field(alias="employee")
    start: Annotated[date, BeforeValidator(_day)]
    end: Annotated[date | None, BeforeValidator(_day)] = None
    legal_entity_id: Ref = Field(alias="legalEntity")
    status: EmployeeStatus | None = None


class LuccaJobPosition(_Document):
    """A stage of an employment: job title, manager, department and establishment."""

    id: str
    employee_id: Ref = Field(alias="employee")
    employment_id: Ref = Field(alias="employment")
    job_title: str | None = Field(default=None, alias="jobTitle")
    manager_id: OptionalRef = Field(default=None, alias="manager")
    department_id: Ref = Field(alias="department")
    establishment_id: Ref = Field(alias="businessEstablishment")
    starts_on: date = Field(alias="startsOn")
    ends_on: date | None = Field(default=None, alias="endsOn")


class LuccaEmployee(_Document):
    """An employee with the applicable employment and job position."""

    id: str
    given_name: str = Field(alias="givenName")
    family_name: str = Field(alias="familyName")
    email: str | None
    status: EmployeeStatus
    employee_number: str | None = Field(default=None, alias="employeeNumber")
    last_updated_at: datetime | None = Field(default=None, alias="lastUpdatedAt")
    employment: LuccaEmployment | None = None
    job_position: LuccaJobPosition | None = None


class LuccaDepartment(_Document):
    """A department."""

    id: str
    name: str


class LuccaLegalEntity(_Document):
    """A legal entity; `country_code` is ISO 3166 alpha-3, as Lucca gives it."""

    id: str
    name: str = Field(alias="legalName")
    country_code: str = Field(alias="countryCode")


class LuccaEstablishment(_Document):
    """A business establishment and its IANA time zone."""

    id: str
    name: str
    timezone_id: str | None = Field(default=None, alias="timezoneId")
    legal_entity_id: OptionalRef = Field(default=None, alias="legalEntity")


# The rarely changing collections the client caches, by path.
_CACHEABLE: dict[str, type[LuccaDepartment | LuccaLegalEntity | LuccaEstablishment]] = {
    "departments": LuccaDepartment,
    "legal-entities": LuccaLegalEntity,
    "business-establishments": LuccaEstablishment,
}


class RequestLimiter(Protocol):
    """What the client needs of a rate limiter."""

    def acquire(self) -> None:
        """Block until one request may go out."""

    def penalise(self, retry_after: float) -> None:
        """Make every caller wait `retry_after` seconds."""


class LuccaClient:
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
            for item in _items(page):
                yield self._employee(item, page.get("embedded"))

    def employments(self, employee_id: str) -> list[LuccaEmployment]:
        """All of the employee's employments, in Lucca's order (by id)."""
        params = {"employee.id": employee_id, "limit": str(PAGE_SIZE), "include": "links"}
        return [
            _parse(LuccaEmployment, item, "employment")
            for page in self._pages("employments", params)
            for item in _items(page)
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
                for item in _items(page):
                    employment = _parse(LuccaEmployment, item, "employment")
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
        employee = _parse(LuccaEmployee, doc, "employee")
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
        return _parse(model, found, type_)

    def preload(self, kind: str) -> int:
        """Read a whole collection (`departments`, `legal-entities`, `business-establishments`)
        into the cache, 100 a request, instead of one request per item later; returns how
        many were read."""
        model = _CACHEABLE[kind]
        read = 0
        for page in self._pages(kind, {"limit": str(PAGE_SIZE), "include": "links"}):
            for item in _items(page):
                value = _parse(model, item, kind)
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
        value = _parse(model, self._get(f"{kind}/{_segment(resource_id)}"), kind)
        with self._cache_lock:
            self._cache[key] = (self._clock() + self._cache_ttl, value)
        return value

    def _pages(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        """A collection's pages, following `links.next.href`."""
        page = self._get(path, params)
        while True:
            yield page
            links = page.get("links")
            next_link = links.get("next") if isinstance(links, dict) else None
            href = next_link.get("href") if isinstance(next_link, dict) else None
            if not href:
                return
            if urlsplit(href)[:2] != self._origin:  # never send the token elsewhere
                raise Invalid(f"Lucca's next-page link leaves {self._api}", service="lucca")
            page = self._request(href, None)

    # -- the choke point ------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return self._request(f"{self._api}/{path}", params)

    def _request(self, url: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        """GET one API document; every failure becomes one of the connector's errors."""
        where = "GET " + urlsplit(url).path
        token = self._access_token()
        response = self._send(url, params, token, where)
        if response.status_code == 401:  # expired or revoked: one new token, one new try
            self._drop_token(token)
            response = self._send(url, params, self._access_token(), where)
        return self._document(response, where)

    def _send(
        self, url: str, params: Mapping[str, str] | None, token: str, where: str
    ) -> httpx.Response:
        """Wait for the shared limiter, then send; a transport failure is `Transient`."""
        self._limiter.acquire()
        headers = {"Authorization": f"Bearer {token}", "Api-Version": API_VERSION}
        try:
            return self._http.get(url, params=params, headers=headers)
        except httpx.TimeoutException as err:
            raise Transient(f"Lucca did not answer {where} in time", service="lucca") from err
        except httpx.HTTPError as err:
            message = f"Lucca could not be reached for {where} ({type(err).__name__})"
            raise Transient(message, service="lucca") from err

    def _document(self, response: httpx.Response, where: str) -> dict[str, Any]:
        """The JSON document of a success, or the error the status stands for."""
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
            except ValueError as err:
                raise Invalid(f"Lucca answered {where} with no JSON", service="lucca") from err
            if not isinstance(body, dict):
                raise Invalid(f"Lucca answered {where} with no JSON object", service="lucca")
            return body
        detail = _problem_detail(response)
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            self._limiter.penalise(retry_after)
            message = f"Lucca rate-limited {where}: retry after {retry_after:g} s"
            raise Throttled(message, retry_after=retry_after, service="lucca")
        if status == 401:
            message = f"Lucca refused a fresh access token for {where} (401): {_CREDENTIALS}"
            raise Denied(message, service="lucca", status=status)
        if status == 403:
            raise Denied(_forbidden(where, detail), service="lucca", status=status)
        if status == 404:
            message = (
                f"Lucca answered 404 to {where}: no such object, or the API client may not see it"
            )
            raise NotFound(message, service="lucca", status=status)
        if status == 408 or status >= 500:
            raise Transient(f"Lucca failed {where} ({status})", service="lucca", status=status)
        message = f"Lucca refused {where} ({status})" + (f": {detail}" if detail else "")
        raise Invalid(message, service="lucca", status=status)

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
        """POST the client credentials; the access token and its lifetime in seconds."""
        form = self._credentials | {"grant_type": "client_credentials"}
        form["scope"] = " ".join(self._scopes)
        try:
            response = self._http.post(self._token_url, data=form)
        except httpx.HTTPError as err:
            message = f"Lucca's token endpoint could not be reached ({type(err).__name__})"
            raise Transient(message, service="lucca") from err
        status = response.status_code
        body = _json_object(response)
        error = str(body.get("error") or "")
        if status == 200 and isinstance(body.get("access_token"), str):
            expires_in = body.get("expires_in")
            lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
            return body["access_token"], lifetime
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            message = f"Lucca's token endpoint rate-limited us: retry after {retry_after:g} s"
            raise Throttled(message, retry_after=retry_after, service="lucca")
        if status == 408 or status >= 500:
            message = f"Lucca's token endpoint failed ({status})"
            raise Transient(message, service="lucca", status=status)
        if error == "invalid_scope":
            message = (
                f"Lucca refused the scopes {' '.join(self._scopes)}: grant them to the API "
                "client in Lucca"
            )
            raise Denied(message, service="lucca", status=status, code=error)
        if status in (400, 401) and error in ("", "invalid_client", "unauthorized_client"):
            message = f"Lucca refused the API client's credentials: {_CREDENTIALS}"
            raise Denied(message, service="lucca", status=status, code=error or None)
        message = f"Lucca's token endpoint answered {status}" + (f" ({error})" if error else "")
        raise Invalid(message, service="lucca", status=status, code=error or None)

    # -- webhook endpoints and events (the `webhook` commands and the catch-up) ----------------
    def webhook_endpoints(self) -> list[LuccaWebhookEndpoint]:
        """The API client's webhook endpoints (`webhook-endpoints.readwrite` or `.readonly`)."""
        params = {"limit": str(PAGE_SIZE), "include": "links"}
        return [
            _parse(LuccaWebhookEndpoint, item, "webhook-endpoint")
            for page in self._pages("webhook-endpoints", params)
            for item in _items(page)
        ]

    def webhook_endpoint(self, endpoint_id: str) -> LuccaWebhookEndpoint:
        """One webhook endpoint, with its status; `NotFound` when Lucca has none of that id."""
        doc = self._get(f"webhook-endpoints/{_segment(endpoint_id)}")
        return _parse(LuccaWebhookEndpoint, doc, "webhook-endpoint")

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
        endpoint = _parse(LuccaWebhookEndpoint, doc, "webhook-endpoint")
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
        return _parse(LuccaWebhookDelivery, doc, "webhook-delivery")

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
            for item in _items(page):
                if not isinstance(item, dict):
                    raise Invalid("Lucca's events page holds a non-object", service="lucca")
                if after is not None and _readable_before(item, after):
                    continue
                yield item

    def _post(
        self,
        path: str,
        params: Mapping[str, str] | None,
        body: dict[str, Any] | None,
        scope: str,
    ) -> dict[str, Any]:
        """POST one API document (201 or 200 expected); failures mapped as `_request` does,
        a 403 naming `scope` when Lucca does not."""
        url = f"{self._api}/{path}"
        where = "POST " + urlsplit(url).path
        token = self._access_token()
        response = self._send_post(url, params, body, token, where)
        if response.status_code == 401:
            self._drop_token(token)
            response = self._send_post(url, params, body, self._access_token(), where)
        if response.status_code == 201:
            created = _json_object(response)
            if not created:
                raise Invalid(f"Lucca answered {where} with no JSON object", service="lucca")
            return created
        if response.status_code == 403 and not _SCOPE.search(_problem_detail(response)):
            message = (
                f"Lucca refused {where} (403): the API client may lack the scope {scope}; "
                "grant it to the API client in Lucca"
            )
            raise Denied(message, service="lucca", status=403)
        return self._document(response, where)

    def _send_post(
        self,
        url: str,
        params: Mapping[str, str] | None,
        body: dict[str, Any] | None,
        token: str,
        where: str,
    ) -> httpx.Response:
        """`_send` for a POST: the limiter first; a transport failure is `Transient`."""
        self._limiter.acquire()
        headers = {"Authorization": f"Bearer {token}", "Api-Version": API_VERSION}
        try:
            return self._http.post(url, params=params, json=body, headers=headers)
        except httpx.TimeoutException as err:
            raise Transient(f"Lucca did not answer {where} in time", service="lucca") from err
        except httpx.HTTPError as err:
            message = f"Lucca could not be reached for {where} ({type(err).__name__})"
            raise Transient(message, service="lucca") from err

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
    """An id as one path segment."""
    return quote(value, safe="")


def _items(page: dict[str, Any]) -> list[Any]:
    items = page.get("items")
    if not isinstance(items, list):
        raise Invalid("Lucca answered a collection without items", service="lucca")
    return items


def _parse(model: type[M], doc: Any, what: str) -> M:
    """A Lucca document as a model; `Invalid` naming the fields (never their values)."""
    try:
        return model.model_validate(doc)
    except ValidationError as err:
        fields = sorted({".".join(map(str, e["loc"])) or "(document)" for e in err.errors()})
        message = f"Lucca's {what} document lacks or mangles {', '.join(fields)}"
        raise Invalid(message, service="lucca") from err


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; empty when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _problem_detail(response: httpx.Response) -> str:
    """The `detail` (else `title`) of a problem document, shortened."""
    body = _json_object(response)
    return str(body.get("detail") or body.get("title") or "")[:300]


def _forbidden(where: str, detail: str) -> str:
    """A 403 as a sentence naming the scope to grant."""
    named = _SCOPE.search(detail)
    if named:
        return (
            f"Lucca refused {where} (403): the API client lacks the scope {named.group(0)}; "
            "grant it to the API client in Lucca"
        )
    kind = where.removeprefix("GET /lucca-api/").split("/")[0]
    return (
        f"Lucca refused {where} (403): the API client may lack the scope {kind}.readonly, "
        "or may not see this object's business establishment"
    )


def _retry_after(value: str | None) -> float:
    """`Retry-After` in seconds (a number or an HTTP date), 0..3600; 60 when unreadable."""
    if not value:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return (
        min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else DEFAULT_RETRY_AFTER
    )


# -- webhook endpoints and events -------------------------------------------------------------
WEBHOOK_WRITE_SCOPE = "webhook-endpoints.readwrite"  # register; also what `status` asks for
PING_SCOPE = "webhook-deliveries.readwrite"  # POST /lucca-api/webhook-deliveries (OpenAPI)
EVENTS_SCOPE = "events.readonly"
# The topics the connector subscribes to (lucca.md): what can change an Entra account.
WEBHOOK_TOPICS = (
    "employee.created",
    "employee.updated",
    "employee.deleted",
    "employment.created",
    "employment.updated",
    "employment.deleted",
    "job-position.created",
    "job-position.updated",
    "job-position.deleted",
)


class LuccaWebhookEndpoint(_Document):
    """A webhook endpoint as Lucca lists it (schema `webhook-endpoint`; never the secret)."""

    id: str
    name: str = ""
    webhook_url: str = Field(alias="webhookUrl")
    topics: tuple[str, ...] = ()
    status: str = "inactive"  # active | suspended | inactive (the schema's default)

    @property
    def missing_topics(self) -> tuple[str, ...]:
        """The connector's topics the endpoint is not subscribed to."""
        return tuple(topic for topic in WEBHOOK_TOPICS if topic not in self.topics)


class LuccaWebhookDelivery(_Document):
    """What Lucca answers to a ping (schema `webhook-delivery`)."""

    id: str
    status: str | None = None  # delivered | undelivered | failed
    attempts_count: int | None = Field(default=None, alias="attemptsCount")
    next_attempt_at: datetime | None = Field(default=None, alias="nextAttemptAt")


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
