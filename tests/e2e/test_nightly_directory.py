"""The nightly reconciliation's slices read the directory by Graph's users delta query: the
whole directory once a night, then only what changed (issue 16, point 4)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.flows.night_directory import PREFIX
from connector.flows.nightly import STATE_TABLE
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_nightly_slices import NIGHT, TICK, WINTER_NIGHT, nightly, run_night, summaries

pytestmark = pytest.mark.azurite


def directory_reads(world: World) -> list[str]:
    """The Graph requests that read the directory whole or by delta (not a lookup by filter)."""
    return [
        r.path
        for r in world.graph.requests
        if r.method == "GET"
        and r.path in ("/v1.0/users", "/v1.0/users/delta()")
        and "$filter" not in r.query
    ]


def kept_rows(world: World) -> list[dict[str, Any]]:
    """The rows of the night's copy of the directory."""
    partition = f"{PREFIX}{NIGHT.isoformat()}"
    return world.storage.on_table(
        STATE_TABLE,
        lambda t: list(t.query_entities("PartitionKey eq @p", parameters={"p": partition})),
    )


def population(world: World, size: int) -> list[tuple[str, str]]:
    """`size` employees, each with an Entra account of the same email: (employee, account)."""
    made = []
    for n in range(size):
        email = f"emp{n}@{DOMAIN}"
        employee = world.lucca.add_employee("Emp", f"Number{n}", email)
        made.append((employee, world.graph.add_user(userPrincipalName=email, mail=email)["id"]))
    return made


def test_later_slices_read_only_what_changed_in_entra(make_world: Any) -> None:
    """250 employees in slices of 100: the first slice reads the directory in a delta round (3
    pages), each later slice one delta request, never the whole list again; an account deleted
    in Entra after the first slice is seen by the slice that plans its employee (to create, not
    to link); the night's copy of the directory is gone once the night is done."""
    world: World = make_world(
        CONNECTOR_MODE="observe", RECONCILE_SLICE_PAGES="1", RECONCILE_MAX_CHANGES="1000"
    )
    world.set_clock(WINTER_NIGHT)
    made = population(world, 250)
    world.graph.reset_log()

    nightly(world, WINTER_NIGHT)
    assert directory_reads(world) == ["/v1.0/users/delta()"] * 3
    assert kept_rows(world)  # kept for the next slices
    # An employee of the third slice loses their account, for good (a deleted account still in
    # deleted items would hold the login: a conflict, tests/e2e/test_deleted_holders.py).
    world.graph.delete_user(made[-1][1], permanently=True)
    world.graph.reset_log()

    ticks = run_night(world)

    assert ticks == 3  # pages 2 and 3, then the leavers' stream
    assert directory_reads(world) == ["/v1.0/users/delta()"] * 3  # one a slice
    [summary] = summaries(world)
    assert summary.details["counts"] == {"to link": 249, "to create": 1}
    assert kept_rows(world) == []


def test_a_delta_link_graph_no_longer_takes_starts_a_new_round(make_world: Any) -> None:
    """The delta link kept after the first slice has expired at the second: the slice reads the
    directory whole again (a new round) and the night goes on."""
    world: World = make_world(
        CONNECTOR_MODE="observe", RECONCILE_SLICE_PAGES="1", RECONCILE_MAX_CHANGES="1000"
    )
    world.set_clock(WINTER_NIGHT)
    population(world, 150)
    nightly(world, WINTER_NIGHT)
    world.graph.expire_delta_tokens()
    world.graph.reset_log()

    nightly(world, WINTER_NIGHT + TICK)

    statuses = [
        (r.query.get("$deltatoken") is not None, r.query.get("$select") is not None)
        for r in world.graph.requests
        if r.path == "/v1.0/users/delta()"
    ]
    assert statuses == [(True, False), (False, True), (False, False)]  # refused, then a new round
    ticks = run_night(world)
    [summary] = summaries(world)
    assert ticks == 1
    assert summary.details["counts"] == {"to link": 150}
