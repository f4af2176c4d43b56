"""The Graph sandbox for LOGIN_TEMPLATE: who holds an address (proxyAddresses/any), a login
conflict answered as Graph answers it, and a creation whose answer is lost."""

from __future__ import annotations

import pytest

from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.test_graph_sandbox import call, list_users, new_user, odata_error

HOLDERS = "userPrincipalName eq '{a}' or mail eq '{a}' or proxyAddresses/any(p:p eq 'smtp:{a}')"


@pytest.fixture
def tenant(graph: GraphSandbox) -> dict[str, str]:
    """Three accounts: one holds jean.dupont as login, one as mail, one as an alias."""
    by_login = graph.add_user(userPrincipalName="jean.dupont@acme.fr", mail="jd@acme.fr")
    by_mail = graph.add_user(userPrincipalName="j.dupont2@acme.fr", mail="jean.dupont2@acme.fr")
    by_alias = graph.add_user(
        userPrincipalName="jdupont@acme.fr",
        proxyAddresses=["SMTP:jdupont@acme.fr", "smtp:Jean.Dupont3@acme.fr"],
    )
    return {"login": by_login["id"], "mail": by_mail["id"], "alias": by_alias["id"]}


@pytest.mark.parametrize(
    ("address", "holder"),
    [
        ("jean.dupont@acme.fr", "login"),
        ("jean.dupont2@acme.fr", "mail"),
        ("jean.dupont3@acme.fr", "alias"),  # `smtp:` matches `smtp:`, without case
        ("jean.dupont4@acme.fr", None),
    ],
)
def test_proxy_addresses_any_finds_who_holds_an_address(
    graph: GraphSandbox, tenant: dict[str, str], address: str, holder: str | None
) -> None:
    """`proxyAddresses/any(p:p eq 'smtp:…')` in a default query, joined with `or`."""
    expression = HOLDERS.format(a=address)
    page = call(graph, lambda client: list_users(client, filter=expression, select=["id"]))

    assert page is not None and page.value is not None
    assert [u.id for u in page.value] == ([tenant[holder]] if holder else [])


@pytest.mark.parametrize(
    "expression",
    ["proxyAddresses/any(p:q eq 'smtp:a@acme.fr')", "proxyAddresses/any(p:p gt 'a')"],
)
def test_a_malformed_lambda_is_400(graph: GraphSandbox, expression: str) -> None:
    """A lambda on another variable, or an operator Graph refuses there: a 400."""
    error = odata_error(graph, lambda client: list_users(client, filter=expression))

    assert error.response_status_code == 400


def test_a_taken_login_is_object_conflict_and_a_lost_answer_still_creates(
    graph: GraphSandbox, tenant: dict[str, str]
) -> None:
    """A taken login: 400 with the ObjectConflict detail on userPrincipalName; a fault that
    loses the answer (a 500 after the work is done): the account exists."""
    taken = new_user(user_principal_name="jean.dupont@acme.fr", mail=None)
    error = odata_error(graph, lambda client: client.users.post(taken))
    assert error.response_status_code == 400
    assert error.error is not None and error.error.code == "Request_BadRequest"
    assert [(d.code, d.target) for d in error.error.details or []] == [
        ("ObjectConflict", "userPrincipalName")
    ]

    graph.fail(500, "UnknownError", "", method="POST", path=r"^/v1\.0/users$", after_handling=True)
    free = new_user(user_principal_name="jean.dupont5@acme.fr", mail=None)
    lost = odata_error(graph, lambda client: client.users.post(free))

    assert lost.response_status_code == 500
    assert graph.count("POST", r"^/v1\.0/users$") == 2

    assert [u["userPrincipalName"] for u in graph.users].count("jean.dupont5@acme.fr") == 1
