"""Logins from names end to end (LOGIN_TEMPLATE): signed webhook → queue → sync → the Graph
sandbox, whose POST /users refuses a held login with ObjectConflict as Graph does; the
"account created" email through the ACS sandbox; `sync --dry-run` and `reconcile` through the
CLI."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.cli import main as cli
from connector.domain.entries import Action
from connector.domain.mapping import anchor
from connector.storage.links import Links
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import posts_to_users

pytestmark = pytest.mark.azurite

TEMPLATE = f"{{firstName}}.{{lastName}}@{DOMAIN}"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
USERS = r"^/v1\.0/users$"


def with_logins(make_world: Any, **settings: str) -> World:
    """The connector with LOGIN_TEMPLATE, emailing through the ACS sandbox, at NOW."""
    world: World = make_world(notify=True, LOGIN_TEMPLATE=TEMPLATE, **settings)
    world.set_clock(NOW)
    return world


def hire_without_email(world: World, given: str, family: str) -> str:
    """A hire Lucca knows no professional email of, its events delivered (not synced yet)."""
    before = len(world.lucca.recorded_events())
    employee_id = world.lucca.add_employee(given, family, None)
    world.deliver_all(since=before)
    return employee_id


def logins(world: World) -> list[str]:
    """Every account's login, in creation order."""
    return [u["userPrincipalName"] for u in world.graph.users]


def test_an_accented_hyphenated_name_with_an_apostrophe(make_world: Any) -> None:
    """Élodie N'Diaye-Saint-Éxupéry: accents stripped, apostrophe dropped, hyphens kept; the
    login is also the mail; the entry and the "account created" email say how it was built."""
    world = with_logins(make_world)
    employee_id = hire_without_email(world, "Élodie", "N'Diaye-Saint-Éxupéry")
    world.sync()

    account = world.account_of(employee_id)
    login = f"elodie.ndiaye-saint-exupery@{DOMAIN}"
    assert (account["userPrincipalName"], account["mail"]) == (login, login)
    assert account["employeeId"] == anchor(employee_id)
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CREATED
    assert f"Created {login} (login built from the name by LOGIN_TEMPLATE {TEMPLATE})" in (
        entry.message
    )
    world.notify()
    [email] = world.emails()
    assert login in email.plain_text
    assert f"Login built from the name by LOGIN_TEMPLATE {TEMPLATE}." in email.plain_text


def test_a_login_someone_holds_gets_the_next_number(make_world: Any) -> None:
    """jean.dupont is another person's login: jean.dupont2, and the email says why."""
    world = with_logins(make_world)
    other = world.graph.add_user(
        userPrincipalName=f"jean.dupont@{DOMAIN}", mail=f"jean.dupont@{DOMAIN}"
    )
    employee_id = hire_without_email(world, "Jean", "Dupont")
    world.sync()

    account = world.account_of(employee_id)
    assert account["id"] != other["id"]
    assert account["userPrincipalName"] == f"jean.dupont2@{DOMAIN}"
    [entry] = world.entries(employee_id)
    assert entry.details["login_number"] == 2
    assert f"with 2 added: jean.dupont@{DOMAIN} was taken" in entry.message
    assert world.graph.user(other["id"]) == other  # never touched
    world.notify()
    [email] = world.emails()
    assert f"with 2 added: jean.dupont@{DOMAIN} was taken." in email.plain_text


def test_an_alias_counts_as_held(make_world: Any) -> None:
    """jean.dupont is an `smtp:` alias of another account: skipped as well."""
    world = with_logins(make_world)
    world.graph.add_user(
        userPrincipalName=f"jdupont@{DOMAIN}",
        proxyAddresses=[f"SMTP:jdupont@{DOMAIN}", f"smtp:Jean.Dupont@{DOMAIN}"],
    )
    employee_id = hire_without_email(world, "Jean", "Dupont")
    world.sync()

    assert world.account_of(employee_id)["userPrincipalName"] == f"jean.dupont2@{DOMAIN}"
    assert posts_to_users(world) == 1  # skipped on reading: no refused POST


def test_two_jean_dupont_hired_the_same_minute(make_world: Any) -> None:
    """Two webhooks, two queue workers at once: jean.dupont and jean.dupont2, one account each,
    nobody lost, no duplicate."""
    world = with_logins(make_world)
    first = hire_without_email(world, "Jean", "Dupont")
    second = hire_without_email(world, "Jean", "Dupont")
    world.sync(instances=2)

    assert sorted(logins(world)) == [f"jean.dupont2@{DOMAIN}", f"jean.dupont@{DOMAIN}"]
    accounts = {world.account_of(first)["id"], world.account_of(second)["id"]}
    assert accounts == {u["id"] for u in world.graph.users}
    assert {world.account_of(e)["employeeId"] for e in (first, second)} == {
        anchor(first),
        anchor(second),
    }
    assert world.host.failures == []


