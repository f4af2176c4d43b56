"""The unit tests' in-memory stores (tests/unit/memory.py) answer as the Azurite-backed ones do,
for what the engines use: each scenario runs on both and must read the same."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.core.errors import Transient
from connector.domain.ports import Leases, LinkStore, Schedule
from connector.storage.lease import EmployeeLeases
from connector.storage.links import Links
from connector.storage.schedule import ScheduleStore
from tests.integration.test_schedule import disable_after
from tests.unit.memory import MemoryLeases, MemoryLinks, MemorySchedule

NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@dataclass
class Stores:
    """One kind of stores, sharing a clock the test moves."""

    links: LinkStore
    schedule: Schedule
    leases: Leases
    clock: list[datetime]


def _memory(request: pytest.FixtureRequest, clock: Callable[[], datetime]) -> dict[str, Any]:
    return {
        "links": MemoryLinks(),
        "schedule": MemorySchedule(clock=clock),
        "leases": MemoryLeases(clock=clock),
    }


def _tables(request: pytest.FixtureRequest, clock: Callable[[], datetime]) -> dict[str, Any]:
    storage = request.getfixturevalue("storage")
    return {
        "links": Links(storage),
        "schedule": ScheduleStore(storage, clock=clock),
        "leases": EmployeeLeases(storage, clock=clock),
    }


@pytest.fixture(
    params=[
        pytest.param(_memory, id="memory"),
        pytest.param(_tables, id="azurite", marks=pytest.mark.azurite),
    ]
)
def stores(request: pytest.FixtureRequest) -> Stores:
    """The in-memory stores, then the Azurite-backed ones."""
    now = [NOW]
    return Stores(**request.param(request, lambda: now[0]), clock=now)


def test_a_link_is_taken_once_each_way(stores: Stores) -> None:
    """Linking an employee or an account already linked is refused; flags stay on the link."""
    links = stores.links
    assert links.of_employee("1") is None  # a read first makes the table
    links.link("1", "obj-1", how="created", at=NOW)
    for employee_id, object_id in (("1", "obj-2"), ("2", "obj-1")):
        with pytest.raises(Transient):
            links.link(employee_id, object_id, how="mail", at=NOW)
    links.set_disabled_by_connector("1", True)
    links.set_lifecycle("1", "2026-01-05T00:00:00Z", None)
    link = links.of_employee("1")
    assert link is not None
    assert (link.object_id, link.how, link.disabled_by_connector, link.lifecycle) == (
        "obj-1",
        "created",
        True,
        ("2026-01-05T00:00:00Z", None),
    )
    assert (links.employee_of("obj-1"), links.employee_of("obj-2")) == ("1", None)


def test_reports_wait_for_their_manager_until_cleared(stores: Stores) -> None:
    """A linked report waiting for a manager is listed under it; a new manager moves it, None
    clears it."""
    links = stores.links
    assert links.of_employee("7") is None
    links.link("7", "obj-7", how="created", at=NOW)
    links.set_pending_manager("7", "40")
    links.set_pending_manager("8", "40")  # not linked yet: listed all the same
    assert links.pending_reports("40") == ["7", "8"]
    links.set_pending_manager("7", "41")
    assert (links.pending_reports("40"), links.pending_reports("41")) == (["8"], ["7"])
    links.set_pending_manager("7", None)
    assert links.pending_reports("41") == []
    link = links.of_employee("7")
    assert link is not None and link.pending_manager_id is None


def test_an_unlink_drops_both_ways_and_refuses_until_cleared(stores: Stores) -> None:
    """An unlink drops the link both ways and its pending manager, refuses that account to
    that employee only, and frees both sides; clearing the refusal takes it back."""
    links = stores.links
    assert links.unlink("3", at=NOW, why="test") is None  # nothing to unlink
    links.link("3", "obj-3", how="mail", at=NOW)
    assert links.of_employee("3") is not None
    links.set_stamped("3")
    links.set_pending_manager("3", "40")

    dropped = links.unlink("3", at=NOW, why="test")

    assert dropped is not None and (dropped.object_id, dropped.stamped) == ("obj-3", True)
    assert (links.of_employee("3"), links.employee_of("obj-3")) == (None, None)
    assert links.pending_reports("40") == []
    assert links.is_refused("3", "obj-3")
    assert not links.is_refused("3", "obj-4") and not links.is_refused("4", "obj-3")
    links.link("4", "obj-3", how="mail", at=NOW)  # the account itself is free
    links.clear_refusal("3", "obj-3")  # type: ignore[attr-defined]  # the `link` command's
    assert not links.is_refused("3", "obj-3")


def test_due_actions_come_soonest_first_and_moved_ones_are_not_due(stores: Stores) -> None:
    """What is due is read soonest first; a moved action is due at its new instant only."""
    schedule = stores.schedule
    schedule.replace("2", [disable_after(date(2026, 10, 20), "8")])
    schedule.replace("1", [disable_after(date(2026, 10, 10))])
    [change] = schedule.replace("1", [disable_after(date(2026, 10, 30))])
    assert change.change == "rescheduled"

    due = schedule.due(datetime(2026, 10, 25, tzinfo=UTC))
    assert [(a.employee_id, a.employment_id) for a in due] == [("2", "8")]
    later = schedule.due(datetime(2026, 11, 1, tzinfo=UTC))
    assert [a.employee_id for a in later] == ["2", "1"]


def test_a_given_up_action_is_not_planned_again_at_its_instant(stores: Stores) -> None:
    """Attempts are counted on the action; once given up, the same plan brings it back only
    at another instant."""
    schedule = stores.schedule
    schedule.replace("3", [disable_after(date(2026, 10, 24))])
    [action] = schedule.due(datetime(2026, 10, 25, tzinfo=UTC))
    assert schedule.failed_once_more(action) == 1
    current = schedule.current("3", action.key)
    assert current is not None and current.attempts == 1
    schedule.give_up(action)
    assert schedule.replace("3", [disable_after(date(2026, 10, 24))]) == []
    assert schedule.due(datetime(2026, 10, 25, tzinfo=UTC)) == []
    [again] = schedule.replace("3", [disable_after(date(2026, 10, 31))])
    assert again.change == "scheduled"


def test_released_disables_are_remembered(stores: Stores) -> None:
    """Released due keys add up across releases."""
    stores.schedule.release(["a"])
    stores.schedule.release(["b"])
    assert stores.schedule.released() == frozenset({"a", "b"})


def test_a_lease_has_one_holder_until_released_or_expired(stores: Stores) -> None:
    """A held lease is refused; a wrong token does not release it; an expired one is taken."""
    leases = stores.leases
    token = leases.acquire("5")
    assert token is not None and leases.acquire("5") is None
    leases.release("5", "not-the-token")
    assert leases.acquire("5") is None
    leases.release("5", token)
    second = leases.acquire("5")
    assert second is not None
    stores.clock[0] = NOW + timedelta(minutes=13)
    assert leases.acquire("5") not in (None, second)
