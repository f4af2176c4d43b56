"""Leavers and future hires end to end: sync through the queue, then `deactivate_leavers`
fired by the timer with the connector's clock moved across midnight Paris."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.domain.entries import Action
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire

pytestmark = pytest.mark.azurite
MS = timedelta(milliseconds=3)


def revoked(world: World, object_id: str) -> bool:
    """Whether the connector revoked the user's sign-in sessions."""
    return world.graph.count("POST", rf"^/v1\.0/users/{object_id}/.*revokeSignInSessions$") > 0


@pytest.mark.parametrize(
    ("last_day", "instant"),
    [
        (date(2023, 10, 19), datetime(2023, 10, 19, 22, 0, tzinfo=UTC)),  # the seed's example
        (date(2026, 3, 28), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # spring change
        (date(2026, 10, 24), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),  # autumn change
    ],
    ids=["seed-2023-10-19", "spring-2026-03-28", "autumn-2026-10-24"],
)
def test_leaver_disabled_at_midnight_paris_never_early(
    world: World, last_day: date, instant: datetime
) -> None:
    """Last day D → still enabled a few ms before D+1 00:00 Paris, disabled (sessions
    revoked) by the first run at or after it."""
    world.set_clock(datetime.combine(last_day - timedelta(days=10), datetime.min.time(), UTC))
    employee_id = hire(world, "Léa", "Roux", f"lea.roux@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(employee_id, last_day))
    account = world.account_of(employee_id)

    world.tick(instant - MS)
    assert world.account_of(employee_id)["accountEnabled"] is True

    world.tick(instant)
    assert world.account_of(employee_id)["accountEnabled"] is False
    assert revoked(world, account["id"])
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.DEACTIVATED


def test_missed_run_is_caught_up(world: World) -> None:
    """No run between the instant and two days later: the next run disables."""
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    employee_id = hire(world, "Max", "Brun", f"max.brun@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 10, 24)))
    world.tick(datetime(2026, 10, 26, 8, 0, tzinfo=UTC), past_due=True)
    assert world.account_of(employee_id)["accountEnabled"] is False


def test_future_hire_enabled_on_the_first_day_not_before(world: World) -> None:
    """Created disabled; the run a few ms before 00:00 Paris on day one leaves it closed,
    the run at 00:00 opens it."""
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    employee_id = hire(world, "Noé", "Vidal", f"noe.vidal@{DOMAIN}", start="2026-10-25")
    assert world.account_of(employee_id)["accountEnabled"] is False
    first_day = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    world.tick(first_day - MS)
    assert world.account_of(employee_id)["accountEnabled"] is False
    world.tick(first_day)
    assert world.account_of(employee_id)["accountEnabled"] is True
    assert world.entries(employee_id)[0].action is Action.ENABLED


def test_contract_a_month_later_disables_then_enables(world: World) -> None:
    """A contract ending on 2026-03-28 and the next starting a month later: disabled at
    2026-03-28T23:00Z, enabled again at 00:00 Paris on the new first day."""
    world.set_clock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    employee_id = hire(world, "Ivy", "Marchand", f"ivy.marchand@{DOMAIN}", start="2025-01-01")

    def rehire_later() -> None:
        world.lucca.end_employment(employee_id, date(2026, 3, 28))
        world.lucca.add_employment(employee_id, start=date(2026, 4, 28))

    change(world, rehire_later)
    world.tick(datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    assert world.account_of(employee_id)["accountEnabled"] is False
    world.tick(datetime(2026, 4, 27, 22, 0, tzinfo=UTC) - MS)
    assert world.account_of(employee_id)["accountEnabled"] is False
    world.tick(datetime(2026, 4, 27, 22, 0, tzinfo=UTC))
    assert world.account_of(employee_id)["accountEnabled"] is True


def test_establishment_time_zone(make_world: Any) -> None:
    """LEAVER_TIME_ZONE=establishment: a New York employee leaves at midnight New York."""
    world = make_world(LEAVER_TIME_ZONE="establishment")
    world.set_clock(datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    office = world.lucca.add_establishment("New York", "America/New_York")
    employee_id = hire(
        world, "Ann", "Lee", f"ann.lee@{DOMAIN}", start="2020-01-01", establishment_id=office
    )
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 11, 10)))
    midnight_new_york = datetime(2026, 11, 11, 5, 0, tzinfo=UTC)  # EST, UTC-5
    world.tick(midnight_new_york - MS)
    assert world.account_of(employee_id)["accountEnabled"] is True
    world.tick(midnight_new_york)
    assert world.account_of(employee_id)["accountEnabled"] is False
    assert "America/New_York" in world.entries(employee_id)[0].message


def test_lifecycle_dates_written_when_they_change(make_world: Any) -> None:
    """LIFECYCLE_DATES=true: employeeHireDate and employeeLeaveDateTime follow Lucca, written
    once, and not again while they stay the same."""
    world = make_world(LIFECYCLE_DATES="true")
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    employee_id = hire(world, "Zoé", "Blanc", f"zoe.blanc@{DOMAIN}", start="2026-03-30")
    account = world.account_of(employee_id)
    assert account["employeeHireDate"] == "2026-03-29T22:00:00Z"
    assert account.get("employeeLeaveDateTime") is None
    change(world, lambda: world.lucca.end_employment(employee_id, date(2026, 10, 24)))
    assert world.account_of(employee_id)["employeeLeaveDateTime"] == "2026-10-24T22:00:00Z"
    world.graph.reset_log()
    change(world, lambda: world.lucca.update_employee(employee_id, employee_number="Z-9"))
    assert world.graph_writes() == 0
