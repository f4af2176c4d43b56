"""`LuccaScopeClient`'s custom-field reads against the Lucca sandbox over HTTP: one request a
sync, or 100 employees a request while preloaded, and afresh once forgotten."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.lucca.scope_reads import EXTENSIONS_SCOPE, LuccaScopeClient
from connector.storage.tables import Storage
from tests.integration.test_lucca_client import CLIENT_ID, CLIENT_SECRET, lucca, roomy_limiter
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
__all__ = ["lucca"]  # the sandbox fixture, shared with test_lucca_client
PATH = "/lucca-api/employee-extensions"


@pytest.fixture
def client(lucca: LuccaSandbox, storage: Storage) -> Iterator[LuccaScopeClient]:
    """A scope client of the sandbox."""
    made = LuccaScopeClient(
        base_url=lucca.base_url,
        token_url=f"{lucca.base_url}/connect/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        limiter=roomy_limiter(storage),
        scopes=("employees.readonly", EXTENSIONS_SCOPE),
    )
    with made:
        yield made


def test_preloaded_values_answer_for_those_employees_only_until_forgotten(
    lucca: LuccaSandbox, client: LuccaScopeClient
) -> None:
    """Preloaded for Ada and Bob: one request, then their values without another; Cy (not
    preloaded) and, once forgotten, Ada are read with one request each."""
    ada, bob, cy = (lucca.add_employee(n, "Test", f"{n}.test@acme.fr") for n in "abc")
    lucca.set_extension(ada, "e_site", "Lyon", "Paris")
    lucca.set_extension(cy, "e_site", "Nice")
    lucca.requests.clear()

    assert client.preload_extensions("e_site", [ada, bob]) == 2
    [asked] = [r for r in lucca.requests if r.path == PATH]
    assert set(str(asked.param("employee.id")).split(",")) == {ada, bob}
    assert client.extension_values(ada, "e_site") == ("Lyon", "Paris")
    assert client.extension_values(bob, "e_site") == ()
    assert lucca.count("GET", PATH) == 1

    assert client.extension_values(cy, "e_site") == ("Nice",)
    assert lucca.count("GET", PATH) == 2
    client.forget_extensions("e_site")
    lucca.set_extension(ada, "e_site", "Lille")
    assert client.extension_values(ada, "e_site") == ("Lille",)
    assert lucca.count("GET", PATH) == 3
