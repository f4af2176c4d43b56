"""SYNC_SCOPE end to end: sandboxes, Azurite and the function entry points."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.domain.entries import Action
from connector.storage.links import Links
from tests.e2e.conftest import DOMAIN
from tests.e2e.test_sync import hire

pytestmark = pytest.mark.azurite


def test_one_legal_entity_syncs_only_its_employees(make_world: Any) -> None:
    """Entity 2's employee whose email is an existing account's: not linked, not changed."""
    world = make_world(SYNC_SCOPE="legalEntity = 1")
    world.set_clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    first = world.lucca.add_legal_entity("Acme SAS")
    assert first == "1"
    world.lucca.add_establishment("Paris", legal_entity_id=first)
    other = world.lucca.add_legal_entity("Acme Belgique")
    site = world.lucca.add_establishment("Bruxelles", legal_entity_id=other)
    existing = world.graph.add_user(
        displayName="Zoé Lambert",
        userPrincipalName=f"zoe.lambert@{DOMAIN}",
        mail=f"zoe.lambert@{DOMAIN}",
        givenName="Zoé",
        surname="Lambert",
    )
    kept = hire(world, "Paul", "Marin", f"paul.marin@{DOMAIN}")
    left_out = hire(world, "Zoé", "Lambert", f"zoe.lambert@{DOMAIN}", establishment_id=site)

    assert world.account_of(kept)["mail"] == f"paul.marin@{DOMAIN}"
    assert Links(world.storage).of_employee(left_out) is None
    assert world.graph.user(existing["id"]) == existing  # not changed, not stamped
    actions = {e.action for e in world.entries(left_out)}
    assert actions == {Action.OUT_OF_SCOPE}
    assert world.graph.count("PATCH", rf"^/v1\.0/users/{existing['id']}") == 0


def test_department_scope_keeps_the_sub_departments(make_world: Any) -> None:
    """`department = <Engineering>` keeps an employee of Platform (under Engineering) and
    drops one of Sales."""
    world = make_world(SYNC_SCOPE="department = 101")
    world.set_clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    engineering = world.lucca.add_department("Engineering")
    assert engineering == "101"
    platform = world.lucca.add_department("Platform", parent_id=engineering)
    sales = world.lucca.add_department("Sales")

    kept = hire(world, "Paul", "Marin", f"paul.marin@{DOMAIN}", department_id=platform)
    dropped = hire(world, "Zoé", "Lambert", f"zoe.lambert@{DOMAIN}", department_id=sales)

    assert world.account_of(kept)["department"] == "Platform"
    assert Links(world.storage).of_employee(dropped) is None
    assert [e.action for e in world.entries(dropped)] == [Action.OUT_OF_SCOPE]
    assert world.graph.count("POST", r"^/v1\.0/users$") == 1


def _hire_with(world: Any, given: str, family: str, setup: Any) -> str:
    """Hire, change what Lucca sends no event for (`setup(employee_id)`), then deliver."""
    before = len(world.lucca.recorded_events())
    employee_id: str = world.lucca.add_employee(given, family, f"{given}.{family}@{DOMAIN}".lower())
    setup(employee_id)
    world.deliver_all(since=before)
    world.sync()
    return employee_id


def test_custom_field_scope(make_world: Any) -> None:
    """`extension.e_site = "Lyon Part-Dieu"`: the employee with that value is synced, the one
    with another value and the one without any are not."""
    world = make_world(SYNC_SCOPE='extension.e_site = "Lyon Part-Dieu"')
    world.set_clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    site = "e_site"

    kept = _hire_with(
        world, "Paul", "Marin", lambda e: world.lucca.set_extension(e, site, "Lyon Part-Dieu")
    )
    other = _hire_with(
        world, "Zoé", "Lambert", lambda e: world.lucca.set_extension(e, site, "Paris")
    )
    none = _hire_with(world, "Léo", "Petit", lambda e: None)

    assert world.account_of(kept)["mail"] == f"paul.marin@{DOMAIN}"
    for dropped in (other, none):
        assert Links(world.storage).of_employee(dropped) is None
        assert [e.action for e in world.entries(dropped)] == [Action.OUT_OF_SCOPE]
    assert world.graph.count("POST", r"^/v1\.0/users$") == 1
    asked = [r for r in world.lucca.requests if "/employee-extensions" in r.path]
    assert asked  # read from Lucca, not guessed


@pytest.mark.parametrize(
    ("scope", "synced"),
    [
        ("contractType != Internship", {"CDI", "CDD"}),
        ("contractType = fixed", {"CDD", "Internship"}),
        ("contractType in (CDI, Internship)", {"CDI", "Internship"}),
    ],
)
def test_contract_type_scope(make_world: Any, scope: str, synced: set[str]) -> None:
    """A contract type compares with the employment template's title or term."""
    world = make_world(SYNC_SCOPE=scope)
    world.set_clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    cdi = world.lucca.add_employment_template("CDI")  # the first: every hire's default
    cdd = world.lucca.add_employment_template("CDD", term="fixed")
    internship = world.lucca.add_employment_template("Internship", term="fixed")
    templates = {"CDI": cdi, "CDD": cdd, "Internship": internship}

    def setup(template: str) -> Any:
        return lambda e: world.lucca.set_employment_template(e, template)

    hired = {name: _hire_with(world, name, "Staff", setup(t)) for name, t in templates.items()}

    linked = {name for name, e in hired.items() if Links(world.storage).of_employee(e)}
    assert linked == synced
