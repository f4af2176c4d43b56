"""The Microsoft Graph application roles granted to a service principal (the connector's managed
identity), read through Graph rather than from a token: `doctor` run with a person's sign-in sees
what admin consent gave the identity.

`GET /servicePrincipals?$filter=appId eq '…'` finds the identity's service principal (a managed
identity's client id is its `appId`), `GET /servicePrincipals/{id}/appRoleAssignments` its
grants, and Microsoft Graph's own service principal's `appRoles` name each `appRoleId`
(https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments).
"""

from __future__ import annotations

from dataclasses import dataclass

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.service_principals_request_builder import (
    ServicePrincipalsRequestBuilder,
)
from msgraph.graph_service_client import GraphServiceClient

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph, in every tenant


@dataclass(frozen=True, kw_only=True)
class GrantedRoles:
    """A service principal and the Graph application roles it holds (None: not found)."""

    principal_id: str | None
    display_name: str = ""
    roles: frozenset[str] = frozenset()


async def graph_roles_of(client: GraphServiceClient, app_id: str) -> GrantedRoles:
    """The Graph application roles held by the service principal of `app_id`."""
    principal = await _principal(client, app_id, ["id", "appId", "displayName"])
    if principal is None or principal.id is None:
        return GrantedRoles(principal_id=None)
    graph = await _principal(client, GRAPH_APP_ID, ["id", "appRoles"])
    names = {
        str(role.id): str(role.value)
        for role in (graph.app_roles or [] if graph is not None else [])
        if role.id is not None and role.value
    }
    graph_id = graph.id if graph is not None else None
    builder = client.service_principals.by_service_principal_id(principal.id).app_role_assignments
    page = await builder.get()
    held: set[str] = set()
    while page is not None:
        for grant in page.value or []:
            if grant.resource_id is not None and str(grant.resource_id) == str(graph_id):
                held.add(names.get(str(grant.app_role_id), f"role id {grant.app_role_id}"))
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return GrantedRoles(
        principal_id=principal.id,
        display_name=principal.display_name or "",
        roles=frozenset(held),
    )


async def _principal(
    client: GraphServiceClient, app_id: str, select: list[str]
) -> ServicePrincipal | None:
    literal = app_id.replace("'", "''")
    query = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
        filter=f"appId eq '{literal}'", select=select
    )
    page = await client.service_principals.get(
        request_configuration=RequestConfiguration(query_parameters=query)
    )
    found = page.value if page is not None else None
    return found[0] if found else None
