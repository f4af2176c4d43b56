"""Every email names the employee and their login, end to end (issue 19): the "deactivation
failed" email, each line of the daily digest and of the grouped digest; and a leaver whose
account someone had already disabled gets one "account deactivated" email that says so.

Signed webhook → queue → sync (or the leavers' timer) → the outbox in Azurite →
`send_notifications` → the real `azure-communication-email` client → the ACS sandbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.domain.entries import Action
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire

pytestmark = pytest.mark.azurite

MINUTE = timedelta(minutes=1)
OCTOBER = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 2026-10-25 00:00 Paris


@pytest.fixture
def world(make_world: Any) -> World:
    """The connector in apply mode, emailing through the ACS sandbox."""
    made: World = make_world(notify=True)
    made.set_clock(OCTOBER)
    return made


def line_of(text: str, name: str) -> str:
    """The one line of a plain-text email that names `name`."""
    [line] = [line for line in text.splitlines() if name in line]
    return line


def test_deactivation_failed_email_gives_the_login(world: World) -> None:
    """Graph refuses the disable three runs in a row → the "deactivation failed" email names
    the employee and gives the account's login, never "unknown"."""
    employee_id = hire(world, "Max", "Brun", f"max.brun@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 10, 24)))
    object_id = world.account_of(employee_id)["id"]
    world.notify()
    world.graph.inject(
        403,
        method="PATCH",
        path=rf"^/v1\.0/users/{object_id}$",
        times=10,
        body={
            "error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges."}
        },
    )
    for run in range(3):
        world.tick(MIDNIGHT + run * 5 * MINUTE)
        world.notify(MIDNIGHT + run * 5 * MINUTE + timedelta(seconds=30))
    [_, failed] = world.emails()
    assert "Max Brun" in failed.subject
    for part in (failed.plain_text or "", failed.html or ""):
        assert f"max.brun@{DOMAIN}" in part
        assert "Max Brun" in part
        assert f"/directory/user/{employee_id}" in part
    assert "unknown" not in (failed.plain_text or "")


