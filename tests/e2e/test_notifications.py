"""Notification emails end to end: signed webhook → queue → sync (or the leavers' timer) →
the outbox in Azurite → `send_notifications` → the real `azure-communication-email` client →
the loopback ACS endpoint, which checks the HMAC signature and records each message."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from connector.domain.entries import Action
from connector.storage.links import Links
from connector.storage.outbox import Outbox
from connector.storage.outbox_rows import OUTBOX_TABLE
from connector.storage.schedule import ScheduleStore
from tests.e2e.conftest import DOMAIN, NOTIFY_FROM, NOTIFY_TO, World
from tests.e2e.test_sync import change, hire, posts_to_users

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def world(make_world: Any) -> World:
    """The connector in apply mode, emailing NOTIFY_TO through the ACS sandbox."""
    made: World = make_world(notify=True)
    made.set_clock(NOW)
    return made


def subjects(world: World) -> list[str]:
    """The subjects of the messages ACS accepted, in order."""
    return [email.subject for email in world.emails()]


def outbox_rows(world: World) -> list[dict[str, Any]]:
    """Every row of the outbox table (none when the table was never made)."""
    client = world.storage.table(OUTBOX_TABLE)
    try:
        return [dict(row) for row in client.list_entities()]
    except ResourceNotFoundError:  # the table does not exist: nothing was ever raised
        return []


# -- the four emails, through the real client --------------------------------------------------
def test_account_created_email_sent_once_with_links(world: World) -> None:
    """A hire → one "account created" email to NOTIFY_TO from NOTIFY_FROM, with the user's
    Entra page and the Lucca file, and no password; the next tick sends nothing more."""
    employee_id = hire(world, "Ada", "Lovelace", f"ada.lovelace@{DOMAIN}")
    account = world.account_of(employee_id)
    world.notify()
    [email] = world.emails()
    assert email.to == [NOTIFY_TO]
    assert email.sender == NOTIFY_FROM
    assert "Ada Lovelace" in email.subject
    assert email.plain_text is not None
    assert email.html is not None
    for part in (email.plain_text, email.html):
        assert f"ada.lovelace@{DOMAIN}" in part
        assert f"/userId/{account['id']}" in part
        assert f"/directory/user/{employee_id}" in part
    # The POST carried a password; the email must not.
    posted = next(r for r in world.graph.requests if r.method == "POST" and r.path == "/v1.0/users")
    secret = posted.json()["passwordProfile"]["password"]
    assert secret not in email.plain_text
    assert secret not in email.html
    assert world.acs is not None
    assert world.acs.count("GET", r"^/emails/operations/") >= 1  # the client polled the status

    world.notify(NOW + MINUTE)
    assert len(world.emails()) == 1


def test_account_not_created_email_says_why(world: World) -> None:
    """An email in an unverified domain → no account, one "not created" email with the
    reason, the Entra "new user" page and the Lucca file."""
    employee_id = hire(world, "Bob", "Martin", "bob.martin@not-ours.example")
    assert posts_to_users(world) == 0
    world.notify()
    [email] = world.emails()
    assert email.plain_text is not None
    assert "not-ours.example is not a verified domain" in email.plain_text
    assert "CreateUser.ReactView" in email.plain_text
    assert f"/directory/user/{employee_id}" in email.plain_text
    # The same employee edited again in Lucca: the same failure, no second email.
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="E-9"))
    world.notify(NOW + MINUTE)
    assert len(world.emails()) == 1


def test_deactivated_email_once_with_the_instant(world: World) -> None:
    """A leaver disabled at 00:00 Paris → one "deactivated" email saying when."""
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    employee_id = hire(world, "Léa", "Roux", f"lea.roux@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 10, 24)))
    world.notify()
    assert len(world.emails()) == 1  # "account created"
    world.tick(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    assert world.account_of(employee_id)["accountEnabled"] is False
    world.notify(datetime(2026, 10, 24, 22, 0, 30, tzinfo=UTC))
    assert len(world.emails()) == 2
    email = world.emails()[1]
    assert "Léa Roux" in email.subject
    assert email.plain_text is not None
    assert "2026-10-25 00:00" in email.plain_text  # local midnight after the last day
    world.tick(datetime(2026, 10, 24, 22, 5, tzinfo=UTC))
    world.notify(datetime(2026, 10, 24, 22, 5, 30, tzinfo=UTC))
    assert len(world.emails()) == 2


def test_deactivation_failed_email_when_the_timer_gives_up(world: World) -> None:
    """Graph refuses the disable three runs in a row → one "deactivation failed" email with
    the reason, once the timer leaves it to an operator."""
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
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
    midnight = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    for run in range(3):
        world.tick(midnight + run * 5 * MINUTE)
        world.notify(midnight + run * 5 * MINUTE + timedelta(seconds=30))
    assert world.account_of(employee_id)["accountEnabled"] is True
    # The last run's two entries share an instant: their order is not defined.
    assert {e.action for e in world.entries(employee_id)[:2]} == {
        Action.LEFT_FOR_OPERATOR,
        Action.DEACTIVATION_FAILED,
    }
    [created, failed] = world.emails()
    assert "Max Brun" in failed.subject
    assert failed.subject != created.subject
    assert failed.plain_text is not None
    assert "Authorization_RequestDenied" in failed.plain_text
    assert f"/userId/{object_id}" in failed.plain_text


# -- escaping -----------------------------------------------------------------------------------
def test_markup_in_a_name_is_escaped_in_the_html(world: World) -> None:
    """A name carrying `<script>` reaches the email escaped in HTML, verbatim in text."""
    hire(world, "<script>alert(1)</script>", "O'Brien", f"evil.name@{DOMAIN}")
    world.notify()
    [email] = world.emails()
    assert email.html is not None
    assert email.plain_text is not None
    assert "<script>" not in email.html
    assert html.escape("<script>alert(1)</script>") in email.html
    assert "<script>alert(1)</script>" in email.plain_text
    assert "\n" not in email.subject and "\r" not in email.subject


# -- failures never cost the sync ---------------------------------------------------------------
def test_send_failing_twice_then_succeeding(world: World) -> None:
    """ACS answers 503 twice: the email goes on the third attempt, once."""
    assert world.acs is not None
    employee_id = hire(world, "Chloé", "Petit", f"chloe.petit@{DOMAIN}")
    world.acs.inject(
        503,
        body={"error": {"code": "ServiceUnavailable", "message": "busy"}},
        method="POST",
        path=r"^/emails:send$",
        times=2,
    )
    moment = NOW
    for _ in range(6):
        world.notify(moment)
        moment += timedelta(minutes=4)  # past each backoff (1, then 2 minutes)
    assert world.acs.count("POST", r"^/emails:send$") == 3
    assert len(world.emails()) == 1
    assert Action.NOTIFICATION_FAILED not in {e.action for e in world.entries(employee_id)}


def test_send_always_failing_is_logged_and_the_account_stands(world: World) -> None:
    """ACS refuses every send: the account is created all the same, the email is tried
    NOTIFY_MAX_ATTEMPTS times, then one "notification failed" entry; nothing more is sent."""
    assert world.acs is not None
    world.acs.inject(
        400,
        body={"error": {"code": "BadRequest", "message": "sender refused"}},
        method="POST",
        path=r"^/emails:send$",
        times=100,
    )
    employee_id = hire(world, "Hugo", "Blanc", f"hugo.blanc@{DOMAIN}")
    assert world.account_of(employee_id)["accountEnabled"] is True
    moment = NOW
    for _ in range(12):
        world.notify(moment)
        moment += timedelta(hours=1)
    assert world.acs.count("POST", r"^/emails:send$") == 5
    assert world.emails() == []
    failures = [e for e in world.entries(employee_id) if e.action is Action.NOTIFICATION_FAILED]
    assert len(failures) == 1
    assert "sender refused" in failures[0].message
    assert "5 attempts" in failures[0].message
    assert world.entries(employee_id)[-1].action is Action.CREATED


# -- exactly once -------------------------------------------------------------------------------
def test_redelivered_event_sends_one_email(world: World) -> None:
    """Lucca delivers the hire's events three times over: one account, one email."""
    before = len(world.lucca.recorded_events())
    world.lucca.add_employee("Inès", "Morel", f"ines.morel@{DOMAIN}")
    for _ in range(3):
        world.deliver_all(since=before)
        world.sync()
    world.notify()
    world.notify(NOW + MINUTE)
    assert posts_to_users(world) == 1
    assert len(world.emails()) == 1


