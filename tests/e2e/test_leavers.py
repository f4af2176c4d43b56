"""Leavers and future hires end to end: sync through the queue, then `deactivate_leavers`
fired by the timer with the connector's clock moved across midnight Paris."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.domain.entries import Action, LogEntry
from connector.storage.log import IntegrationLog
from tests.azurite import Azurite
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire
from tests.integration.test_cli_schedule import cli

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


# -- the daily cap (MAX_DEACTIVATIONS_PER_DAY, default 20) ---------------------------------
def _staff(world: World, count: int) -> list[str]:
    """`count` employees hired together (one delivery, one drain): their Lucca ids."""
    before = len(world.lucca.recorded_events())
    ids = [
        world.lucca.add_employee(f"P{n}", "Staff", f"p{n}.staff@{DOMAIN}", start="2020-01-01")
        for n in range(count)
    ]
    world.deliver_all(since=before)
    world.sync(instances=4)
    return ids


def _end_all(world: World, ids: list[str], last_day: date) -> None:
    """Their last day set in Lucca, the events delivered, the syncs run."""

    def end() -> None:
        for employee_id in ids:
            world.lucca.end_employment(employee_id, last_day)

    before = len(world.lucca.recorded_events())
    end()
    world.deliver_all(since=before)
    world.sync(instances=4)


def _attention(world: World, action: Action) -> list[LogEntry]:
    return [e for e in IntegrationLog(world.storage).for_attention() if e.action is action]


def test_25_end_dates_two_days_ahead_are_held_then_released(world: World, azurite: Azurite) -> None:
    """25 last days entered two days ahead: at 00:00 Paris nothing is disabled and one "run
    held" entry names MAX_DEACTIVATIONS_PER_DAY; `schedule release` → the next run disables
    all 25."""
    world.set_clock(datetime(2026, 10, 22, 21, 0, tzinfo=UTC))
    ids = _staff(world, 25)
    _end_all(world, ids, date(2026, 10, 24))
    instant = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)

    world.tick(instant)
    world.tick(instant + timedelta(minutes=5))

    assert all(world.account_of(e)["accountEnabled"] for e in ids)
    [held] = _attention(world, Action.RUN_HELD)
    assert held.details["rails"] == ["MAX_DEACTIVATIONS_PER_DAY"]
    assert "MAX_DEACTIVATIONS_PER_DAY=20" in held.message
    run_id = held.details["run_id"]
    code, out, err = cli(azurite, "schedule", "list", now=instant + timedelta(minutes=6))
    assert (code, err) == (0, "")
    assert f"Run {run_id} is held" in out and "MAX_DEACTIVATIONS_PER_DAY" in out

    code, _, err = cli(azurite, "schedule", "release", run_id, now=instant + timedelta(minutes=7))
    assert (code, err) == (0, "")
    world.tick(instant + timedelta(minutes=10))

    assert not any(world.account_of(e)["accountEnabled"] for e in ids)
    assert len(_attention(world, Action.RUN_HELD)) == 1


def test_20_end_dates_two_days_ahead_are_carried_out(world: World) -> None:
    """20 last days entered two days ahead, the daily cap: all disabled at 00:00, no hold."""
    world.set_clock(datetime(2026, 10, 22, 21, 0, tzinfo=UTC))
    ids = _staff(world, 20)
    _end_all(world, ids, date(2026, 10, 24))

    world.tick(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))

    assert not any(world.account_of(e)["accountEnabled"] for e in ids)
    assert _attention(world, Action.RUN_HELD) == []


def test_the_21st_end_date_entered_in_a_day_alerts_once(world: World) -> None:
    """20 last days entered in one day: no alert at the timer's run; the 21st: one alerting
    entry; the 22nd the same day: still one."""
    world.set_clock(datetime(2026, 10, 20, 7, 0, tzinfo=UTC))
    ids = _staff(world, 22)
    _end_all(world, ids[:20], date(2026, 11, 30))
    world.tick(datetime(2026, 10, 20, 8, 0, tzinfo=UTC))
    assert _attention(world, Action.SCHEDULED) == []

    for n, employee_id in enumerate(ids[20:]):
        world.set_clock(datetime(2026, 10, 20, 9 + n, 0, tzinfo=UTC))
        _end_all(world, [employee_id], date(2026, 11, 30))
        world.tick(datetime(2026, 10, 20, 9 + n, 5, tzinfo=UTC))

    [alert] = _attention(world, Action.SCHEDULED)
    assert alert.alert and alert.details["entered"] == 21
    assert "MAX_DEACTIVATIONS_PER_DAY=20" in alert.message
