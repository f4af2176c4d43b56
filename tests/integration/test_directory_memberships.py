"""GraphDirectory's directory roles and MATCH_SCOPE: the real msgraph-sdk against the loopback
Graph sandbox, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from connector.core.errors import Denied, NotFound
from connector.entra.directory import GraphDirectory
from connector.entra.scope import ROLES_DENIED, MatchScope, parse_scope
from tests.sandboxes.graph import GraphSandbox

ROLES = r"^/v1\.0/roleManagement/directory/roleAssignments$"


@pytest.fixture
def directory(graph: GraphSandbox) -> Iterator[GraphDirectory]:
    """The directory, without retries (a 403 is answered once)."""
    with GraphDirectory(f"{graph.base_url}/v1.0", max_retries=0) as made:
        yield made


def test_directory_roles_are_read_in_one_filtered_request(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """Every active assignment of the account, at any scope, by role name, in one request
    filtered on its principalId (another account's roles are not its own)."""
    admin = graph.add_user(userPrincipalName="admin@contoso.onmicrosoft.com")
    other = graph.add_user(userPrincipalName="other@contoso.onmicrosoft.com")
    graph.assign_role(admin["id"], "Global Administrator")
    graph.assign_role(admin["id"], "Helpdesk Administrator", scope="/administrativeUnits/x")
    graph.assign_role(other["id"], "User Administrator")

    assert directory.directory_roles(admin["id"]) == [
        "Global Administrator",
        "Helpdesk Administrator",
    ]
    [request] = [r for r in graph.requests if r.path.endswith("/roleAssignments")]
    assert unquote(request.param("$filter") or "") == f"principalId eq '{admin['id']}'"
    assert directory.directory_roles(graph.add_user()["id"]) == []


def test_every_accounts_roles_are_read_in_one_unfiltered_request(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """The reconciliation's read: every assignment of the tenant, by principal, at once."""
    admin, helpdesk = graph.add_user(), graph.add_user()
    graph.assign_role(admin["id"], "Global Administrator")
    graph.assign_role(helpdesk["id"], "Helpdesk Administrator")

    assert directory.everyones_directory_roles() == {
        admin["id"]: ["Global Administrator"],
        helpdesk["id"]: ["Helpdesk Administrator"],
    }
    [request] = [r for r in graph.requests if r.path.endswith("/roleAssignments")]
    assert request.param("$filter") is None


def test_a_refused_roles_read_names_the_permission(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """Graph's 403 on the roles read (the permission not granted) is a Denied naming
    RoleManagement.Read.Directory: nothing may go on without it."""
    user = graph.add_user()
    graph.fail(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
        path=ROLES,
    )

    with pytest.raises(Denied) as caught:
        directory.directory_roles(user["id"])

    assert caught.value.code == ROLES_DENIED
    assert "RoleManagement.Read.Directory" in caught.value.message
    assert caught.value.request_id


def test_membership_of_a_group_is_transitive_and_of_a_unit_direct(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """checkMemberObjects: a member of a nested group is in the outer group; a unit holds
    only its own members."""
    user, stranger = graph.add_user(), graph.add_user()
    inner = graph.add_group("inner", [user["id"]])
    outer = MatchScope(kind="group", id=graph.add_group("outer", [inner]))
    unit = MatchScope(kind="au", id=graph.add_administrative_unit("unit", [user["id"]]))

    assert directory.in_scope(user["id"], outer) is True
    assert directory.in_scope(user["id"], unit) is True
    assert directory.in_scope(stranger["id"], outer) is False
    assert directory.in_scope(stranger["id"], unit) is False
    assert graph.count("POST", r"/checkMemberObjects$") == 4


@pytest.mark.parametrize("kind", ["group", "au"])
def test_adding_to_the_scope_twice_is_fine(
    graph: GraphSandbox, directory: GraphDirectory, kind: str
) -> None:
    """The account joins the group or unit; adding it again (a retried sync) is no error."""
    user = graph.add_user()
    add = graph.add_group if kind == "group" else graph.add_administrative_unit
    scope = parse_scope(f"{kind}:{add('scope')}")
    assert scope is not None

    directory.add_to_scope(scope, user["id"])
    directory.add_to_scope(scope, user["id"])

    assert graph.members(scope.id) == {user["id"]}


def test_adding_to_a_scope_that_does_not_exist_fails(
    graph: GraphSandbox, directory: GraphDirectory
) -> None:
    """A MATCH_SCOPE naming no group: Graph's 404 reaches the caller."""
    scope = MatchScope(kind="group", id="00000000-0000-4000-8000-000000000000")
    with pytest.raises(NotFound):
        directory.add_to_scope(scope, graph.add_user()["id"])


@pytest.mark.parametrize(
    "text", ["group", "group:", "au:not-a-guid", "team:4f1c2d3e-0000-4000-8000-00000000a11e"]
)
def test_a_malformed_scope_is_refused(text: str) -> None:
    """MATCH_SCOPE must be group:<guid> or au:<guid>."""
    with pytest.raises(ValueError, match="group:<object id> or au:<object id>"):
        parse_scope(text)