def test_crash_between_the_creation_and_the_notice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync dies right after Graph created the account, before the notice and the link:
    the retried message finds the account by its anchor, links it, and the email still goes,
    once."""
    real_put = Outbox.put
    crashes = {"left": 1}

    def put_then_crash(self: Outbox, notice: Any) -> bool:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("the worker died")
        return real_put(self, notice)

    monkeypatch.setattr(Outbox, "put", put_then_crash)
    employee_id = hire(world, "Paul", "Durand", f"paul.durand@{DOMAIN}")
    assert crashes["left"] == 0
    assert posts_to_users(world) == 1
    link = Links(world.storage).of_employee(employee_id)
    assert link is not None and link.how == "employeeId"  # found again by its anchor
    world.notify()
    world.notify(NOW + MINUTE)
    [email] = world.emails()
    assert "Paul Durand" in email.subject


def test_crash_between_the_notice_and_the_link(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync dies after the notice, before the link: the retry links the account, and
    the email is sent once."""
    real_link = Links.link
    crashes = {"left": 1}

    def link_then_crash(self: Links, *args: Any, **kwargs: Any) -> Any:
        if crashes["left"] and kwargs.get("how") == "created":
            crashes["left"] -= 1
            raise RuntimeError("the worker died")
        return real_link(self, *args, **kwargs)

    monkeypatch.setattr(Links, "link", link_then_crash)
    hire(world, "Nina", "Lopez", f"nina.lopez@{DOMAIN}")
    assert crashes["left"] == 0
    world.notify()
    world.notify(NOW + MINUTE)
    assert len(world.emails()) == 1
    assert posts_to_users(world) == 1


