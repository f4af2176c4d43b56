"""GraphDirectory's deleted users (Entra's recycle bin): the real msgraph-sdk against the
loopback Graph sandbox, which serves deleted items as Graph v1.0 does (graph_deleted.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import unquote

import httpx
import pytest

from connector.core.errors import Conflict, NotFound
from connector.entra.directory import GraphDirectory
from tests.sandboxes.graph import GraphSandbox

DELETED_USERS = r"^/v1\.0/directory/deletedItems/microsoft\.graph\.user$"
LOGIN = "jean.dupont@acme.fr"
MONDAY = datetime(2026, 9, 14, 8, 30, tzinfo=UTC)


@pytest.fixture
def directory(graph: GraphSandbox) -> Iterator[GraphDirectory]:
    """The directory, without retries."""
    with GraphDirectory(f"{graph.base_url}/v1.0", max_retries=0) as made:
        yield made


def deleted_jean(graph: GraphSandbox) -> str:
    """Jean's account, deleted by IT on MONDAY; its object id."""
    user = graph.add_user(userPrincipalName=LOGIN, mail=LOGIN, employeeId="lucca-7")
    graph.delete_user(user["id"], at=MONDAY)
    return str(user["id"])


def test_a_deleted_user_keeps_its_login_but_is_no_longer_a_user(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """Deleted: GET /users/{upn} finds nothing, a POST with its login meets ObjectConflict."""
    deleted_jean(graph)
    assert directory.get_user(LOGIN) is None
    assert directory.find_users("userPrincipalName", LOGIN) == []
    with pytest.raises(Conflict) as caught:
        directory.create_user(
            {
                "accountEnabled": True,
                "displayName": "Jean Dupont",
                "mailNickname": "jean.dupont",
                "userPrincipalName": LOGIN,
            },
            "Lucca-2024!sync-long-enough",
        )
    assert "userPrincipalName" in caught.value.message


def test_deleted_holders_are_read_by_login_with_their_anchor_and_day(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """One filtered, selected request; the holder's anchor and deletion day come back."""
    object_id = deleted_jean(graph)
    graph.add_user(userPrincipalName="other@acme.fr")
    [holder] = directory.deleted_holders(LOGIN.upper())
    assert (holder.id, holder.employee_id, holder.deleted_on()) == (
        object_id,
        "lucca-7",
        "2026-09-14",
    )
    [request] = [r for r in graph.requests if r.method == "GET" and "deletedItems" in r.path]
    assert unquote(request.param("$filter") or "") == f"userPrincipalName eq '{LOGIN.upper()}'"
    assert "deletedDateTime" in unquote(request.param("$select") or "")
    assert directory.deleted_holders("nobody@acme.fr") == []


def test_restore_brings_back_the_same_object_id(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """POST /directory/deletedItems/{id}/restore: the same account, a user again."""
    object_id = deleted_jean(graph)
    assert directory.deleted_user(object_id) is not None
    restored = directory.restore(object_id)
    assert (restored.id, restored.user_principal_name) == (object_id, LOGIN)
    assert graph.user(object_id)["employeeId"] == "lucca-7"
    assert directory.deleted_user(object_id) is None
    assert directory.deleted_holders(LOGIN) == []


def test_restore_of_what_is_not_in_deleted_items_is_not_found(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """Restoring an id deleted items do not hold: Graph's 404."""
    with pytest.raises(NotFound):
        directory.restore("00000000-0000-0000-0000-000000000001")


def test_permanent_deletion_frees_the_login(graph: GraphSandbox) -> None:
    """DELETE /directory/deletedItems/{id}: gone for good, the login can be created again."""
    object_id = deleted_jean(graph)
    base = f"{graph.base_url}/v1.0/directory/deletedItems"
    assert httpx.delete(f"{base}/{object_id}").status_code == 204
    assert httpx.get(f"{base}/{object_id}").status_code == 404
    listed = httpx.get(f"{base}/microsoft.graph.user").json()["value"]
    assert listed == []
    answer = httpx.post(
        f"{graph.base_url}/v1.0/users",
        json={
            "accountEnabled": True,
            "displayName": "Jean Dupont",
            "mailNickname": "jean.dupont",
            "userPrincipalName": LOGIN,
            "passwordProfile": {"password": "Lucca-2024!sync"},
        },
    )
    assert answer.status_code == 201
