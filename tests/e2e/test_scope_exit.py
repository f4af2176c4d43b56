"""Leaving SYNC_SCOPE end to end: SCOPE_EXIT_ACTION through the queue, then `deactivate_leavers`
fired by the timer with the connector's clock moved across midnight Paris."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.domain.entries import Action
from connector.storage.links import Links
from connector.storage.log import IntegrationLog
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire

pytestmark = pytest.mark.azurite
MS = timedelta(milliseconds=3)
MORNING = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
MIDNIGHT_PARIS = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # 2026-03-11 00:00 CET


def scoped_world(make_world: Any, **settings: str) -> tuple[World, str, str]:
    """Two establishments, a scope of the first (Paris); the world and both ids."""
    world: World = make_world(SYNC_SCOPE="establishment = 11", **settings)
    world.set_clock(MORNING)
    paris = world.lucca.add_establishment("Paris")
    lyon = world.lucca.add_establishment("Lyon")
    assert paris == "11"
    return world, paris, lyon


def move(world: World, employee_id: str, establishment_id: str, *, deliver: bool = True) -> None:
    """Move the employee's job position to another establishment (job-position.updated)."""
    position = world.lucca.job_position_of(employee_id)
    assert position is not None

    def moved() -> None:
        world.lucca.update_job_position(position, establishment_id=establishment_id)

    if deliver:
        change(world, moved)
    else:
        moved()  # Lucca changed, the event not delivered (yet): only the timer sees it


def enabled(world: World, employee_id: str) -> bool:
    """Whether the employee's linked account is enabled."""
    return world.account_of(employee_id)["accountEnabled"] is True


def test_leaving_with_disable_disables_at_the_next_midnight(make_world: Any) -> None:
    """SCOPE_EXIT_ACTION=disable: still enabled a few ms before 00:00 Paris, disabled (and
    logged) by the first run at or after it; nothing else written when the employee left."""
    world, _, lyon = scoped_world(make_world, SCOPE_EXIT_ACTION="disable")
    employee_id = hire(world, "Léa", "Roux", f"lea.roux@{DOMAIN}", start="2020-01-01")
    assert enabled(world, employee_id)
    world.graph.reset_log()
    world.set_clock(MORNING + timedelta(hours=1))

    move(world, employee_id, lyon)
    assert world.graph_writes() == 0  # out of scope: nothing changed now
    left = {e.action: e for e in world.entries(employee_id) if e.time > MORNING}
    assert set(left) == {Action.OUT_OF_SCOPE, Action.SCHEDULED}  # same instant: any order
    assert "will be disabled at 2026-03-11 00:00 Europe/Paris" in left[Action.OUT_OF_SCOPE].message

    world.tick(MIDNIGHT_PARIS - MS)
    assert enabled(world, employee_id)
    world.tick(MIDNIGHT_PARIS)
    assert not enabled(world, employee_id)
    assert world.entries(employee_id)[0].action is Action.DEACTIVATED


def test_leaving_with_ignore_disables_nothing_and_says_so(make_world: Any) -> None:
    """SCOPE_EXIT_ACTION=ignore (the default): the account is kept as it is, past midnight too,
    and the entry says why."""
    world, _, lyon = scoped_world(make_world)
    employee_id = hire(world, "Max", "Brun", f"max.brun@{DOMAIN}", start="2020-01-01")
    world.graph.reset_log()
    world.set_clock(MORNING + timedelta(hours=1))

    move(world, employee_id, lyon)
    world.tick(MIDNIGHT_PARIS)
    world.tick(MIDNIGHT_PARIS + timedelta(days=1))

    assert enabled(world, employee_id)
    assert world.graph_writes() == 0
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.OUT_OF_SCOPE
    assert "SCOPE_EXIT_ACTION=ignore" in entry.message
    assert "nothing changed" in entry.message


def test_back_in_scope_before_midnight_cancels_the_disable(make_world: Any) -> None:
    """Out at 09:00, back at 15:00 (synced): the schedule is replaced, nothing is disabled."""
    world, paris, lyon = scoped_world(make_world, SCOPE_EXIT_ACTION="disable")
    employee_id = hire(world, "Noé", "Vidal", f"noe.vidal@{DOMAIN}", start="2020-01-01")
    move(world, employee_id, lyon)
    world.set_clock(MORNING + timedelta(hours=6))
    move(world, employee_id, paris)

    world.tick(MIDNIGHT_PARIS)
    world.tick(MIDNIGHT_PARIS + timedelta(hours=1))
    assert enabled(world, employee_id)
    assert all(e.action is not Action.DEACTIVATED for e in world.entries(employee_id))


def test_back_in_scope_seen_by_the_timer_cancels_the_disable(make_world: Any) -> None:
    """Back in scope in Lucca but the event not synced yet: the timer reads Lucca again at
    midnight, finds the employee in scope, and cancels instead of disabling."""
    world, paris, lyon = scoped_world(make_world, SCOPE_EXIT_ACTION="disable")
    employee_id = hire(world, "Ivy", "Marchand", f"ivy.marchand@{DOMAIN}", start="2020-01-01")
    move(world, employee_id, lyon)
    move(world, employee_id, paris, deliver=False)

    world.tick(MIDNIGHT_PARIS)
    assert enabled(world, employee_id)
    at_midnight = [e for e in world.entries(employee_id) if e.time >= MIDNIGHT_PARIS]
    assert [e.action for e in at_midnight] == [Action.SCHEDULED]  # the disable cancelled
    assert "cancel" in at_midnight[0].message


def test_scope_exits_are_held_as_leavers(make_world: Any) -> None:
    """Two linked employees dropped by a scope change the same morning, with
    MAX_SUDDEN_DEACTIVATIONS=1: the midnight run is held, nobody is disabled."""
    world, _, lyon = scoped_world(
        make_world, SCOPE_EXIT_ACTION="disable", MAX_SUDDEN_DEACTIVATIONS="1"
    )
    first = hire(world, "Ann", "Lee", f"ann.lee@{DOMAIN}", start="2020-01-01")
    second = hire(world, "Bob", "Ray", f"bob.ray@{DOMAIN}", start="2020-01-01")
    move(world, first, lyon)
    move(world, second, lyon)

    world.tick(MIDNIGHT_PARIS)
    assert enabled(world, first)
    assert enabled(world, second)
    [held] = IntegrationLog(world.storage).for_attention(action=Action.RUN_HELD)
    assert held.details["rails"] == ["MAX_SUDDEN_DEACTIVATIONS"]


def test_an_unlinked_account_is_never_disabled(make_world: Any) -> None:
    """An employee outside the scope whose email is an existing account's: with
    SCOPE_EXIT_ACTION=disable, that account is neither linked nor disabled, past midnight too."""
    world, _, lyon = scoped_world(make_world, SCOPE_EXIT_ACTION="disable")
    existing = world.graph.add_user(
        displayName="Zoé Lambert",
        userPrincipalName=f"zoe.lambert@{DOMAIN}",
        mail=f"zoe.lambert@{DOMAIN}",
        givenName="Zoé",
        surname="Lambert",
    )
    outside = hire(world, "Zoé", "Lambert", f"zoe.lambert@{DOMAIN}", establishment_id=lyon)

    world.tick(MIDNIGHT_PARIS)
    world.tick(MIDNIGHT_PARIS + timedelta(days=1))
    assert Links(world.storage).of_employee(outside) is None
    assert world.graph.user(existing["id"]) == existing
    assert world.graph_writes() == 0
