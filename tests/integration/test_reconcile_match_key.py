"""MATCH_KEY in the reconciliation's plan: `python -m connector reconcile --json` against the
sandboxes and Azurite finds existing accounts only by the addresses MATCH_KEY allows."""

from __future__ import annotations

import json

import pytest

from connector.storage.tables import Storage
from tests.conftest import run_cli
from tests.integration.conftest import writes
from tests.integration.test_reconcile import finding
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"


@pytest.mark.parametrize(
    ("key", "by_mail", "by_login"),
    [
        ("mail", ("to link", "mail"), ("to link", "userPrincipalName")),
        ("userPrincipalName", ("to create", None), ("to link", "userPrincipalName")),
        ("off", ("to create", None), ("to create", None)),
    ],
)
def test_the_plan_matches_by_the_key_only(
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    storage: Storage,
    environ: dict[str, str],
    key: str,
    by_mail: tuple[str, str | None],
    by_login: tuple[str, str | None],
) -> None:
    """Alice's email is an account's mail, Bruno's an account's login: `mail` links both,
    `userPrincipalName` only Bruno's, `off` neither (both planned as creations, which Graph
    will refuse as conflicts when applied). The dry run writes nothing."""
    alice = lucca.add_employee("Alice", "Martin", f"alice.martin@{DOMAIN}")
    graph.add_user(
        userPrincipalName=f"amartin@{DOMAIN}", mail=f"alice.martin@{DOMAIN}", displayName="A M"
    )
    bruno = lucca.add_employee("Bruno", "Durand", f"bruno.durand@{DOMAIN}")
    graph.add_user(userPrincipalName=f"bruno.durand@{DOMAIN}", displayName="B D")
    graph.reset_log()

    code, text, err = run_cli({**environ, "MATCH_KEY": key}, "reconcile", "--json")

    assert code in (0, 1), err
    report = json.loads(text)
    for employee_id, (verdict, how) in ((alice, by_mail), (bruno, by_login)):
        found = finding(report, employee_id)
        assert (found["verdict"], found.get("matched_by")) == (verdict, how), employee_id
    assert writes(graph) == []
