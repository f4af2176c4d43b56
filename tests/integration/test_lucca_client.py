"""The Lucca client against the Lucca sandbox over HTTP, with the shared limiter on Azurite."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from connector.core.errors import (
    ConnectorError,
    Denied,
    Invalid,
    NotFound,
    Throttled,
    Transient,
)
from connector.lucca.client import DEFAULT_SCOPES, LuccaClient
from connector.lucca.models import LuccaEmployee
from connector.runtime.clients import lucca_client
from connector.runtime.settings import load_settings
from connector.storage.ratelimit import PARTITION, ROW, TABLE, LuccaRateLimiter
from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import base_settings
from tests.integration.test_ratelimit import FakeTime
from tests.sandboxes.lucca import API_VERSION, CONNECTOR_SCOPES, LuccaSandbox, problem_body

pytestmark = pytest.mark.azurite

CLIENT_ID = "connector-tests"
CLIENT_SECRET = "lucca-client-secret-5c1a"
TODAY = date(2025, 3, 15)
API = r"^/lucca-api/"
TOKEN = r"^/connect/token$"


class FakeMonotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLimiter:
    """The real shared limiter, counting the requests it lets through."""

    def __init__(self, limiter: LuccaRateLimiter) -> None:
        self.limiter = limiter
        self.acquired = 0

    def acquire(self) -> None:
        """Count, then wait as the real limiter says."""
        self.acquired += 1
        self.limiter.acquire()

    def penalise(self, retry_after: float) -> None:
        """Pass the 429 on."""
        self.limiter.penalise(retry_after)


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    """A started sandbox whose own rate limit stays out of the way."""
    sandbox = LuccaSandbox(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, rate_limit=10_000, today=TODAY
    )
    sandbox.start()
    yield sandbox
    sandbox.stop()


def roomy_limiter(storage: Storage, **kwargs: Any) -> LuccaRateLimiter:
    """A shared limiter with budget to spare, for tests about something else."""
    return LuccaRateLimiter(storage, per_minute=6000, burst=500, **kwargs)


def make_client(lucca: LuccaSandbox, storage: Storage, **kwargs: Any) -> LuccaClient:
    """A client of the sandbox (keyword arguments override the defaults)."""
    options: dict[str, Any] = {
        "base_url": lucca.base_url,
        "token_url": f"{lucca.base_url}/connect/token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "limiter": roomy_limiter(storage),
    } | kwargs
    return LuccaClient(**options)


@pytest.fixture
def client(lucca: LuccaSandbox, storage: Storage) -> Iterator[LuccaClient]:
    """A client of the sandbox."""
    with make_client(lucca, storage) as made:
        yield made


@pytest.fixture
def hired(lucca: LuccaSandbox) -> dict[str, str]:
    """A manager and a report in a department, an establishment and a legal entity: their ids."""
    entity = lucca.add_legal_entity("Acme GmbH", country_code="DEU")
    establishment = lucca.add_establishment("Acme Berlin", "Europe/Berlin", legal_entity_id=entity)
    department = lucca.add_department("Finance")
    manager = lucca.add_employee("Marie", "Curie", "marie.curie@acme.example")
    report = lucca.add_employee(
        "Pierre",
        "Dupont",
        "pierre.dupont@acme.example",
        start="2024-02-01",
        end="2025-06-30",
        job_title="Accountant",
        manager_id=manager,
        department_id=department,
        establishment_id=establishment,
        employee_number="E042",
    )
    lucca.reset_log()
    return {
        "entity": entity,
        "establishment": establishment,
        "department": department,
        "manager": manager,
        "report": report,
    }


def raw_document(lucca: LuccaSandbox, path: str) -> dict[str, Any]:
    """A document exactly as the sandbox serves it (outside the client under test)."""
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    form |= {"grant_type": "client_credentials", "scope": " ".join(DEFAULT_SCOPES)}
    token = httpx.post(f"{lucca.base_url}/connect/token", data=form).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Api-Version": API_VERSION}
    answer = httpx.get(f"{lucca.base_url}{path}", headers=headers)
    lucca.reset_log()
    return dict(answer.json())


def messages(err: BaseException) -> str:
    """Every message in an exception's chain."""
    parts = []
    current: BaseException | None = err
    while current is not None:
        parts.append(f"{current!s} {current!r}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# -- reading employees ----------------------------------------------------------------------


def test_employee_comes_with_employment_and_job_position_in_one_request(
    lucca: LuccaSandbox, client: LuccaClient, hired: dict[str, str]
) -> None:
    """`include=embedded` brings the applicable employment and job position: one API request."""
    employee = client.employee(hired["report"])

    assert lucca.count(path=API) == 1
    assert employee.id == hired["report"]
    assert (employee.given_name, employee.family_name) == ("Pierre", "Dupont")
    assert employee.email == "pierre.dupont@acme.example"
    assert (employee.status, employee.employee_number) == ("active", "E042")
    assert isinstance(employee.last_updated_at, datetime)
    employment, position = employee.employment, employee.job_position
    assert employment is not None and position is not None
    assert employment.id == lucca.employment_of(hired["report"])
    assert (employment.start, employment.end) == (date(2024, 2, 1), date(2025, 6, 30))
    assert (employment.employee_id, employment.legal_entity_id) == (
        hired["report"],
        hired["entity"],
    )
    assert position.id == lucca.job_position_of(hired["report"])
    assert position.job_title == "Accountant"
    assert position.manager_id == hired["manager"]
    assert position.department_id == hired["department"]
    assert position.establishment_id == hired["establishment"]
    assert (position.employment_id, position.employee_id) == (employment.id, hired["report"])
    assert (position.starts_on, position.ends_on) == (date(2024, 2, 1), date(2025, 6, 30))


def test_every_api_request_carries_the_token_and_the_api_version(
    lucca: LuccaSandbox, client: LuccaClient, hired: dict[str, str]
) -> None:
    """Client credentials as a form with the scopes; then Bearer and Api-Version on each call."""
    client.employee(hired["report"])

    token_request, api_request = lucca.requests
    form = parse_qs(token_request.body.decode())
    assert form == {
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["client_credentials"],
        "scope": [" ".join(DEFAULT_SCOPES)],
    }
    assert set(DEFAULT_SCOPES) <= CONNECTOR_SCOPES
    assert api_request.header("Api-Version") == API_VERSION
    assert (api_request.header("Authorization") or "").startswith("Bearer ")
    assert api_request.query["include"] == ["embedded"]


def test_employee_without_embedded_documents_fetches_them(
    lucca: LuccaSandbox, storage: Storage, hired: dict[str, str]
) -> None:
    """When Lucca embeds nothing, the employment and job position are read: one request each."""
    path = f"/lucca-api/employees/{hired['report']}"
    document = raw_document(lucca, path)
    document.pop("embedded", None)
    lucca.inject(200, path=f"^{path}$", body=document)
    limiter = CountingLimiter(roomy_limiter(storage))

    with make_client(lucca, storage, limiter=limiter) as client:
        employee = client.employee(hired["report"])

    assert lucca.count(path=API) == 3
    assert limiter.acquired == 3  # every API request, never the token request
    assert lucca.count(path=TOKEN) == 1
    assert employee.job_position is not None
    assert employee.job_position.manager_id == hired["manager"]
    assert employee.employment is not None
    assert employee.employment.end == date(2025, 6, 30)


def test_employments_are_paged_through_next_links(lucca: LuccaSandbox, client: LuccaClient) -> None:
    """Every employment of one employee, across pages of 100, and none of anyone else's."""
    employee = lucca.add_employee("Rehired", "Often", "often@acme.example", start="2000-01-01")
    lucca.end_employment(employee, "2000-01-01")
    for day in range(1, 150):
        on = date.fromordinal(date(2000, 1, 1).toordinal() + day)
        lucca.add_employment(employee, on, on)
    lucca.add_employee("Someone", "Else", "else@acme.example")
    lucca.reset_log()

    employments = client.employments(employee)

    assert len(employments) == 150
    assert len({e.id for e in employments}) == 150
    assert {e.employee_id for e in employments} == {employee}
    assert lucca.count(path=r"^/lucca-api/employments$") == 2
    assert all(r.param("limit") == "100" for r in lucca.requests if r.path.endswith("employments"))


def test_employees_are_paged_with_their_employments_embedded(
    lucca: LuccaSandbox, client: LuccaClient
) -> None:
    """The whole population in pages of 100, each employee complete, filtered by status."""
    for n in range(105):
        lucca.add_employee(f"Given{n}", f"Family{n}", f"person{n}@acme.example")
    for n in range(3):
        lucca.add_employee(f"Left{n}", "Gone", f"left{n}@acme.example", end="2024-12-31")
    lucca.reset_log()

    everyone = list(client.employees())
    assert len(everyone) == 108
    assert all(e.employment is not None and e.job_position is not None for e in everyone)
    assert lucca.count(path=API) == 2  # two pages, nothing fetched one by one

    leavers = list(client.employees(statuses=["deactivated"]))
    assert [e.given_name for e in leavers] == ["Left0", "Left1", "Left2"]
    assert {e.status for e in leavers} == {"deactivated"}


@pytest.mark.parametrize(
    ("method", "key", "path", "expected"),
    [
        ("department", "department", "/lucca-api/departments/", {"name": "Finance"}),
        (
            "legal_entity",
            "entity",
            "/lucca-api/legal-entities/",
            {"name": "Acme GmbH", "country_code": "DEU"},
        ),
        (
            "establishment",
            "establishment",
            "/lucca-api/business-establishments/",
            {"name": "Acme Berlin", "timezone_id": "Europe/Berlin"},
        ),
    ],
)
def test_organisation_is_cached_for_fifteen_minutes(
    lucca: LuccaSandbox,
    storage: Storage,
    hired: dict[str, str],
    method: str,
    key: str,
    path: str,
    expected: dict[str, str],
) -> None:
    """Departments, legal entities and establishments are read once, again after the TTL."""
    clock = FakeMonotonic()
    with make_client(lucca, storage, clock=clock) as client:
        read: Callable[[str], Any] = getattr(client, method)
        first = read(hired[key])
        clock.now += 14 * 60
        second = read(hired[key])
        assert lucca.count(path=f"^{path}") == 1
        clock.now += 2 * 60
        read(hired[key])
        assert lucca.count(path=f"^{path}") == 2

    assert first == second
    assert first.id == hired[key]
    assert {name: getattr(first, name) for name in expected} == expected
    if method == "establishment":
        assert first.legal_entity_id == hired["entity"]


# -- the access token -----------------------------------------------------------------------


def test_one_token_for_many_calls_and_threads(
    lucca: LuccaSandbox, client: LuccaClient, hired: dict[str, str]
) -> None:
    """Eight threads calling at once share one token; later calls reuse it."""
    start = threading.Barrier(8)
    results: list[LuccaEmployee] = []

    def call() -> None:
        start.wait()
        results.append(client.employee(hired["report"]))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    client.employee(hired["manager"])
    client.department(hired["department"])

    assert len(results) == 8
    assert lucca.count(path=TOKEN) == 1
    assert lucca.count(path=API) == 10


def test_token_is_refreshed_a_minute_before_it_expires(
    storage: Storage, hired: dict[str, str], lucca: LuccaSandbox
) -> None:
    """A token good for 600 s is used for 539 s, replaced at 541 s."""
    lucca.token_lifetime = 600
    clock = FakeMonotonic()
    with make_client(lucca, storage, clock=clock) as client:
        client.employee(hired["report"])
        clock.now += 539
        client.employee(hired["report"])
        assert lucca.count(path=TOKEN) == 1
        clock.now += 2
        client.employee(hired["report"])
        assert lucca.count(path=TOKEN) == 2
        assert lucca.count(path=API) == 3


def test_an_expired_token_is_replaced_once_and_the_call_succeeds(
    lucca: LuccaSandbox, client: LuccaClient, hired: dict[str, str]
) -> None:
    """A 401 drops the token, fetches a new one and sends the request again."""
    client.employee(hired["report"])
    lucca.expire_tokens()

    employee = client.employee(hired["report"])

    assert employee.id == hired["report"]
    assert lucca.count(path=TOKEN) == 2
    assert lucca.count(path=API) == 3


@pytest.mark.parametrize(
    ("sandbox", "fragment"),
    [
        ({"client_secret": "another-secret"}, "check LUCCA_CLIENT_ID / LUCCA_CLIENT_SECRET"),
        ({"client_id": "someone-else"}, "check LUCCA_CLIENT_ID / LUCCA_CLIENT_SECRET"),
        (
            {"scopes": CONNECTOR_SCOPES - {"legal-entities.readonly"}},
            "legal-entities.readonly business-establishments.readonly: grant them",
        ),
    ],
    ids=["wrong secret", "unknown client", "scope not granted"],
)
def test_refused_credentials_are_denied_without_the_secret(
    storage: Storage,
    sandbox: dict[str, Any],
    fragment: str,
) -> None:
    """The token endpoint's refusal says what to check and never shows the secret."""
    options: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    lucca = LuccaSandbox(**(options | sandbox))
    lucca.start()
    try:
        with make_client(lucca, storage) as client, pytest.raises(Denied) as caught:
            client.employee("1001")
    finally:
        lucca.stop()

    assert fragment in caught.value.message
    assert CLIENT_SECRET not in messages(caught.value)
    assert lucca.count(path=API) == 0


@pytest.mark.parametrize(
    ("status", "headers", "expected", "retry_after"),
    [
        (503, {}, Transient, None),
        (500, {}, Transient, None),
        (429, {"Retry-After": "12"}, Throttled, 12.0),
        (400, {}, Invalid, None),
    ],
)
def test_token_endpoint_failures(
    lucca: LuccaSandbox,
    client: LuccaClient,
    status: int,
    headers: dict[str, str],
    expected: type[ConnectorError],
    retry_after: float | None,
) -> None:
    """The token endpoint's own failures map to the same kinds as the API's."""
    lucca.inject(status, path=TOKEN, body={"error": "temporarily_unavailable"}, headers=headers)

    with pytest.raises(expected) as caught:
        client.department("101")

    assert type(caught.value) is expected
    assert getattr(caught.value, "retry_after", None) == retry_after
    assert CLIENT_SECRET not in messages(caught.value)


# -- errors from the API --------------------------------------------------------------------


def inject_status(lucca: LuccaSandbox, status: int) -> None:
    """Answer the next two API requests with `status` and a problem document."""
    lucca.inject(status, path=API, times=2, body=problem_body(status, f"Injected {status}."))


@pytest.mark.parametrize(
    ("status", "expected", "fragment"),
    [
        (400, Invalid, "Injected 400."),
        (409, Invalid, "(409)"),
        (401, Denied, "LUCCA_CLIENT_ID"),
        (403, Denied, "may lack the scope employees.readonly"),
        (404, NotFound, "404"),
        (408, Transient, "(408)"),
        (500, Transient, "(500)"),
        (502, Transient, "(502)"),
        (503, Transient, "(503)"),
        (504, Transient, "(504)"),
    ],
)
def test_api_statuses_map_to_error_kinds(
    lucca: LuccaSandbox,
    client: LuccaClient,
    hired: dict[str, str],
    status: int,
    expected: type[ConnectorError],
    fragment: str,
) -> None:
    """Each status becomes one kind of error, with a sentence; the client works again after."""
    inject_status(lucca, status)

    with pytest.raises(expected) as caught:
        client.employee(hired["report"])

    assert type(caught.value) is expected
    assert caught.value.service == "lucca"
    assert caught.value.status == status
    assert fragment in caught.value.message
    lucca.clear_faults()
    assert client.employee(hired["report"]).id == hired["report"]


def test_an_unknown_employee_is_not_found(lucca: LuccaSandbox, client: LuccaClient) -> None:
    """The sandbox's own 404 for an id it does not know."""
    with pytest.raises(NotFound, match="/lucca-api/employees/424242"):
        client.employee("424242")


@pytest.mark.parametrize(
    "bad_id", [".", "..", "../departments/101", "4/16", "4\\16", "416?x", "416#x", "%2e%2e", "4 16"]
)
def test_an_id_that_is_not_a_lucca_id_is_refused_before_any_request(
    lucca: LuccaSandbox, client: LuccaClient, bad_id: str
) -> None:
    """`.`, `..` and ids with separators never reach a URL (`employees/..` is `/lucca-api`)."""
    lucca.requests.clear()
    for call in (
        client.employee,
        client.department,
        client.legal_entity,
        client.establishment,
        client.webhook_endpoint,
    ):
        with pytest.raises(Invalid, match="not a Lucca id"):
            call(bad_id)
    assert lucca.requests == []


def test_sandbox_503_is_transient(
    lucca: LuccaSandbox, client: LuccaClient, hired: dict[str, str]
) -> None:
    """The sandbox's `unavailable()` fault: Transient, not Throttled."""
    lucca.unavailable(1)
    with pytest.raises(Transient) as caught:
        client.employee(hired["report"])
    assert not isinstance(caught.value, Throttled)


def test_a_missing_scope_is_denied_naming_the_scope(
    storage: Storage, hired: dict[str, str]
) -> None:
    """A token without `departments.readonly`: the 403 names it, for the administrator."""
    lucca = LuccaSandbox(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=CONNECTOR_SCOPES - {"departments.readonly"},
    )
    lucca.start()
    department = lucca.add_department("Sales")
    scopes = [scope for scope in DEFAULT_SCOPES if scope != "departments.readonly"]
    try:
        with make_client(lucca, storage, scopes=scopes) as client, pytest.raises(Denied) as caught:
            client.department(department)
    finally:
        lucca.stop()

    assert "lacks the scope departments.readonly" in caught.value.message
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [({"Retry-After": "7"}, 7.0), ({}, 60.0)],
    ids=["Retry-After", "no Retry-After"],
)
def test_429_throttles_and_makes_every_instance_wait(
    lucca: LuccaSandbox,
    storage: Storage,
    hired: dict[str, str],
    headers: dict[str, str],
    retry_after: float,
) -> None:
    """A 429 raises Throttled(retry_after) and sets NotBefore, which another instance obeys."""
    body = problem_body(429, "Rate limit exceeded.")
    lucca.inject(429, path=API, body=body, headers=headers)
    with make_client(lucca, storage) as first, pytest.raises(Throttled) as caught:
        first.employee(hired["report"])
    assert caught.value.retry_after == retry_after

    not_before = storage.on_table(TABLE, lambda t: t.get_entity(PARTITION, ROW))["NotBefore"]
    assert (not_before - datetime.now(UTC)).total_seconds() == pytest.approx(retry_after, abs=2)

    fake = FakeTime()
    other = roomy_limiter(storage, max_wait_seconds=90, clock=fake.clock, sleep=fake.sleep)
    with make_client(lucca, storage, limiter=other) as second:
        assert second.employee(hired["report"]).id == hired["report"]
    assert fake.sleeps == [pytest.approx(retry_after, abs=2)]
    assert lucca.count(path=API) == 2