def test_a_login_taken_between_the_check_and_the_post(make_world: Any) -> None:
    """The race forced: another Jean Dupont's account appears right before our POST (the one
    the other worker creates). Graph refuses ours; the holder is someone else: jean.dupont2."""
    world = with_logins(make_world)
    raced: list[str] = []

    def the_other_worker_posts_first() -> bool:
        if not raced:
            user = world.graph.add_user(
                userPrincipalName=f"jean.dupont@{DOMAIN}", employeeId="lucca-999"
            )
            raced.append(user["id"])
        return False  # no fault: the POST is then handled as Graph would

    world.graph.fail(
        500, "UnknownError", "", method="POST", path=USERS, during=the_other_worker_posts_first
    )
    employee_id = hire_without_email(world, "Jean", "Dupont")
    world.sync()

    assert world.account_of(employee_id)["userPrincipalName"] == f"jean.dupont2@{DOMAIN}"
    assert posts_to_users(world) == 2  # jean.dupont refused, then jean.dupont2
    assert len(world.graph.users) == 2


def test_a_lost_post_answer_gives_one_account(make_world: Any) -> None:
    """The POST is carried out and its answer lost (a 500): the retry finds the account by its
    anchor and links it; no second account, and one "account created" email."""
    world = with_logins(make_world)
    world.graph.fail(500, "UnknownError", "", method="POST", path=USERS, after_handling=True)
    employee_id = hire_without_email(world, "Jean", "Dupont")
    world.sync()

    [user] = world.graph.users
    assert user["userPrincipalName"] == f"jean.dupont@{DOMAIN}"
    link = Links(world.storage).of_employee(employee_id)
    assert link is not None and link.object_id == user["id"]
    assert world.host.failures == []
    # The retry found it by its anchor (both entries at the same instant: no order asserted).
    assert {(e.action, e.details.get("matched_by")) for e in world.entries(employee_id)} == {
        (Action.LINKED, "employeeId"),
        (Action.RETRYING, None),
    }
    world.notify()
    [email] = world.emails()  # "account created", saying how the login was built
    assert f"Login built from the name by LOGIN_TEMPLATE {TEMPLATE}." in email.plain_text


@pytest.mark.parametrize(
    ("sets_mail", "mail"), [("true", f"jean.dupont@{DOMAIN}"), ("false", None)]
)
def test_mail_follows_login_sets_mail(make_world: Any, sets_mail: str, mail: str | None) -> None:
    """LOGIN_SETS_MAIL=true: mail is the login; false: mail is left to Exchange (empty)."""
    world = with_logins(make_world, LOGIN_SETS_MAIL=sets_mail)
    employee_id = hire_without_email(world, "Jean", "Dupont")
    world.sync()

    account = world.account_of(employee_id)
    assert account["userPrincipalName"] == f"jean.dupont@{DOMAIN}"
    assert account.get("mail") == mail


def test_an_employee_with_an_email_keeps_it(make_world: Any) -> None:
    """The template is only for those without a professional email."""
    world = with_logins(make_world)
    before = len(world.lucca.recorded_events())
    employee_id = world.lucca.add_employee("Jean", "Dupont", f"jd@{DOMAIN}")
    world.deliver_all(since=before)
    world.sync()

    assert world.account_of(employee_id)["userPrincipalName"] == f"jd@{DOMAIN}"
    assert "LOGIN_TEMPLATE" not in world.entries(employee_id)[0].message


def test_a_non_latin_name_is_not_created_and_says_why(make_world: Any) -> None:
    """王小明: nothing is transliterated, no account, and the "not created" email says why."""
    world = with_logins(make_world)
    employee_id = hire_without_email(world, "小明", "王")
    world.sync()

    assert world.graph.users == []
    [entry] = world.entries(employee_id)
    assert entry.action is Action.CREATION_FAILED
    assert "not transliterated" in entry.message
    world.notify()
    [email] = world.emails()
    assert "not transliterated" in email.plain_text


def test_the_login_is_never_renamed(make_world: Any) -> None:
    """A later change of surname in Lucca changes the names, never the login nor the mail."""
    world = with_logins(make_world, SYNC_UPN="true")
    employee_id = hire_without_email(world, "Jean", "Dupont")
    world.sync()
    before = len(world.lucca.recorded_events())
    world.lucca.update_employee(employee_id, family_name="Durand")
    world.deliver_all(since=before)
    world.sync()

    account = world.account_of(employee_id)
    assert account["surname"] == "Durand"
    assert (account["userPrincipalName"], account["mail"]) == (
        f"jean.dupont@{DOMAIN}",
        f"jean.dupont@{DOMAIN}",
    )


def test_dry_run_and_reconcile_show_the_login_that_would_be_chosen(make_world: Any) -> None:
    """`sync ID --dry-run` and `reconcile` say which login the account would get."""
    world = with_logins(make_world)
    world.graph.add_user(userPrincipalName=f"jean.dupont@{DOMAIN}")
    employee_id = world.lucca.add_employee("Jean", "Dupont", None)
    said = (
        f"Would create the account jean.dupont2@{DOMAIN} (login built from the name by "
        f"LOGIN_TEMPLATE {TEMPLATE}, with 2 added: jean.dupont@{DOMAIN} was taken)"
    )

    for command in (["sync", employee_id, "--dry-run"], ["reconcile"]):
        out = io.StringIO()
        code = cli.main(command, environ=dict(os.environ), out=out, clock=lambda: NOW)
        assert code == 0, out.getvalue()
        assert said in out.getvalue(), out.getvalue()
    assert len(world.graph.users) == 1
