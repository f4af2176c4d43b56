"""LOGIN_TEMPLATE in the sync, at its ports: the unique login is chosen against the directory,
and the POST is the arbiter (a race, a lost answer, replication), never two accounts."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connector.core.errors import Conflict, Transient
from connector.domain.entries import Action
from connector.domain.logins import MAX_CANDIDATES, parse_template
from connector.domain.mapping import anchor
from connector.entra.users import DirectoryUser
from connector.flows.login_choice import NUMBER, LoginRule
from tests.unit.fakes import FakeDirectory
from tests.unit.test_sync_engine import World

RULE = LoginRule(template=parse_template("{firstName}.{lastName}@acme.fr"))


class RacingDirectory(FakeDirectory):
    """A tenant where another worker creates `taken` between our read and our POST (or, with
    `hidden`, the account is there but not yet visible to queries: replication)."""

    def __init__(self) -> None:
        super().__init__()
        self.taken: dict[str, dict[str, Any]] = {}  # login → the account created meanwhile
        self.hidden: set[str] = set()  # logins Graph refuses while showing nobody
        self.anchors_lag = False  # the employeeId query does not show new accounts yet

    def find_users(self, prop: Any, value: str) -> list[DirectoryUser]:
        """As the fake, but a lagging employeeId index finds nobody."""
        return [] if prop == "employeeId" and self.anchors_lag else super().find_users(prop, value)

    def create_user(self, properties: Any, password: str) -> DirectoryUser:
        """Graph's POST: a login held (or about to be) is ObjectConflict."""
        login = str(properties["userPrincipalName"])
        if login in self.taken:
            self.add(**self.taken.pop(login))
        held = self.get_user(login) is not None or login in self.hidden
        if held:
            message = "Another object with the same value for property userPrincipalName exists."
            raise Conflict(message, service="graph", code="ObjectConflict")
        return super().create_user(properties, password)


@pytest.fixture
def world() -> World:
    """An empty tenant with the racing directory."""
    world = World()
    world.directory = RacingDirectory()
    return world


def hire_without_email(world: World, given: str = "Jean", family: str = "Dupont") -> str:
    """An employee Lucca knows no professional email of; returns the id."""
    employee = world.lucca.hire(given, family, start=date(2026, 1, 5))
    world.lucca.employees[employee.id] = employee.model_copy(update={"email": None})
    return employee.id


def logins(world: World) -> list[str | None]:
    """Every account's login, in creation order."""
    return [u.user_principal_name for u in world.directory.users.values()]


def test_without_a_template_no_email_is_still_not_created(world: World) -> None:
    """LOGIN_TEMPLATE unset: today's behaviour, "not created", nothing POSTed."""
    employee_id = hire_without_email(world)

    entry = world.service().sync(employee_id)

    assert entry.action is Action.CREATION_FAILED
    assert "no professional email" in entry.message
    assert world.directory.writes == []


def test_the_login_is_built_and_mail_is_set(world: World) -> None:
    """No email: the account is jean.dupont@acme.fr, login and mail, the entry says how."""
    employee_id = hire_without_email(world)

    entry = world.service(logins=RULE).sync(employee_id)

    assert entry.action is Action.CREATED
    [user] = world.directory.users.values()
    assert (user.user_principal_name, user.mail) == ("jean.dupont@acme.fr", "jean.dupont@acme.fr")
    assert "login built from the name by LOGIN_TEMPLATE" in entry.message
    assert entry.details[NUMBER] == 1


def test_mail_is_left_to_exchange_when_told(world: World) -> None:
    """LOGIN_SETS_MAIL=false: the POST carries no mail."""
    employee_id = hire_without_email(world)

    world.service(logins=LoginRule(template=RULE.template, sets_mail=False)).sync(employee_id)

    [(_, body)] = world.directory.writes
    assert body["userPrincipalName"] == "jean.dupont@acme.fr"
    assert "mail" not in body


def test_an_employee_with_an_email_keeps_it(world: World) -> None:
    """The template is only for employees without a professional email."""
    employee = world.lucca.hire("Jean", "Dupont", start=date(2026, 1, 5), email="jd@acme.fr")

    world.service(logins=RULE).sync(employee.id)

    assert logins(world) == ["jd@acme.fr"]


def test_held_logins_mails_and_aliases_are_skipped(world: World) -> None:
    """jean.dupont is someone's login, jean.dupont2 someone's mail: jean.dupont3, and the
    entry says which number was added."""
    world.directory.add(user_principal_name="jean.dupont@acme.fr", employee_id="lucca-900")
    world.directory.add(user_principal_name="jd2@acme.fr", mail="jean.dupont2@acme.fr")
    employee_id = hire_without_email(world)

    entry = world.service(logins=RULE).sync(employee_id)

    assert logins(world)[-1] == "jean.dupont3@acme.fr"
    assert entry.details[NUMBER] == 3
    assert "with 3 added" in entry.message


