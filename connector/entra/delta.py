"""Graph's users delta query: a first round reads the whole directory, the delta link it ends
with then gives only what changed since (https://learn.microsoft.com/graph/api/user-delta).

Requests are made with the directory's `$select` and `$expand=manager`; the links Graph returns
carry both. A user in an answer comes with every selected property (Graph's default, not
`Prefer: return=minimal`), so it replaces the one known; its manager comes as `manager@delta`
only when the manager changed (an entry with `@removed` takes it away); a deleted user comes as
its id with `@removed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder

from connector.entra.users import USER_FIELDS, DirectoryUser, text

if TYPE_CHECKING:
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
        info = client.users.delta.to_get_request_information(
            RequestConfiguration(query_parameters=query)
        )
    else:
        info = client.users.delta.with_url(link).to_get_request_information()
    changed: list[DirectoryUser] = []
    removed: list[str] = []
    pages = 0
    while True:
        page = await _page(client, info)
        pages += 1
        for item in page.get("value") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            if "@removed" in item:
                removed.append(str(item["id"]))
            else:
                changed.append(_user(item, mapped, first=link is None))
        delta_link, next_link = page.get("@odata.deltaLink"), page.get("@odata.nextLink")
        if isinstance(delta_link, str) and delta_link:
            return DeltaRound(changed=changed, removed=removed, delta_link=delta_link, pages=pages)
        if not isinstance(next_link, str) or not next_link:
            raise ValueError("a users delta round ended without a delta link")
        info = client.users.delta.with_url(next_link).to_get_request_information()


async def _page(client: GraphServiceClient, info: RequestInformation) -> dict[str, Any]:
    """One answer, as JSON: through the SDK's adapter (its retries, its `ODataError`), not its
    `User` model, which costs several milliseconds a user to build (minutes for a tenant)."""
    adapter = client.request_adapter
    raw: Any = await adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})
    page: Any = json.loads(raw) if raw else {}
    return page if isinstance(page, dict) else {}


def _user(item: Mapping[str, Any], mapped: tuple[str, ...], *, first: bool) -> DirectoryUser:
    """A user of an answer; its manager known when the answer names it (or in a first round,
    where a user without `manager@delta` has none)."""
    fields: dict[str, Any] = {name: item.get(prop) for prop, name in USER_FIELDS.items()}
    fields["id"] = str(item["id"])
    properties = {prop: text(_value(item, prop)) for prop in mapped}
    found = DirectoryUser(**fields, properties=properties)
    managers = item.get("manager@delta")
    if not isinstance(managers, list):
        return replace(found, manager_known=True) if first else found
    alive = [m for m in managers if isinstance(m, dict) and "@removed" not in m and m.get("id")]
    return replace(found, manager_known=True, manager_id=str(alive[-1]["id"]) if alive else None)


def _value(item: Mapping[str, Any], prop: str) -> object:
    """A property by its Graph name; a nested one by its dotted path
    (`employeeOrgData.costCenter`)."""
    value: object = item
    for key in prop.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


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
