"""Matching that cannot be abused, end to end (webhook → queue → sync → Graph sandbox): an
account holding a directory role is never linked, renamed or disabled, and with MATCH_SCOPE
only accounts inside the group or administrative unit are matched by email."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

import pytest

from connector.domain.entries import Action, LogEntry
from connector.domain.mapping import anchor
from connector.domain.messages import ChangeMessage
from connector.storage.links import Links
from connector.storage.log import ALERT_PREFIX, IntegrationLog
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire, patches

pytestmark = pytest.mark.azurite
SCOPE_ID = "4f1c2d3e-0000-4000-8000-00000000a11e"
ROLES = r"^/v1\.0/roleManagement/directory/roleAssignments$"


def writes_to(world: World, object_id: str) -> list[str]:
    """Every write request naming the account (checkMemberObjects is a read, POSTed)."""
    return [
        f"{r.method} {r.path}"
        for r in world.graph.requests
        if r.method in ("POST", "PATCH", "PUT", "DELETE")
        and not r.path.endswith("/checkMemberObjects")
        and (object_id in r.path or object_id in r.body.decode(errors="replace"))
    ]


def alerted(world: World, entry: LogEntry, caplog: pytest.LogCaptureFixture) -> bool:
    """The entry is listed for an operator and raised the Azure Monitor alert's warning."""
    listed = any(
        e.employee_id == entry.employee_id and e.action is entry.action
        for e in IntegrationLog(world.storage).for_attention()
    )
    warned = any(
        r.levelno == logging.WARNING
        and r.getMessage().startswith(ALERT_PREFIX)
        and f"employee {entry.employee_id}" in r.getMessage()
        for r in caplog.records
    )
    return listed and warned


@pytest.mark.parametrize(
    ("login", "role"),
    [("it.admin", "User Administrator"), ("breakglass", "Global Administrator")],
    ids=["admin", "break-glass"],
)
def test_an_employee_given_an_admins_email_leaves_that_account_untouched(
    world: World, caplog: pytest.LogCaptureFixture, login: str, role: str
) -> None:
    """HR puts an administrator's address in Lucca: no PATCH, no link, no stamp; a conflict
    entry naming the role, listed for an operator and alerting."""
    caplog.set_level(logging.WARNING)
    address = f"{login}@{DOMAIN}"
    admin = world.graph.add_user(
        userPrincipalName=address, mail=address, displayName="Admin", surname="Admin"
    )
    world.graph.assign_role(admin["id"], role)

    employee_id = hire(world, "Eve", "Mallory", address)

    assert world.graph.user(admin["id"]) == admin
    assert writes_to(world, admin["id"]) == []
    assert Links(world.storage).of_employee(employee_id) is None
    assert world.graph.count("POST", r"^/v1\.0/users$") == 0
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.CONFLICT
    assert f"holds the directory role {role}: never linked" in entry.message
    assert "an administrator's account is not an employee's" in entry.message
    assert alerted(world, entry, caplog)
    assert world.graph.count("GET", ROLES) == 1  # one roles read for the one candidate


def test_a_linked_account_that_gains_a_role_is_neither_renamed_nor_disabled(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Linked, then made an administrator in Entra: Lucca's rename is not written (conflict,
    alerting), and the leaver's disable fails for an operator instead of happening."""
    caplog.set_level(logging.WARNING)
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    employee_id = hire(world, "Paul", "Durand", f"paul.durand@{DOMAIN}", start="2020-01-01")
    account = world.account_of(employee_id)
    assert world.graph.count("GET", ROLES) == 0  # created: nobody to check
    world.set_clock(datetime(2026, 10, 1, 9, 1, tzinfo=UTC))
    change(world, lambda: world.lucca.update_employee(employee_id, given_name="Pol"))
    assert world.graph.count("GET", ROLES) == 1  # something to write: one roles read
    world.graph.reset_log()
    world.set_clock(datetime(2026, 10, 1, 9, 2, tzinfo=UTC))
    world.enqueue(
        ChangeMessage(
            employee_id=employee_id,
            event_key="again",
            topic="employee.updated",
            queued_at=datetime(2026, 10, 1, 9, 2, tzinfo=UTC),
        )
    )
    world.sync()
    assert world.entries(employee_id)[0].action is Action.UNCHANGED
    assert world.graph.count("GET", ROLES) == 0  # nothing to write: no roles read

    world.graph.assign_role(account["id"], "Global Administrator")
    world.set_clock(datetime(2026, 10, 1, 9, 3, tzinfo=UTC))
    change(world, lambda: world.lucca.update_employee(employee_id, family_name="Dupont"))

    assert patches(world) == []
    assert world.account_of(employee_id)["surname"] == "Durand"
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.CONFLICT
    assert "holds the directory role Global Administrator" in entry.message
    assert alerted(world, entry, caplog)
    assert world.graph.count("GET", ROLES) == 1

    world.set_clock(datetime(2026, 10, 1, 9, 4, tzinfo=UTC))
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 10, 24)))
    world.graph.reset_log()
    world.tick(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))

    assert world.account_of(employee_id)["accountEnabled"] is True
    assert patches(world) == []
    failed = world.entries(employee_id)[0]
    assert failed.action is Action.DEACTIVATION_FAILED
    assert "holds the directory role Global Administrator" in failed.message
    assert world.graph.count("GET", ROLES) == 1  # one roles read before the disable


