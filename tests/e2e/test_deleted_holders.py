"""A login held by a deleted account, end to end (issue 19): signed webhook → queue → sync →
the Graph sandbox, where a deleted user keeps its login in deleted items (POST /users meets
ObjectConflict, GET /users finds nobody) and can be restored with the same object id; the
"account not created" email through the ACS sandbox."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.cli import main as cli
from connector.domain.entries import Action
from connector.domain.mapping import anchor
from connector.storage.links import Links
from connector.storage.outbox import Outbox
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire, posts_to_users

pytestmark = pytest.mark.azurite

OCTOBER = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
LATER = OCTOBER + timedelta(hours=1)  # the change after the hire: its entries come after
DELETED_ON = datetime(2026, 9, 14, 8, 30, tzinfo=UTC)
FIRST_DAY = "2026-10-05"
FIRST_MIDNIGHT = datetime(2026, 10, 4, 22, 0, tzinfo=UTC)  # 2026-10-05 00:00 Paris
USERS = r"^/v1\.0/users$"
RESTORES = r"^/v1\.0/directory/deletedItems/[^/]+/restore$"


def a_world(make_world: Any, **settings: str) -> World:
    """The connector emailing through the ACS sandbox, on 1 October 2026."""
    world: World = make_world(notify=True, **settings)
    world.set_clock(OCTOBER)
    return world


def leaver_deleted_by_it(world: World, email: str) -> tuple[str, str]:
    """Ugo Brun left in 2025; IT deleted his account (disabled, anchored) on DELETED_ON: the
    Lucca id and the deleted account's object id."""
    employee_id = hire(world, "Ugo", "Brun", email, start="2024-01-01", end="2025-06-30")
    assert world.graph.users == []  # gone before the connector: no account made
    old = world.graph.add_user(
        userPrincipalName=email,
        mail=email,
        mailNickname="ugo.brun",
        displayName="Ugo Brun (left)",
        jobTitle="Former title",
        employeeId=anchor(employee_id),
        accountEnabled=False,
    )
    world.graph.delete_user(old["id"], at=DELETED_ON)
    world.set_clock(LATER)
    return employee_id, str(old["id"])


def not_created_emails(world: World) -> list[Any]:
    """The "account not created" emails ACS accepted."""
    world.notify()
    return [e for e in world.emails() if "not created" in e.subject]


def test_a_rehire_whose_old_account_is_deleted_gets_it_restored(make_world: Any) -> None:
    """RESTORE_DELETED_ACCOUNTS=true: the rehire's deleted account is restored (same object id),
    linked, given Lucca's attributes, kept closed until the first day and enabled then; no
    "account not created" email, nothing retried."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    email = f"ugo.brun@{DOMAIN}"
    employee_id, object_id = leaver_deleted_by_it(world, email)

    change(world, lambda: world.lucca.add_employment(employee_id, start=FIRST_DAY))

    account = world.account_of(employee_id)
    assert account["id"] == object_id
    assert (account["givenName"], account["surname"]) == ("Ugo", "Brun")
    assert account["displayName"] == "Ugo Brun"
    assert account["employeeId"] == anchor(employee_id)
    assert account["accountEnabled"] is False  # not before the first day
    assert world.graph.count("POST", RESTORES) == 1
    assert posts_to_users(world) == 1  # the one refused
    restored = [e for e in world.entries(employee_id) if e.action is Action.RESTORED]
    assert len(restored) == 1
    assert object_id in restored[0].message and "2026-09-14" in restored[0].message
    assert world.host.poisoned() == 0
    assert not_created_emails(world) == []
    # restored, not created: no creation intent left to raise "account created" later
    assert Outbox(world.storage).intended_at(employee_id) is None
    assert [e for e in world.emails() if "created" in e.subject] == []

    world.tick(FIRST_MIDNIGHT)
    assert world.account_of(employee_id)["accountEnabled"] is True


def test_a_refused_restore_is_a_conflict_naming_the_permission(make_world: Any) -> None:
    """RESTORE_DELETED_ACCOUNTS=true but Graph refuses the restore (403: the identity lacks
    User.DeleteRestore.All, or the account holds an administrator role): a conflict naming the
    permission, one "account not created" email, no new account, nothing retried or poisoned;
    the link to the deleted account is kept, so the next change tries again (no second email)
    and an administrator's restore by hand is linked and opened on the first day."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    email = f"ugo.brun@{DOMAIN}"
    employee_id, object_id = leaver_deleted_by_it(world, email)
    world.graph.deny(object_id, "RESTORE")

    change(world, lambda: world.lucca.add_employment(employee_id, start=FIRST_DAY))

    link = Links(world.storage).of_employee(employee_id)
    assert link is not None and link.object_id == object_id
    assert world.graph.users == []
    assert world.graph.deleted_user(object_id)["employeeId"] == anchor(employee_id)
    assert world.graph.count("POST", RESTORES) == 1
    [entry] = [e for e in world.entries(employee_id) if e.action is Action.CONFLICT]
    assert entry == world.entries(employee_id)[0]  # the latest: nothing retried after it
    assert "User.DeleteRestore.All" in entry.message and object_id in entry.message
    assert world.host.poisoned() == 0
    [sent] = not_created_emails(world)
    assert "User.DeleteRestore.All" in (sent.plain_text or "")

    world.set_clock(LATER + timedelta(hours=1))
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="UB-2"))
    assert world.graph.count("POST", RESTORES) == 2
    assert world.entries(employee_id)[0].action is Action.CONFLICT
    assert len(not_created_emails(world)) == 1  # the same problem: no second email
    assert posts_to_users(world) == 1  # linked: never a second account tried

    world.graph.restore_by_hand(object_id)  # an administrator restores it in Entra
    world.set_clock(LATER + timedelta(hours=2))
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="UB-3"))
    account = world.account_of(employee_id)
    assert account["id"] == object_id and account["accountEnabled"] is False
    world.tick(FIRST_MIDNIGHT)
    assert world.account_of(employee_id)["accountEnabled"] is True


