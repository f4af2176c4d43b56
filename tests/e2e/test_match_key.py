"""MATCH_KEY end to end: which existing account a hire is matched with, against the Graph
sandbox through the real app (webhook → queue → sync_employee)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.domain.entries import Action
from connector.domain.mapping import anchor
from connector.storage.links import Links
from tests.e2e.conftest import DOMAIN
from tests.e2e.test_sync import hire, patches, posts_to_users

pytestmark = pytest.mark.azurite


@pytest.mark.parametrize("key", ["mail", "userPrincipalName"])
def test_the_key_chooses_the_account_linked(make_world: Any, key: str) -> None:
    """`mail` links the account whose mail is the email; `userPrincipalName` the account whose
    login is it, never the one holding it only as mail."""
    world = make_world(MATCH_KEY=key)
    holder = world.graph.add_user(
        userPrincipalName=f"a.lopez@{DOMAIN}" if key == "mail" else f"ana.lopez@{DOMAIN}",
        mail=f"ana.lopez@{DOMAIN}" if key == "mail" else f"other@{DOMAIN}",
        displayName="Ana Lopez",
    )

    employee_id = hire(world, "Ana", "Lopez", f"ana.lopez@{DOMAIN}")

    assert posts_to_users(world) == 0
    link = Links(world.storage).of_employee(employee_id)
    assert link is not None and link.object_id == holder["id"]
    assert world.graph.user(holder["id"])["employeeId"] == anchor(employee_id)
    [entry] = world.entries(employee_id)
    assert entry.action is Action.LINKED and f"matched by {key}" in entry.message


@pytest.mark.parametrize(
    ("key", "held_as"),
    [("off", "userPrincipalName"), ("off", "mail"), ("userPrincipalName", "mail")],
)
def test_an_address_held_but_not_matched_is_a_conflict(
    make_world: Any, key: str, held_as: str
) -> None:
    """With `off` (or the login only), an account already holding the email is not matched:
    the creation meets it, and the entry is a conflict naming it and MATCH_KEY; nothing is
    linked and the account is not written."""
    world = make_world(MATCH_KEY=key)
    email = f"ana.lopez@{DOMAIN}"
    other = f"a.lopez@{DOMAIN}"
    existing = world.graph.add_user(
        userPrincipalName=email if held_as == "userPrincipalName" else other,
        mail=email if held_as == "mail" else other,
        displayName="Ana Lopez",
    )
    before = world.graph.user(existing["id"])

    employee_id = hire(world, "Ana", "Lopez", email)

    [entry] = world.entries(employee_id)
    assert entry.action is Action.CONFLICT
    assert existing["id"] in entry.message and "MATCH_KEY" in entry.message
    assert Links(world.storage).of_employee(employee_id) is None
    assert world.graph.user(existing["id"]) == before
    assert patches(world) == []
    assert posts_to_users(world) == 1
    requests = world.graph.requests
    post = next(i for i, r in enumerate(requests) if (r.method, r.path) == ("POST", "/v1.0/users"))
    looked_up = [str(r.param("$filter")) for r in requests[:post] if r.param("$filter")]
    by_address = [f for f in looked_up if not f.startswith("employeeId eq")]
    assert by_address == ([] if key == "off" else [f"userPrincipalName eq '{email}'"])


def test_off_still_links_the_anchored_account(make_world: Any) -> None:
    """`off` leaves the anchor: an account carrying lucca-<id> is linked, whatever its mail."""
    world = make_world(MATCH_KEY="off")
    employee_id = world.lucca.add_employee("Ana", "Lopez", f"ana.lopez@{DOMAIN}")
    anchored = world.graph.add_user(
        userPrincipalName=f"someone@{DOMAIN}", employeeId=anchor(employee_id)
    )
    world.deliver_all()
    world.sync()

    link = Links(world.storage).of_employee(employee_id)
    assert link is not None and link.object_id == anchored["id"]
    assert posts_to_users(world) == 0
