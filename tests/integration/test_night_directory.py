"""The night's copy of the directory in Table Storage (Azurite), read by the real Graph
directory from the sandbox's users delta query."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from connector.entra.directory import GraphDirectory
from connector.flows.night_directory import PREFIX, NightDirectory
from connector.flows.nightly import STATE_TABLE
from connector.storage.tables import Storage
from tests.sandboxes.graph import GraphSandbox

pytestmark = pytest.mark.azurite
NIGHT = date(2027, 1, 12)


def rows(storage: Storage, night: date) -> list[dict[str, Any]]:
    """The rows of a night's copy."""
    partition = f"{PREFIX}{night.isoformat()}"
    return storage.on_table(
        STATE_TABLE,
        lambda t: list(t.query_entities("PartitionKey eq @p", parameters={"p": partition})),
    )


def test_a_copy_of_many_rows_survives_a_new_process_and_is_forgotten(
    storage: Storage, graph: GraphSandbox
) -> None:
    """12,000 accounts (more than one row of chunks): a second slice, in a fresh directory
    client, gets every account from the copy and what changed from one delta request; the day
    before's copy goes at the night's first slice, the night's own once it is done."""
    ids = [
        graph.add_user(userPrincipalName=f"{uuid.uuid4()}@acme.fr", mail=f"{uuid.uuid4()}@acme.fr")[
            "id"
        ]
        for _ in range(12_000)
    ]
    with GraphDirectory(f"{graph.base_url}/v1.0") as directory:
        NightDirectory(storage, STATE_TABLE, date(2027, 1, 11)).users(directory)
        first = NightDirectory(storage, STATE_TABLE, NIGHT).users(directory)
    assert len(first) == 12_000
    assert rows(storage, date(2027, 1, 11)) == []
    assert len(rows(storage, NIGHT)) > 2  # the head and more than one row of chunks
    graph.edit_user(ids[5], mail="changed@acme.fr")
    graph.delete_user(ids[6])
    graph.reset_log()

    with GraphDirectory(f"{graph.base_url}/v1.0") as directory:
        night = NightDirectory(storage, STATE_TABLE, NIGHT)
        second = {u.id: u for u in night.users(directory)}

    assert len(graph.requests) == 1 and "$deltatoken" in graph.requests[0].query
    assert len(second) == 11_999 and ids[6] not in second
    assert second[ids[5]].mail == "changed@acme.fr"
    assert second[ids[7]].manager_known
    night.forget()
    assert rows(storage, NIGHT) == []
