"""GraphDirectory: the real msgraph-sdk against the loopback Graph sandbox, over HTTP."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

from connector.core.errors import (
    Conflict,
    ConnectorError,
    Denied,
    Invalid,
    NotFound,
    Throttled,
    Transient,
)
from connector.domain.mapping import graph_properties
from connector.entra.directory import GraphDirectory
from connector.entra.users import DirectoryUser, Domain
from connector.runtime.clients import graph_directory
from connector.runtime.identity import azure_credential
from connector.runtime.settings import SettingsError, load_settings
from tests.conftest import base_settings
from tests.sandboxes.graph import GraphSandbox

PASSWORD = "Zq8!never-SHOWN-4kT"
USERS = r"^/v1\.0/users$"
USER_ITEM = r"^/v1\.0/users/[^/]+$"
# The directory's own properties, then the mapping's (its rows' order, the manager apart).
SELECT = (
    "id,userPrincipalName,mail,employeeId,accountEnabled,userType,onPremisesSyncEnabled,"
    "surname,givenName,displayName,department,jobTitle,companyName,officeLocation,"
    "usageLocation,employeeType"
)
GRAPH_AUDIENCE = "https://graph.microsoft.com"


@pytest.fixture
def make_directory(graph: GraphSandbox) -> Iterator[Callable[..., GraphDirectory]]:
    """Build directories on the sandbox (closed after the test), given the mapping's
    properties as the runtime gives them."""
    made: list[GraphDirectory] = []

    def make(**options: Any) -> GraphDirectory:
        options.setdefault("properties", graph_properties())
        directory = GraphDirectory(f"{graph.base_url}/v1.0", **options)
        made.append(directory)
        return directory

    yield make
    for directory in made:
        directory.close()


@pytest.fixture
def directory(make_directory: Callable[..., GraphDirectory]) -> GraphDirectory:
    """The directory as the sync gets it: default retries."""
    return make_directory()


@pytest.fixture
def no_retry(make_directory: Callable[..., GraphDirectory]) -> GraphDirectory:
    """A directory whose SDK retries nothing: one request, one translated error."""
    return make_directory(max_retries=0)


def new_user(**overrides: object) -> dict[str, object]:
    """Valid creation properties (Graph wire names)."""
    return {
        "accountEnabled": True,
        "displayName": "Jeanne Martin",
        "givenName": "Jeanne",
        "surname": "Martin",
        "mailNickname": "jeanne.martin",
        "userPrincipalName": "jeanne.martin@acme.fr",
        "mail": "jeanne.martin@acme.fr",
        "department": "Finance",
        "jobTitle": "Controller",
        "employeeId": "lucca-1001",
        **overrides,
    }


def sent(graph: GraphSandbox, method: str, path: str) -> dict[str, Any]:
    """The JSON body of the last `method` request on `path`, without `@odata.` annotations."""
    request = [r for r in graph.requests if r.method == method and r.path == path][-1]
    return {k: v for k, v in request.json().items() if not k.startswith("@odata.")}


# -- find, get ------------------------------------------------------------------------------
@pytest.fixture
def staff(graph: GraphSandbox) -> dict[str, str]:
    """Look-alike users; their ids by a short name."""
    people = {
        "obrien": ("o'brien@acme.fr", "lucca-1"),
        "obrien2": ("obrien@acme.fr", "lucca-2"),
        "jules": ("jules@acme.fr", "lucca-3"),
        "jules2": ("jules@acme.fr.example", "lucca-33"),
    }
    return {
        name: graph.add_user(displayName=name, mail=mail, userPrincipalName=mail, employeeId=emp)[
            "id"
        ]
        for name, (mail, emp) in people.items()
    }


@pytest.mark.parametrize(
    ("prop", "value", "expected", "wire_filter"),
    [
        ("employeeId", "lucca-3", ["jules"], "employeeId eq 'lucca-3'"),
        ("mail", "o'brien@acme.fr", ["obrien"], "mail eq 'o''brien@acme.fr'"),
        ("userPrincipalName", "o'brien@acme.fr", ["obrien"],
         "userPrincipalName eq 'o''brien@acme.fr'"),
        ("mail", "O'Brien@ACME.fr", ["obrien"], "mail eq 'O''Brien@ACME.fr'"),
        ("userPrincipalName", "JULES@acme.fr", ["jules"], "userPrincipalName eq 'JULES@acme.fr'"),
        ("employeeId", "lucca-9", [], "employeeId eq 'lucca-9'"),
    ],
)  # fmt: skip
def test_find_users_matches_exactly(
    graph: GraphSandbox,
    directory: GraphDirectory,
    staff: dict[str, str],
    prop: Any,
    value: str,
    expected: list[str],
    wire_filter: str,
) -> None:
    """A lookup doubles quotes, ignores case, and reads exactly the selected properties."""
    found = directory.find_users(prop, value)

    assert [u.id for u in found] == [staff[name] for name in expected]
    (request,) = graph.requests
    assert (request.method, request.path) == ("GET", "/v1.0/users")
    assert request.param("$filter") == wire_filter
    assert request.param("$select") == SELECT


def test_find_users_refuses_other_properties(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """Only the three lookups the sync needs are allowed (no request is sent)."""
    with pytest.raises(ValueError, match="department"):
        directory.find_users("department", "IT")  # type: ignore[arg-type]
    assert graph.requests == []


def test_every_selected_property_is_read(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """A DirectoryUser carries all sixteen selected properties, not Graph's defaults."""
    stored = graph.add_user(
        userPrincipalName="ana@acme.fr", mail="ana@acme.fr", givenName="Ana", surname="Lopez",
        displayName="Ana Lopez", department="IT", jobTitle="Dev", employeeId="lucca-7",
        accountEnabled=False, userType="Guest", onPremisesSyncEnabled=True, companyName="Acme",
        officeLocation="Lyon", usageLocation="FR", employeeType="permanent",
    )  # fmt: skip
    expected = DirectoryUser(
        id=stored["id"], user_principal_name="ana@acme.fr", mail="ana@acme.fr",
        employee_id="lucca-7", account_enabled=False, user_type="Guest",
        on_premises_sync_enabled=True,
        properties={
            "surname": "Lopez", "givenName": "Ana", "displayName": "Ana Lopez",
            "department": "IT", "jobTitle": "Dev", "companyName": "Acme",
            "officeLocation": "Lyon", "usageLocation": "FR", "employeeType": "permanent",
        },
    )  # fmt: skip

    assert directory.find_users("employeeId", "lucca-7") == [expected]
    # get_user reads the manager in the same request.
    assert directory.get_user(stored["id"]) == replace(expected, manager_known=True)
    assert graph.requests[-1].param("$select") == SELECT
    assert graph.requests[-1].param("$expand") == "manager($select=id)"
    manager = graph.add_user(userPrincipalName="boss@acme.fr")
    graph.set_manager(stored["id"], manager["id"])
    read = directory.get_user(stored["id"])
    assert read is not None and read.manager_id == manager["id"]


