"""An operator's unlink read in Entra, end to end: an employeeId cleared or changed in Entra
after the connector stamped it drops the link, and nothing is stamped, written or disabled
after it (webhook → queue → sync_employee → Graph sandbox, Azurite)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from azure.data.tables import UpdateMode

from connector.domain.entries import Action
from connector.domain.mapping import anchor
from connector.storage.links import LINKS_TABLE, PARTITION, Links
from connector.storage.log import IntegrationLog
from tests.e2e.conftest import DOMAIN, World
from tests.e2e.test_sync import change, hire

pytestmark = pytest.mark.azurite
LAST_DAY = date(2026, 10, 24)
AFTER_LAST_DAY = datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def edit(world: World, day: int, employee_id: str, **changes: str) -> None:
    """On 2026-10-`day`, HR edits the employee in Lucca; the syncs run."""
    world.set_clock(datetime(2026, 10, day, 9, 0, tzinfo=UTC))
    change(world, lambda: world.lucca.update_employee(employee_id, **changes))


def writes_to(world: World, object_id: str) -> list[str]:
    """The requests that changed this account (or created any account)."""
    return [
        f"{r.method} {r.path}"
        for r in world.graph.requests
        if (r.method != "GET" and object_id in r.path)
        or (r.method == "POST" and r.path.rstrip("/").endswith("/users"))
    ]


def taken_over(world: World) -> tuple[str, dict[str, Any]]:
    """HR gives a new employee the break-glass account's email: today it is linked by mail and
    stamped, and its disable is scheduled for the employee's last day."""
    world.set_clock(datetime(2026, 10, 1, 9, 0, tzinfo=UTC))
    account = world.graph.add_user(
        userPrincipalName=f"breakglass@{DOMAIN}",
        mail=f"breakglass@{DOMAIN}",
        displayName="Break Glass",
    )
    employee_id = hire(world, "Eve", "Mallory", f"breakglass@{DOMAIN}", start="2020-01-01")
    change(world, lambda: world.lucca.end_employment(employee_id, LAST_DAY))
    assert world.graph.user(account["id"])["employeeId"] == anchor(employee_id)
    return employee_id, account


@pytest.mark.parametrize("value", [None, "EMP-0042"], ids=["cleared", "changed"])
def test_an_employee_id_cleared_in_entra_is_not_stamped_back(
    world: World, value: str | None
) -> None:
    """The admin clears (or changes) the employeeId; the next Lucca edit drops the link with an
    attention entry naming `link`, writes nothing to the account, creates none; later edits are
    a conflict ("the operator unlinked"), and the leaver's disable never comes."""
    employee_id, account = taken_over(world)
    object_id = account["id"]
    world.graph.edit_user(object_id, employeeId=value)
    world.graph.reset_log()

    edit(world, 2, employee_id, family_name="Malory")

    assert writes_to(world, object_id) == []
    assert world.graph.user(object_id)["employeeId"] == value
    links = Links(world.storage)
    assert links.of_employee(employee_id) is None
    assert links.is_refused(employee_id, object_id)
    unlinked = world.entries(employee_id)[0]
    assert unlinked.action is Action.UNLINKED_IN_ENTRA
    assert unlinked.object_id == object_id
    assert f"python -m connector link {employee_id} {object_id}" in unlinked.message
    assert ("clear its employeeId in Entra, then" in unlinked.message) is (value is not None)
    assert unlinked in IntegrationLog(world.storage).for_attention()

    edit(world, 3, employee_id, given_name="Evelyn")

    conflict = world.entries(employee_id)[0]
    assert conflict.action is Action.CONFLICT
    assert f"The operator unlinked account breakglass@{DOMAIN} ({object_id})" in conflict.message
    world.tick(AFTER_LAST_DAY, past_due=True)
    assert world.graph.user(object_id)["accountEnabled"] is True
    assert writes_to(world, object_id) == []
    assert links.of_employee(employee_id) is None


def test_a_link_stored_before_stamps_were_recorded(world: World) -> None:
    """A link without the stamp record (older connector): while the account holds the anchor
    it stays linked and the stamp is recorded; an empty employeeId then is an unlink."""
    employee_id, account = taken_over(world)
    object_id = account["id"]

    def forget_stamp(table: Any) -> None:
        row = dict(table.get_entity(PARTITION, f"lucca-{employee_id}"))
        del row["Stamped"]
        table.upsert_entity(row, mode=UpdateMode.REPLACE)

    world.storage.on_table(LINKS_TABLE, forget_stamp)
    links = Links(world.storage)
    link = links.of_employee(employee_id)
    assert link is not None and link.stamped is None

    edit(world, 2, employee_id, family_name="Malory")

    link = links.of_employee(employee_id)
    assert link is not None and link.stamped is True
    assert world.entries(employee_id)[0].action is Action.UPDATED

    world.storage.on_table(LINKS_TABLE, forget_stamp)
    world.graph.edit_user(object_id, employeeId=None)
    world.graph.reset_log()
    edit(world, 3, employee_id, family_name="Mallory")

    assert links.of_employee(employee_id) is None
    assert world.entries(employee_id)[0].action is Action.UNLINKED_IN_ENTRA
    assert writes_to(world, object_id) == []


def test_the_timer_reads_the_unlink_too(world: World) -> None:
    """The employeeId cleared and no Lucca edit since: at the last day the timer does not
    disable the account; it drops the link with the same attention entry."""
    employee_id, account = taken_over(world)
    object_id = account["id"]
    world.graph.edit_user(object_id, employeeId=None)
    world.graph.reset_log()

    world.tick(AFTER_LAST_DAY, past_due=True)

    assert world.graph.user(object_id)["accountEnabled"] is True
    assert writes_to(world, object_id) == []
    assert Links(world.storage).of_employee(employee_id) is None
    assert Links(world.storage).is_refused(employee_id, object_id)
    entry = world.entries(employee_id)[0]
    assert entry.action is Action.UNLINKED_IN_ENTRA
    assert entry.message.startswith("The disable due 2026-10-25 00:00 Europe/Paris was not")
    assert f"python -m connector link {employee_id} {object_id}" in entry.message