@pytest.mark.parametrize("status", [500, 504])
def test_a_lost_restore_answer_leaves_the_account_linked_and_opened_on_the_first_day(
    make_world: Any, status: int
) -> None:
    """Graph restores the account but its answer is lost (500: the change is retried later;
    504: the SDK retries at once and meets 404, the account no longer deleted): the account is
    linked to the employee all the same (linked before the restore), opened on the first day,
    no "account created" email, nothing failed or poisoned."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    email = f"ugo.brun@{DOMAIN}"
    employee_id, object_id = leaver_deleted_by_it(world, email)
    world.graph.inject(status, method="POST", path=RESTORES, after_handling=True)

    change(world, lambda: world.lucca.add_employment(employee_id, start=FIRST_DAY))
    world.sync()

    account = world.account_of(employee_id)
    assert account["id"] == object_id and account["accountEnabled"] is False
    assert posts_to_users(world) == 1
    actions = [e.action for e in world.entries(employee_id)]
    assert Action.FAILED not in actions and Action.CONFLICT not in actions
    assert world.host.poisoned() == 0
    world.notify()
    assert [e for e in world.emails() if "created" in e.subject] == []

    world.tick(FIRST_MIDNIGHT)
    assert world.account_of(employee_id)["accountEnabled"] is True


def test_an_account_an_operator_unlinked_is_never_restored(make_world: Any) -> None:
    """`unlink` refused the account to the employee (it keeps its anchor), then IT deleted it:
    the next change does not restore it; the login is reported as held by a deleted account,
    and `sync --dry-run` says the same."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    email = f"ana.lopez@{DOMAIN}"
    employee_id = hire(world, "Ana", "Lopez", email, start="2020-01-01")
    object_id = world.account_of(employee_id)["id"]
    out = io.StringIO()
    code = cli.main(["unlink", employee_id], environ=dict(os.environ), out=out)
    assert code == 0, out.getvalue()
    world.graph.delete_user(object_id, at=DELETED_ON)
    world.set_clock(LATER)

    dry_run, _ = plans(world, employee_id)
    assert "held by a deleted account" in dry_run and "Would restore" not in dry_run
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="AL-2"))

    assert world.graph.count("POST", RESTORES) == 0
    assert world.graph.deleted_user(object_id)["employeeId"] == anchor(employee_id)
    [entry] = [
        e for e in world.entries(employee_id) if e.action is Action.CONFLICT and not e.observed
    ]
    assert "held by a deleted account" in entry.message
    assert Links(world.storage).of_employee(employee_id) is None


def test_without_the_setting_a_restorable_account_is_reported_once(make_world: Any) -> None:
    """RESTORE_DELETED_ACCOUNTS off: nothing restored, no account created; a conflict saying
    the account can be restored and how, one "account not created" email saying so, at most
    two POSTs, nothing retried or poisoned."""
    world = a_world(make_world)
    email = f"ugo.brun@{DOMAIN}"
    employee_id, object_id = leaver_deleted_by_it(world, email)

    change(world, lambda: world.lucca.add_employment(employee_id, start=FIRST_DAY))

    assert Links(world.storage).of_employee(employee_id) is None
    assert world.graph.users == []
    assert world.graph.count("POST", RESTORES) == 0
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.CONFLICT
    assert "can be restored" in entry.message and "RESTORE_DELETED_ACCOUNTS" in entry.message
    assert object_id in entry.message
    assert [e.action for e in world.entries(employee_id)].count(Action.RETRYING) == 0
    assert posts_to_users(world) <= 2
    assert world.host.poisoned() == 0
    [sent] = not_created_emails(world)
    assert "Ugo Brun" in sent.subject
    assert "can be restored" in (sent.plain_text or "")
    assert "RESTORE_DELETED_ACCOUNTS" in (sent.plain_text or "")