def test_api_timeout_and_unreachable_host_are_transient(
    lucca: LuccaSandbox, storage: Storage
) -> None:
    """A Lucca that does not answer in time, or not at all, is worth trying again later."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    token_url = f"{lucca.base_url}/connect/token"
    try:
        for base_url, fragment in [
            (f"http://127.0.0.1:{silent.getsockname()[1]}", "in time"),
            (f"http://127.0.0.1:{closed_port}", "could not be reached"),
        ]:
            with httpx.Client(timeout=0.5) as http:
                client = make_client(
                    lucca, storage, base_url=base_url, token_url=token_url, http=http
                )
                with pytest.raises(Transient, match=fragment):
                    client.department("101")
    finally:
        silent.close()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda doc: doc.pop("givenName"), "givenName"),
        (lambda doc: doc.update(status="retired"), "status"),
        (lambda doc: next(iter(doc["embedded"]["employment"].values())).pop("start"), "start"),
    ],
    ids=["no given name", "unknown status", "employment without start"],
)
def test_a_document_missing_what_the_sync_needs_is_invalid(
    lucca: LuccaSandbox,
    client: LuccaClient,
    hired: dict[str, str],
    change: Callable[[dict[str, Any]], Any],
    field: str,
) -> None:
    """Extra fields are ignored, but a missing or malformed one we need is Invalid (no values)."""
    path = f"/lucca-api/employees/{hired['report']}"
    document = raw_document(lucca, f"{path}?include=embedded")
    document["somethingNew"] = {"ignored": True}
    change(document)
    lucca.inject(200, path=f"^{path}$", body=document)

    with pytest.raises(Invalid) as caught:
        client.employee(hired["report"])

    assert field in caught.value.message
    assert "Dupont" not in caught.value.message


def test_from_settings_uses_the_shared_limiter(
    lucca: LuccaSandbox, storage: Storage, azurite: Azurite, hired: dict[str, str]
) -> None:
    """The settings' Lucca instance, credentials and LUCCA_MAX_RPM; the limiter row is shared."""
    settings = load_settings(
        base_settings(azurite.connection_string)
        | {
            "LUCCA_BASE_URL": lucca.base_url,
            "LUCCA_TOKEN_URL": f"{lucca.base_url}/connect/token",
            "LUCCA_CLIENT_ID": CLIENT_ID,
            "LUCCA_CLIENT_SECRET": CLIENT_SECRET,
            "LUCCA_MAX_RPM": "40",
        }
    )
    assert settings.LUCCA_MAX_RPM == 40

    with lucca_client(settings, storage) as client:
        assert client.employee(hired["report"]).id == hired["report"]

    row = storage.on_table(TABLE, lambda t: t.get_entity(PARTITION, ROW))
    assert row["Tokens"] == pytest.approx(4 - 1, abs=0.1)  # burst of 4 for 40 a minute
