"""Start and end dates on the sync side: accounts of future hires created closed, opened on
the first day's sync, and every change of the schedule logged as a sentence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.domain.entries import Action
from connector.storage.links import Links
from connector.storage.schedule import ScheduleStore
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire

pytestmark = pytest.mark.azurite
PARIS = ZoneInfo("Europe/Paris")


def today() -> date:
    """Today in Paris (the connector runs on the real clock here)."""
    return datetime.now(UTC).astimezone(PARIS).date()


def schedule_messages(world: World, employee_id: str) -> list[str]:
    """The employee's "schedule changed" entries, oldest first."""
    return [e.message for e in reversed(world.entries(employee_id)) if e.action is Action.SCHEDULED]


def test_future_hire_is_created_disabled_with_its_enable_scheduled(world: World) -> None:
    """Someone starting in 30 days gets a closed account and an enable at 00:00 on day one."""
    start = today() + timedelta(days=30)
    employee_id = hire(world, "Léo", "Faure", f"leo.faure@{DOMAIN}", start=start.isoformat())
    account = world.account_of(employee_id)
    assert account["accountEnabled"] is False
    link = Links(world.storage).of_employee(employee_id)
    assert link is not None and link.disabled_by_connector
    [action] = ScheduleStore(world.storage).upcoming(employee_id)
    assert (action.kind, action.local_day) == ("enable", start)
    assert schedule_messages(world, employee_id) == [
        f"enable scheduled for {start:%Y-%m-%d} 00:00 Europe/Paris "
        f"(first day {start:%Y-%m-%d}, employment {action.employment_id})"
    ]


def test_end_date_scheduled_moved_and_removed(world: World) -> None:
    """An end date entered, moved later, then removed: scheduled, rescheduled, cancelled."""
    employee_id = hire(world, "Nora", "Petit", f"nora.petit@{DOMAIN}")
    last = today() + timedelta(days=10)
    later = last + timedelta(days=20)
    change(world, lambda: world.lucca.end_employment(employee_id, last))
    change(world, lambda: world.lucca.end_employment(employee_id, later))
    change(world, lambda: world.lucca.end_employment(employee_id, None))
    messages = schedule_messages(world, employee_id)
    assert len(messages) == 3
    day, later_day = last + timedelta(days=1), later + timedelta(days=1)
    assert messages[0].startswith(f"disable scheduled for {day:%Y-%m-%d} 00:00 Europe/Paris")
    assert messages[1].startswith(
        f"disable rescheduled from {day:%Y-%m-%d} 00:00 Europe/Paris to "
        f"{later_day:%Y-%m-%d} 00:00 Europe/Paris"
    )
    assert messages[2] == f"disable for {later_day:%Y-%m-%d} 00:00 Europe/Paris cancelled"
    assert ScheduleStore(world.storage).upcoming(employee_id) == []
    assert world.account_of(employee_id)["accountEnabled"] is True


def test_contract_following_the_next_day_schedules_no_disable(world: World) -> None:
    """A contract ending on D followed by one starting on D+1: the account just continues."""
    employee_id = hire(world, "Eli", "Roy", f"eli.roy@{DOMAIN}")
    last = today() + timedelta(days=5)

    def renew() -> None:
        world.lucca.end_employment(employee_id, last)
        world.lucca.add_employment(employee_id, start=last + timedelta(days=1))

    change(world, renew)
    assert ScheduleStore(world.storage).upcoming(employee_id) == []


def test_rehire_started_already_is_enabled_on_this_sync(world: World) -> None:
    """A leaver the connector disabled, rehired from today: the sync opens the account."""
    employee_id = hire(
        world, "Ugo", "Brun", f"ugo.brun@{DOMAIN}", start="2024-01-01", end="2025-06-30"
    )
    # Hired before the connector existed and already gone: no account was made for him.
    assert world.graph.users == []
    account = world.graph.add_user(
        userPrincipalName=f"ugo.brun@{DOMAIN}", mail=f"ugo.brun@{DOMAIN}", accountEnabled=True
    )
    change(world, lambda: world.lucca.add_employment(employee_id, start=today()))
    assert world.account_of(employee_id)["id"] == account["id"]
    # As if the connector had closed it after the last day of the first contract:
    links = Links(world.storage)
    links.set_disabled_by_connector(employee_id, True)
    world.graph.edit_user(account["id"], accountEnabled=False)
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="R-2"))
    assert world.account_of(employee_id)["accountEnabled"] is True
    link = links.of_employee(employee_id)
    assert link is not None and not link.disabled_by_connector


def test_account_disabled_by_someone_else_is_not_reopened(world: World) -> None:
    """An administrator disabled the account by hand: the connector never enables it."""
    employee_id = hire(world, "Ada", "Vernet", f"ada.vernet@{DOMAIN}")
    account = world.account_of(employee_id)
    world.graph.edit_user(account["id"], accountEnabled=False)
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="X-1"))
    assert world.account_of(employee_id)["accountEnabled"] is False
    assert world.entries(employee_id)[0].details.get("disabled_by_someone_else") is True


def test_flag_cleared_once_someone_enables_the_account(world: World) -> None:
    """The connector closed the account, an administrator opened it again: the next sync
    forgets that the connector closed it, so it will never reopen it after a later manual
    disable."""
    employee_id = hire(world, "Gus", "Perrin", f"gus.perrin@{DOMAIN}")
    links = Links(world.storage)
    links.set_disabled_by_connector(employee_id, True)  # closed once by the connector…
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="G-1"))
    link = links.of_employee(employee_id)
    assert link is not None and not link.disabled_by_connector  # …but enabled since