def test_someone_elses_deleted_account_holding_the_login_is_one_email(make_world: Any) -> None:
    """A former employee's deleted account holds the new hire's login: a permanent conflict
    naming the deleted holder and its day, one "account not created" email, at most two
    attempts, nothing in the poison queue, even with RESTORE_DELETED_ACCOUNTS on."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    email = f"lea.martin@{DOMAIN}"
    other = world.graph.add_user(
        userPrincipalName=email,
        mail=email,
        displayName="Léa Martin (2019)",
        employeeId="lucca-999",
    )
    world.graph.delete_user(other["id"], at=DELETED_ON)

    employee_id = hire(world, "Léa", "Martin", email)
    world.set_clock(LATER)
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="LM-2"))

    assert Links(world.storage).of_employee(employee_id) is None
    assert world.graph.count("POST", RESTORES) == 0
    assert world.graph.deleted_user(other["id"])["employeeId"] == "lucca-999"
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.CONFLICT
    for said in (email, "deleted account", "Léa Martin (2019)", "2026-09-14", "Deleted users"):
        assert said in entry.message
    assert posts_to_users(world) <= 2
    assert world.host.poisoned() == 0
    assert world.host.failures == []
    [sent] = not_created_emails(world)
    assert "deleted account" in (sent.plain_text or "")
    assert "Léa Martin (2019)" in (sent.plain_text or "")


def test_a_login_nobody_visible_holds_is_retried_briefly_then_reported(
    make_world: Any,
) -> None:
    """Graph refuses the login, yet neither a user nor a deleted user holds it: retried for a
    few minutes of the connector's clock (not RETRY_WINDOW_HOURS), then a conflict and one
    "account not created" email; nothing poisoned."""
    world = a_world(make_world)
    moments: Iterator[datetime] = (OCTOBER + timedelta(minutes=2) * i for i in range(1000))
    world.host.before_each = lambda: world.set_clock(next(moments))
    email = f"max.roy@{DOMAIN}"
    world.graph.inject(
        400,
        method="POST",
        path=USERS,
        times=100,
        body={
            "error": {
                "code": "Request_BadRequest",
                "message": "Another object with the same value for property "
                "userPrincipalName already exists.",
                "details": [{"code": "ObjectConflict", "target": "userPrincipalName"}],
            }
        },
    )
    before = len(world.lucca.recorded_events())
    employee_id = world.lucca.add_employee("Max", "Roy", email)
    world.deliver_all(since=before)
    world.sync()

    actions = [e.action for e in reversed(world.entries(employee_id))]
    assert actions == [Action.RETRYING, Action.CONFLICT]
    retrying = world.entries(employee_id)[1].message
    assert "will retry until 2026-10-01 09:05 UTC (a replication delay" in retrying
    assert "RETRY_WINDOW_HOURS" not in retrying and "as a conflict" in retrying
    assert "no account holds it" in world.entries(employee_id)[0].message
    assert 2 <= posts_to_users(world) <= 5  # minutes of tries, not a day's
    assert world.host.poisoned() == 0
    world.host.before_each = lambda: None
    [sent] = not_created_emails(world)
    assert "Max Roy" in sent.subject


def test_a_linked_account_it_deleted_is_restored_on_the_next_change(make_world: Any) -> None:
    """The connector's account, deleted by IT: with RESTORE_DELETED_ACCOUNTS the employee's
    next change restores it (same object id, still linked) and writes the change."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    employee_id = hire(world, "Ana", "Lopez", f"ana.lopez@{DOMAIN}", start="2020-01-01")
    object_id = world.account_of(employee_id)["id"]
    world.graph.delete_user(object_id, at=DELETED_ON)
    world.set_clock(LATER)

    change(world, lambda: world.lucca.update_employee(employee_id, family_name="Lopez-Vidal"))

    account = world.account_of(employee_id)
    assert account["id"] == object_id
    assert account["surname"] == "Lopez-Vidal"
    assert account["accountEnabled"] is True
    assert world.entries(employee_id)[0].action is Action.RESTORED
    assert world.graph.count("POST", RESTORES) == 1
    assert posts_to_users(world) == 1  # the first creation only


