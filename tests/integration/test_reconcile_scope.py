"""`python -m connector reconcile` with SYNC_SCOPE: out of scope is neither created, matched nor
changed, and the report says how many employees the scope keeps (real clients, sandboxes over
HTTP, Azurite)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from connector.storage.links import Links
from connector.storage.schedule import ScheduleStore
from connector.storage.tables import Storage
from tests.conftest import run_cli
from tests.integration.conftest import writes
from tests.integration.test_reconcile import verdicts
from tests.sandboxes.graph import GraphSandbox
from tests.sandboxes.lucca import LuccaSandbox

pytestmark = pytest.mark.azurite
DOMAIN = "acme.fr"


@dataclass
class Scoped:
    """A tenant of two establishments, the scope keeping the first."""

    scope: str
    in_new: str  # Paris, no account: to create
    in_step: str  # Paris, linked, its title and department out of date: to update
    out_new: str  # Lyon, no account: never created
    out_match: str  # Lyon, an unlinked account carries her email: never matched
    out_linked: str  # Lyon, linked, its title out of date: never updated
    match_account: dict[str, object]
    linked_account: dict[str, object]


def account(graph: GraphSandbox, given: str, family: str, **more: object) -> dict[str, object]:
    """An Entra account for this person at acme.fr."""
    email = f"{given.lower()}.{family.lower()}@{DOMAIN}"
    return graph.add_user(
        userPrincipalName=email,
        mail=email,
        givenName=given,
        surname=family,
        displayName=f"{given} {family}",
        **more,
    )


def scoped(lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage) -> Scoped:
    """The tenant: two employees in scope, three out of it."""
    paris = lucca.add_establishment("Paris")
    lyon = lucca.add_establishment("Lyon")
    now = datetime.now(UTC)

    def hire(given: str, family: str, site: str) -> str:
        email = f"{given.lower()}.{family.lower()}@{DOMAIN}"
        return lucca.add_employee(given, family, email, establishment_id=site, job_title="CFO")

    in_new = hire("Alice", "Martin", paris)
    in_step = hire("Bruno", "Durand", paris)
    Links(storage).link(in_step, str(account(graph, "Bruno", "Durand")["id"]), how="t", at=now)
    out_new = hire("Chloe", "Petit", lyon)
    out_match = hire("Denis", "Roux", lyon)
    match_account = account(graph, "Denis", "Roux", jobTitle="Accountant")
    out_linked = hire("Emile", "Faure", lyon)
    linked_account = account(
        graph, "Emile", "Faure", jobTitle="Accountant", employeeId=f"lucca-{out_linked}"
    )
    Links(storage).link(out_linked, str(linked_account["id"]), how="t", at=now)
    return Scoped(
        scope=f"establishment = {paris}",
        in_new=in_new,
        in_step=in_step,
        out_new=out_new,
        out_match=out_match,
        out_linked=out_linked,
        match_account=match_account,
        linked_account=linked_account,
    )


def test_the_report_plans_only_what_the_scope_keeps_and_counts_it(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """Dry run: findings for the two employees in scope only, "SYNC_SCOPE keeps 2 of 5" in the
    text and the JSON; Emile's anchor (he is out of scope) is not "unknown"."""
    t = scoped(lucca, graph, storage)
    settings = environ | {"SYNC_SCOPE": t.scope}

    code, out, err = run_cli(settings, "reconcile")

    assert code == 0, err
    assert "SYNC_SCOPE keeps 2 of 5 employees read" in out
    assert "Lucca: 5 employees read" in out
    code, text, _ = run_cli(settings, "reconcile", "--json")
    report = json.loads(text)
    assert verdicts(report) == {t.in_new: "to create", t.in_step: "to update"}
    assert report["scope"] == {"kept": 2, "read": 5}
    assert report["unknown_anchors"] == []


def test_without_a_scope_the_report_counts_nothing(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """No SYNC_SCOPE: every employee is planned and the report has no scope line."""
    t = scoped(lucca, graph, storage)

    _, out, _ = run_cli(environ, "reconcile")
    _, text, _ = run_cli(environ, "reconcile", "--json")

    assert "SYNC_SCOPE" not in out
    report = json.loads(text)
    assert report["scope"] is None
    assert verdicts(report)[t.out_match] == "to link"


def test_apply_creates_matches_and_changes_nothing_out_of_scope(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """--apply (SCOPE_EXIT_ACTION=ignore): Alice is created, Bruno updated; nobody out of scope
    is created, the account with Denis's email is not linked, Emile's linked account is not
    updated."""
    t = scoped(lucca, graph, storage)
    graph.reset_log()

    code, out, err = run_cli(environ | {"SYNC_SCOPE": t.scope}, "reconcile", "--apply")

    assert code == 0, err
    assert "Applied: 1 created, 1 updated." in out
    posts = [r.json()["userPrincipalName"] for r in graph.requests if r.method == "POST"]
    assert posts == [f"alice.martin@{DOMAIN}"]
    assert graph.user(str(t.match_account["id"])) == t.match_account
    assert graph.user(str(t.linked_account["id"])) == t.linked_account
    assert Links(storage).of_employee(t.out_match) is None
    assert Links(storage).of_employee(t.out_new) is None


def test_apply_hands_an_unseen_exit_to_the_sync_once(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """SCOPE_EXIT_ACTION=disable: Emile is linked, out of scope, enabled, with no disable
    scheduled: the report names him, --apply has the sync schedule his disable (nothing
    written to Entra now), and the next --apply has nothing more to do for him."""
    t = scoped(lucca, graph, storage)
    settings = environ | {"SYNC_SCOPE": t.scope, "SCOPE_EXIT_ACTION": "disable"}

    code, out, err = run_cli(settings, "reconcile")
    assert "Left SYNC_SCOPE, linked and enabled (the sync schedules the disable): 1" in out
    assert f"  {t.out_linked}  Emile Faure" in out

    graph.reset_log()
    code, out, err = run_cli(settings, "reconcile", "--apply")

    assert code == 0, err
    assert "out of scope" in out
    [disable] = ScheduleStore(storage).upcoming(t.out_linked)
    assert (disable.kind, disable.employment_id) == ("disable", "scope")
    assert f"PATCH /v1.0/users/{t.linked_account['id']}" not in writes(graph)
    _, text, _ = run_cli(settings, "reconcile", "--json")
    assert t.out_linked not in verdicts(json.loads(text))


def test_custom_fields_are_read_a_hundred_employees_a_request(
    lucca: LuccaSandbox, graph: GraphSandbox, storage: Storage, environ: dict[str, str]
) -> None:
    """A scope on a custom field: 120 employees' values in two requests filtered by
    `employee.id`, not one request each; those with the value are planned."""
    ids = [lucca.add_employee(f"P{n}", "Staff", f"p{n}.staff@{DOMAIN}") for n in range(120)]
    for employee_id in ids[::3]:
        lucca.set_extension(employee_id, "e_site", "Lyon")
    lucca.requests.clear()

    _, text, _ = run_cli(environ | {"SYNC_SCOPE": "extension.e_site = Lyon"}, "reconcile", "--json")

    report = json.loads(text)
    assert report["scope"] == {"kept": 40, "read": 120}
    assert sorted(verdicts(report)) == sorted(ids[::3])
    asked = [r for r in lucca.requests if r.path == "/lucca-api/employee-extensions"]
    assert len(asked) == 2
    assert all(len(str(r.param("employee.id")).split(",")) <= 100 for r in asked)
