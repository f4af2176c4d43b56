"""An account's place in the directory, as the connector reads and writes it: its directory
roles (an administrator's account is never linked, renamed or disabled) and MATCH_SCOPE, the
group or administrative unit that accounts matched by email must belong to."""

from __future__ import annotations

from urllib.parse import quote

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.role_management.directory.role_assignments.role_assignments_request_builder import (  # noqa: E501
    RoleAssignmentsRequestBuilder,
)
from msgraph.generated.users.item.check_member_objects.check_member_objects_post_request_body import (  # noqa: E501
    CheckMemberObjectsPostRequestBody,
)
from msgraph.graph_service_client import GraphServiceClient

from connector.entra.scope import MatchScope


async def role_names(client: GraphServiceClient, object_id: str) -> list[str]:
    """The names of the directory roles actively assigned to the account, at any scope, in
    one request (each assignment with its role's name)."""
    literal = object_id.replace("'", "''")
    held = await _assignments(client, f"principalId eq '{literal}'")
    return held.get(object_id, [])


async def roles_by_principal(client: GraphServiceClient) -> dict[str, list[str]]:
    """Every active assignment of the tenant, by principal: the reconciliation reads them
    once, in pages, rather than once per account."""
    return await _assignments(client, None)


async def _assignments(client: GraphServiceClient, where: str | None) -> dict[str, list[str]]:
    query = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
        filter=where, expand=["roleDefinition($select=displayName)"]
    )
    builder = client.role_management.directory.role_assignments
    page = await builder.get(request_configuration=RequestConfiguration(query_parameters=query))
    held: dict[str, set[str]] = {}
    while page is not None:
        for assignment in page.value or []:
            definition = assignment.role_definition
            name = definition.display_name if definition is not None else None
            name = name or f"with definition id {assignment.role_definition_id}"
            held.setdefault(str(assignment.principal_id), set()).add(name)
        if not page.odata_next_link:
            break
        page = await builder.with_url(page.odata_next_link).get()
    return {principal: sorted(names) for principal, names in held.items()}


async def in_scope(client: GraphServiceClient, object_id: str, scope: MatchScope) -> bool:
    """Whether the account is a member of the scope (of a group, transitively): one
    `checkMemberObjects`, which User.Read.All allows for both kinds."""
    body = CheckMemberObjectsPostRequestBody(ids=[scope.id])
    answer = await client.users.by_user_id(object_id).check_member_objects.post(body)
    held = {str(i).lower() for i in (answer.value or [])} if answer is not None else set()
    return scope.id.lower() in held


async def add_to_scope(
    client: GraphServiceClient, base_url: str, scope: MatchScope, object_id: str
) -> None:
    """Make the account a member of the scope."""
    reference = ReferenceCreate(odata_id=f"{base_url}/directoryObjects/{quote(object_id, safe='')}")
    if scope.kind == "group":
        await client.groups.by_group_id(scope.id).members.ref.post(reference)
    else:
        units = client.directory.administrative_units
        await units.by_administrative_unit_id(scope.id).members.ref.post(reference)