def test_a_linked_account_it_deleted_is_reported_without_the_setting(make_world: Any) -> None:
    """Without RESTORE_DELETED_ACCOUNTS: the link is kept, nothing restored or created; a
    conflict saying the account was deleted and how to restore it, and one email."""
    world = a_world(make_world)
    employee_id = hire(world, "Ana", "Lopez", f"ana.lopez@{DOMAIN}", start="2020-01-01")
    object_id = world.account_of(employee_id)["id"]
    world.graph.delete_user(object_id, at=DELETED_ON)
    world.notify()
    sent_before = len(world.emails())
    world.set_clock(LATER)

    change(world, lambda: world.lucca.update_employee(employee_id, family_name="Lopez-Vidal"))

    link = Links(world.storage).of_employee(employee_id)
    assert link is not None and link.object_id == object_id
    assert world.graph.count("POST", RESTORES) == 0
    assert posts_to_users(world) == 1
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.CONFLICT
    assert "was deleted in Entra on 2026-09-14" in entry.message
    assert "RESTORE_DELETED_ACCOUNTS" in entry.message
    world.notify()
    [sent] = world.emails()[sent_before:]
    assert "Ana Lopez" in sent.subject
    assert "was deleted in Entra" in (sent.plain_text or "")


def plans(world: World, employee_id: str) -> list[str]:
    """What `sync ID --dry-run` and `reconcile` print (both exit 0 or 1, never fail)."""
    said = []
    for command in (["sync", employee_id, "--dry-run"], ["reconcile"]):
        out = io.StringIO()
        code = cli.main(command, environ=dict(os.environ), out=out, clock=lambda: LATER)
        assert code in (0, 1), out.getvalue()
        said.append(out.getvalue())
    return said


def test_dry_run_and_reconcile_plan_the_restore(make_world: Any) -> None:
    """With RESTORE_DELETED_ACCOUNTS: both say the deleted account would be restored, and
    restore nothing."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    email = f"ugo.brun@{DOMAIN}"
    employee_id, object_id = leaver_deleted_by_it(world, email)
    world.lucca.add_employment(employee_id, start=FIRST_DAY)  # not delivered: planned only

    for out in plans(world, employee_id):
        assert f"Would restore the account {email} ({object_id}), deleted on 2026-09-14" in out
    assert world.graph.count("POST", RESTORES) == 0
    assert world.graph.users == []


def test_dry_run_and_reconcile_name_someone_elses_deleted_holder(make_world: Any) -> None:
    """Someone else's deleted account holds the login: both say so, as the sync would."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    email = f"lea.martin@{DOMAIN}"
    other = world.graph.add_user(userPrincipalName=email, mail=email, displayName="Léa (2019)")
    world.graph.delete_user(other["id"], at=DELETED_ON)
    employee_id = world.lucca.add_employee("Léa", "Martin", email)

    for out in plans(world, employee_id):
        assert f"The login {email} is held by a deleted account, Léa (2019)" in out
    assert posts_to_users(world) == 0


def test_dry_run_plans_restoring_a_linked_account_it_deleted(make_world: Any) -> None:
    """The linked account IT deleted: `sync --dry-run` and `reconcile` plan its restore."""
    world = a_world(make_world, RESTORE_DELETED_ACCOUNTS="true")
    employee_id = hire(world, "Ana", "Lopez", f"ana.lopez@{DOMAIN}", start="2020-01-01")
    object_id = world.account_of(employee_id)["id"]
    world.graph.delete_user(object_id, at=DELETED_ON)

    for out in plans(world, employee_id):
        assert f"Would restore the account ana.lopez@{DOMAIN} ({object_id})" in out
    assert world.graph.count("POST", RESTORES) == 0


def test_a_login_from_the_name_skips_someone_elses_deleted_holder(make_world: Any) -> None:
    """LOGIN_TEMPLATE: jean.dupont is held by a former Jean Dupont's deleted account (Graph
    refuses it): the next candidate, jean.dupont2, with no conflict and no retry."""
    world = a_world(make_world, LOGIN_TEMPLATE=f"{{firstName}}.{{lastName}}@{DOMAIN}")
    login = f"jean.dupont@{DOMAIN}"
    other = world.graph.add_user(userPrincipalName=login, mail=login, employeeId="lucca-42")
    world.graph.delete_user(other["id"], at=DELETED_ON)

    employee_id = hire(world, "Jean", "Dupont", None)

    account = world.account_of(employee_id)
    assert account["userPrincipalName"] == f"jean.dupont2@{DOMAIN}"
    assert [e.action for e in world.entries(employee_id)] == [Action.CREATED]
    assert posts_to_users(world) == 2  # jean.dupont refused, jean.dupont2 made
    assert world.host.poisoned() == 0
