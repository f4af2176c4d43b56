"""SYNC_SCOPE end to end: sandboxes, Azurite and the function entry points."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.domain.entries import Action
from connector.storage.links import Links
from tests.e2e.conftest import DOMAIN
from tests.e2e.test_sync import hire

pytestmark = pytest.mark.azurite


def test_one_legal_entity_syncs_only_its_employees(make_world: Any) -> None:
    """Entity 2's employee whose email is an existing account's: not linked, not changed."""
    world = make_world(SYNC_SCOPE="legalEntity = 1")
    world.set_clock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    first = world.lucca.add_legal_entity("Acme SAS")
    assert first == "1"
    world.lucca.add_establishment("Paris", legal_entity_id=first)
    other = world.lucca.add_legal_entity("Acme Belgique")
    site = world.lucca.add_establishment("Bruxelles", legal_entity_id=other)
    existing = world.graph.add_user(
        displayName="Zoé Lambert",
        userPrincipalName=f"zoe.lambert@{DOMAIN}",
        mail=f"zoe.lambert@{DOMAIN}",
        givenName="Zoé",
        surname="Lambert",
    )
    kept = hire(world, "Paul", "Marin", f"paul.marin@{DOMAIN}")
    left_out = hire(world, "Zoé", "Lambert", f"zoe.lambert@{DOMAIN}", establishment_id=site)

    assert world.account_of(kept)["mail"] == f"paul.marin@{DOMAIN}"
    assert Links(world.storage).of_employee(left_out) is None
    assert world.graph.user(existing["id"]) == existing  # not changed, not stamped
    actions = {e.action for e in world.entries(left_out)}
    assert actions == {Action.OUT_OF_SCOPE}
    assert world.graph.count("PATCH", rf"^/v1\.0/users/{existing['id']}") == 0