def test_with_match_scope_only_accounts_inside_are_matched_by_email(
    make_world: Any,
) -> None:
    """MATCH_SCOPE=group:…: the account inside the group is linked, the one outside is a
    conflict ("outside MATCH_SCOPE") and left untouched."""
    world: World = make_world(MATCH_SCOPE=f"group:{SCOPE_ID}")
    inside = world.graph.add_user(userPrincipalName=f"ines@{DOMAIN}", mail=f"ines@{DOMAIN}")
    outside = world.graph.add_user(userPrincipalName=f"oscar@{DOMAIN}", mail=f"oscar@{DOMAIN}")
    world.graph.add_group("Lucca employees", [inside["id"]], object_id=SCOPE_ID)

    linked = hire(world, "Inès", "Dedans", f"ines@{DOMAIN}")
    refused = hire(world, "Oscar", "Dehors", f"oscar@{DOMAIN}")

    assert world.account_of(linked)["id"] == inside["id"]
    assert world.entries(linked)[0].action is Action.LINKED
    assert Links(world.storage).of_employee(refused) is None
    assert writes_to(world, outside["id"]) == []
    assert world.graph.user(outside["id"])["employeeId"] is None
    entry = world.entries(refused)[0]
    assert entry.action is Action.CONFLICT
    assert f"outside MATCH_SCOPE (group {SCOPE_ID})" in entry.message


@pytest.mark.parametrize(("add", "joined"), [("true", True), ("false", False)])
def test_created_accounts_join_the_scope_when_asked(
    make_world: Any, add: str, joined: bool
) -> None:
    """MATCH_SCOPE=au:… with MATCH_SCOPE_ADD_CREATED: a created account is put in the
    administrative unit (and not without it)."""
    world: World = make_world(MATCH_SCOPE=f"au:{SCOPE_ID}", MATCH_SCOPE_ADD_CREATED=add)
    world.graph.add_administrative_unit("Lucca employees", object_id=SCOPE_ID)

    employee_id = hire(world, "Nina", "Neuve", f"nina.neuve@{DOMAIN}")

    account = world.account_of(employee_id)
    assert (account["id"] in world.graph.members(SCOPE_ID)) is joined
    assert any(e.action is Action.CREATED for e in world.entries(employee_id))


def test_with_match_scope_the_anchor_still_finds_an_account_outside(make_world: Any) -> None:
    """MATCH_SCOPE limits matching by email only: an account outside it that carries the
    employee's anchor (the connector's own mark) is linked."""
    world: World = make_world(MATCH_SCOPE=f"group:{SCOPE_ID}")
    world.graph.add_group("Lucca employees", object_id=SCOPE_ID)
    employee_id = world.lucca.add_employee("Ana", "Ancre", f"ana@{DOMAIN}")
    marked = world.graph.add_user(
        userPrincipalName=f"ana@{DOMAIN}", mail=f"ana@{DOMAIN}", employeeId=anchor(employee_id)
    )
    world.deliver_all()
    world.sync()

    assert world.account_of(employee_id)["id"] == marked["id"]
    assert world.graph.count("POST", r"/checkMemberObjects$") == 0


def test_a_refused_roles_read_links_nothing_and_names_the_permission(world: World) -> None:
    """Without RoleManagement.Read.Directory (Graph's 403), the candidate is not linked nor
    written to: a failed entry (alerting) names the permission to grant."""
    address = f"sam@{DOMAIN}"
    account = world.graph.add_user(userPrincipalName=address, mail=address)
    world.graph.fail(
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
        path=ROLES,
        times=10,
    )

    employee_id = hire(world, "Sam", "Sans", address)

    assert Links(world.storage).of_employee(employee_id) is None
    assert writes_to(world, account["id"]) == []
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.FAILED
    assert "RoleManagement.Read.Directory" in entry.message


def test_a_created_account_the_scope_refuses_is_said_and_alerts(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """MATCH_SCOPE_ADD_CREATED with a unit Graph does not know: the account is created, and
    its entry says it is not in the scope (add it by hand) and alerts."""
    caplog.set_level(logging.WARNING)
    world: World = make_world(MATCH_SCOPE=f"au:{SCOPE_ID}", MATCH_SCOPE_ADD_CREATED="true")

    employee_id = hire(world, "Noa", "Hors", f"noa.hors@{DOMAIN}")

    [created] = [e for e in world.entries(employee_id) if e.action is Action.CREATED]
    assert f"could not be added to MATCH_SCOPE (administrative unit {SCOPE_ID})" in created.message
    assert alerted(world, created, caplog)
