"""Fixtures the command-line tests share: Lucca's sandbox and the settings pointing the real
clients at it, the Graph sandbox and Azurite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.storage.tables import Storage
from tests.azurite import Azurite
from tests.conftest import sandbox_settings
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture
def lucca() -> Iterator[LuccaSandbox]:
    """Lucca, with the sandbox's default API client, fast enough for a test (the connector's
    limiter still paces every request). A module may define its own."""
    with LuccaSandbox(rate_limit=1000, window_seconds=1) as sandbox:
        yield sandbox


@pytest.fixture
def environ(
    lucca: LuccaSandbox, graph: GraphSandbox, azurite: Azurite, storage: Storage
) -> dict[str, str]:
    """Settings pointing the real clients at the sandboxes and Azurite (emptied after each
    test by `storage`: the sandboxes number employees from the same id)."""
    return sandbox_settings(azurite.connection_string, lucca, graph)


def writes(graph: GraphSandbox) -> list[str]:
    """The requests that changed (or tried to change) the directory."""
    return [f"{r.method} {r.path}" for r in graph.requests if r.method in WRITES]
