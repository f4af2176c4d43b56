"""The Graph sandbox's directory roles, groups and administrative units, as Graph v1.0 serves
what the connector uses of them.

- `GET /roleManagement/directory/roleAssignments` with `$filter=principalId eq '…'` (or
  `roleDefinitionId eq '…'`), `$expand=roleDefinition` (optionally with its `$select`): the
  active assignments (https://learn.microsoft.com/graph/api/rbacapplication-list-roleassignments).
- `POST /users/{id}/checkMemberObjects` with up to 20 ids: those of the groups (transitively)
  and administrative units the user is a member of
  (https://learn.microsoft.com/graph/api/directoryobject-checkmemberobjects).
- `POST /groups/{id}/members/$ref` and `POST /directory/administrativeUnits/{id}/members/$ref`
  with `{"@odata.id": ".../directoryObjects/{id}"}`: 204; 400 when already a member, 404 when
  either object does not exist.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from tests.sandboxes.base import RecordedRequest, Response

# Built-in role templates (their ids are the same in every tenant).
ROLE_TEMPLATES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
}
ASSIGNMENT_PROPERTIES = ("id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId")
DEFINITION_PROPERTIES = ("id", "displayName", "description", "isBuiltIn", "isEnabled", "templateId")
MAX_CHECKED_IDS = 20
_ASSIGNMENT_FILTER = re.compile(r"^\s*(principalId|roleDefinitionId)\s+eq\s+'((?:[^']|'')*)'\s*$")
_EXPAND = re.compile(r"^\s*roleDefinition\s*(?:\(\s*\$select\s*=\s*([^)]*)\))?\s*$")
_REFERENCE = re.compile(r"/(?:directoryObjects|users|groups)/([^/?#]+)/?$")


class MembershipsMixin:
    """Roles, groups and administrative units for `GraphSandbox`, which supplies `_users`,
    `_lock`, `_ok`, `_context`, and Graph's errors (`_graph_error`, `_missing`)."""

    _users: dict[str, dict[str, Any]]
    _lock: Any
    _ok: Callable[..., Response]
    _context: Callable[[str], str]
    _graph_error: Callable[[int, str, str], Exception]
    _missing: Callable[[str], Exception]

    def _reset_memberships(self) -> None:
        self._assignments: dict[str, dict[str, Any]] = {}
        self._groups: dict[str, dict[str, Any]] = {}
        self._units: dict[str, dict[str, Any]] = {}

    # -- state for tests --------------------------------------------------------------------
    def assign_role(
        self, principal_id: str, role: str = "Global Administrator", *, scope: str = "/"
    ) -> str:
        """Make an active assignment of a built-in role; returns its id."""
        assignment = {
            "id": uuid.uuid4().hex,
            "principalId": principal_id,
            "roleDefinitionId": ROLE_TEMPLATES[role],
            "directoryScopeId": scope,
            "appScopeId": None,
        }
        with self._lock:
            self._assignments[assignment["id"]] = assignment
        return str(assignment["id"])

    def remove_role(self, assignment_id: str) -> None:
        """End an assignment."""
        with self._lock:
            del self._assignments[assignment_id]

    def add_group(
        self, display_name: str, members: Iterable[str] = (), *, object_id: str | None = None
    ) -> str:
        """A security group with these member ids (users or groups); returns its id."""
        return self._add_container(self._groups, display_name, members, object_id)

    def add_administrative_unit(
        self, display_name: str, members: Iterable[str] = (), *, object_id: str | None = None
    ) -> str:
        """An administrative unit with these member ids; returns its id."""
        return self._add_container(self._units, display_name, members, object_id)

    def members(self, container_id: str) -> set[str]:
        """The direct members of a group or an administrative unit."""
        with self._lock:
            container = self._groups.get(container_id) or self._units[container_id]
            return set(container["members"])

    def _add_container(
        self,
        where: dict[str, dict[str, Any]],
        display_name: str,
        members: Iterable[str],
        object_id: str | None,
    ) -> str:
        container = {
            "id": object_id or str(uuid.uuid4()),
            "displayName": display_name,
            "members": set(members),
        }
        with self._lock:
            where[container["id"]] = container
        return str(container["id"])

    # -- HTTP -------------------------------------------------------------------------------
    def _membership_routes(self) -> dict[tuple[str, ...], dict[str, Callable[..., Response]]]:
        return {
            ("roleManagement", "directory", "roleAssignments"): {"GET": self._list_assignments},
            ("users", "*", "checkMemberObjects"): {"POST": self._check_member_objects},
            ("groups", "*", "members", "$ref"): {"POST": self._add_group_member},
            ("directory", "administrativeUnits", "*", "members", "$ref"): {
                "POST": self._add_unit_member
            },
        }

    def _list_assignments(self, request: RecordedRequest) -> Response:
        assignments = list(self._assignments.values())
        raw_filter = request.param("$filter") or request.param("filter")
        if raw_filter:
            match = _ASSIGNMENT_FILTER.match(raw_filter)
            if match is None:
                message = "Unsupported or invalid query filter clause specified."
                raise self._graph_error(400, "Request_UnsupportedQuery", message)
            prop, value = match.group(1), match.group(2).replace("''", "'")
            assignments = [a for a in assignments if a[prop] == value]
        expand = request.param("$expand") or request.param("expand")
        definition_select: list[str] | None = None
        if expand:
            found = _EXPAND.match(expand)
            if found is None:
                raise self._graph_error(
                    400,
                    "BadRequest",
                    "Parsing OData Select and Expand failed: Could not find a property named "
                    f"'{expand.split('(')[0].strip()}' on type "
                    "'microsoft.graph.unifiedRoleAssignment'.",
                )
            definition_select = [s.strip() for s in (found.group(1) or "").split(",") if s.strip()]
            for name in definition_select:
                if name not in DEFINITION_PROPERTIES:
                    raise self._graph_error(
                        400,
                        "BadRequest",
                        f"Could not find a property named '{name}' on type "
                        "'microsoft.graph.unifiedRoleDefinition'.",
                    )
        value = []
        for assignment in assignments:
            shown = {k: assignment[k] for k in ASSIGNMENT_PROPERTIES}
            if definition_select is not None:
                definition = _definition(assignment["roleDefinitionId"])
                keep = definition_select or list(DEFINITION_PROPERTIES)
                shown["roleDefinition"] = {k: definition[k] for k in keep}
            value.append(shown)
        context = self._context("roleManagement/directory/roleAssignments")
        return self._ok({"@odata.context": context, "value": value})

    def _check_member_objects(self, request: RecordedRequest, user: dict[str, Any]) -> Response:
        body = request.json() if request.body else None
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or len(ids) > MAX_CHECKED_IDS:
            raise self._graph_error(
                400,
                "Request_BadRequest",
                f"Invalid value specified for property 'ids': give 1 to {MAX_CHECKED_IDS} ids.",
            )
        held = self._memberships(user["id"])
        value = [i for i in ids if str(i) in held]
        return self._ok({"@odata.context": self._context("Collection(Edm.String)"), "value": value})

    def _memberships(self, object_id: str) -> set[str]:
        """Groups (transitively) and administrative units (directly) holding the object."""
        held = {u for u, unit in self._units.items() if object_id in unit["members"]}
        groups: set[str] = set()
        frontier = {object_id}
        while frontier:
            found = {
                g
                for g, group in self._groups.items()
                if group["members"] & frontier and g not in groups
            }
            groups |= found
            frontier = found
        return held | groups

    def _add_group_member(self, request: RecordedRequest, group_id: str) -> Response:
        return self._add_member(request, self._groups, group_id)

    def _add_unit_member(self, request: RecordedRequest, unit_id: str) -> Response:
        return self._add_member(request, self._units, unit_id)

    def _add_member(
        self, request: RecordedRequest, where: dict[str, dict[str, Any]], container_id: str
    ) -> Response:
        container = where.get(container_id)
        if container is None:
            raise self._missing(container_id)
        body = request.json() if request.body else None
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        match = _REFERENCE.search(str(reference or ""))
        if match is None:
            raise self._graph_error(
                400,
                "Request_BadRequest",
                "Invalid URL format specified in @odata.id for the reference.",
            )
        member = match.group(1)
        if member not in self._users and member not in self._groups:
            raise self._missing(member)
        if member in container["members"]:
            raise self._graph_error(
                400,
                "Request_BadRequest",
                "One or more added object references already exist for the following modified "
                "properties: 'members'.",
            )
        container["members"].add(member)
        return self._ok()


def _definition(definition_id: str) -> dict[str, Any]:
    name = next(n for n, i in ROLE_TEMPLATES.items() if i == definition_id)
    return copy.deepcopy(
        {
            "id": definition_id,
            "displayName": name,
            "description": f"The built-in role {name}.",
            "isBuiltIn": True,
            "isEnabled": True,
            "templateId": definition_id,
        }
    )
