"""Shared fixtures: Azurite for storage, and the Functions app loaded with test settings."""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import TableServiceClient
from azure.storage.queue import QueueServiceClient

from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

WEBHOOK_SECRET = "whsec-current-3b1f0c"
PREVIOUS_WEBHOOK_SECRET = "whsec-previous-9d2e47"
LUCCA_SOURCE = "https://acme.ilucca.net"


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite for the whole run, on free loopback ports."""
    with Azurite() as emulator:
        yield emulator


def _wipe(connection_string: str) -> None:
    tables = TableServiceClient.from_connection_string(connection_string)
    for table in tables.list_tables():
        tables.delete_table(table.name)
    queues = QueueServiceClient.from_connection_string(connection_string)
    for queue in queues.list_queues():
        queues.delete_queue(queue.name)


@pytest.fixture
def storage(azurite: Azurite) -> Iterator[Storage]:
    """The project's storage clients on Azurite, with every table and queue emptied after."""
    connection = azurite.connection_string
    store = Storage(
        table_service=TableServiceClient.from_connection_string(connection),
        queue_service=QueueServiceClient.from_connection_string(connection),
    )
    yield store
    store.close()
    _wipe(connection)


@pytest.fixture(scope="module")
def running_graph() -> Iterator[GraphSandbox]:
    """One listening Graph sandbox per test module (stopping one takes a moment)."""
    with GraphSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def graph(running_graph: GraphSandbox) -> GraphSandbox:
    """The Graph sandbox, emptied: a tenant with the verified, managed, default domain
    acme.fr (a module may define its own `graph` instead)."""
    running_graph.reset()
    running_graph.add_domain("acme.fr", is_default=True)
    return running_graph


def base_settings(connection_string: str) -> dict[str, str]:
    """A complete, valid set of settings for tests."""
    return {
        "LUCCA_BASE_URL": LUCCA_SOURCE,
        "LUCCA_CLIENT_ID": "connector-tests",
        "LUCCA_CLIENT_SECRET": "lucca-client-secret-5c1a",
        "LUCCA_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "AzureWebJobsStorage": connection_string,
        "SYNC_DELAY_SECONDS": "0",
        "RETRY_DELAYS_SECONDS": "0",
    }


def sandbox_settings(
    connection_string: str,
    lucca: LuccaSandbox,
    graph: GraphSandbox | None = None,
    *,
    client_secret: str = "lucca-client-secret",  # noqa: S107 (the sandbox's own)
) -> dict[str, str]:
    """Settings pointing the real Lucca (and Graph) clients at the sandboxes, with a rate
    window short enough for tests."""
    settings = base_settings(connection_string) | {
        "LUCCA_BASE_URL": lucca.base_url,
        "LUCCA_TOKEN_URL": f"{lucca.base_url}/connect/token",
        "LUCCA_CLIENT_ID": "lucca-client",
        "LUCCA_CLIENT_SECRET": client_secret,
        "LUCCA_MAX_RPM": "50",
        "LUCCA_RATE_WINDOW_SECONDS": "1",
    }
    if graph is not None:
        settings["GRAPH_BASE_URL"] = f"{graph.base_url}/v1.0"
    return settings


def run_cli(environ: dict[str, str], *argv: str) -> tuple[int, str, str]:
    """`python -m connector …` in-process: (exit code, stdout, stderr)."""
    from connector.cli import main as cli  # noqa: PLC0415

    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), environ=environ, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


AppLoader = Callable[..., ModuleType]


@pytest.fixture
def load_app(monkeypatch: pytest.MonkeyPatch, azurite: Azurite) -> Iterator[AppLoader]:
    """Import `function_app` afresh with the test settings (plus overrides; None unsets)."""
    loaded: list[ModuleType] = []

    def load(connection_string: str | None = None, **overrides: str | None) -> ModuleType:
        settings: dict[str, str | None] = {
            **base_settings(connection_string or azurite.connection_string),
            **overrides,
        }
        for name, value in settings.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        sys.modules.pop("function_app", None)
        module = importlib.import_module("function_app")
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        if module._clients.built is not None:
            module._clients.built.close()
    sys.modules.pop("function_app", None)
    _wipe(azurite.connection_string)


def app_functions(module: ModuleType) -> dict[str, Any]:
    """The Functions app's functions by name (`get_functions` may run once per app)."""
    if not hasattr(module, "_functions_for_tests"):
        functions = {f.get_function_name(): f for f in module.app.get_functions()}
        module._functions_for_tests = functions  # type: ignore[attr-defined]
    return module._functions_for_tests  # type: ignore[attr-defined, no-any-return]


def user_function(module: ModuleType, name: str) -> Callable[..., Any]:
    """The Python function behind the Functions app's function `name`."""
    return app_functions(module)[name].get_user_function()  # type: ignore[no-any-return]


def http_request(
    method: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    """A request as the Functions host hands it to the webhook."""
    return func.HttpRequest(
        method,
        "https://connector.example/api/lucca/webhook",
        headers=headers or {},
        params=params or {},
        body=body,
    )