def test_find_users_follows_every_page(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """More matches than one page holds are all returned, each page with the same query."""
    ids = [
        graph.add_user(userPrincipalName=f"u{i}@acme.fr", employeeId="lucca-dup")["id"]
        for i in range(105)
    ]

    found = directory.find_users("employeeId", "lucca-dup")

    assert [u.id for u in found] == ids
    assert [r.param("$skiptoken") is not None for r in graph.requests] == [False, True]
    assert {r.param("$select") for r in graph.requests} == {SELECT}
    assert {r.param("$filter") for r in graph.requests} == {"employeeId eq 'lucca-dup'"}


def test_get_user_is_none_when_absent(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """A 404 on read is an answer, not an error (and is not retried)."""
    assert directory.get_user("00000000-0000-0000-0000-000000000000") is None
    assert graph.count("GET", USER_ITEM) == 1


# -- create -----------------------------------------------------------------------------------
def test_create_user_forces_a_password_change(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """The body carries the properties and the password profile; the result is complete."""
    created = directory.create_user(new_user(), PASSWORD)

    body = sent(graph, "POST", "/v1.0/users")
    assert body["passwordProfile"] == {
        "password": PASSWORD,
        "forceChangePasswordNextSignIn": True,
    }
    assert {k: v for k, v in body.items() if k != "passwordProfile"} == new_user()
    stored = graph.user(created.id)
    assert (stored["employeeId"], stored["department"]) == ("lucca-1001", "Finance")
    assert created == DirectoryUser(
        id=stored["id"], user_principal_name="jeanne.martin@acme.fr",
        mail="jeanne.martin@acme.fr", employee_id="lucca-1001", account_enabled=True,
        user_type="Member",
        properties={
            "surname": "Martin", "givenName": "Jeanne", "displayName": "Jeanne Martin",
            "department": "Finance", "jobTitle": "Controller", "companyName": None,
            "officeLocation": None, "usageLocation": None, "employeeType": None,
        },
    )  # fmt: skip
    assert graph.count("POST", USERS) == 1


@pytest.mark.parametrize(
    ("overrides", "kind", "in_message"),
    [
        pytest.param(
            {"userPrincipalName": "Taken@ACME.fr", "mail": "new@acme.fr"},
            Conflict, "property userPrincipalName", id="upn-taken",
        ),
        pytest.param(
            {"mail": "contact@acme.fr"}, Conflict, "property proxyAddresses",
            id="mail-is-a-proxy-address",
        ),
        pytest.param(
            {"userPrincipalName": "jeanne@pending.fr"}, Invalid,
            "The domain portion of the userPrincipalName property is invalid",
            id="unverified-domain",
        ),
        pytest.param(
            {"userPrincipalName": "jeanne@corp.acme.fr"}, Invalid,
            "onPremisesImmutableId is required", id="federated-domain",
        ),
        pytest.param(
            {"employeeId": "lucca-1234567890123"}, Invalid, "'employeeId'", id="long-employee-id"
        ),
    ],
)  # fmt: skip
def test_create_user_refusals(
    graph: GraphSandbox,
    no_retry: GraphDirectory,
    caplog: pytest.LogCaptureFixture,
    overrides: dict[str, object],
    kind: type[ConnectorError],
    in_message: str,
) -> None:
    """Each refusal has its kind and Graph's words, and never shows the password."""
    graph.add_domain("pending.fr", is_verified=False)
    graph.add_domain("corp.acme.fr", authentication_type="Federated")
    graph.add_user(
        userPrincipalName="taken@acme.fr",
        proxyAddresses=["SMTP:taken@acme.fr", "smtp:contact@acme.fr"],
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(kind) as caught:
        no_retry.create_user(new_user(**overrides), PASSWORD)

    error = caught.value
    assert type(error) is kind
    assert in_message in error.message
    assert (error.service, error.status) == ("graph", 400)
    assert error.code == ("ObjectConflict" if kind is Conflict else "Request_BadRequest")
    assert error.request_id and len(error.request_id) == 36
    shown = [str(error), repr(error), str(error.__cause__), repr(error.args), caplog.text]
    assert all(PASSWORD not in text for text in shown)
    assert not [r for r in caplog.records if r.name.startswith("connector")]
    assert len(graph.users) == 1


def test_create_user_refuses_a_password_profile_in_properties(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """The password profile is built here, never passed in."""
    with pytest.raises(ValueError, match="passwordProfile") as caught:
        directory.create_user(new_user(passwordProfile={"password": PASSWORD}), PASSWORD)
    assert PASSWORD not in str(caught.value)
    assert graph.requests == []


# -- update ---------------------------------------------------------------------------------
def test_update_sends_only_the_given_properties(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """A PATCH carries exactly what it is given; the rest stays as it was."""
    user = graph.add_user(userPrincipalName="ana@acme.fr", department="Sales", jobTitle="Buyer")

    directory.update_user(user["id"], {"department": "IT", "accountEnabled": False})

    assert sent(graph, "PATCH", f"/v1.0/users/{user['id']}") == {
        "department": "IT",
        "accountEnabled": False,
    }
    after = graph.user(user["id"])
    assert (after["department"], after["jobTitle"]) == ("IT", "Buyer")
    assert after["accountEnabled"] is False


def test_update_with_none_clears_the_property(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """None is sent as JSON null, which is how Graph clears a property."""
    user = graph.add_user(userPrincipalName="ana@acme.fr", jobTitle="Buyer", officeLocation="Lyon")

    directory.update_user(user["id"], {"jobTitle": None, "officeLocation": "Paris"})

    assert sent(graph, "PATCH", f"/v1.0/users/{user['id']}") == {
        "jobTitle": None,
        "officeLocation": "Paris",
    }
    read = directory.get_user(user["id"])
    assert read is not None
    assert (read.properties["jobTitle"], read.properties["officeLocation"]) == (None, "Paris")


def test_update_with_nothing_sends_nothing(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """An empty change is no request at all; an unknown property is a bug, caught before."""
    user = graph.add_user(userPrincipalName="ana@acme.fr")

    directory.update_user(user["id"], {})
    with pytest.raises(ValueError, match="badge"):
        directory.update_user(user["id"], {"badge": "7"})

    assert graph.requests == []


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda d: d.update_user("ghost@acme.fr", {"jobTitle": "x"}), id="update"),
        pytest.param(lambda d: d.revoke_sessions("ghost@acme.fr"), id="revoke"),
        pytest.param(lambda d: d.manager_id("ghost@acme.fr"), id="manager-of-ghost"),
        pytest.param(lambda d: d.set_manager("ghost@acme.fr", "ghost2@acme.fr"), id="set-manager"),
    ],
)
def test_writes_to_a_missing_user_are_not_found(
    graph: GraphSandbox, directory: GraphDirectory, call: Callable[[GraphDirectory], Any]
) -> None:
    """A 404 on anything but a read is NotFound, with Graph's code and request id."""
    with pytest.raises(NotFound) as caught:
        call(directory)
    assert caught.value.code == "Request_ResourceNotFound"
    assert caught.value.request_id
    assert len(graph.requests) == 1


def test_denied_target_is_denied(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """Graph's 403 on a protected account is Denied with Authorization_RequestDenied."""
    admin = graph.add_user(userPrincipalName="admin@acme.fr")
    graph.deny(admin["id"], "PATCH")

    with pytest.raises(Denied) as caught:
        directory.update_user(admin["id"], {"accountEnabled": False})

    assert (caught.value.status, caught.value.code) == (403, "Authorization_RequestDenied")
    assert caught.value.message == "Insufficient privileges to complete the operation."
    assert graph.user(admin["id"])["accountEnabled"] is True
    assert directory.get_user(admin["id"]) is not None


def test_revoke_sessions(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """Revoking sessions stamps the user's sessions-valid-from time."""
    user = graph.add_user(userPrincipalName="leaver@acme.fr")

    directory.revoke_sessions(user["id"])

    assert graph.user(user["id"])["signInSessionsValidFromDateTime"]
    assert graph.count("POST", r"/revokeSignInSessions$") == 1


# -- manager ----------------------------------------------------------------------------------
def test_manager_set_read_remove(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """The manager reference round-trips; removing one that is gone is fine."""
    boss = graph.add_user(userPrincipalName="boss@acme.fr")
    user = graph.add_user(userPrincipalName="report@acme.fr")

    assert directory.manager_id(user["id"]) is None
    directory.set_manager(user["id"], boss["id"])
    assert graph.manager_of(user["id"]) == boss["id"]
    assert directory.manager_id(user["id"]) == boss["id"]
    directory.remove_manager(user["id"])
    directory.remove_manager(user["id"])

    put = next(r for r in graph.requests if r.method == "PUT")
    assert put.json() == {"@odata.id": f"{graph.base_url}/v1.0/users/{boss['id']}"}
    assert graph.manager_of(user["id"]) is None
    assert directory.manager_id(user["id"]) is None
    assert graph.count("DELETE", r"/manager/\$ref$") == 2


def test_set_manager_to_a_missing_user_is_not_found(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """A reference to nobody is refused, and the report keeps no manager."""
    user = graph.add_user(userPrincipalName="report@acme.fr")

    with pytest.raises(NotFound):
        directory.set_manager(user["id"], "00000000-0000-0000-0000-000000000000")
    assert graph.manager_of(user["id"]) is None


# -- domains ----------------------------------------------------------------------------------
def test_domains_are_read_once_per_ttl(graph: GraphSandbox, make_directory: Any) -> None:
    """Domains come from one request, then from the cache until the TTL has passed."""
    graph.add_domain("pending.fr", is_verified=False)
    graph.add_domain("corp.acme.fr", authentication_type="Federated")
    now = [1000.0]
    directory = make_directory(domains_ttl=3600, clock=lambda: now[0])

    first = directory.domains()
    now[0] += 3599
    second = directory.domains()
    graph.add_domain("new.fr")
    now[0] += 1
    third = directory.domains()

    assert first == second == [
        Domain(id="contoso.onmicrosoft.com", is_verified=True, is_default=False,
               authentication_type="Managed"),
        Domain(id="acme.fr", is_verified=True, is_default=True, authentication_type="Managed"),
        Domain(id="pending.fr", is_verified=False, is_default=False,
               authentication_type="Managed"),
        Domain(id="corp.acme.fr", is_verified=True, is_default=False,
               authentication_type="Federated"),
    ]  # fmt: skip
    assert [d.id for d in third][-1] == "new.fr"
    assert graph.count("GET", r"^/v1\.0/domains$") == 2
    assert graph.requests[0].param("$select") == "id,isVerified,isDefault,authenticationType"


# -- throttling, outages, transport -----------------------------------------------------------
def test_short_retry_after_is_waited_out(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """A 429 asking for 1 s is retried by the SDK after 1 s, and the call succeeds."""
    user = graph.add_user(userPrincipalName="slow@acme.fr")
    graph.throttle(times=1, retry_after=1, path=USER_ITEM)

    started = time.monotonic()
    got = directory.get_user(user["id"])

    assert got is not None and got.id == user["id"]
    assert 1.0 <= time.monotonic() - started < 3.0
    assert graph.count("GET", USER_ITEM) == 2


@pytest.mark.parametrize("retry_after", [6, 120])
def test_long_retry_after_is_handed_back_at_once(
    graph: GraphSandbox, directory: GraphDirectory, retry_after: int
) -> None:
    """A 429 asking for more than 5 s is not slept on: Throttled, after one request."""
    user = graph.add_user(userPrincipalName="slow@acme.fr")
    graph.throttle(times=1, retry_after=retry_after, path=USER_ITEM)

    started = time.monotonic()
    with pytest.raises(Throttled) as caught:
        directory.update_user(user["id"], {"jobTitle": "x"})

    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after == retry_after
    assert (caught.value.status, caught.value.code) == (429, "TooManyRequests")
    assert graph.count(path=USER_ITEM) == 1
    assert directory.get_user(user["id"]) is not None  # the fault has cleared


def test_503_twice_then_success(graph: GraphSandbox, directory: GraphDirectory) -> None:
    """The SDK retries an outage (POST included) and the user is created once."""
    graph.unavailable(times=2, path=USERS)

    created = directory.create_user(new_user(), PASSWORD)

    assert graph.count("POST", USERS) == 3
    assert [u["id"] for u in graph.users] == [created.id]
    retried = [r.header("Retry-Attempt") for r in graph.requests]
    assert retried == [None, "1", "2"]


def test_outage_that_outlasts_the_retries_is_transient(
    graph: GraphSandbox, make_directory: Callable[..., GraphDirectory]
) -> None:
    """When every retry fails, the 503 surfaces as Transient for the queue to retry."""
    directory = make_directory(max_retries=1)
    graph.unavailable(times=5, path=USERS)

    with pytest.raises(Transient) as caught:
        directory.find_users("mail", "a@acme.fr")

    assert type(caught.value) is Transient
    assert (caught.value.status, caught.value.code) == (503, "serviceNotAvailable")
    assert graph.count("GET", USERS) == 2


@pytest.mark.parametrize(
    ("status", "code", "message", "headers", "kind", "retry_after"),
    [
        (429, "TooManyRequests", "Please retry again later.", {"Retry-After": "7"}, Throttled, 7),
        (429, "TooManyRequests", "Please retry again later.", {}, Throttled, 30),
        (500, "InternalServerError", "Boom.", {}, Transient, None),
        (502, "BadGateway", "Bad gateway.", {}, Transient, None),
        (503, "serviceNotAvailable", "Unavailable.", {"Retry-After": "2"}, Transient, 2),
        (504, "GatewayTimeout", "Timed out.", {}, Transient, None),
        (404, "Request_ResourceNotFound", "Resource 'x' does not exist.", {}, NotFound, None),
        (403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
         {}, Denied, None),
        (401, "InvalidAuthenticationToken", "Access token is empty.", {}, Denied, None),
        (400, "Request_BadRequest", "Invalid value specified for property 'mail'.", {}, Invalid,
         None),
        (400, "Request_BadRequest",
         "Another object with the same value for property mail already exists.", {}, Conflict,
         None),
        (409, "Request_MultipleObjectsWithSameKeyValue", "Conflicting object.", {}, Conflict,
         None),
    ],
)  # fmt: skip
def test_graph_errors_become_the_connectors_kinds(
    graph: GraphSandbox,
    no_retry: GraphDirectory,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str],
    kind: type[ConnectorError],
    retry_after: float | None,
) -> None:
    """Every Graph error leaves as one kind, with status, code, message and request id."""
    user = graph.add_user(userPrincipalName="ana@acme.fr")
    fault = graph.fail(status, code, message, path=USER_ITEM, headers=headers)

    with pytest.raises(ConnectorError) as caught:
        no_retry.update_user(user["id"], {"jobTitle": "x"})

    error = caught.value
    assert type(error) is kind
    assert (error.service, error.status, error.message) == ("graph", status, message)
    assert error.code == ("ObjectConflict" if kind is Conflict else code)
    assert error.request_id == fault.response.headers["request-id"]
    assert getattr(error, "retry_after", None) == retry_after
    assert graph.count(path=USER_ITEM) == 1
    no_retry.update_user(user["id"], {"jobTitle": "y"})  # recovers once the fault has cleared
    assert graph.user(user["id"])["jobTitle"] == "y"


@pytest.mark.parametrize(
    ("status", "headers", "body", "kind"),
    [
        (502, {}, None, Transient),
        (503, {"Content-Type": "text/html"}, "<html>down</html>", Transient),
        (429, {"Retry-After": "9"}, None, Throttled),
    ],
    ids=["empty-502", "html-503", "empty-429"],
)
def test_errors_without_graphs_body_keep_their_kind(
    graph: GraphSandbox,
    no_retry: GraphDirectory,
    status: int,
    headers: dict[str, str],
    body: str | None,
    kind: type[ConnectorError],
) -> None:
    """A gateway's empty or HTML answer is still sorted by its status."""
    fault = graph.inject(status, path=USERS, headers=headers)
    if body is not None:
        fault.response.body = body.encode()

    with pytest.raises(ConnectorError) as caught:
        no_retry.find_users("mail", "a@acme.fr")

    assert type(caught.value) is kind
    assert caught.value.status == status
    assert getattr(caught.value, "retry_after", None) == (9 if kind is Throttled else None)


def test_connection_refused_is_transient() -> None:
    """Nothing listening is a transport failure: Transient."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    directory = GraphDirectory(f"http://127.0.0.1:{port}/v1.0", max_retries=0)
    with directory, pytest.raises(Transient) as caught:
        directory.get_user("anyone")
    assert "ConnectError" in caught.value.message


def test_a_silent_server_times_out_as_transient() -> None:
    """A server that accepts but never answers is cut off by the timeout: Transient."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/v1.0"
        with GraphDirectory(url, max_retries=0, timeout=0.3) as directory:
            started = time.monotonic()
            with pytest.raises(Transient) as caught:
                directory.find_users("mail", "a@acme.fr")
    assert "ReadTimeout" in caught.value.message
    assert time.monotonic() - started < 2.0


# -- threads ----------------------------------------------------------------------------------
def test_calls_from_eight_threads_share_one_client(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """Eight worker threads create, read, update and look up at once; all of it lands."""

    def work(i: int) -> tuple[str, DirectoryUser | None, list[DirectoryUser], list[Domain]]:
        mail = f"worker{i}@acme.fr"
        created = directory.create_user(
            new_user(userPrincipalName=mail, mail=mail, mailNickname=f"w{i}", employeeId=f"L-{i}"),
            PASSWORD,
        )
        directory.update_user(created.id, {"jobTitle": f"Job {i}"})
        domains = directory.domains()
        read, found = directory.get_user(created.id), directory.find_users("mail", mail)
        return created.id, read, found, domains

    def loop_threads() -> set[int | None]:
        return {t.ident for t in threading.enumerate() if t.name == "graph-directory"}

    before = loop_threads()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))

    for i, (object_id, read, found, domains) in enumerate(results):
        assert read is not None
        assert (read.properties["jobTitle"], read.employee_id) == (f"Job {i}", f"L-{i}")
        assert [u.id for u in found] == [object_id]
        assert "acme.fr" in {d.id for d in domains}
    assert len(graph.users) == 8
    assert graph.count("GET", r"^/v1\.0/domains$") == 1  # the cache is filled once
    assert graph.count("POST", USERS) == graph.count("PATCH") == 8
    assert loop_threads() == before  # the directory's one loop thread served every caller


# -- credential and roles ---------------------------------------------------------------------
def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT with these claims (the directory never verifies it)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeCredential:
    """A TokenCredential that hands out a fixed token (or fails like azure-identity)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The fixed token, for an hour."""
        self.scopes.append(scopes)
        if self.token is None:
            raise ClientAuthenticationError("ManagedIdentityCredential authentication unavailable.")
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.mark.parametrize(
    ("token", "roles"),
    [
        (jwt({"aud": GRAPH_AUDIENCE, "roles": ["User.ReadWrite.All", "Domain.Read.All"]}),
         frozenset({"User.ReadWrite.All", "Domain.Read.All"})),
        (jwt({"aud": GRAPH_AUDIENCE}), frozenset()),
        ("opaque-token", None),
    ],
    ids=["roles", "no-roles-claim", "not-a-jwt"],
)  # fmt: skip
def test_granted_roles_come_from_the_token(
    graph: GraphSandbox,
    make_directory: Callable[..., GraphDirectory],
    token: str,
    roles: frozenset[str] | None,
) -> None:
    """The token's `roles` claim is read; the same token authenticates every request."""
    credential = FakeCredential(token)
    directory = make_directory(credential=credential)

    assert directory.granted_roles() == roles
    assert directory.get_user("ghost@acme.fr") is None
    assert graph.requests[-1].header("Authorization") == f"Bearer {token}"
    assert set(credential.scopes) == {("https://graph.microsoft.com/.default",)}


def test_no_credential_means_no_roles_and_no_token(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """The anonymous sandbox client cannot tell roles and sends no Authorization header."""
    assert directory.granted_roles() is None
    directory.get_user("ghost@acme.fr")
    assert graph.requests[-1].header("Authorization") is None


@pytest.mark.parametrize(
    "call",
    [lambda d: d.granted_roles(), lambda d: d.get_user("ghost@acme.fr")],
    ids=["roles", "request"],
)
def test_a_failing_credential_is_denied(
    graph: GraphSandbox,
    make_directory: Callable[..., GraphDirectory],
    call: Callable[[GraphDirectory], Any],
) -> None:
    """No token at all is Denied (AuthenticationFailed), naming the managed identity."""
    directory = make_directory(credential=FakeCredential(None))

    with pytest.raises(Denied) as caught:
        call(directory)

    assert caught.value.code == "AuthenticationFailed"
    assert "managed identity" in caught.value.message
    assert graph.requests == []


# -- construction from settings ---------------------------------------------------------------
def settings_with(graph_base_url: str) -> Any:
    """Valid settings with this GRAPH_BASE_URL."""
    return load_settings(
        {**base_settings("UseDevelopmentStorage=true"), "GRAPH_BASE_URL": graph_base_url}
    )


def test_from_settings_on_the_loopback_sandbox(graph: GraphSandbox) -> None:
    """A loopback http:// URL is the sandbox: no credential, real requests."""
    user = graph.add_user(userPrincipalName="ana@acme.fr")

    with graph_directory(settings_with(f"{graph.base_url}/v1.0")) as directory:
        read = directory.get_user(user["id"])
        roles = directory.granted_roles()

    assert read is not None and read.user_principal_name == "ana@acme.fr"
    assert roles is None
    assert graph.requests[-1].path == f"/v1.0/users/{user['id']}"


@pytest.mark.parametrize(
    "url",
    ["http://localhost:9/v1.0", "http://[::1]:9/v1.0", "http://127.0.0.2:9/v1.0",
     "https://graph.microsoft.com/v1.0"],
)  # fmt: skip
def test_from_settings_accepts(url: str) -> None:
    """Loopback http:// (any form) and https:// are accepted (nothing is sent yet)."""
    with graph_directory(settings_with(url)) as directory:
        assert isinstance(directory, GraphDirectory)


@pytest.mark.parametrize(
    "url", ["http://graph.microsoft.com/v1.0", "http://10.0.0.4/v1.0", "http://127.example.com"]
)
def test_from_settings_refuses_http_beyond_loopback(url: str) -> None:
    """A token must never travel in clear: non-loopback http:// fails, naming the setting."""
    with pytest.raises(SettingsError, match=r"^setting GRAPH_BASE_URL is malformed: .*https://"):
        graph_directory(settings_with(url))


def test_a_real_graph_url_needs_a_credential() -> None:
    """Without a credential only a loopback sandbox is allowed."""
    with pytest.raises(ValueError, match="credential"):
        GraphDirectory("https://graph.microsoft.com/v1.0")


@pytest.mark.parametrize(
    ("client_id", "environ", "kind"),
    [
        (None, {"IDENTITY_ENDPOINT": "http://localhost:42356/msi/token"},
         ManagedIdentityCredential),
        ("1c1d", {"IDENTITY_ENDPOINT": "http://localhost:42356/msi/token"},
         ManagedIdentityCredential),
        ("1c1d", {}, DefaultAzureCredential),
        (None, {}, DefaultAzureCredential),
    ],
)  # fmt: skip
def test_credential_choice(client_id: str | None, environ: dict[str, str], kind: type[Any]) -> None:
    """The platform's managed identity in Azure (AZURE_CLIENT_ID picks the user-assigned one
    the Bicep deploys); DefaultAzureCredential anywhere else."""
    credential = azure_credential(client_id, environ)
    try:
        assert type(credential) is kind
    finally:
        credential.close()