def test_crash_after_the_disable_sends_one_email(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timer dies after disabling, before settling the action: the next run finds the
    account disabled by the connector, and the "deactivated" email goes once."""
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    employee_id = hire(world, "Eva", "Garnier", f"eva.garnier@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 10, 24)))
    world.notify()
    real_done = ScheduleStore.done
    crashes = {"left": 1}

    def done_then_crash(self: ScheduleStore, action: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("the worker died")
        real_done(self, action)

    monkeypatch.setattr(ScheduleStore, "done", done_then_crash)
    midnight = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    with pytest.raises(RuntimeError):
        world.tick(midnight)
    world.tick(midnight + 5 * MINUTE)
    world.notify(midnight + 6 * MINUTE)
    world.notify(midnight + 7 * MINUTE)
    assert len(world.emails()) == 2  # created, deactivated
    assert "Eva Garnier" in world.emails()[1].subject


def test_crash_after_acs_accepted_sends_no_second_email(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ACS accepted the message, then the sender died before recording it: the next attempt
    reuses the operation id, and ACS keeps it to one message."""
    hire(world, "Jean", "Moulin", f"jean.moulin@{DOMAIN}")
    real_settle = Outbox.settle
    crashes = {"left": 1}

    def settle_then_crash(self: Outbox, key: str, **kwargs: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("the worker died")
        real_settle(self, key, **kwargs)

    monkeypatch.setattr(Outbox, "settle", settle_then_crash)
    with pytest.raises(RuntimeError):
        world.notify(NOW)
    assert world.acs is not None
    world.notify(NOW + 10 * MINUTE)  # after the claim expired
    world.notify(NOW + 11 * MINUTE)
    assert world.acs.count("POST", r"^/emails:send$") == 2
    assert len(world.emails()) == 1


# -- within Azure's limits ----------------------------------------------------------------------
def test_a_burst_of_30_creations_goes_as_one_digest(make_world: Any) -> None:
    """30 hires at once under 5 emails a minute and 10 an hour → one digest naming all 30."""
    world: World = make_world(notify=True, NOTIFY_MAX_PER_MINUTE="5", NOTIFY_MAX_PER_HOUR="10")
    world.set_clock(NOW)
    before = len(world.lucca.recorded_events())
    names = [f"Person{n:02d}" for n in range(30)]
    for name in names:
        world.lucca.add_employee(name, "Burst", f"{name.lower()}.burst@{DOMAIN}")
    world.deliver_all(since=before)
    world.sync(instances=2)
    assert posts_to_users(world) == 30
    world.notify()
    [digest] = world.emails()
    assert digest.plain_text is not None
    for name in names:
        assert f"{name} Burst" in digest.plain_text
    world.notify(NOW + MINUTE)
    world.notify(NOW + 2 * MINUTE)
    assert len(world.emails()) == 1
    assert world.acs is not None
    assert world.acs.count("POST", r"^/emails:send$") == 1


def test_a_few_creations_go_one_by_one_within_the_minute(make_world: Any) -> None:
    """7 hires under 5 a minute and 100 an hour → 5 emails now, 2 the next minute."""
    world: World = make_world(notify=True, NOTIFY_MAX_PER_MINUTE="5", NOTIFY_MAX_PER_HOUR="100")
    world.set_clock(NOW)
    before = len(world.lucca.recorded_events())
    for n in range(7):
        world.lucca.add_employee(f"Few{n}", "Hires", f"few{n}.hires@{DOMAIN}")
    world.deliver_all(since=before)
    world.sync()
    world.notify()
    assert len(world.emails()) == 5
    world.notify(NOW + 30 * timedelta(seconds=1))
    assert len(world.emails()) == 5
    world.notify(NOW + MINUTE + timedelta(seconds=10))
    assert len(world.emails()) == 7
    assert len(set(subjects(world))) == 7


def test_no_recipients_nothing_raised_nothing_sent(make_world: Any) -> None:
    """Without NOTIFY_RECIPIENTS: hires and a failure raise no notice, and the timer sends
    nothing (ACS is never called)."""
    world: World = make_world(notify=True, NOTIFY_RECIPIENTS="")
    world.set_clock(NOW)
    hire(world, "Zoé", "Faure", f"zoe.faure@{DOMAIN}")
    hire(world, "Yann", "Roy", "yann.roy@not-ours.example")
    world.notify()
    assert world.acs is not None
    assert world.acs.requests == []
    assert outbox_rows(world) == []
