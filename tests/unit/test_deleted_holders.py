"""A linked account IT deleted, at the sync's ports (flows/deleted_holders.py): restored only
for an employee who is to have access, planned (not done) when observing, reported otherwise."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from connector.domain.entries import Action
from connector.domain.mapping import anchor
from connector.notify.notifier import Notifier
from tests.unit.test_sync_engine import World

DELETED_ON = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)


def linked_then_deleted(world: World, *, end: date | None = None) -> tuple[str, str]:
    """An employee synced (account created and linked), whose account IT then deleted."""
    employee = world.lucca.hire("Ada", "Martin", start=date(2025, 1, 6), end=end)
    world.service().sync(employee.id)
    [user] = world.directory.users.values()
    world.directory.delete(user.id, at=DELETED_ON)
    world.directory.writes.clear()
    return employee.id, user.id


def test_restored_with_the_setting_same_object_id_and_still_linked() -> None:
    """RESTORE_DELETED_ACCOUNTS: the next sync restores it and ends "restored"."""
    world = World()
    employee_id, object_id = linked_then_deleted(world)

    entry = world.service(restore_deleted=True).sync(employee_id)

    assert entry.action is Action.RESTORED
    assert world.directory.writes[0] == ("restore", object_id)
    assert object_id in world.directory.users
    link = world.links.of_employee(employee_id)
    assert link is not None and link.object_id == object_id


def test_observing_plans_the_restore_and_restores_nothing() -> None:
    """CONNECTOR_MODE=observe (and `sync --dry-run`): "restored", observed; nothing written."""
    world = World()
    employee_id, object_id = linked_then_deleted(world)

    entry = world.service(restore_deleted=True, observe=True).sync(employee_id)

    assert (entry.action, entry.observed) == (Action.RESTORED, True)
    assert "Would restore" in entry.message and "2026-02-20" in entry.message
    assert world.directory.writes == []
    assert object_id not in world.directory.users


def test_a_leaver_s_deleted_account_stays_deleted() -> None:
    """The employee left (last day past, nothing to come): never restored, even with the
    setting; the conflict says why."""
    world = World()
    employee_id, object_id = linked_then_deleted(world, end=date(2026, 2, 1))

    entry = world.service(restore_deleted=True).sync(employee_id)

    assert entry.action is Action.CONFLICT
    assert "no access to come" in entry.message
    assert world.directory.writes == []
    assert object_id not in world.directory.users


def test_without_the_setting_the_conflict_says_how_to_restore() -> None:
    """No setting: nothing restored; the conflict names the account, the day and the ways."""
    world = World()
    employee_id, object_id = linked_then_deleted(world)

    entry = world.service().sync(employee_id)

    assert entry.action is Action.CONFLICT
    for said in (object_id, "2026-02-20", "Deleted users", "RESTORE_DELETED_ACCOUNTS"):
        assert said in entry.message
    assert world.directory.writes == []


class RecordingNotifier(Notifier):
    """The "account not created" emails the sync asks for (no outbox)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.reasons: list[str] = []

    def not_created(self, **notice: Any) -> None:
        self.reasons.append(str(notice["reason"]))


def test_a_refused_restore_of_a_linked_account_is_a_conflict_and_one_email() -> None:
    """The setting on, but Graph refuses the restore (403): a conflict naming the permission
    the restore needs, one "account not created" email saying so; nothing written."""
    world = World()
    employee_id, object_id = linked_then_deleted(world)
    world.directory.refused_restores.add(object_id)
    notifier = RecordingNotifier()

    entry = world.service(restore_deleted=True, notifier=notifier).sync(employee_id)

    assert entry.action is Action.CONFLICT
    assert "User.DeleteRestore.All" in entry.message and object_id in entry.message
    assert notifier.reasons == [entry.message]
    assert world.directory.writes == []
    assert object_id not in world.directory.users


def test_an_anchor_changed_before_the_deletion_is_the_operator_s_unlink() -> None:
    """IT gave the linked account to someone else (its employeeId changed), then deleted it:
    never restored for this employee; the link is dropped as for an active account."""
    world = World()
    employee_id, object_id = linked_then_deleted(world)
    user, deleted = world.directory.deleted[object_id]
    world.directory.deleted[object_id] = (
        replace(user, employee_id="lucca-99"),
        replace(deleted, employee_id="lucca-99"),
    )

    entry = world.service(restore_deleted=True).sync(employee_id)

    assert entry.action is Action.UNLINKED_IN_ENTRA
    assert world.directory.writes == []
    assert object_id not in world.directory.users
    assert world.links.of_employee(employee_id) is None


def test_a_replacement_made_by_it_is_not_doubled_by_a_restore() -> None:
    """IT deleted the linked account and made another carrying the employee's anchor: the
    deleted one is not restored beside it; the conflict names the replacement."""
    world = World()
    employee_id, object_id = linked_then_deleted(world)
    other = world.directory.add(
        user_principal_name="ada.martin2@acme.fr", employee_id=anchor(employee_id)
    )
    world.directory.writes.clear()

    entry = world.service(restore_deleted=True).sync(employee_id)

    assert entry.action is Action.CONFLICT
    assert other.id in entry.message and "link" in entry.message
    assert world.directory.writes == []
    assert object_id not in world.directory.users


def test_an_account_deleted_while_enabled_is_closed_until_the_first_day() -> None:
    """A rehire starting next month whose linked account IT deleted while it was enabled:
    restored, then disabled at once (a new account would be created disabled), and counted
    as closed by the connector so that the first day opens it."""
    world = World()
    employee = world.lucca.hire("Ada", "Martin", start=date(2026, 4, 1))
    world.service().sync(employee.id)
    [user] = world.directory.users.values()
    world.directory.users[user.id] = replace(user, account_enabled=True)  # opened by hand
    world.directory.delete(user.id, at=DELETED_ON)
    world.directory.writes.clear()

    entry = world.service(restore_deleted=True).sync(employee.id)

    assert entry.action is Action.RESTORED
    assert world.directory.writes[:2] == [
        ("restore", user.id),
        ("update", user.id, {"accountEnabled": False}),
    ]
    assert world.directory.users[user.id].account_enabled is False
    link = world.links.of_employee(employee.id)
    assert link is not None and link.disabled_by_connector is True
