"""Entra's deleted users (the recycle bin): who holds a login there, and restoring one.

A deleted user stays 30 days in deleted items and keeps its userPrincipalName, so Graph
refuses to create another account with it (ObjectConflict) although `GET /users` no longer
shows it (https://learn.microsoft.com/graph/api/user-delete). Listing them needs User.Read.All,
restoring one User.DeleteRestore.All, Graph's least permission for it (an account that held a
privileged administrator role needs more)
(https://learn.microsoft.com/graph/api/directory-deleteditems-list,
https://learn.microsoft.com/graph/api/directory-deleteditems-restore).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.directory.deleted_items.graph_user.graph_user_request_builder import (
    GraphUserRequestBuilder,
)
from msgraph.generated.directory.deleted_items.item.directory_object_item_request_builder import (
    DirectoryObjectItemRequestBuilder,
)
from msgraph.generated.models.user import User

from connector.core.errors import Transient
from connector.entra.users import odata_literal

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

# Graph's least permission for restoring a deleted user, granted only with
# RESTORE_DELETED_ACCOUNTS (infra/modules/graph-permissions.bicep, docs/security.md).
RESTORE_ROLE: Final = "User.DeleteRestore.All"
DELETED_SELECT: Final = (
    "id",
    "userPrincipalName",
    "displayName",
    "employeeId",
    "deletedDateTime",
)


@dataclass(frozen=True, kw_only=True)
class DeletedUser:
    """A user in Entra's deleted items: whose anchor it carries, and when it was deleted."""

    id: str
    user_principal_name: str | None = None
    display_name: str | None = None
    employee_id: str | None = None
    deleted_at: datetime | None = None

    def deleted_on(self) -> str:
        """The deletion day, as the sentences show it (`2026-09-14`), or "an unknown day"."""
        return self.deleted_at.date().isoformat() if self.deleted_at else "an unknown day"


def _deleted(user: User) -> DeletedUser:
    return DeletedUser(
        id=str(user.id),
        user_principal_name=user.user_principal_name,
        display_name=user.display_name,
        employee_id=user.employee_id,
        deleted_at=user.deleted_date_time,
    )


async def deleted_holders(client: GraphServiceClient, login: str) -> list[DeletedUser]:
    """The deleted users whose userPrincipalName is `login`."""
    query = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
        filter=f"userPrincipalName eq '{odata_literal(login)}'", select=list(DELETED_SELECT)
    )
    page = await client.directory.deleted_items.graph_user.get(
        request_configuration=RequestConfiguration(query_parameters=query)
    )
    return [_deleted(u) for u in (page.value if page is not None else None) or []]


async def every_deleted_user(client: GraphServiceClient) -> list[DeletedUser]:
    """Every user in deleted items, in pages."""
    query = GraphUserRequestBuilder.GraphUserRequestBuilderGetQueryParameters(
        select=list(DELETED_SELECT), top=999
    )
    builder = client.directory.deleted_items.graph_user
    page = await builder.get(request_configuration=RequestConfiguration(query_parameters=query))
    found: list[DeletedUser] = []
    while page is not None:
        found.extend(_deleted(u) for u in page.value or [])
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return found


async def deleted_user(client: GraphServiceClient, object_id: str) -> DeletedUser | None:
    """The deleted user with this object id (NotFound, raised by the directory's `_run`, if
    deleted items do not hold it); None if the object is not a user."""
    query = DirectoryObjectItemRequestBuilder.DirectoryObjectItemRequestBuilderGetQueryParameters(
        select=list(DELETED_SELECT)
    )
    found = await client.directory.deleted_items.by_directory_object_id(object_id).get(
        request_configuration=RequestConfiguration(query_parameters=query)
    )
    return _deleted(found) if isinstance(found, User) else None


async def restore(client: GraphServiceClient, object_id: str) -> None:
    """Restore a deleted user (the same object id, back among the users)."""
    restored = await client.directory.deleted_items.by_directory_object_id(object_id).restore.post()
    if restored is None:
        raise Transient("Microsoft Graph answered the restore without the user", service="graph")
