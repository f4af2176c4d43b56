"""The Graph sandbox's service principals and their app role assignments, as Graph v1.0 serves
what `doctor` reads of them.

- `GET /servicePrincipals?$filter=appId eq '…'` (`$select` honoured): the service principal of
  an application or a managed identity (a managed identity's `appId` is its client id),
  `servicePrincipalType` `ManagedIdentity` or `Application`
  (https://learn.microsoft.com/graph/api/serviceprincipal-list).
- `GET /servicePrincipals/{id}/appRoleAssignments`: the app roles granted to it, each with its
  `appRoleId`, `resourceId` (Microsoft Graph's own service principal for Graph's permissions) and
  `resourceDisplayName`; 404 `Request_ResourceNotFound` for an unknown id
  (https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments).
- Microsoft Graph's service principal (`appId` 00000003-0000-0000-c000-000000000000) lists its
  `appRoles`, whose ids are the same in every tenant; an assignment names its role by that id.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from typing import Any

from tests.sandboxes.base import RecordedRequest, Response

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Microsoft Graph's application roles the connector may hold, with their published ids.
GRAPH_APP_ROLES = {
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "User.ReadWrite.All": "741f803b-c850-494e-b5df-cde7c675a1ca",
    "User.EnableDisableAccount.All": "3011c876-62b7-4ada-afa2-506cbbecc68c",
    "User.RevokeSessions.All": "77f3a031-c388-4f99-b373-dc68676a979e",
    "User-LifeCycleInfo.ReadWrite.All": "925f1248-0f97-47b9-8ec8-538c54e01325",
    "User.DeleteRestore.All": "eccc023d-eccf-4e7b-9683-8813ab36cecc",
    "Domain.Read.All": "dbb9058a-0e50-45d7-ae91-66909b5d4664",
    "RoleManagement.Read.Directory": "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
    "GroupMember.ReadWrite.All": "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
    "AdministrativeUnit.ReadWrite.All": "5eb59dd3-1da2-4329-8733-9dabdc435916",
    "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
}
_APP_ID_FILTER = re.compile(r"^\s*appId\s+eq\s+'((?:[^']|'')*)'\s*$")


class PrincipalsMixin:
    """Service principals for `GraphSandbox`, which supplies `_lock`, `_ok`, `_context` and
    Graph's errors (`_graph_error`, `_missing`)."""

    _lock: Any
    _ok: Callable[..., Response]
    _context: Callable[[str], str]
    _graph_error: Callable[[int, str, str], Exception]
    _missing: Callable[[str], Exception]

    def _reset_principals(self) -> None:
        graph = {
            "id": str(uuid.uuid4()),
            "appId": GRAPH_APP_ID,
            "displayName": "Microsoft Graph",
            "servicePrincipalType": "Application",
            "appRoles": [
                {
                    "allowedMemberTypes": ["Application"],
                    "description": f"Allows the app to {value}.",
                    "displayName": value,
                    "id": role_id,
                    "isEnabled": True,
                    "origin": "Application",
                    "value": value,
                }
                for value, role_id in GRAPH_APP_ROLES.items()
            ],
        }
        self._principals: dict[str, dict[str, Any]] = {graph["id"]: graph}
        self._app_role_assignments: dict[str, list[dict[str, Any]]] = {}

    # -- state for tests --------------------------------------------------------------------
    def add_managed_identity(
        self, name: str = "id-connector", *, roles: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """A managed identity's service principal (its `appId`: the client id) holding these
        Microsoft Graph application roles (admin consent given)."""
        with self._lock:
            principal = {
                "id": str(uuid.uuid4()),
                "appId": str(uuid.uuid4()),
                "displayName": name,
                "servicePrincipalType": "ManagedIdentity",
                "appRoles": [],
            }
            self._principals[principal["id"]] = principal
            self._app_role_assignments[principal["id"]] = []
        for role in roles:
            self.grant_app_role(principal["id"], role)
        return copy.deepcopy(principal)

    def grant_app_role(self, principal_id: str, role: str) -> str:
        """Grant a Microsoft Graph application role (as admin consent does); its assignment id."""
        with self._lock:
            graph = self._graph_principal()
            principal = self._principals[principal_id]
            assignment = {
                "id": uuid.uuid4().hex,
                "deletedDateTime": None,
                "appRoleId": GRAPH_APP_ROLES[role],
                "createdDateTime": "2026-11-02T09:00:00Z",
                "principalDisplayName": principal["displayName"],
                "principalId": principal_id,
                "principalType": "ServicePrincipal",
                "resourceDisplayName": graph["displayName"],
                "resourceId": graph["id"],
            }
            self._app_role_assignments[principal_id].append(assignment)
            return str(assignment["id"])

    # -- HTTP -------------------------------------------------------------------------------
    def _principal_routes(self) -> dict[tuple[str, ...], dict[str, Callable[..., Response]]]:
        return {
            ("servicePrincipals",): {"GET": self._list_principals},
            ("servicePrincipals", "*", "appRoleAssignments"): {"GET": self._list_app_roles},
        }

    def _graph_principal(self) -> dict[str, Any]:
        return next(p for p in self._principals.values() if p["appId"] == GRAPH_APP_ID)

    def _list_principals(self, request: RecordedRequest) -> Response:
        found = list(self._principals.values())
        raw_filter = request.param("$filter") or request.param("filter")
        if raw_filter:
            match = _APP_ID_FILTER.match(raw_filter)
            if match is None:
                message = "Unsupported or invalid query filter clause specified."
                raise self._graph_error(400, "Request_UnsupportedQuery", message)
            app_id = match.group(1).replace("''", "'")
            found = [p for p in found if p["appId"] == app_id]
        raw_select = request.param("$select") or request.param("select")
        if raw_select:
            fields = [f.strip() for f in raw_select.split(",") if f.strip()]
            found = [{"id": p["id"]} | {f: p.get(f) for f in fields} for p in found]
        return self._ok(
            {"@odata.context": self._context("servicePrincipals"), "value": copy.deepcopy(found)}
        )

    def _list_app_roles(self, request: RecordedRequest, principal_id: str) -> Response:
        if principal_id not in self._principals:
            raise self._missing(principal_id)
        assignments = self._app_role_assignments.get(principal_id, [])
        return self._ok(
            {
                "@odata.context": self._context(
                    f"servicePrincipals('{principal_id}')/appRoleAssignments"
                ),
                "value": copy.deepcopy(assignments),
            }
        )
