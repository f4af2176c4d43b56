"""Escrow end to end: a transient failure is re-queued by the connector for RETRY_WINDOW_HOURS.

The connector's clock is moved by the emulated host before each try (`QueueHost.before_each`),
as time passes between tries; RETRY_DELAYS_SECONDS is 0 in tests (Azurite keeps real time).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import DOMAIN, World

pytestmark = pytest.mark.azurite
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SEVEN_DAYS = timedelta(days=7)


def tries_every(world: World, step: timedelta) -> None:
    """Each try of the host runs `step` later on the connector's clock than the one before."""
    moments: Iterator[datetime] = (START + step * i for i in range(10_000))
    world.set_clock(START)
    world.host.before_each = lambda: world.set_clock(next(moments))


def actions(world: World, employee_id: str) -> list[str]:
    """The employee's entries' actions, oldest first."""
    return [e.action.value for e in reversed(world.entries(employee_id))]


def test_two_hour_graph_outage_loses_nothing(world: World) -> None:
    """Graph answers 503 for two hours of the connector's clock: the change is kept, the
    account exists after the outage, one "will retry" entry and nothing poisoned."""
    tries_every(world, timedelta(minutes=20))
    outage_ends = START + timedelta(hours=2)
    world.graph.unavailable(times=10**6, during=lambda: world.app.clock() < outage_ends)
    employee_id = world.lucca.add_employee("Nina", "Perrin", f"nina.perrin@{DOMAIN}")
    world.deliver_all()
    world.sync()
    assert world.account_of(employee_id)["mail"] == f"nina.perrin@{DOMAIN}"
    assert actions(world, employee_id) == ["will retry", "created"]
    retry = world.entries(employee_id)[1]
    assert "will retry until" in retry.message
    assert world.host.failures == []
    assert world.graph.count("POST", r"^/v1\.0/users$") == 1


def test_huge_retry_after_is_capped_below_seven_days(world: World) -> None:
    """Graph's 429 with Retry-After 700,000 s: re-queued within Azure Storage's 7-day limit
    (no storage error, no failure), and the entry says when it is tried again."""
    world.set_clock(START)
    world.graph.throttle(times=1, retry_after=700_000, path=r"^/v1\.0/users$", method="POST")
    employee_id = world.lucca.add_employee("Omar", "Haddad", f"omar.haddad@{DOMAIN}")
    world.deliver_all()
    world.host.run_visible()
    assert world.host.failures == []
    assert world.host.queued() == 1  # waiting out its delay
    assert world.host.poisoned() == 0
    [entry] = world.entries(employee_id)
    assert entry.action.value == "will retry"
    next_try = datetime.fromisoformat(entry.details["next_try"])
    assert START + timedelta(hours=24) < next_try < START + SEVEN_DAYS


def test_end_of_the_window_goes_to_poison_with_one_failed_entry(make_world: Any) -> None:
    """Graph down for longer than RETRY_WINDOW_HOURS: retried until the window's end, then
    the host's tries and the poison queue: one "will retry" and one "failed" entry."""
    world: World = make_world(RETRY_WINDOW_HOURS="24")
    tries_every(world, timedelta(hours=5))
    world.graph.unavailable(times=10**6, during=lambda: True)
    employee_id = world.lucca.add_employee("Lea", "Marchand", f"lea.marchand@{DOMAIN}")
    world.deliver_all()
    world.sync()
    assert actions(world, employee_id) == ["will retry", "failed"]
    failed = world.entries(employee_id)[0]
    assert "retried since 2026-03-02 08:00 UTC" in failed.message
    assert "graph answered" in failed.message
    assert len(world.host.failures) == world.host.max_dequeue_count
    assert world.graph.count("POST", r"^/v1\.0/users$") == 0


def test_permanent_graph_refusal_fails_at_once(world: World) -> None:
    """A permanent refusal (Graph's 400) is neither escrowed nor retried: one "failed" entry."""
    tries_every(world, timedelta(hours=1))
    world.graph.fail(
        400, "Request_BadRequest", "Invalid value specified for property 'jobTitle'.", times=10
    )
    employee_id = world.lucca.add_employee("Paul", "Garnier", f"paul.garnier@{DOMAIN}")
    world.deliver_all()
    world.sync()
    assert actions(world, employee_id) == ["failed"]
    assert world.host.failures == []
    assert world.host.calls == 1