def test_already_disabled_leaver_gets_one_deactivated_email_saying_so(world: World) -> None:
    """Someone disabled the leaver's account by hand before the last day: at the instant, no
    write, one "account deactivated" email saying it was already disabled in Entra and nothing
    was changed, a log entry saying so; the next timer run sends nothing more."""
    employee_id = hire(world, "Léa", "Roux", f"lea.roux@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 10, 24)))
    account = world.account_of(employee_id)
    world.notify()
    assert len(world.emails()) == 1  # "account created"
    world.graph.edit_user(account["id"], accountEnabled=False)  # by hand, in Entra
    writes = world.graph_writes()

    world.tick(MIDNIGHT)
    world.notify(MIDNIGHT + timedelta(seconds=30))

    assert world.graph_writes() == writes  # nothing changed in Entra
    [_, email] = world.emails()
    assert "Léa Roux" in email.subject
    assert "deactivated" in email.subject
    text = email.plain_text or ""
    assert "already disabled in Entra" in text
    assert "nothing was changed" in text
    assert f"lea.roux@{DOMAIN}" in text
    assert "already disabled in Entra" in (email.html or "")
    [entry] = [  # the timer's entry about the due disable
        e
        for e in world.entries(employee_id)
        if e.action is Action.UNCHANGED and e.details.get("kind") == "disable"
    ]
    assert "already disabled in Entra" in entry.message
    assert "nothing was changed" in entry.message

    world.tick(MIDNIGHT + 5 * MINUTE)
    world.notify(MIDNIGHT + 5 * MINUTE + timedelta(seconds=30))
    world.tick(MIDNIGHT + timedelta(days=1))
    world.notify(MIDNIGHT + timedelta(days=1, seconds=30))
    assert len(world.emails()) == 2


def test_every_daily_digest_line_names_the_employee_and_login(make_world: Any) -> None:
    """NOTIFY_DAILY_DIGEST=07:30: tomorrow's start, tomorrow's leaver and an open conflict are
    each listed with the employee's name, login and Lucca file, never as a bare id."""
    world: World = make_world(notify=True, NOTIFY_DAILY_DIGEST="07:30", NOTIFY_MAX_PER_HOUR="100")
    today = datetime(2026, 10, 23, 5, 0, tzinfo=UTC)  # 07:00 Paris, the day before
    world.set_clock(today)
    starter = hire(world, "Zoé", "Morel", f"zoe.morel@{DOMAIN}", start="2026-10-24")
    leaver = hire(world, "Hugo", "Petit", f"hugo.petit@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(leaver, date(2026, 10, 23)))
    stuck = hire(world, "Inès", "Faure", "ines.faure@not-ours.example")
    world.notify()  # the single emails
    sent = len(world.emails())

    world.notify(today + timedelta(minutes=30))  # 07:30 Paris: the digest is raised
    world.notify(today + timedelta(minutes=31))
    [daily] = world.emails()[sent:]
    assert "summary" in daily.subject
    text = daily.plain_text or ""
    for name, login, employee_id in (
        ("Zoé Morel", f"zoe.morel@{DOMAIN}", starter),
        ("Hugo Petit", f"hugo.petit@{DOMAIN}", leaver),
        ("Inès Faure", "ines.faure@not-ours.example", stuck),
    ):
        line = line_of(text, name)
        assert login in line
        assert f"employee {employee_id}" not in text
        assert f"/directory/user/{employee_id}" in text
        assert login in (daily.html or "")


def test_every_grouped_digest_line_names_the_employee_and_login(make_world: Any) -> None:
    """More emails waiting than the hour allows → one grouped digest whose every line gives
    the employee's name and login."""
    world: World = make_world(notify=True, NOTIFY_MAX_PER_MINUTE="5", NOTIFY_MAX_PER_HOUR="2")
    world.set_clock(OCTOBER)
    before = len(world.lucca.recorded_events())
    people = [(f"Grouped{n}", f"grouped{n}.digest@{DOMAIN}") for n in range(4)]
    for given, email in people:
        world.lucca.add_employee(given, "Digest", email)
    world.deliver_all(since=before)
    world.sync()
    world.notify()
    [digest] = world.emails()
    text = digest.plain_text or ""
    for given, email in people:
        assert email in line_of(text, f"{given} Digest")


def test_the_daily_digest_names_who_a_held_run_holds(make_world: Any) -> None:
    """Two end dates entered the day before (sudden) with MAX_SUDDEN_DEACTIVATIONS=1: the run
    is held; the next morning's daily digest names both, with their logins and Lucca files."""
    world: World = make_world(
        notify=True,
        NOTIFY_DAILY_DIGEST="07:30",
        NOTIFY_MAX_PER_HOUR="100",
        MAX_SUDDEN_DEACTIVATIONS="1",
    )
    world.set_clock(OCTOBER)
    people = [("Paul", "Henry"), ("Rose", "Lenoir")]
    ids = [
        hire(world, given, family, f"{given.lower()}.{family.lower()}@{DOMAIN}", start="2020-01-01")
        for given, family in people
    ]
    world.set_clock(MIDNIGHT - timedelta(hours=3))  # the evening before: sudden
    for employee_id in ids:
        change(world, lambda e=employee_id: world.lucca.end_employment(e, date(2026, 10, 24)))
    world.notify()
    sent = len(world.emails())
    world.tick(MIDNIGHT)
    assert all(world.account_of(e)["accountEnabled"] for e in ids)  # held

    morning = datetime(2026, 10, 25, 6, 30, tzinfo=UTC)  # 07:30 Paris (CET from 25 October)
    world.notify(morning)
    world.notify(morning + MINUTE)
    [daily] = [email for email in world.emails()[sent:] if "summary" in email.subject]
    text = daily.plain_text or ""
    assert "Run held" in text
    for (given, family), employee_id in zip(people, ids, strict=True):
        line = line_of(text, f"{given} {family}")
        assert f"{given.lower()}.{family.lower()}@{DOMAIN}" in line
        assert f"/directory/user/{employee_id}" in text