def test_a_login_taken_between_the_read_and_the_post_moves_on(world: World) -> None:
    """Another worker created jean.dupont after we read it free: Graph refuses our POST, the
    holder is another's, so jean.dupont2."""
    assert isinstance(world.directory, RacingDirectory)
    world.directory.taken["jean.dupont@acme.fr"] = {
        "user_principal_name": "jean.dupont@acme.fr",
        "employee_id": "lucca-77",
    }
    employee_id = hire_without_email(world)

    entry = world.service(logins=RULE).sync(employee_id)

    assert entry.action is Action.CREATED
    assert logins(world) == ["jean.dupont@acme.fr", "jean.dupont2@acme.fr"]


def test_a_lost_answer_is_the_employees_own_account(world: World) -> None:
    """Our earlier POST went through (its answer lost) and queries do not show it yet: the
    refused POST finds it by key with our anchor, and it is linked, no second account."""
    assert isinstance(world.directory, RacingDirectory)
    employee_id = hire_without_email(world)
    world.directory.taken["jean.dupont@acme.fr"] = {
        "user_principal_name": "jean.dupont@acme.fr",
        "employee_id": anchor(employee_id),
    }

    entry = world.service(logins=RULE).sync(employee_id)

    assert entry.action is Action.CREATED
    assert logins(world) == ["jean.dupont@acme.fr"]
    link = world.links.of_employee(employee_id)
    assert link is not None and link.object_id == next(iter(world.directory.users))


def test_an_address_held_by_the_employees_own_account_is_that_account(world: World) -> None:
    """The anchor query lags, the address query shows jean.dupont with this employee's
    anchor (an earlier POST whose answer was lost): linked, not jean.dupont2."""
    assert isinstance(world.directory, RacingDirectory)
    employee_id = hire_without_email(world)
    world.directory.add(user_principal_name="jean.dupont@acme.fr", employee_id=anchor(employee_id))
    world.directory.anchors_lag = True

    entry = world.service(logins=RULE).sync(employee_id)

    assert entry.action is Action.CREATED
    assert logins(world) == ["jean.dupont@acme.fr"]
    assert world.directory.writes == []
    link = world.links.of_employee(employee_id)
    assert link is not None and link.object_id == next(iter(world.directory.users))


def test_taken_with_no_holder_visible_is_transient(world: World) -> None:
    """Graph says the login is taken but shows nobody yet (replication): retried later,
    not jean.dupont2 (it may be this employee's own account)."""
    assert isinstance(world.directory, RacingDirectory)
    world.directory.hidden.add("jean.dupont@acme.fr")
    employee_id = hire_without_email(world)

    with pytest.raises(Transient):
        world.service(logins=RULE).sync(employee_id)
    assert logins(world) == []


def test_every_candidate_taken_is_not_created(world: World) -> None:
    """jean.dupont … jean.dupont50 all held: "not created", saying so."""
    for number in range(1, MAX_CANDIDATES + 1):
        world.directory.add(
            user_principal_name=RULE.template.candidate("jean.dupont@acme.fr", number)
        )
    employee_id = hire_without_email(world)

    entry = world.service(logins=RULE).sync(employee_id)

    assert entry.action is Action.CREATION_FAILED
    assert f"jean.dupont{MAX_CANDIDATES}@acme.fr" in entry.message
    assert len(world.directory.users) == MAX_CANDIDATES


def test_a_name_without_latin_letters_is_not_created(world: World) -> None:
    """王 小明: no login (not transliterated), "not created" with why."""
    employee_id = hire_without_email(world, "王", "小明")

    entry = world.service(logins=RULE).sync(employee_id)

    assert entry.action is Action.CREATION_FAILED
    assert "not transliterated" in entry.message
    assert world.directory.writes == []


def test_observe_mode_says_which_login_it_would_choose(world: World) -> None:
    """Observing (dry run, reconcile): the login the POST would try, nothing written."""
    world.directory.add(user_principal_name="jean.dupont@acme.fr")
    employee_id = hire_without_email(world)

    entry = world.service(logins=RULE, observe=True).sync(employee_id)

    assert entry.action is Action.CREATED
    assert "Would create the account jean.dupont2@acme.fr" in entry.message
    assert "jean.dupont@acme.fr was taken" in entry.message
    assert world.directory.writes == []


def test_the_login_is_never_renamed_afterwards(world: World) -> None:
    """A later change of name in Lucca changes the names, never the login nor the mail."""
    employee_id = hire_without_email(world)
    service = world.service(logins=RULE, sync_upn=True)
    service.sync(employee_id)
    employee = world.lucca.employees[employee_id]
    world.lucca.employees[employee_id] = employee.model_copy(update={"family_name": "Durand"})
    world.directory.writes.clear()

    entry = service.sync(employee_id)

    assert entry.action is Action.UPDATED
    assert [w[2] for w in world.directory.writes] == [
        {"surname": "Durand", "displayName": "Jean Durand"}
    ]
    [user] = world.directory.users.values()
    assert (user.user_principal_name, user.mail) == ("jean.dupont@acme.fr", "jean.dupont@acme.fr")
