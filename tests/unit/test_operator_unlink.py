"""An operator's unlink: the rule that reads it in a linked account's employeeId, and the sync
around it at its ports (in-memory stores, fake Lucca and Entra)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from connector.domain.entries import Action
from connector.domain.links import Link, operator_unlink
from connector.domain.mapping import DEFAULT_ATTRIBUTES, anchor, owned
from tests.unit.test_sync_engine import NOW, World

MARK = anchor("7")
LINK = Link(employee_id="7", object_id="obj-7", linked_at=NOW, how="mail")


@pytest.mark.parametrize(
    ("stamped", "how", "stamps", "now", "unlink"),
    [
        (True, "mail", True, MARK, ""),
        (True, "mail", True, None, "cleared in Entra"),
        (True, "mail", True, "EMP-1", "changed to 'EMP-1' in Entra"),
        (False, "mail", True, "lucca-8", "changed to 'lucca-8' in Entra"),
        (False, "mail", True, None, ""),  # linked, anchor not written yet: the sync writes it
        (None, "mail", True, None, "cleared in Entra"),  # stored before: a sync wrote it
        (None, "created", False, None, "cleared in Entra"),  # the POST carried it
        (None, "mail", False, None, ""),  # the connector never wrote one
        (None, "mail", False, MARK, ""),
    ],
)
def test_the_rule(
    stamped: bool | None, how: str, stamps: bool, now: str | None, unlink: str
) -> None:
    """Another value is always an unlink; an empty one is when the anchor was (or must have
    been) there; a new link whose anchor is not written yet is not."""
    link = replace(LINK, stamped=stamped, how=how)
    assert operator_unlink(link, now, mark=MARK, stamps=stamps) == unlink


@pytest.fixture
def world() -> World:
    """An empty tenant, an empty Lucca, empty stores."""
    return World()


def _linked_by_mail(world: World) -> tuple[str, str]:
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    user = world.directory.add(
        user_principal_name="ada.martin@acme.fr", mail="ada.martin@acme.fr", account_enabled=True
    )
    assert world.service().sync(employee.id).action is Action.LINKED
    link = world.links.of_employee(employee.id)
    assert link is not None and link.stamped is True  # the sync's PATCH wrote the anchor
    return employee.id, user.id


def test_an_account_unlinked_is_refused_by_anchor_mail_and_login(world: World) -> None:
    """After an unlink that left the anchor on the account, neither the anchor nor the email
    finds it again: a conflict naming `link`, no account created, nothing written."""
    employee_id, object_id = _linked_by_mail(world)
    world.links.unlink(employee_id, at=NOW, why="test")
    world.directory.writes.clear()

    anchored = world.service().sync(employee_id)
    world.directory.users[object_id] = replace(world.directory.users[object_id], employee_id=None)
    by_mail = world.service().sync(employee_id)

    for entry in (anchored, by_mail):
        assert entry.action is Action.CONFLICT
        assert f"The operator unlinked account ada.martin@acme.fr ({object_id})" in entry.message
        assert f"python -m connector link {employee_id} {object_id}" in entry.message
    assert world.directory.writes == []
    assert world.links.of_employee(employee_id) is None


def test_observe_mode_reports_the_unlink_and_keeps_the_link(world: World) -> None:
    """In observe mode a cleared employeeId is reported (observed) and the link is kept."""
    employee_id, object_id = _linked_by_mail(world)
    world.directory.users[object_id] = replace(world.directory.users[object_id], employee_id=None)

    entry = world.service(observe=True).sync(employee_id)

    assert (entry.action, entry.observed) == (Action.UNLINKED_IN_ENTRA, True)
    assert world.links.of_employee(employee_id) is not None
    assert not world.links.is_refused(employee_id, object_id)


def test_without_the_employee_id_row_an_empty_value_is_no_unlink(world: World) -> None:
    """SYNC_ATTRIBUTES without employeeId: an account linked by mail never gets the anchor, so
    its empty employeeId says nothing; it stays linked and is updated."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 1, 5))
    world.directory.add(
        user_principal_name="ada.martin@acme.fr", mail="ada.martin@acme.fr", account_enabled=True
    )
    attributes = owned(tuple(a for a in DEFAULT_ATTRIBUTES if a != "employeeId"))
    service = world.service(attributes=attributes)
    assert service.sync(employee.id).action is Action.LINKED
    world.lucca.change_job(employee.id, job_title="Lead Engineer")

    assert service.sync(employee.id).action is Action.UPDATED
    link = world.links.of_employee(employee.id)
    assert link is not None and link.stamped is False
