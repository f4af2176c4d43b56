"""No link is silent, end to end: an existing account linked by its mail or login raises an
alerting entry and a "linked existing account" email (signed webhook → queue → sync → outbox
→ `send_notifications` → the ACS sandbox); the reviewed go-live (`reconcile --apply`) and a
link by the anchor do neither."""

from __future__ import annotations

import io
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.cli import main as cli
from connector.domain.entries import Action
from connector.domain.mapping import anchor
from connector.domain.notices import Kind
from connector.storage.log import ALERT_PREFIX, IntegrationLog
from connector.storage.outbox_rows import KEY_PREFIX
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_nightly import WINTER_NIGHT, nightly
from tests.e2e.test_notifications import outbox_rows
from tests.e2e.test_sync import change, hire, posts_to_users

pytestmark = pytest.mark.azurite

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def notifying(make_world: Any, **settings: str) -> World:
    """The connector in apply mode, emailing through the ACS sandbox, at NOW."""
    made: World = make_world(notify=True, **settings)
    made.set_clock(NOW)
    return made


def alerts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The `connector alert:` warnings written so far."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(ALERT_PREFIX)]


def linked_notices(world: World) -> list[dict[str, Any]]:
    """The "linked existing account" notices the outbox holds (one key row each)."""
    return [
        row
        for row in outbox_rows(world)
        if row.get("Kind") == Kind.LINKED.value and row["RowKey"].startswith(KEY_PREFIX)
    ]


def test_a_link_by_mail_alerts_and_sends_one_email(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A new employee whose email is an unanchored account's mail → linked, one alerting entry
    (warning and attention list) naming the account and how, one English email naming the
    employee, the login, the object id, both links and the unlink command."""
    caplog.set_level(logging.WARNING)
    world = notifying(make_world)
    existing = world.graph.add_user(
        userPrincipalName=f"ana.lopez@{DOMAIN}",
        mail=f"Ana.Lopez@{DOMAIN}",
        displayName="Ana Lopez",
    )
    employee_id = hire(world, "Ana", "Lopez", f"ana.lopez@{DOMAIN}")
    assert posts_to_users(world) == 0
    assert world.account_of(employee_id)["id"] == existing["id"]
    [entry] = world.entries(employee_id)
    assert entry.action is Action.LINKED and entry.alert
    assert f"ana.lopez@{DOMAIN}" in entry.message and "matched by mail" in entry.message
    assert f"python -m connector unlink {employee_id}" in entry.message
    assert [a.split(" (")[0] for a in alerts(caplog)] == [f"{ALERT_PREFIX} linked"]
    assert IntegrationLog(world.storage).for_attention() == [entry]

    world.notify()
    [email] = world.emails()
    assert email.subject == "Existing Entra account linked: Ana Lopez"
    assert email.plain_text is not None and email.html is not None
    for part in (email.plain_text, email.html):
        assert f"ana.lopez@{DOMAIN}" in part
        assert existing["id"] in part
        assert f"/userId/{existing['id']}" in part
        assert f"/directory/user/{employee_id}" in part
        assert f"python -m connector unlink {employee_id}" in part
    assert "mail (the account's email address)" in email.plain_text
    # Another edit in Lucca: the account is found by its link now, nothing more is said.
    world.set_clock(NOW + timedelta(minutes=1))
    change(world, lambda: world.lucca.update_employee(employee_id, family_name="Lopez-Garcia"))
    assert world.entries(employee_id)[0].action is Action.UPDATED
    assert not world.entries(employee_id)[0].alert
    assert len(alerts(caplog)) == 1
    assert len(linked_notices(world)) == 1


def test_a_link_by_login_sends_the_email_in_french(make_world: Any) -> None:
    """With NOTIFY_LANGUAGE=fr, an account found by its userPrincipalName → the email in
    French, saying it was found by its login."""
    world = notifying(make_world, NOTIFY_LANGUAGE="fr")
    existing = world.graph.add_user(userPrincipalName=f"eve.roy@{DOMAIN}", displayName="Eve Roy")
    employee_id = hire(world, "Ève", "Roy", f"eve.roy@{DOMAIN}")
    [entry] = world.entries(employee_id)
    assert entry.action is Action.LINKED and entry.alert
    assert "matched by userPrincipalName" in entry.message
    world.notify()
    [email] = world.emails()
    assert email.subject == "Compte Entra existant associé : Ève Roy"
    assert email.plain_text is not None
    assert "userPrincipalName (l'identifiant de connexion du compte)" in email.plain_text
    assert existing["id"] in email.plain_text
    assert f"python -m connector unlink {employee_id}" in email.plain_text


def test_reconcile_apply_links_without_alert_or_email(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The reviewed go-live: `reconcile --apply` links the account found by mail with a plain
    "linked" entry, no alert and no email."""
    caplog.set_level(logging.WARNING)
    world = notifying(make_world)
    existing = world.graph.add_user(
        userPrincipalName=f"max.dubois@{DOMAIN}", mail=f"max.dubois@{DOMAIN}"
    )
    employee_id = world.lucca.add_employee("Max", "Dubois", f"max.dubois@{DOMAIN}")
    out = io.StringIO()
    code = cli.main(["reconcile", "--apply"], environ=dict(os.environ), out=out, clock=lambda: NOW)
    assert code == 0, out.getvalue()
    assert world.account_of(employee_id)["id"] == existing["id"]
    [entry] = world.entries(employee_id)
    assert entry.action is Action.LINKED and not entry.alert
    assert alerts(caplog) == []
    assert IntegrationLog(world.storage).for_attention() == []
    assert linked_notices(world) == []
    world.notify()
    assert world.emails() == []


def test_a_link_by_anchor_is_not_an_alert(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An account already carrying the employee's anchor is linked with no alert, no email."""
    caplog.set_level(logging.WARNING)
    world = notifying(make_world)
    employee_id = world.lucca.add_employee("Léo", "Petit", f"leo.petit@{DOMAIN}")
    world.graph.add_user(
        userPrincipalName=f"lpetit@{DOMAIN}",
        mail=f"lpetit@{DOMAIN}",
        employeeId=anchor(employee_id),
    )
    world.deliver_all()
    world.sync()
    [entry] = world.entries(employee_id)
    assert entry.action is Action.LINKED and "matched by employeeId" in entry.message
    assert not entry.alert
    assert alerts(caplog) == []
    assert IntegrationLog(world.storage).for_attention() == []
    world.notify()
    assert world.emails() == []
    assert linked_notices(world) == []


def test_the_nightly_reconciliation_links_by_mail_with_the_alert(
    make_world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody reviews the nightly run before it applies: an account it links by mail alerts
    and raises the email, as a sync's link does."""
    caplog.set_level(logging.WARNING)
    world = notifying(make_world)
    existing = world.graph.add_user(
        userPrincipalName=f"zoe.henry@{DOMAIN}", mail=f"zoe.henry@{DOMAIN}"
    )
    employee_id = world.lucca.add_employee("Zoé", "Henry", f"zoe.henry@{DOMAIN}")

    nightly(world, WINTER_NIGHT)

    assert world.account_of(employee_id)["id"] == existing["id"]
    [entry] = world.entries(employee_id)
    assert entry.action is Action.LINKED and entry.alert
    assert [a.split(" (")[0] for a in alerts(caplog)] == [f"{ALERT_PREFIX} linked"]
    assert len(linked_notices(world)) == 1
