"""`python -m connector sync EMPLOYEE_ID [--dry-run]`: through `connector.cli.main.main`, with
the real clients against the Lucca and Graph sandboxes over HTTP, and Azurite."""

from __future__ import annotations

import json

import pytest

from connector.domain.entries import Action
from connector.storage.changes import ChangeFeed
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from connector.storage.tables import Storage
from tests.conftest import run_cli
from tests.integration.conftest import writes
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"  # verified and managed in the `graph` fixture's tenant


run = run_cli


def test_dry_run_prints_the_plan_and_writes_nothing_to_entra(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """A new hire, --dry-run: the attributes it would create, exit 0, no Graph write, no link,
    an observed entry, nothing marked applied."""
    employee_id = lucca.add_employee("Ada", "Lovelace", f"ada.lovelace@{DOMAIN}", job_title="CTO")

    code, out, err = run(environ, "sync", employee_id, "--dry-run")

    assert (code, err) == (0, "")
    assert f"Employee {employee_id} (dry run: observe mode, nothing written to Entra)" in out
    assert "  givenName: (empty) → Ada\n" in out
    assert "  surname: (empty) → Lovelace\n" in out
    assert "  jobTitle: (empty) → CTO\n" in out
    assert f"  userPrincipalName: (empty) → ada.lovelace@{DOMAIN}\n" in out
    assert "Would be: created\n" in out
    assert f"Would create the account ada.lovelace@{DOMAIN}." in out
    assert writes(graph) == []
    assert graph.users == []
    assert Links(storage).of_employee(employee_id) is None
    assert ChangeFeed(storage).applied_through(employee_id) is None
    [entry] = IntegrationLog(storage).for_employee(employee_id)
    assert entry.action is Action.CREATED
    assert entry.observed


def test_sync_creates_the_account_then_finds_it_unchanged(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Without --dry-run (CONNECTOR_MODE apply): the account is created and linked, exit 0;
    a second run changes nothing and says so."""
    employee_id = lucca.add_employee("Grace", "Hopper", f"grace.hopper@{DOMAIN}")

    code, out, err = run(environ, "sync", employee_id)

    assert (code, err) == (0, "")
    [user] = graph.users
    assert user["userPrincipalName"] == f"grace.hopper@{DOMAIN}"
    assert user["surname"] == "Hopper"
    assert out.startswith(f"Employee {employee_id}\nAccount: {user['id']}\n")
    assert "  surname: (empty) → Hopper\n" in out
    assert "Result: created\n" in out
    link = Links(storage).of_employee(employee_id)
    assert link is not None and link.object_id == user["id"]
    assert ChangeFeed(storage).applied_through(employee_id) is not None
    leases = EmployeeLeases(storage)
    token = leases.acquire(employee_id)
    assert token is not None  # given back
    leases.release(employee_id, token)

    graph.reset_log()
    code, out, _ = run(environ, "sync", employee_id)

    assert code == 0
    assert "Plan: no attribute to change\n" in out
    assert "Result: unchanged\n" in out
    assert "Already in step with Lucca." in out
    assert writes(graph) == []


def test_a_change_in_lucca_is_shown_old_to_new(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """After a rename in Lucca, the plan shows `surname: old → new` and the result updated."""
    employee_id = lucca.add_employee("Hedy", "Kiesler", f"hedy@{DOMAIN}")
    assert run(environ, "sync", employee_id)[0] == 0
    lucca.update_employee(employee_id, family_name="Lamarr")

    code, out, _ = run(environ, "sync", employee_id)

    assert code == 0
    assert "  surname: Kiesler → Lamarr\n" in out
    assert "Result: updated\n" in out
    assert graph.users[0]["surname"] == "Lamarr"


def test_an_unverified_domain_is_a_creation_failure_exit_1(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """The email's domain is not verified in the tenant: creation failed, exit 1, no POST."""
    graph.add_domain("acme-lab.fr", is_verified=False)
    employee_id = lucca.add_employee("Alan", "Turing", "alan@acme-lab.fr")

    code, out, _ = run(environ, "sync", employee_id)

    assert code == 1
    assert "Result: creation failed\n" in out
    assert "The domain acme-lab.fr is not a verified domain" in out
    assert writes(graph) == []


def test_a_busy_employee_is_left_alone_exit_1(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Another sync holds the employee's lease: exit 1 saying so, nothing read or written, and
    the other sync's lease is left in place."""
    employee_id = lucca.add_employee("Emma", "Roux", f"emma.roux@{DOMAIN}")
    leases = EmployeeLeases(storage)
    held = leases.acquire(employee_id)
    assert held is not None

    code, out, err = run(environ, "sync", employee_id)

    assert code == 1
    assert out == ""
    assert f"Employee {employee_id} is being synced right now" in err
    assert graph.requests == []
    assert graph.users == []
    assert leases.acquire(employee_id) is None  # still theirs

    code, out, err = run(environ, "sync", employee_id, "--json")

    assert code == 1
    assert json.loads(out)["busy"] is True

    leases.release(employee_id, held)
    assert run(environ, "sync", employee_id)[0] == 0
    assert len(graph.users) == 1


def test_json_is_the_log_entry_and_dry_run(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """--json: the entry as `logs --json` shows it, plus `dry_run`."""
    employee_id = lucca.add_employee("Katherine", "Johnson", f"katherine@{DOMAIN}")

    code, out, _ = run(environ, "sync", employee_id, "--dry-run", "--json")

    assert code == 0
    answer = json.loads(out)
    assert set(answer) == {
        "time", "action", "employee_id", "object_id", "message", "observed", "changes",
        "event_keys", "request_id", "operation_id", "dry_run",
    }  # fmt: skip
    assert answer["dry_run"] is True
    assert answer["observed"] is True
    assert answer["action"] == "created"
    assert answer["employee_id"] == employee_id
    assert {"attribute": "surname", "old": None, "new": "Johnson"} in answer["changes"]
    assert writes(graph) == []

    code, out, _ = run(environ, "sync", employee_id, "--json")

    answer = json.loads(out)
    assert (code, answer["dry_run"], answer["observed"]) == (0, False, False)
    assert answer["object_id"] == graph.users[0]["id"]


def test_observe_mode_without_dry_run_only_logs_the_plan(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """CONNECTOR_MODE=observe: the run says the plan was only logged, and writes nothing."""
    employee_id = lucca.add_employee("Mary", "Jackson", f"mary@{DOMAIN}")

    code, out, _ = run(environ | {"CONNECTOR_MODE": "observe"}, "sync", employee_id)

    assert code == 0
    assert "CONNECTOR_MODE is observe: the plan was only logged" in out
    assert "Would be: created\n" in out
    assert writes(graph) == []
    assert ChangeFeed(storage).applied_through(employee_id) is None


def test_dry_run_overrides_apply_for_an_existing_account(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """An account to update, --dry-run in apply mode: the plan shows the change, Graph keeps
    the old value."""
    employee_id = lucca.add_employee("Dorothy", "Vaughan", f"dorothy@{DOMAIN}")
    assert run(environ, "sync", employee_id)[0] == 0
    lucca.update_employee(employee_id, given_name="Dot")
    graph.reset_log()

    code, out, _ = run(environ, "sync", employee_id, "--dry-run")

    assert code == 0
    assert "  givenName: Dorothy → Dot\n" in out
    assert "Would be: updated\n" in out
    assert writes(graph) == []
    assert graph.users[0]["givenName"] == "Dorothy"


def test_an_employee_lucca_does_not_have_is_skipped_exit_1(
    lucca: LuccaSandbox, graph: GraphSandbox, environ: dict[str, str]
) -> None:
    """An unknown id: skipped, exit 1."""
    code, out, _ = run(environ, "sync", "999999")

    assert code == 1
    assert "Result: skipped\n" in out
    assert "Lucca has no employee 999999" in out


def test_a_service_that_refuses_exits_4_and_gives_the_lease_back(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Graph throttles with a long wait: exit 4, one line, no traceback; the lease is free."""
    employee_id = lucca.add_employee("Annie", "Easley", f"annie@{DOMAIN}")
    graph.throttle(times=20, retry_after=600)

    code, out, err = run(environ, "sync", employee_id)

    assert code == 4
    assert out == ""
    assert err.startswith("connector: ")
    assert "Traceback" not in err
    assert graph.users == []
    assert EmployeeLeases(storage).acquire(employee_id) is not None


def test_usage_and_help(environ: dict[str, str]) -> None:
    """EMPLOYEE_ID is required (exit 2); --help shows --dry-run, an example and exit codes."""
    code, _, err = run(environ, "sync")
    assert code == 2
    assert "EMPLOYEE_ID" in err

    code, _, err = run(environ, "sync", "41/6")
    assert code == 2
    assert "not a Lucca employee id" in err

    code, out, _ = run(environ, "sync", "--help")
    assert code == 0
    assert "--dry-run" in out
    assert "python -m connector sync 416 --dry-run" in out
    assert "1  the command ran and found problems" in out
