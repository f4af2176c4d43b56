"""`python -m connector unlink EMPLOYEE_ID` and `link EMPLOYEE_ID OBJECT_ID`: through
`connector.cli.main.main`, with the real clients against the Lucca and Graph sandboxes over
HTTP, and Azurite."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.domain.entries import Action
from connector.domain.mapping import anchor
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.tables import Storage
from tests.conftest import run_cli as run
from tests.integration.conftest import writes
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"  # verified and managed in the `graph` fixture's tenant


def linked_by_mail(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """An employee whose email is an existing account's: the sync links it and stamps it."""
    account = graph.add_user(userPrincipalName=f"ops@{DOMAIN}", mail=f"ops@{DOMAIN}")
    employee_id = lucca.add_employee("Ines", "Ops", f"ops@{DOMAIN}")
    assert run(environ, "sync", employee_id)[0] == 0
    assert graph.user(account["id"])["employeeId"] == anchor(employee_id)
    return employee_id, account


def test_unlink_drops_the_link_and_no_sync_takes_the_account_again(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """`unlink`: exit 0, an "unlinked" entry, nothing sent to Graph; the next sync finds the
    account by its anchor and records a conflict instead of linking it or creating one."""
    employee_id, account = linked_by_mail(lucca, graph, environ)
    graph.reset_log()

    code, out, err = run(environ, "unlink", employee_id)

    assert (code, err) == (0, "")
    assert graph.requests == []
    assert "Result: unlinked\n" in out
    assert f"python -m connector link {employee_id} {account['id']}" in out
    assert Links(storage).of_employee(employee_id) is None
    [entry, *_] = IntegrationLog(storage).for_employee(employee_id)
    assert (entry.action, entry.object_id) == (Action.UNLINKED, account["id"])

    lucca.update_employee(employee_id, family_name="Opsahl")
    code, out, _ = run(environ, "sync", employee_id)

    assert code == 1
    assert "Result: conflict\n" in out
    assert f"The operator unlinked account ops@{DOMAIN}" in out
    assert writes(graph) == []
    assert len(graph.users) == 1


def test_unlink_without_a_link_exits_1(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Nothing to unlink: exit 1 saying so, no entry; --json says `unlinked: false`."""
    code, out, err = run(environ, "unlink", "416")

    assert (code, out) == (1, "")
    assert "Employee 416 has no linked account" in err
    assert IntegrationLog(storage).for_employee("416") == []
    code, out, _ = run(environ, "unlink", "416", "--json")
    assert (code, json.loads(out)["unlinked"]) == (1, False)


@pytest.mark.parametrize("command", ["unlink", "link"])
def test_a_busy_employee_is_left_alone_exit_1(
    command: str,
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    storage: Storage,
    environ: dict[str, str],
) -> None:
    """Another sync holds the employee's lease: exit 1 as `sync` does, the link untouched, no
    entry, Graph not asked."""
    employee_id, account = linked_by_mail(lucca, graph, environ)
    if command == "link":
        assert run(environ, "unlink", employee_id)[0] == 0
    before = Links(storage).of_employee(employee_id)
    entries = len(IntegrationLog(storage).for_employee(employee_id))
    leases = EmployeeLeases(storage)
    held = leases.acquire(employee_id)
    assert held is not None
    graph.reset_log()

    argv = [command, employee_id] + ([account["id"]] if command == "link" else [])
    code, out, err = run(environ, *argv, "--json")

    assert code == 1
    assert json.loads(out)["busy"] is True
    assert f"Employee {employee_id} is being synced right now" in err
    assert graph.requests == []
    assert Links(storage).of_employee(employee_id) == before
    assert len(IntegrationLog(storage).for_employee(employee_id)) == entries
    assert leases.acquire(employee_id) is None  # still theirs
    leases.release(employee_id, held)


def test_link_takes_back_an_unlink_and_syncs(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """`link` after `unlink`: linked (an entry by the operator), the refusal gone, and the
    sync that follows writes Lucca's change to the account."""
    employee_id, account = linked_by_mail(lucca, graph, environ)
    assert run(environ, "unlink", employee_id)[0] == 0
    lucca.update_employee(employee_id, family_name="Opsahl")

    code, out, err = run(environ, "link", employee_id, account["id"], "--json")

    assert (code, err) == (0, "")
    answer = json.loads(out)
    assert (answer["link"]["action"], answer["sync"]["action"]) == (
        "linked by an operator",
        "updated",
    )
    links = Links(storage)
    link = links.of_employee(employee_id)
    assert link is not None and (link.object_id, link.how, link.stamped) == (
        account["id"],
        "operator",
        True,
    )
    assert not links.is_refused(employee_id, account["id"])
    assert graph.user(account["id"])["surname"] == "Opsahl"
    actions = [e.action for e in IntegrationLog(storage).for_employee(employee_id)]
    assert Action.LINKED_BY_OPERATOR in actions


@pytest.mark.parametrize(
    ("account", "why"),
    [
        ({"userType": "Guest"}, "a guest account"),
        ({"onPremisesSyncEnabled": True}, "synchronised from on-premises"),
        ({"employeeId": "lucca-999"}, "its employeeId already holds 'lucca-999'"),
        ({"linked_to": "other"}, "linked to Lucca employee"),
    ],
    ids=["guest", "on-premises", "anchored", "linked"],
)
def test_link_refuses_an_ineligible_account(
    account: dict[str, Any],
    why: str,
    lucca: LuccaSandbox,
    graph: GraphSandbox,
    storage: Storage,
    environ: dict[str, str],
) -> None:
    """A guest, an on-premises account, another employee's anchor or link: exit 1 naming why,
    no link, no entry, nothing written to Entra."""
    linked_to = account.pop("linked_to", None)
    user = graph.add_user(userPrincipalName=f"target@{DOMAIN}", **account)
    if linked_to is not None:
        other = lucca.add_employee("Oscar", "Other", f"oscar@{DOMAIN}")
        assert run(environ, "sync", other)[0] == 0
        user = graph.users[-1]
    employee_id = lucca.add_employee("Lina", "Link", f"lina@{DOMAIN}")
    graph.reset_log()

    code, out, _ = run(environ, "link", employee_id, user["id"])

    assert code == 1
    assert out.startswith("Not linked: account ")
    assert why in out
    assert Links(storage).of_employee(employee_id) is None
    assert IntegrationLog(storage).for_employee(employee_id) == []
    assert writes(graph) == []


def test_link_refuses_what_is_not_there(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """An account Entra does not have, an employee Lucca does not have: exit 1, no link; an
    OBJECT_ID that is no GUID is a usage error."""
    employee_id = lucca.add_employee("Lina", "Link", f"lina@{DOMAIN}")
    missing = "3f2b6c1e-9d4a-4e57-b0c2-7a1d5e8f9a10"
    code, out, _ = run(environ, "link", employee_id, missing)
    assert (code, out) == (1, f"Not linked: Entra has no account {missing}.\n")
    user = graph.add_user(userPrincipalName=f"free@{DOMAIN}")
    code, out, _ = run(environ, "link", "999999", user["id"])
    assert code == 1
    assert "Lucca has no employee 999999" in out
    assert Links(storage).all() == []
    code, _, err = run(environ, "link", employee_id, f"free@{DOMAIN}")
    assert code == 2
    assert "not an Entra object id" in err


def test_help_names_both_commands(environ: dict[str, str]) -> None:
    """`--help` lists link and unlink; each command's help has an example and exit codes."""
    code, out, _ = run(environ, "--help")
    assert code == 0
    assert "unlink" in out and "link" in out
    for command in ("link", "unlink"):
        code, out, _ = run(environ, command, "--help")
        assert code == 0
        assert f"python -m connector {command} 416" in out
        assert "1  the command ran and found problems" in out
