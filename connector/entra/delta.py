"""Graph's users delta query: a first round reads the whole directory, the delta link it ends
with then gives only what changed since (https://learn.microsoft.com/graph/api/user-delta).

Requests are made with the directory's `$select` and `$expand=manager`; the links Graph returns
carry both. A user in an answer comes with every selected property (Graph's default, not
`Prefer: return=minimal`), so it replaces the one known; its manager comes as `manager@delta`
only when the manager changed (an entry with `@removed` takes it away); a deleted user comes as
its id with `@removed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

from connector.entra.users import DirectoryUser, to_user

if TYPE_CHECKING:
    from msgraph.generated.models.user import User
    from msgraph.graph_service_client import GraphServiceClient


@dataclass(frozen=True, kw_only=True)
class DeltaRound:
    """What one round of the delta query said, and the link of the next round."""

    changed: list[DirectoryUser]  # created or changed; `manager_known` when the manager changed
    removed: list[str]  # object ids of deleted users
    delta_link: str
    pages: int


async def read_round(
    client: GraphServiceClient, link: str | None, select: tuple[str, ...], mapped: tuple[str, ...]
) -> DeltaRound:
    """A whole round, from `link` (None: a first round, which reads every user)."""
    if link is None:
        query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            select=list(select), expand=["manager"]
        )
        page = await client.users.delta.get(RequestConfiguration(query_parameters=query))
    else:
        page = await client.users.delta.with_url(link).get()
    changed: list[DirectoryUser] = []
    removed: list[str] = []
    pages = 1
    while page is not None:
        for user in page.value or []:
            extra = user.additional_data or {}
            if "@removed" in extra and user.id:
                removed.append(str(user.id))
            elif user.id:
                changed.append(_user(user, extra, mapped, first=link is None))
        if page.odata_delta_link:
            return DeltaRound(
                changed=changed, removed=removed, delta_link=page.odata_delta_link, pages=pages
            )
        if not page.odata_next_link:
            break
        page = await client.users.delta.with_url(page.odata_next_link).get()
        pages += 1
    raise ValueError("a users delta round ended without a delta link")


def _user(
    user: User, extra: Mapping[str, Any], mapped: tuple[str, ...], *, first: bool
) -> DirectoryUser:
    """The user as read; its manager known when the answer names it (or in a first round,
    where a user without `manager@delta` has none)."""
    found = to_user(user, mapped)
    managers = extra.get("manager@delta")
    if managers is None:
        return replace(found, manager_known=True) if first else found
    alive = [m for m in managers if isinstance(m, Mapping) and "@removed" not in m and m.get("id")]
    return replace(found, manager_known=True, manager_id=str(alive[-1]["id"]) if alive else None)


def merge(known: Mapping[str, DirectoryUser], round_: DeltaRound) -> dict[str, DirectoryUser]:
    """The directory as known, brought up to date with a round (a changed user keeps its known
    manager unless the round named one)."""
    users = dict(known)
    for user in round_.changed:
        before = users.get(user.id)
        kept = before.manager_id if before is not None else None  # unchanged, or a new user's none
        users[user.id] = (
            user if user.manager_known else replace(user, manager_known=True, manager_id=kept)
        )
    for gone in round_.removed:
        users.pop(gone, None)
    return users
